import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { OnnxModel } from '../../onnx/model';
import {
  fixtureFile,
  fixtureManifest,
  reference
} from '../../__tests__/fixtures';
import { pruneModel } from '../../prune/structural';
import { inspectModel, mapModel } from '..';

const fixtures = fixtureManifest();

describe('the architecture map of every fixture export', () => {
  it('covers 8 families in 10 fixture sets and 5 export styles', () => {
    expect(new Set(fixtures.map(f => f.archFamily)).size).toBe(8);
    expect(new Set(fixtures.map(f => f.family)).size).toBe(10);
    expect(new Set(fixtures.map(f => f.style))).toEqual(
      new Set(['torchscript', 'dynamo', 'kv', 'external', 'fp16'])
    );
    expect(fixtures).toHaveLength(50);
  });

  it.each(fixtures.map(f => [`${f.family}/${f.style}`, f] as const))(
    '%s matches its generating config',
    (_name, entry) => {
      const map = inspectModel(fixtureFile(entry));
      expect(map.family).toBe(entry.archFamily);
      expect(map.familySource).toBe('config');
      expect(map.layers).toHaveLength(entry.layers);
      expect(map.hidden).toBe(entry.hidden);
      expect(map.vocab).toBe(entry.vocab);
      expect(map.kvCache).toBe(entry.kvCache);
      expect(map.externalData).toBe(entry.externalData);
      expect(map.dtype).toBe(entry.dtype);
      expect(map.tiedEmbeddings).toBe(entry.tiedEmbeddings);
      expect(map.blockers).toEqual([]);
      for (const layer of map.layers) {
        expect(layer.ffn.width).toBe(entry.ffnWidth);
        expect(layer.attention.heads).toBe(entry.heads);
        expect(layer.attention.kvHeads).toBe(entry.kvHeads);
        expect(layer.attention.headSize).toBe(entry.headSize);
        expect(layer.attention.units).toBe(entry.kvHeads);
        expect(layer.ffn.units).toBe(entry.ffnWidth);
      }
    }
  );

  it.each(
    fixtures
      .filter(f => f.style !== 'fp16')
      .map(f => [`${f.family}/${f.style}`, f] as const)
  )(
    '%s: the family follows from structure alone (Mistral reads as Llama)',
    (_name, entry) => {
      const model = OnnxModel.load(fixtureFile(entry));
      try {
        const map = mapModel(model);
        expect(map.familySource).toBe('structure');
        expect(map.family).toBe(
          entry.archFamily === 'mistral' ? 'llama' : entry.archFamily
        );
      } finally {
        model.close();
      }
    }
  );

  it.each(fixtures.map(f => [`${f.family}/${f.style}`, f] as const))(
    '%s: units and parameters are what torch counts in the generating model',
    (_name, entry) => {
      const map = inspectModel(fixtureFile(entry));
      const counted = reference(entry.family).torch;
      expect(map.prunableParams).toBe(counted.prunableParams);
      // TorchScript's second copy of a tied matrix is not counted. Dynamo keeps RoPE's inverse
      // frequencies and a few scalars (the embedding scale, the norms' epsilon) as initializers.
      const extra = map.totalParams - counted.totalParams;
      if (entry.style === 'dynamo') {
        expect(extra).toBeGreaterThanOrEqual(0);
        expect(extra).toBeLessThanOrEqual(entry.headSize + 16);
      } else {
        expect(extra).toBe(0);
      }
      expect(
        map.layers.map(({ attention: a, ffn: f }) => ({
          attention: {
            units: a.units,
            params: a.params,
            paramsPerUnit: a.paramsPerUnit
          },
          ffn: {
            units: f.units,
            params: f.params,
            paramsPerUnit: f.paramsPerUnit
          }
        }))
      ).toEqual(counted.layers);
    }
  );

  it('counts parameters per unit as method.md defines them', () => {
    const qwen2 = inspectModel(
      fixtureFile(
        fixtures.find(f => f.family === 'qwen2' && f.style === 'torchscript')!
      )
    );
    const a = qwen2.layers[0].attention;
    const d = a.headSize;
    const g = a.groupSize;
    // q, k, v columns and o rows of a group, plus the q/k/v bias entries Qwen2 carries.
    expect(a.paramsPerUnit).toBe(qwen2.hidden * d * (2 * g + 2) + d * (g + 2));
    expect(qwen2.layers[0].ffn.paramsPerUnit).toBe(3 * qwen2.hidden);
    const gpt2 = inspectModel(
      fixtureFile(
        fixtures.find(f => f.family === 'gpt2' && f.style === 'torchscript')!
      )
    );
    // fc column with its bias entry, proj row.
    expect(gpt2.layers[0].ffn.paramsPerUnit).toBe(2 * gpt2.hidden + 1);
    for (const map of [qwen2, gpt2]) {
      const perLayer = map.layers.map(l => l.attention.params + l.ffn.params);
      expect(map.prunableParams).toBe(perLayer.reduce((x, y) => x + y, 0));
      expect(map.prunableParams).toBeLessThan(map.totalParams);
    }
  });

  it.each(
    fixtures
      .filter(f => f.family === 'phi3' || f.family === 'gpt2')
      .map(f => [`${f.family}/${f.style}`, f] as const)
  )(
    '%s: finds the fused projections and the columns of each part',
    (_name, entry) => {
      const map = inspectModel(fixtureFile(entry));
      const { attention, ffn } = map.layers[0];
      const qWidth = attention.heads * attention.headSize;
      const kvWidth = attention.kvHeads * attention.headSize;
      expect(attention.fusedQkv).toBe(true);
      expect(attention.q.columns).toEqual([0, qWidth]);
      expect(attention.k.columns).toEqual([qWidth, qWidth + kvWidth]);
      expect(attention.v.columns).toEqual([
        qWidth + kvWidth,
        qWidth + 2 * kvWidth
      ]);
      if (entry.family === 'phi3') {
        expect(ffn.fusedGateUp).toBe(true);
        expect(ffn.gate?.columns).toEqual([0, ffn.width]);
        expect(ffn.up.columns).toEqual([ffn.width, 2 * ffn.width]);
      } else {
        expect(ffn.kind).toBe('plain');
        expect(ffn.up.columns).toBeUndefined();
      }
    }
  );

  it('finds the per-head norms of Qwen3 and the biases of Qwen2', () => {
    const qwen3 = inspectModel(
      fixtureFile(
        fixtures.find(f => f.family === 'qwen3' && f.style === 'dynamo')!
      )
    );
    expect(
      qwen3.layers.every(l => l.attention.qNorm && l.attention.kNorm)
    ).toBe(true);
    const qwen2 = inspectModel(
      fixtureFile(
        fixtures.find(f => f.family === 'qwen2' && f.style === 'dynamo')!
      )
    );
    expect(
      qwen2.layers.every(
        l => l.attention.q.bias && l.attention.k.bias && l.attention.v.bias
      )
    ).toBe(true);
    expect(qwen2.layers.every(l => !l.attention.o.bias)).toBe(true);
  });

  it('finds the shape constants that bake in head counts, shared across layers in dynamo exports', () => {
    const llama = inspectModel(
      fixtureFile(
        fixtures.find(f => f.family === 'llama' && f.style === 'dynamo')!
      )
    );
    const constants = llama.layers[0].shapeConstants;
    expect(constants.map(c => c.quantity)).toEqual(
      expect.arrayContaining(['heads', 'kvHeads'])
    );
    expect(constants.find(c => c.op === 'Expand')?.value).toBe(
      llama.layers[0].attention.kvHeads
    );
    expect(constants.every(c => c.sharedWithLayers.includes(1))).toBe(true);
  });

  it('blocks pruning when a baked width reaches a Reshape through an op it cannot read', () => {
    const entry = fixtures.find(
      f => f.family === 'llama' && f.style === 'dynamo'
    )!;
    const source = OnnxModel.load(fixtureFile(entry));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cusprun-map-'));
    try {
      const baked = mapModel(source).layers[0].shapeConstants.find(
        c => c.op === 'Reshape' && c.quantity === 'heads'
      )!;
      // Abs is a no-op on a positive shape, but the tracer does not evaluate it.
      const graph = source.graph;
      const reshape = graph.node.find(n => n.name === baked.node)!;
      const hidden = `${reshape.input[1]}.abs`;
      const edited = {
        ...source.proto,
        graph: {
          ...graph,
          node: graph.node.flatMap(n =>
            n === reshape
              ? [
                  {
                    op_type: 'Abs',
                    name: 'hide_shape',
                    input: [reshape.input[1]],
                    output: [hidden],
                    attribute: [],
                    metadata_props: []
                  },
                  { ...n, input: [n.input[0], hidden] }
                ]
              : [n]
          )
        }
      };
      source.save(path.join(dir, 'model.onnx'), {}, edited);
      const map = inspectModel(dir);
      expect(map.blockers).toEqual([
        `layer 0: cannot read the shape that Reshape ${baked.node} takes from '${hidden}', so pruning could leave a width in it unchanged`
      ]);
      const blocked = OnnxModel.load(dir);
      try {
        expect(() =>
          pruneModel(blocked, map, {
            layers: [{ index: 0, ffn: [0], attention: [] }]
          })
        ).toThrow(/cannot prune this model safely: layer 0: cannot read/);
      } finally {
        blocked.close();
      }
    } finally {
      source.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('prefers config.json for the family name but never for the structure', () => {
    const entry = fixtures.find(
      f => f.family === 'mistral' && f.style === 'torchscript'
    )!;
    const model = OnnxModel.load(fixtureFile(entry));
    try {
      const named = mapModel(model, { config: { model_type: 'mistral' } });
      expect(named.family).toBe('mistral');
      expect(named.familySource).toBe('config');
      const unknownType = mapModel(model, {
        config: { model_type: 'something-new' }
      });
      expect(unknownType.family).toBe('llama');
      expect(unknownType.layers).toEqual(named.layers);
    } finally {
      model.close();
    }
  });
});
