/**
 * Bias compensation, checked independently of the code that builds it: the means against the
 * activations fetched from the model itself, and the compensated pruned model against the
 * original with each removed unit's activations replaced by their means (a graph edit made here,
 * h' = h·keep + mean·(1 − keep) before the down and o projections), within verification's bound.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { mapModel } from '../../arch/map';
import { ModelSession } from '../../capture/runtime';
import { LinearRef, ModelMap } from '../../../core/model/model-map';
import { float32ToBytes } from '../../onnx/dtype';
import { inlineTensor } from '../../onnx/edit';
import { OnnxModel } from '../../onnx/model';
import { GraphProto, ModelProto, NodeProto } from '../../onnx/proto';
import {
  FixtureEntry,
  feedsFor,
  fixtureFile,
  fixtureManifest,
  reference
} from '../../__tests__/fixtures';
import {
  elemTypeOf,
  floats,
  withExtraOutputs
} from '../../score/__tests__/helpers';
import {
  compareLogits,
  modelLogits,
  ProjectionMeans,
  projectionMeans,
  UnitPlan,
  verifyPruned,
  writePrunedModel
} from '..';

const fixtures = fixtureManifest();
const label = (f: FixtureEntry) => `${f.family}/${f.style}`;
let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cusprun-compensation-test-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Every family's torchscript and fp16 exports, and one of each other style. */
const chosen = fixtures.filter(
  f =>
    f.style === 'torchscript' ||
    f.style === 'fp16' ||
    ['llama/kv', 'phi3/dynamo', 'qwen3/external', 'gpt2/kv'].includes(label(f))
);

function nodeOf(graph: GraphProto, label: string): NodeProto {
  const byIndex = /^#(\d+)$/.exec(label);
  const node = byIndex
    ? graph.node[Number(byIndex[1])]
    : graph.node.find(n => n.name === label);
  expect(node).toBeDefined();
  return node!;
}

/** Every third FFN channel of each layer, and the last attention group of layer 0. */
function planFor(map: ModelMap): UnitPlan {
  return {
    layers: map.layers.map(layer => ({
      index: layer.index,
      ffn: Array.from({ length: layer.ffn.width }, (_, k) => k).filter(
        k => k % 3 === layer.index % 3
      ),
      attention:
        layer.attention.units > 1 && layer.index === 0
          ? [layer.attention.units - 1]
          : []
    }))
  };
}

/** Two documents of different lengths: the means pass pads one of them. */
function documentsOf(entry: FixtureEntry): number[][] {
  const [a, b] = reference(entry.family).sequences;
  return [a, b.slice(0, Math.max(2, b.length - 3))];
}

describe('the mean activations of the down and o projection inputs', () => {
  it.each(chosen.map(f => [label(f), f] as const))(
    '%s: equal the mean over every real token of the fetched activations',
    async (name, entry) => {
      const model = OnnxModel.load(fixtureFile(entry));
      try {
        const map = mapModel(model);
        const documents = documentsOf(entry);
        const means = await projectionMeans(model, map, documents, {
          threads: 1,
          batchSize: 2
        });
        const refs = map.layers.flatMap(l => [l.ffn.down, l.attention.o]);
        const values = refs.map(r => nodeOf(model.graph, r.node).input[0]);
        const file = path.join(tmp, `${name} probe`, 'model.onnx');
        model.save(
          file,
          {},
          withExtraOutputs(
            model.proto,
            values.map(v => ({ name: v, elemType: elemTypeOf(entry.dtype) }))
          )
        );
        const sums = refs.map(r => new Float64Array(r.in));
        const session = await ModelSession.open(file, { threads: 1 });
        try {
          for (const tokens of documents) {
            const fetched = await session.run(feedsFor(entry, tokens), values);
            values.forEach((v, p) => {
              const data = floats(fetched[v].data as never, fetched[v].type);
              data.forEach((x, i) => (sums[p][i % refs[p].in] += x));
            });
          }
        } finally {
          await session.release();
        }
        const tokens = documents.reduce((n, d) => n + d.length, 0);
        expect(means.tokens).toBe(tokens);
        const got = means.layers.flatMap(l => [l.ffn, l.attention]);
        sums.forEach((sum, p) => {
          const expected = Array.from(sum, s => s / tokens);
          const scale = Math.max(...expected.map(Math.abs));
          expected.forEach((e, c) =>
            expect(Math.abs(got[p][c] - e) / scale).toBeLessThan(
              entry.dtype === 'float16' ? 5e-3 : 1e-5
            )
          );
        });
      } finally {
        model.close();
      }
    }
  );
});

/**
 * The original with h' = h·keep + fill before `ref`, keep 0 on the removed channels and fill
 * their means (0 elsewhere): the model compensation must equal, built without its code.
 */
