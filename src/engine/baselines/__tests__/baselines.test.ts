/** The baselines: same per-layer counts as the plan they are compared with, different units. */
import * as path from 'node:path';
import { mapModel } from '../../arch/map';
import { LinearRef, ModelMap } from '../../../core/model/model-map';
import { ModelSession } from '../../capture/runtime';
import {
  feedsFor,
  fixtureFile,
  fixtureManifest,
  FixtureEntry,
  reference
} from '../../__tests__/fixtures';
import { OnnxModel } from '../../onnx/model';
import { UnitPlan } from '../../../core/model/unit-plan';
import { zeroUnits } from '../../prune/zero';
import {
  elemTypeOf,
  floats,
  removeDir,
  tempDir,
  withExtraOutputs
} from '../../score/__tests__/helpers';
import { inputRowNorms } from '../../score/weights';
import { DocumentScores } from '../../../core/select/from-scores';
import {
  flapValues,
  lowest,
  magnitudeValues,
  poolScores,
  randomPlan,
  rankedPlan,
  unitMagnitudes
} from '..';

const fixtures = fixtureManifest();
const pick = (family: string, style: string) =>
  fixtures.find(f => f.family === family && f.style === style)!;

const counts = (plan: UnitPlan) =>
  plan.layers.map(l => [l.index, l.ffn.length, l.attention.length]);

function referencePlan(map: ModelMap): UnitPlan {
  return {
    layers: map.layers.map((l, i) => ({
      index: l.index,
      ffn: Array.from({ length: 3 + i }, (_, k) => k * 2),
      attention: l.attention.units > 1 ? [l.attention.units - 1] : []
    }))
  };
}

describe('lowest', () => {
  it('takes the lowest values, ties by index, and returns them ascending', () => {
    expect(lowest([5, 1, 3, 1, 0], 3)).toEqual([1, 3, 4]);
    expect(lowest([2, 2, 2], 2)).toEqual([0, 1]);
    expect(lowest([2, 1], 0)).toEqual([]);
  });
});

describe('the random baseline', () => {
  const model = OnnxModel.load(fixtureFile(pick('llama', 'torchscript')));
  const map = mapModel(model);
  afterAll(() => model.close());

  it('removes the same count per layer and kind, reproducibly for a seed', () => {
    const reference = referencePlan(map);
    const a = randomPlan(map, reference, 7);
    expect(counts(a)).toEqual(counts(reference));
    expect(randomPlan(map, reference, 7)).toEqual(a);
    expect(randomPlan(map, reference, 8)).not.toEqual(a);
    for (const [i, layer] of a.layers.entries()) {
      expect(new Set(layer.ffn).size).toBe(layer.ffn.length);
      expect(Math.max(...layer.ffn)).toBeLessThan(map.layers[i].ffn.units);
    }
  });
});

/**
 * ‖W − W with the unit zeroed‖ over every initializer: what the unit takes with it. The zeroed
 * tensors are made while a model is written, so the zeroed model is written and read back.
 */
function zeroedNorm(
  model: OnnxModel,
  map: ModelMap,
  probe: { layer: number; kind: 'ffn' | 'attention'; unit: number },
  dir: string
): number {
  const { layer, kind, unit } = probe;
  const plan: UnitPlan = {
    layers: [
      {
        index: layer,
        ffn: kind === 'ffn' ? [unit] : [],
        attention: kind === 'attention' ? [unit] : []
      }
    ]
  };
  // Zeroed from a model of its own: writing zeroed tensors changes the inline bytes of the
  // model they are cut from (Buffer.slice is a view), which the caller still reads.
  const source = OnnxModel.load(model.file);
  const file = path.join(dir, `zeroed-${layer}-${kind}-${unit}.onnx`);
  try {
    source.save(file, {}, zeroUnits(source, map, plan));
  } finally {
    source.close();
  }
  const zeroed = OnnxModel.load(file);
  try {
    let sum = 0;
    for (const [name, tensor] of zeroed.initializers) {
      const original = model.initializers.get(name)!;
      if (Buffer.compare(model.bytes(original), zeroed.bytes(tensor)) === 0) {
        continue;
      }
      const before = model.float32(original);
      zeroed.float32(tensor).forEach((v, i) => (sum += (before[i] - v) ** 2));
    }
    return Math.sqrt(sum);
  } finally {
    zeroed.close();
  }
}

