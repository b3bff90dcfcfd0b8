/**
 * Relevance scores equal brute-force ablation: remove one unit from the model's weights, run
 * it, and measure how much the unit's own module output changes over the document's tokens.
 *
 * - FFN channel k: zero its gate and up columns (fused gate_up: columns k and I+k; GPT-2: fc
 *   column k) and their bias entries, so h[:, k] = act(0)·0 = 0 (act(0) = 0 for SiLU and GELU);
 *   measure ‖Δ down-projection output‖_F.
 * - Attention group j: zero the o-projection input rows of its heads, which removes exactly the
 *   group's contribution to the attention output (zeroing its q/k/v would change the softmax
 *   instead); measure ‖Δ o-projection output‖_F.
 */
import * as path from 'node:path';
import { mapModel } from '../../arch/map';
import { LayerMap, ModelMap } from '../../../core/model/model-map';
import { ModelSession } from '../../capture/runtime';
import { pruneToOutputs } from '../../capture/graph-builder';
import {
  feedsFor,
  fixtureFile,
  fixtureManifest,
  FixtureEntry,
  reference
} from '../../__tests__/fixtures';
import { OnnxModel } from '../../onnx/model';
import { GraphProto, ModelProto } from '../../onnx/proto';
import { openScoreStore, scoreDocuments } from '..';
import {
  diffNorm,
  elemTypeOf,
  floats,
  removeDir,
  tempDir,
  withExtraOutputs,
  Zeroer
} from './helpers';

const fixtures = fixtureManifest();
const pick = (family: string, style: string) =>
  fixtures.find(f => f.family === family && f.style === style)!;

const CASES: FixtureEntry[] = [
  ...['llama', 'qwen2', 'qwen3', 'mistral', 'phi3', 'gemma', 'gpt2'].map(f =>
    pick(f, 'torchscript')
  ),
  pick('llama', 'dynamo'),
  pick('phi3', 'dynamo'),
  pick('gpt2', 'dynamo'),
  pick('qwen3', 'kv'),
  pick('qwen2', 'external'),
  pick('llama', 'fp16'),
  pick('gemma', 'fp16'),
  pick('gemma3-gqa', 'torchscript'),
  pick('gemma3-gqa', 'kv'),
  pick('gemma3', 'fp16')
];

function outputOf(graph: GraphProto, label: string): string {
  const byIndex = /^#(\d+)$/.exec(label);
  const node = byIndex
    ? graph.node[Number(byIndex[1])]
    : graph.node.find(n => n.name === label);
  return node!.output[0];
}

/** The lowest- and the highest-scoring unit: the two ends of the ranking. */
function probeUnits(scores: Float32Array): number[] {
  const order = Array.from(scores.keys()).sort((a, b) => scores[a] - scores[b]);
  return [...new Set([order[0], order[order.length - 1]])];
}

async function runProbes(
  model: OnnxModel,
  proto: ModelProto,
  dir: string,
  entry: FixtureEntry,
  tokens: number[],
  probes: string[]
): Promise<Map<string, Float32Array>> {
  const file = path.join(dir, `m${Math.random().toString(36).slice(2)}.onnx`);
  // Only what the probes need: later layers and the lm_head would only cost time.
  const graph = proto.graph as GraphProto;
  const outputs = probes.map(p => graph.output.find(o => o.name === p)!);
  model.save(
    file,
    {},
    {
      ...proto,
      graph: pruneToOutputs({ ...graph, output: outputs })
    }
  );
  // The reference runs the plain graph: no onnxruntime rewrites between it and the weights.
  const session = await ModelSession.open(file, {
    threads: 1,
    optimization: 'disabled'
  });
  try {
    const out = await session.run(feedsFor(entry, tokens), probes);
    return new Map(
      probes.map(p => [p, floats(out[p].data as never, out[p].type)])
    );
  } finally {
    await session.release();
  }
}

describe('relevance scores equal brute-force ablation', () => {
  it.each(CASES.map(e => [`${e.family}/${e.style}`, e] as const))(
    '%s',
    async (_name, entry) => {
      const dir = tempDir('ablation');
      const model = OnnxModel.load(fixtureFile(entry));
      try {
        const map: ModelMap = mapModel(model);
        const tokens = reference(entry.family).sequences[2];
        const store = openScoreStore(path.join(dir, 'store'), model, map);
        await scoreDocuments(model, map, [{ id: 'doc', tokens }], store, {
          threads: 1
        });
        const scores = store.scores('doc');
        store.close();

        const graph = model.graph;
        const probe = (l: LayerMap) => ({
          ffn: outputOf(graph, l.ffn.down.node),
          attention: outputOf(graph, l.attention.o.node)
        });
        const probes = map.layers.flatMap(l => Object.values(probe(l)));
        const withProbes = withExtraOutputs(
          model.proto,
          probes.map(name => ({ name, elemType: elemTypeOf(map.dtype) }))
        );
        const base = await runProbes(
          model,
          withProbes,
          dir,
          entry,
          tokens,
          probes
        );
        const fp16 = entry.dtype === 'float16';
        let checked = 0;
        let worst = 0;
        for (const layer of map.layers) {
          const { ffn, attention } = layer;
          const ffnScores = scores.find(
            s => s.layer === layer.index && s.kind === 'ffn'
          )!.scores;
          const attnScores = scores.find(
            s => s.layer === layer.index && s.kind === 'attention'
          )!.scores;
          const ablations: {
            kind: 'ffn' | 'attention';
            unit: number;
            score: number;
            zero: (z: Zeroer) => void;
          }[] = [
            ...probeUnits(ffnScores).map(k => ({
              kind: 'ffn' as const,
              unit: k,
              score: ffnScores[k],
              zero: (z: Zeroer) => {
                if (ffn.gate) {
                  z.output(ffn.gate, k);
                }
                z.output(ffn.up, k);
              }
            })),
            ...probeUnits(attnScores).map(j => ({
              kind: 'attention' as const,
              unit: j,
              score: attnScores[j],
              zero: (z: Zeroer) => {
                const width = attention.groupSize * attention.headSize;
                for (let r = j * width; r < (j + 1) * width; r++) {
                  z.input(attention.o, r);
                }
              }
            }))
          ];
          for (const ablation of ablations) {
            const zeroer = new Zeroer(model);
            ablation.zero(zeroer);
            const name = probe(layer)[ablation.kind];
            const after = await runProbes(
              model,
              zeroer.proto(withProbes),
              dir,
              entry,
              tokens,
              [name]
            );
            const { diff, a, b } = diffNorm(base.get(name)!, after.get(name)!);
            // fp32: 1e-4 relative. fp16: each output element is rounded to fp16 (relative
            // half-ulp 2^-11) in both runs, so Δ can be off by up to 2^-11·(‖y‖ + ‖y'‖) on top.
            const slack = fp16 ? 2 ** -11 * (a + b) : 0;
            const error = Math.abs(ablation.score - diff);
            worst = Math.max(worst, error / diff);
            expect({
              layer: layer.index,
              ...ablation,
              zero: undefined,
              diff,
              ok: error <= 1e-4 * diff + slack
            }).toMatchObject({ ok: true });
            checked++;
          }
        }
        expect(checked).toBeGreaterThanOrEqual(map.layers.length * 3);
        // Measured: fp32 ≤ 7e-7 relative on every fixture; fp16 ≤ 8.2e-4.
        if (!fp16) {
          expect(worst).toBeLessThan(1e-4);
        }
      } finally {
        model.close();
        removeDir(dir);
      }
    }
  );
});
