/** scoreDocuments on real fixtures: padding, the PLND code form, progress and bad input. */
import * as fs from 'node:fs';
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
import { tensorWithData, withInitializers } from '../../onnx/edit';
import { OnnxModel } from '../../onnx/model';
import {
  AttributeType,
  GraphProto,
  NodeProto,
  TensorProto
} from '../../onnx/proto';
import { tensorDims } from '../../onnx/tensor';
import {
  LayerScores,
  openScoreStore,
  ScoreDocument,
  ScoreOptions,
  ScoreProgress,
  scoreDocuments
} from '..';
import {
  elemTypeOf,
  floats,
  removeDir,
  tempDir,
  withExtraOutputs
} from './helpers';

const fixtures = fixtureManifest();
const pick = (family: string, style: string) =>
  fixtures.find(f => f.family === family && f.style === style)!;

let dir: string;
beforeEach(() => {
  dir = tempDir('scoring');
});
afterEach(() => removeDir(dir));

async function scoresOf(
  model: OnnxModel,
  map: ModelMap,
  documents: ScoreDocument[],
  options: ScoreOptions = {}
): Promise<Map<string, LayerScores[]>> {
  const store = openScoreStore(
    path.join(dir, `store-${Math.random().toString(36).slice(2)}`),
    model,
    map,
    options.scoreForm
  );
  try {
    await scoreDocuments(model, map, documents, store, {
      threads: 1,
      ...options
    });
    return new Map(documents.map(d => [d.id, store.scores(d.id)]));
  } finally {
    store.close();
  }
}

/** Largest |a − b| over a part, relative to the part's largest score. */
function maxRelative(a: LayerScores[], b: LayerScores[]): number {
  let worst = 0;
  a.forEach((part, i) => {
    const scale = Math.max(...part.scores);
    part.scores.forEach((v, k) => {
      worst = Math.max(worst, Math.abs(v - b[i].scores[k]) / scale);
    });
  });
  return worst;
}

describe('padding', () => {
  it.each(
    [
      pick('llama', 'torchscript'),
      pick('gpt2', 'dynamo'),
      pick('qwen3', 'kv'),
      pick('phi3', 'dynamo'),
      pick('gemma', 'fp16'),
      pick('gemma3-gqa', 'kv'),
      pick('gemma3', 'dynamo')
    ].map(e => [`${e.family}/${e.style}`, e] as const)
  )('%s: a padded document scores as it does alone', async (_name, entry) => {
    const model = OnnxModel.load(fixtureFile(entry));
    try {
      const map = mapModel(model);
      const [short, , long] = reference(entry.family).sequences;
      const docs = [
        { id: 'long', tokens: long },
        { id: 'short', tokens: short }
      ];
      const batched = await scoresOf(model, map, docs, {
        batchSize: 2,
        order: 'input'
      });
      const alone = await scoresOf(model, map, [docs[1]]);
      const longAlone = await scoresOf(model, map, [docs[0]]);
      // Not always bit-identical (measured ≤ 1e-7 of the largest score): a padded batch runs
      // longer sequences through other kernel blockings. In fp16 such a difference can flip
      // the rounding of an activation (2^-11 relative) and propagate.
      const tolerance = entry.dtype === 'float16' ? 1e-3 : 1e-6;
      expect(
        maxRelative(batched.get('short')!, alone.get('short')!)
      ).toBeLessThan(tolerance);
      expect(
        maxRelative(batched.get('long')!, longAlone.get('long')!)
      ).toBeLessThan(tolerance);
      // and the padding is not scored: the short document differs from the long one
      expect(
        maxRelative(batched.get('short')!, batched.get('long')!)
      ).toBeGreaterThan(1e-2);
    } finally {
      model.close();
    }
  });
});

