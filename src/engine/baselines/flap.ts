/**
 * The FLAP-style baseline (fluctuation; An et al., AAAI 2024), on the pooled corpus: an FFN
 * channel k is worth `Var_t(h[t,k]) · ‖W_down[k,:]‖₂²`, how much the down projection's output
 * moves with that channel across tokens; an attention group the same summed over its
 * o-projection input columns. The variance is over every real token of every document, so the
 * scoring graph's `flap` form returns per document Σ_t h and Σ_t h² per input channel, and the
 * pooled variance is Σh²/N − (Σh/N)². FLAP's bias compensation and its global, standardised
 * ranking are not part of it: like every baseline here it removes the expert's counts per layer.
 */
import { LayerMap, ModelMap } from '../../core/model/model-map';
import { RuntimeOptions } from '../capture/runtime';
import { ScoringGraph, ScoringOutput } from '../capture/scoring-graph';
import { ScoringSession } from '../capture/scoring-session';
import { CusprunError } from '../../core/errors';
import { OnnxModel } from '../onnx/model';
import { ScoreProgress } from '../score/score';
import { inputRowNorms } from '../score/weights';
import { UnitValues } from './plan';

/** Σ_t h and Σ_t h² per input channel of each output projection, over every real token. */
export interface ChannelMoments {
  tokens: number;
  /** By scoring-graph output name: [Σh over channels…, Σh² over channels…]. */
  sums: Map<string, Float64Array>;
  outputs: ScoringOutput[];
}

export interface FlapOptions extends RuntimeOptions {
  /** Documents per run of the graph (default 8). */
  batchSize?: number;
  /** The token that fills the padding (masked out; default 0). */
  padId?: number;
  /** Where the graph's temporary folder goes (default the system's temp folder). */
  workDir?: string;
  /** The layers whose statistics the pass returns (default every layer). */
  layers?: readonly number[];
  onProgress?: (progress: ScoreProgress) => void;
}

/**
 * One pass over the documents, longest first so that batches pad little: the `flap` moments,
 * or with `form` `gram` each projection input's sums and Gram matrix (prune/regression.ts).
 */
export async function channelMoments(
  model: OnnxModel,
  map: ModelMap,
  documents: number[][],
  options: FlapOptions = {},
  form: 'flap' | 'gram' = 'flap'
): Promise<ChannelMoments> {
  const batchSize = options.batchSize ?? 8;
  if (documents.length === 0 || documents.some(d => d.length === 0)) {
    throw new CusprunError(
      'bad-argument',
      'channel statistics need documents with tokens'
    );
  }
  const ordered = [...documents].sort((a, b) => b.length - a.length);
  const graph = ScoringGraph.write(model, map, {
    scoreForm: form,
    workDir: options.workDir,
    layers: options.layers
  });
  const sums = new Map(
    graph.outputs.map(o => [o.name, new Float64Array(o.width)])
  );
  const started = Date.now();
  let tokens = 0;
  let session: ScoringSession | undefined;
  try {
    session = await ScoringSession.open(graph, { threads: options.threads });
    for (let start = 0; start < ordered.length; start += batchSize) {
      const batch = ordered.slice(start, start + batchSize);
      for (const { output, data } of await session.run(
        batch,
        options.padId ?? 0
      )) {
        const into = sums.get(output.name) as Float64Array;
        data.forEach((v, i) => (into[i % output.width] += v));
      }
      tokens += batch.reduce((n, d) => n + d.length, 0);
      const elapsedMs = Date.now() - started;
      options.onProgress?.({
        done: start + batch.length,
        total: ordered.length,
        skipped: 0,
        tokens,
        tokensPerSecond: elapsedMs > 0 ? (tokens * 1000) / elapsedMs : 0,
        elapsedMs
      });
    }
  } finally {
    await session?.release();
    graph.dispose();
  }
  return { tokens, sums, outputs: graph.outputs };
}

/** What a pass returned for one layer's down (`ffn`) or o (`attention`) projection input. */
export function momentsOf(
  model: OnnxModel,
  moments: ChannelMoments,
  layer: number,
  kind: 'ffn' | 'attention'
): { output: ScoringOutput; sums: Float64Array } {
  const output = moments.outputs.find(
    o => o.layer === layer && o.kind === kind
  );
  const sums = output && moments.sums.get(output.name);
  if (!output || !sums) {
    throw new CusprunError(
      'unmappable',
      `layer ${layer}: the scoring graph returned no ${kind} statistics`,
      model.file
    );
  }
  return { output, sums };
}

/** Each unit's Σ over its channels of Var(h[:, c]) · ‖W[c, :]‖₂², from the pooled moments. */
export function fluctuationValues(
  model: OnnxModel,
  map: ModelMap,
  moments: ChannelMoments
): UnitValues {
  const values = (layer: LayerMap, kind: 'ffn' | 'attention') => {
    const output = moments.outputs.find(
      o => o.layer === layer.index && o.kind === kind
    ) as ScoringOutput;
    const sums = moments.sums.get(output.name) as Float64Array;
    const norms = inputRowNorms(
      model,
      kind === 'ffn' ? layer.ffn.down : layer.attention.o
    );
    const channels = output.width / 2;
    const perUnit = channels / output.units;
    const units = new Float64Array(output.units);
    for (let c = 0; c < channels; c++) {
      const mean = sums[c] / moments.tokens;
      // E[h²] − E[h]² can round below zero for a nearly constant channel.
      const variance = Math.max(
        0,
        sums[channels + c] / moments.tokens - mean * mean
      );
      units[Math.floor(c / perUnit)] += variance * norms[c] * norms[c];
    }
    return units;
  };
  return {
    layers: map.layers.map(layer => ({
      ffn: values(layer, 'ffn'),
      attention: values(layer, 'attention')
    }))
  };
}

/** The FLAP-style values of every unit on the pooled documents. */
export async function flapValues(
  model: OnnxModel,
  map: ModelMap,
  documents: number[][],
  options: FlapOptions = {}
): Promise<UnitValues> {
  return fluctuationValues(
    model,
    map,
    await channelMoments(model, map, documents, options)
  );
}