describe('the magnitude baseline', () => {
  let dir: string;
  beforeEach(() => (dir = tempDir('magnitude')));
  afterEach(() => removeDir(dir));

  it.each(
    [
      pick('llama', 'torchscript'),
      pick('phi3', 'dynamo'),
      pick('qwen2', 'torchscript'),
      pick('gpt2', 'torchscript'),
      pick('gemma', 'fp16')
    ].map(e => [`${e.family}/${e.style}`, e] as const)
  )(
    '%s: a unit is worth the norm of every weight zeroing it removes',
    (_name, entry) => {
      const model = OnnxModel.load(fixtureFile(entry));
      try {
        const map = mapModel(model);
        const layer = map.layers[1];
        const values = unitMagnitudes(model, layer);
        // Gemma's MQA has one group, which no plan may remove.
        const probes: ['ffn' | 'attention', number][] = [
          ['ffn', 0],
          ['ffn', layer.ffn.units - 1],
          ...(layer.attention.units > 1
            ? ([
                ['attention', 0],
                ['attention', layer.attention.units - 1]
              ] as ['attention', number][])
            : [])
        ];
        for (const [kind, unit] of probes) {
          const expected = zeroedNorm(
            model,
            map,
            { layer: layer.index, kind, unit },
            dir
          );
          expect(expected).toBeGreaterThan(0);
          expect(
            Math.abs(values[kind][unit] - expected) / expected
          ).toBeLessThan(1e-5);
        }
        const reference = referencePlan(map);
        const plan = rankedPlan(map, magnitudeValues(model, map), reference);
        expect(counts(plan)).toEqual(counts(reference));
        expect(plan.layers[1].ffn).toEqual(
          lowest(values.ffn, reference.layers[1].ffn.length)
        );
      } finally {
        model.close();
      }
    }
  );
});

describe('pooled baselines', () => {
  const map = {
    layers: [
      { index: 0, ffn: { units: 3 }, attention: { units: 2 } },
      { index: 1, ffn: { units: 3 }, attention: { units: 2 } }
    ]
  } as unknown as ModelMap;
  const doc = (ffn: number[], attention: number[]): DocumentScores => ({
    layers: [
      { ffn: Float32Array.from(ffn), attention: Float32Array.from(attention) },
      {
        ffn: Float32Array.from(ffn).reverse(),
        attention: Float32Array.from(attention)
      }
    ]
  });
  const documents = [doc([3, 0, 4], [1, 2]), doc([4, 1, 3], [2, 1])];

  it('pools relevance as the root of summed squares and Wanda sums as sums', () => {
    const rss = poolScores(map, documents, 'root-sum-square');
    expect(rss.documents).toBe(2);
    expect([...rss.layers[0].ffn]).toEqual([5, 1, 5]);
    expect([...rss.layers[0].attention].map(v => v ** 2)).toEqual(
      [5, 5].map(v => expect.closeTo(v, 12))
    );
    expect([...poolScores(map, documents, 'sum').layers[1].ffn]).toEqual([
      7, 1, 7
    ]);
  });

  it('removes the pooled lowest units with the reference counts', () => {
    const pooled = poolScores(map, documents, 'sum');
    const plan = rankedPlan(map, pooled, {
      layers: [
        { index: 0, ffn: [0, 2], attention: [] },
        { index: 1, ffn: [0], attention: [0] }
      ]
    });
    expect(plan).toEqual({
      layers: [
        { index: 0, ffn: [0, 1], attention: [] },
        { index: 1, ffn: [1], attention: [0] }
      ]
    });
  });
});