describe('the PLND code form', () => {
  it.each(
    [
      pick('phi3', 'torchscript'),
      pick('gpt2', 'dynamo'),
      pick('llama', 'fp16')
    ].map(e => [`${e.family}/${e.style}`, e] as const)
  )(
    '%s: the FFN score is Σ_t |x·W_up|[t, k] from the up projection itself',
    async (_name, entry: FixtureEntry) => {
      const model = OnnxModel.load(fixtureFile(entry));
      try {
        const map = mapModel(model);
        const tokens = reference(entry.family).sequences[1];
        const code = (
          await scoresOf(model, map, [{ id: 'd', tokens }], {
            scoreForm: 'code'
          })
        ).get('d')!;
        const paper = (await scoresOf(model, map, [{ id: 'd', tokens }])).get(
          'd'
        )!;
        const graph = model.graph;
        const upNodes = map.layers.map(l =>
          graph.node.find(n => n.name === l.ffn.up.node)!
        );
        const file = path.join(dir, 'probe.onnx');
        model.save(
          file,
          {},
          withExtraOutputs(
            model.proto,
            upNodes.map(n => ({
              name: n.output[0],
              elemType: elemTypeOf(map.dtype)
            }))
          )
        );
        const session = await ModelSession.open(file, { threads: 1 });
        const fetched = await session.run(
          feedsFor(entry, tokens),
          upNodes.map(n => n.output[0])
        );
        await session.release();
        for (const layer of map.layers) {
          const up = layer.ffn.up;
          const node = upNodes[layer.index];
          const out = fetched[node.output[0]];
          const values = floats(out.data as never, out.type);
          const bias =
            node.op_type === 'Gemm' && node.input[2]
              ? model.float32(model.initializers.get(node.input[2])!)
              : undefined;
          const [from, to] = up.columns ?? [0, up.out];
          const expected = new Float64Array(to - from);
          for (let t = 0; t < tokens.length; t++) {
            for (let c = from; c < to; c++) {
              const v = values[t * up.out + c] - (bias ? bias[c] : 0);
              expected[c - from] += Math.abs(v);
            }
          }
          const got = code.find(
            s => s.layer === layer.index && s.kind === 'ffn'
          )!.scores;
          expect(got).toHaveLength(layer.ffn.width);
          const scale = Math.max(...expected);
          expected.forEach((e, k) =>
            expect(Math.abs(got[k] - e) / scale).toBeLessThan(
              entry.dtype === 'float16' ? 1e-3 : 1e-5
            )
          );
          // Attention scores do not depend on the FFN form.
          const attention = (s: LayerScores[]) =>
            s.find(x => x.layer === layer.index && x.kind === 'attention')!
              .scores;
          expect(attention(code)).toEqual(attention(paper));
        }
      } finally {
        model.close();
      }
    }
  );
});

/** ‖W[c, :]‖₂ of y = x·W for every input c, straight from the initializer. */
function rowNorms(model: OnnxModel, ref: LinearRef): Float64Array {
  const w = model.float32(model.initializers.get(ref.weight)!);
  const norms = new Float64Array(ref.in);
  for (let r = 0; r < ref.in; r++) {
    for (let c = 0; c < ref.out; c++) {
      const v =
        ref.layout === 'in-out' ? w[r * ref.out + c] : w[c * ref.in + r];
      norms[r] += v * v;
    }
  }
  return norms.map(Math.sqrt);
}