function meanReplaced(
  model: OnnxModel,
  parts: { ref: LinearRef; channels: number[]; means: Float32Array }[]
): ModelProto {
  const graph = model.graph;
  const before = new Map<NodeProto, NodeProto[]>();
  const initializer = [...graph.initializer];
  parts.forEach(({ ref, channels, means }, p) => {
    const node = nodeOf(graph, ref.node);
    const dataType = model.initializers.get(ref.weight)!.data_type as number;
    const keep = new Float32Array(ref.in).fill(1);
    const fill = new Float32Array(ref.in);
    for (const c of channels) {
      keep[c] = 0;
      fill[c] = means[c];
    }
    const name = `test.mean.${p}`;
    initializer.push(
      inlineTensor(
        `${name}.keep`,
        dataType,
        [ref.in],
        float32ToBytes(keep, dataType)
      ),
      inlineTensor(
        `${name}.fill`,
        dataType,
        [ref.in],
        float32ToBytes(fill, dataType)
      )
    );
    const op = (op_type: string, input: string[], output: string) => ({
      name: output,
      op_type,
      domain: '',
      input,
      output: [output],
      attribute: [],
      metadata_props: []
    });
    before.set(node, [
      op('Mul', [node.input[0], `${name}.keep`], `${name}.kept`),
      op('Add', [`${name}.kept`, `${name}.fill`], `${name}.h`)
    ]);
  });
  const node = graph.node.flatMap(n => {
    const inserted = before.get(n);
    return inserted
      ? [
          ...inserted,
          { ...n, input: [inserted[1].output[0], ...n.input.slice(1)] }
        ]
      : [n];
  });
  return { ...model.proto, graph: { ...graph, node, initializer } };
}

/** The removed channels of each projection, with the means the reference fills them with. */
function replacedParts(
  map: ModelMap,
  plan: UnitPlan,
  means: ProjectionMeans
): { ref: LinearRef; channels: number[]; means: Float32Array }[] {
  return map.layers.flatMap((layer, i) => {
    const cuts = plan.layers[i];
    const width = layer.attention.groupSize * layer.attention.headSize;
    return [
      { ref: layer.ffn.down, channels: cuts.ffn, means: means.layers[i].ffn },
      {
        ref: layer.attention.o,
        channels: cuts.attention.flatMap(j =>
          Array.from({ length: width }, (_, c) => j * width + c)
        ),
        means: means.layers[i].attention
      }
    ].filter(p => p.channels.length > 0);
  });
}

async function compensatedAgainstMeanReplaced(
  entry: FixtureEntry,
  name: string,
  alter?: (parts: ReturnType<typeof replacedParts>) => void
) {
  const model = OnnxModel.load(fixtureFile(entry));
  try {
    const map = mapModel(model);
    const plan = planFor(map);
    const documents = documentsOf(entry);
    const means = await projectionMeans(model, map, documents, { threads: 1 });
    const pruned = await writePrunedModel(
      model,
      plan,
      path.join(tmp, `${name} pruned`),
      { means }
    );
    const parts = replacedParts(map, plan, means);
    alter?.(parts);
    const referenceProto = meanReplaced(model, parts);
    const referenceFile = path.join(tmp, `${name} mean-replaced`, 'model.onnx');
    model.save(referenceFile, {}, referenceProto);
    const { sequences } = reference(entry.family);
    const prunedModel = OnnxModel.load(pruned.file);
    const prunedGraph = prunedModel.graph;
    prunedModel.close();
    const [a, b] = await Promise.all([
      modelLogits(
        referenceFile,
        referenceProto.graph as GraphProto,
        sequences,
        { threads: 1 }
      ),
      modelLogits(pruned.file, prunedGraph, sequences, { threads: 1 })
    ]);
    const verified = await verifyPruned(
      model,
      map,
      plan,
      pruned.file,
      sequences,
      { threads: 1, means }
    );
    // Against the zeroed reference (no means), the compensation shows.
    const zeroed = await verifyPruned(
      model,
      map,
      plan,
      pruned.file,
      sequences,
      {
        threads: 1
      }
    );
    return { direct: compareLogits(a, b, pruned.file), verified, zeroed };
  } finally {
    model.close();
  }
}

describe('a bias-compensated prune', () => {
  it.each(chosen.map(f => [label(f), f] as const))(
    '%s: equals the original with the removed units replaced by their means',
    async (name, entry) => {
      const { direct, verified, zeroed } = await compensatedAgainstMeanReplaced(
        entry,
        name
      );
      expect(direct.ok).toBe(true);
      expect(verified.ok).toBe(true);
      expect(zeroed.ok).toBe(false);
    }
  );

  it.each(
    chosen
      .filter(f => f.style === 'torchscript' || f.style === 'fp16')
      .filter(f => ['llama', 'gpt2'].includes(f.family))
      .map(f => [label(f), f] as const)
  )('%s: a wrong mean for one unit fails', async (name, entry) => {
    const { direct } = await compensatedAgainstMeanReplaced(
      entry,
      `${name} wrong`,
      parts => {
        const [first] = parts;
        first.means = Float32Array.from(first.means);
        first.means[first.channels[0]] += 1;
      }
    );
    expect(direct.ok).toBe(false);
    expect(direct.worst.ulps).toBeGreaterThan(2 * direct.boundUlps);
  });
});