/** Each probe's input values [tokens, in] on one sequence, fetched from the model itself. */
async function projectionInputs(
  entry: FixtureEntry,
  model: OnnxModel,
  probes: { value: string }[],
  tokens: number[],
  file: string
): Promise<Float32Array[]> {
  model.save(
    file,
    {},
    withExtraOutputs(
      model.proto,
      probes.map(p => ({ name: p.value, elemType: elemTypeOf(entry.dtype) }))
    )
  );
  const session = await ModelSession.open(file, { threads: 1 });
  try {
    const fetched = await session.run(
      feedsFor(entry, tokens),
      probes.map(p => p.value)
    );
    return probes.map(p =>
      floats(fetched[p.value].data as never, fetched[p.value].type)
    );
  } finally {
    await session.release();
  }
}

describe('the FLAP-style baseline', () => {
  let dir: string;
  beforeEach(() => (dir = tempDir('flap')));
  afterEach(() => removeDir(dir));

  it.each(
    [
      pick('llama', 'torchscript'),
      pick('qwen3', 'kv'),
      pick('phi3', 'dynamo'),
      pick('gemma3', 'fp16')
    ].map(e => [`${e.family}/${e.style}`, e] as const)
  )(
    '%s: Var over the pooled tokens of h[:, k] times ‖W_down[k, :]‖², summed over a group for attention',
    async (_name, entry) => {
      const model = OnnxModel.load(fixtureFile(entry));
      try {
        const map = mapModel(model);
        // Two documents of different lengths, scored in one padded batch.
        const [a, b] = reference(entry.family).sequences;
        const documents = [a, b.slice(0, Math.max(2, b.length - 3))];
        const values = await flapValues(model, map, documents, { threads: 1 });
        const probes = map.layers.flatMap((layer, i) =>
          (['ffn', 'attention'] as const).map(kind => {
            const ref: LinearRef =
              kind === 'ffn' ? layer.ffn.down : layer.attention.o;
            return {
              i,
              kind,
              ref,
              units: kind === 'ffn' ? layer.ffn.units : layer.attention.units,
              value: model.graph.node.find(n => n.name === ref.node)!.input[0]
            };
          })
        );
        const file = path.join(dir, 'probe.onnx');
        const perDocument = await Promise.all(
          documents.map((d, n) =>
            projectionInputs(entry, model, probes, d, `${file}.${n}`)
          )
        );
        probes.forEach((probe, p) => {
          const width = probe.ref.in;
          const sum = new Float64Array(width);
          const squares = new Float64Array(width);
          let tokens = 0;
          for (const fetched of perDocument) {
            const values = fetched[p];
            for (let t = 0; t < values.length / width; t++, tokens++) {
              for (let c = 0; c < width; c++) {
                sum[c] += values[t * width + c];
                squares[c] += values[t * width + c] ** 2;
              }
            }
          }
          const norms = inputRowNorms(model, probe.ref);
          const expected = new Float64Array(probe.units);
          for (let c = 0; c < width; c++) {
            const mean = sum[c] / tokens;
            expected[Math.floor(c / (width / probe.units))] +=
              (squares[c] / tokens - mean * mean) * norms[c] ** 2;
          }
          const got = values.layers[probe.i][probe.kind];
          const scale = Math.max(...expected);
          expected.forEach((e, k) =>
            expect(Math.abs(got[k] - e) / scale).toBeLessThan(
              entry.dtype === 'float16' ? 5e-3 : 1e-4
            )
          );
        });
        const plan = rankedPlan(map, values, referencePlan(map));
        expect(counts(plan)).toEqual(counts(referencePlan(map)));
      } finally {
        model.close();
      }
    }
  );

  it('needs documents with tokens', async () => {
    const model = OnnxModel.load(fixtureFile(pick('llama', 'torchscript')));
    try {
      await expect(
        flapValues(model, mapModel(model), [[1, 2], []])
      ).rejects.toThrow('channel statistics need documents with tokens');
    } finally {
      model.close();
    }
  });
});
