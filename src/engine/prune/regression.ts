/**
 * Regression compensation (training-free, beyond FLAP's bias): each removed channel of a down
 * (FFN) or o (attention) projection's input is replaced by its ridge least-squares prediction
 * from the kept channels of the same input, fitted on the documents' real tokens:
 *   ĥ_S = μ_S + (h_K − μ_K)·B,  B = (C_KK + ρ·mean(diag C_KK)·I)⁻¹·C_KS  (C the covariance).
 * Then ĥ_S·W_S = h_K·(B·W_S) + (μ_S − μ_K·B)·W_S: the kept rows of W gain B·W_S and the
 * projection's output gains the constant. With B = 0 it is bias compensation (compensation.ts).
 */
import { createHash } from 'node:crypto';
import { CusprunError } from '../../core/errors';
import { LinearRef, ModelMap } from '../../core/model/model-map';
import { UnitPlan } from '../../core/model/unit-plan';
import { channelMoments, FlapOptions } from '../baselines/flap';
import { float32ToBytes } from '../onnx/dtype';
import { tensorWithData } from '../onnx/edit';
import { OnnxModel } from '../onnx/model';
import { CompensationEdits, removedChannels, weightOf } from './compensation';
import { ridgeCoefficients } from './ridge';
import { unitsByLayer } from './units';

/** The ridge ρ regression compensation uses unless told otherwise (docs/method: why). */
export const DEFAULT_RIDGE = 0.1;

/** Σ_t h and Σ_t h·hᵀ of one projection's n input channels. */
export interface ChannelGram {
  sums: Float64Array;
  /** [n × n], row-major. */
  gram: Float64Array;
}

export interface ProjectionGrams {
  /** Real tokens the sums are over. */
  tokens: number;
  ridge: number;
  layers: { index: number; ffn: ChannelGram; attention: ChannelGram }[];
}

export function isProjectionGrams(value: object): value is ProjectionGrams {
  return 'ridge' in value;
}

/** The sums and Gram matrices of every layer's down and o projection inputs, in one pass. */
export async function projectionGrams(
  model: OnnxModel,
  map: ModelMap,
  documents: number[][],
  options: FlapOptions & { ridge?: number } = {}
): Promise<ProjectionGrams> {
  const moments = await channelMoments(model, map, documents, options, 'gram');
  const gramOf = (index: number, kind: 'ffn' | 'attention'): ChannelGram => {
    const output = moments.outputs.find(
      o => o.layer === index && o.kind === kind
    );
    const sums = output && moments.sums.get(output.name);
    if (!output || !sums) {
      throw new CusprunError(
        'unmappable',
        `layer ${index}: the scoring graph returned no ${kind} Gram matrix`,
        model.file
      );
    }
    const n = Math.round(Math.sqrt(output.width + 0.25) - 0.5);
    return { sums: sums.subarray(0, n), gram: sums.subarray(n) };
  };
  return {
    tokens: moments.tokens,
    ridge: options.ridge ?? DEFAULT_RIDGE,
    layers: map.layers.map(layer => ({
      index: layer.index,
      ffn: gramOf(layer.index, 'ffn'),
      attention: gramOf(layer.index, 'attention')
    }))
  };
}

/** A SHA-256 of the statistics and ridge: what an evaluation of a compensated plan is keyed by. */
export function gramsSha256(grams: ProjectionGrams): string {
  const hash = createHash('sha256').update(
    JSON.stringify({ tokens: grams.tokens, ridge: grams.ridge })
  );
  for (const layer of grams.layers) {
    for (const g of [layer.ffn, layer.attention]) {
      hash.update(
        new Uint8Array(g.sums.buffer, g.sums.byteOffset, g.sums.byteLength)
      );
      hash.update(
        new Uint8Array(g.gram.buffer, g.gram.byteOffset, g.gram.byteLength)
      );
    }
  }
  return hash.digest('hex');
}

/** The covariance of the channels, [n × n]: Σhhᵀ/N − μμᵀ. */
function covariance(g: ChannelGram, tokens: number): Float64Array {
  const n = g.sums.length;
  const c = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const mi = g.sums[i] / tokens;
    for (let j = 0; j < n; j++) {
      c[i * n + j] = g.gram[i * n + j] / tokens - (mi * g.sums[j]) / tokens;
    }
  }
  return c;
}

/**
 * One projection's edit: its weight with B·W_S added to the kept rows (the removed rows are
 * left for the cut to remove or zero) and the constant (μ_S − μ_K·B)·W_S for its output.
 */
function projectionEdit(
  model: OnnxModel,
  ref: LinearRef,
  removed: number[],
  g: ChannelGram,
  tokens: number,
  ridge: number
) {
  const n = ref.in;
  const out = ref.out;
  const { tensor } = weightOf(model, ref);
  const w = model.float32(tensor);
  // W[c, j] of y = x·W, whichever way it is stored.
  const at =
    ref.layout === 'in-out'
      ? (c: number, j: number) => c * out + j
      : (c: number, j: number) => j * n + c;
  const gone = new Set(removed);
  const kept = Array.from({ length: n }, (_, c) => c).filter(c => !gone.has(c));
  const b = ridgeCoefficients(covariance(g, tokens), n, kept, removed, ridge);
  const s = removed.length;
  const bias = new Float64Array(out);
  const mean = (c: number) => g.sums[c] / tokens;
  removed.forEach(c => {
    for (let j = 0; j < out; j++) {
      bias[j] += mean(c) * w[at(c, j)];
    }
  });
  const edited = Float64Array.from(w);
  const delta = new Float64Array(out);
  kept.forEach((c, i) => {
    delta.fill(0);
    removed.forEach((r, p) => {
      const coefficient = b[i * s + p];
      for (let j = 0; j < out; j++) {
        delta[j] += coefficient * w[at(r, j)];
      }
    });
    for (let j = 0; j < out; j++) {
      edited[at(c, j)] += delta[j];
      bias[j] -= mean(c) * delta[j];
    }
  });
  return {
    weight: tensorWithData(
      tensor,
      float32ToBytes(edited, tensor.data_type as number)
    ),
    bias
  };
}

/** The edits that regression-compensate a plan: per projection that loses inputs. */
export function regressionEdits(
  model: OnnxModel,
  map: ModelMap,
  plan: UnitPlan,
  grams: ProjectionGrams
): CompensationEdits {
  const edits: CompensationEdits = { biases: [], weights: new Map() };
  unitsByLayer(map, plan).forEach((units, i) => {
    const layer = map.layers[i];
    const stats = grams.layers.find(l => l.index === layer.index);
    if (!stats) {
      throw new CusprunError(
        'bad-argument',
        `the Gram matrices have no layer ${layer.index}; were they computed for another model?`
      );
    }
    for (const part of removedChannels(layer, units)) {
      const g = stats[part.kind];
      if (g.sums.length !== part.projection.in) {
        throw new CusprunError(
          'bad-argument',
          `layer ${layer.index}: ${g.sums.length} ${part.kind} channels for a projection of ${part.projection.in} inputs; were the Gram matrices computed for another model?`
        );
      }
      const edit = projectionEdit(
        model,
        part.projection,
        part.channels,
        g,
        grams.tokens,
        grams.ridge
      );
      edits.weights.set(part.projection.weight, edit.weight);
      edits.biases.push({
        layer: layer.index,
        kind: part.kind,
        projection: part.projection,
        values: edit.bias
      });
    }
  });
  return edits;
}