describe('the Wanda-style baseline form', () => {
  it.each(
    [
      pick('llama', 'torchscript'),
      pick('qwen3', 'kv'),
      pick('phi3', 'dynamo')
    ].map(e => [`${e.family}/${e.style}`, e] as const)
  )(
    '%s: Σ_t |h[t, k]|·‖W_down[k, :]‖ per channel and Σ over a group of Σ_t |A[t, c]|·‖W_o[c, :]‖',
    async (_name, entry: FixtureEntry) => {
      const model = OnnxModel.load(fixtureFile(entry));
      try {
        const map = mapModel(model);
        const tokens = reference(entry.family).sequences[1];
        const wanda = (
          await scoresOf(model, map, [{ id: 'd', tokens }], {
            scoreForm: 'wanda'
          })
        ).get('d')!;
        const probes = map.layers.flatMap(l =>
          [l.ffn.down, l.attention.o].map(ref => ({
            layer: l,
            ref,
            value: model.graph.node.find(n => n.name === ref.node)!.input[0]
          }))
        );
        const file = path.join(dir, 'probe.onnx');
        model.save(
          file,
          {},
          withExtraOutputs(
            model.proto,
            probes.map(p => ({
              name: p.value,
              elemType: elemTypeOf(map.dtype)
            }))
          )
        );
        const session = await ModelSession.open(file, { threads: 1 });
        const fetched = await session.run(
          feedsFor(entry, tokens),
          probes.map(p => p.value)
        );
        await session.release();
        for (const { layer, ref, value } of probes) {
          const kind = ref === layer.ffn.down ? 'ffn' : 'attention';
          const units =
            kind === 'ffn' ? layer.ffn.units : layer.attention.units;
          const out = fetched[value];
          const values = floats(out.data as never, out.type);
          const norms = rowNorms(model, ref);
          const expected = new Float64Array(units);
          const perUnit = ref.in / units;
          for (let t = 0; t < tokens.length; t++) {
            for (let c = 0; c < ref.in; c++) {
              expected[Math.floor(c / perUnit)] +=
                Math.abs(values[t * ref.in + c]) * norms[c];
            }
          }
          const got = wanda.find(
            s => s.layer === layer.index && s.kind === kind
          )!.scores;
          const scale = Math.max(...expected);
          expected.forEach((e, k) =>
            expect(Math.abs(got[k] - e) / scale).toBeLessThan(1e-5)
          );
        }
      } finally {
        model.close();
      }
    }
  );
});

describe('weight layouts', () => {
  it('projections stored [out, in] and transposed in the graph score as when stored [in, out]', async () => {
    const entry = pick('llama', 'dynamo');
    const model = OnnxModel.load(fixtureFile(entry));
    const map = mapModel(model);
    const transposed = new Map<string, TensorProto>();
    const nodes: NodeProto[] = [];
    for (const layer of map.layers) {
      for (const ref of [layer.attention.o, layer.ffn.down]) {
        const tensor = model.initializers.get(ref.weight)!;
        const [rows, cols] = tensorDims(tensor);
        const values = model.float32(tensor);
        const out = new Float32Array(rows * cols);
        for (let r = 0; r < rows; r++) {
          for (let c = 0; c < cols; c++) {
            out[c * rows + r] = values[r * cols + c];
          }
        }
        transposed.set(
          ref.weight,
          tensorWithData(tensor, new Uint8Array(out.buffer), [cols, rows])
        );
        nodes.push({
          name: `${ref.weight}/T`,
          op_type: 'Transpose',
          domain: '',
          input: [ref.weight],
          output: [`${ref.weight}/T`],
          attribute: [
            {
              name: 'perm',
              type: AttributeType.INTS,
              ints: [1n, 0n],
              floats: [],
              strings: [],
              tensors: [],
              graphs: []
            }
          ],
          metadata_props: []
        });
      }
    }
    const edited = withInitializers(model.proto, transposed);
    const graph = edited.graph as GraphProto;
    const file = path.join(dir, 'out-in', 'model.onnx');
    model.save(
      file,
      {},
      {
        ...edited,
        graph: {
          ...graph,
          node: [
            ...nodes,
            ...graph.node.map(n => ({
              ...n,
              input: n.input.map(i => (transposed.has(i) ? `${i}/T` : i))
            }))
          ]
        }
      }
    );
    const outIn = OnnxModel.load(file);
    try {
      const outInMap = mapModel(outIn);
      expect(
        outInMap.layers.map(l => [l.attention.o.layout, l.ffn.down.layout])
      ).toEqual(map.layers.map(() => ['out-in', 'out-in']));
      const tokens = reference('llama').sequences[2];
      const a = (await scoresOf(model, map, [{ id: 'd', tokens }])).get('d')!;
      const b = (await scoresOf(outIn, outInMap, [{ id: 'd', tokens }])).get(
        'd'
      )!;
      expect(maxRelative(a, b)).toBeLessThan(1e-6);
    } finally {
      outIn.close();
      model.close();
    }
  });
});

describe('scoreDocuments', () => {
  const entry = pick('llama', 'dynamo');
  let model: OnnxModel;
  let map: ModelMap;
  let nodes: number;
  beforeAll(() => {
    model = OnnxModel.load(fixtureFile(entry));
    map = mapModel(model);
    nodes = model.graph.node.length;
  });
  afterAll(() => model.close());

  it('reports progress per batch and batches longest first', async () => {
    const docs = reference('llama').sequences.map((tokens, i) => ({
      id: `d${i}`,
      tokens
    }));
    const progress: ScoreProgress[] = [];
    const store = openScoreStore(path.join(dir, 's'), model, map);
    const summary = await scoreDocuments(model, map, docs, store, {
      batchSize: 2,
      threads: 1,
      onProgress: p => progress.push(p)
    });
    expect(summary).toMatchObject({
      scored: 3,
      skipped: 0,
      tokens: 5 + 7 + 9,
      complete: true
    });
    expect(progress.map(p => [p.done, p.total, p.tokens])).toEqual([
      [2, 3, 16],
      [3, 3, 21]
    ]);
    expect(progress[1].tokensPerSecond).toBeGreaterThan(0);
    expect(store.documents.map(d => d.id)).toEqual(['d2', 'd1', 'd0']);
    // Run again: nothing left to do, no graph built.
    const again = await scoreDocuments(model, map, docs, store, {
      onProgress: p => progress.push(p)
    });
    expect(again).toMatchObject({ scored: 0, skipped: 3 });
    expect(progress[2]).toMatchObject({ done: 3, total: 3, tokens: 0 });
    store.close();
  });

  it('refuses bad documents before scoring anything', async () => {
    const store = openScoreStore(path.join(dir, 's'), model, map);
    const bad: [ScoreDocument[], RegExp][] = [
      [
        [
          { id: 'a', tokens: [1] },
          { id: 'a', tokens: [2] }
        ],
        /appears twice/
      ],
      [[{ id: 'e', tokens: [] }], /no tokens/],
      [[{ id: 'v', tokens: [1, 256] }], /outside the vocabulary/]
    ];
    for (const [docs, message] of bad) {
      await expect(scoreDocuments(model, map, docs, store)).rejects.toThrow(
        message
      );
    }
    await expect(
      scoreDocuments(model, map, [{ id: 'x', tokens: [1] }], store, {
        batchSize: 0
      })
    ).rejects.toThrow(/batch size/);
    await expect(
      scoreDocuments(model, map, [{ id: 'x', tokens: [1] }], store, {
        scoreForm: 'code'
      })
    ).rejects.toThrow(/paper-form scores/);
    expect(store.size).toBe(0);
    store.close();
  });

  it('leaves no temporary scoring graph behind', async () => {
    const work = path.join(dir, 'work');
    const store = openScoreStore(path.join(dir, 's'), model, map);
    await scoreDocuments(model, map, [{ id: 'x', tokens: [1, 2] }], store, {
      workDir: work
    });
    expect(fs.readdirSync(work)).toEqual([]);
    store.close();
  });

  it('stops after the batch in flight when the signal aborts', async () => {
    const docs = Array.from({ length: 6 }, (_, i) => ({
      id: `d${i}`,
      tokens: [1, 2, 3, i + 4]
    }));
    const controller = new AbortController();
    const store = openScoreStore(path.join(dir, 's'), model, map);
    const summary = await scoreDocuments(model, map, docs, store, {
      batchSize: 2,
      signal: controller.signal,
      onProgress: () => controller.abort()
    });
    expect(summary).toMatchObject({ scored: 2, complete: false });
    expect(store.size).toBe(2);
    store.close();
  });

  it('never edits the loaded model', () => {
    expect(model.graph.node.length).toBe(nodes);
    expect(model.graph.output.map(o => o.name)).toEqual(['logits']);
    expect(model.graph.node.some(n => n.name?.startsWith('cusprun'))).toBe(
      false
    );
  });
});
