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
import { LayerMap, LinearRef, ModelMap } from '../../core/model/model-map';
import { UnitPlan } from '../../core/model/unit-plan';
import { channelMoments, FlapOptions, momentsOf } from '../baselines/flap';
import { float32ToBytes } from '../onnx/dtype';
import { tensorWithData } from '../onnx/edit';
import { OnnxModel } from '../onnx/model';
import { CompensationEdits, removedChannels, weightOf } from './compensation';
import { ridgeCoefficients } from './ridge';
import { unitsByLayer } from './units';

/** The ridge ρ regression compensation uses unless told otherwise (src/engine/prune/README.md: why). */
export const DEFAULT_RIDGE = 0.1;

/** Σ_t h and Σ_t h·hᵀ of one projection's n input channels. */
export interface ChannelGram {
  sums: Float64Array;
  /** [n × n], row-major. */
  gram: Float64Array;
}

export interface ProjectionGrams {
  kind: 'grams';
  /** Real tokens the sums are over. */
  tokens: number;
  ridge: number;
  layers: { index: number; ffn: ChannelGram; attention: ChannelGram }[];
}

/** One projection's fit: what its removed channels are replaced by. */
export interface ProjectionFit {
  layer: number;
  kind: 'ffn' | 'attention';
  /** The removed input channels, in the plan's order. */
  removed: number[];
  /** μ of every input channel ([n]). */
  means: Float32Array;
  /** B, [kept × removed] row-major; kept: the other channels, ascending. */
  coefficients: Float32Array;
}

/**
 * The regression a plan's model was compensated with, in float32 as stored beside it
 * (regression-file.ts): the edits are made from these values, so `verify` rebuilds them exactly.
 */
export interface RegressionFit {
  kind: 'regression-fit';
  tokens: number;
  ridge: number;
  projections: ProjectionFit[];
}
export type GramOptions = FlapOptions & { ridge?: number };

/**
 * The sums and Gram matrices of every layer's down and o projection inputs (of `options.layers`
 * alone, if given), in one pass.
 */
export async function projectionGrams(
  model: OnnxModel,
  map: ModelMap,
  documents: number[][],
  options: GramOptions = {}
): Promise<ProjectionGrams> {
  const moments = await channelMoments(model, map, documents, options, 'gram');
  const passOutput = (
    index: number,
    kind: 'ffn' | 'attention'
  ): ChannelGram => {
    const { output, sums } = momentsOf(model, moments, index, kind);
    const n = Math.round(Math.sqrt(output.width + 0.25) - 0.5);
    return { sums: sums.subarray(0, n), gram: sums.subarray(n) };
  };
  return {
    kind: 'grams',
    tokens: moments.tokens,
    ridge: options.ridge ?? DEFAULT_RIDGE,
    // The layers the pass returned (the scoring graph keeps `options.layers` alone).
    layers: [...new Set(moments.outputs.map(o => o.layer))].map(index => ({
      index,
      ffn: passOutput(index, 'ffn'),
      attention: passOutput(index, 'attention')
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

/** The channels of 0…n−1 not in `removed`, ascending. */
function keptChannels(n: number, removed: number[]): number[] {
  const gone = new Set(removed);
  return Array.from({ length: n }, (_, c) => c).filter(c => !gone.has(c));
}

/** Fits each projection that loses inputs under `plan`: its means and coefficients B. */
export function fitRegression(
  map: ModelMap,
  plan: UnitPlan,
  grams: ProjectionGrams
): RegressionFit {
  const projections = unitsByLayer(map, plan).flatMap((units, i) => {
    const layer = map.layers[i];
    return removedChannels(layer, units).map(part => {
      const n = part.projection.in;
      const g = gramOf(grams, layer.index, part.kind, n);
      const coefficients = ridgeCoefficients(
        covariance(g, grams.tokens),
        n,
        keptChannels(n, part.channels),
        part.channels,
        grams.ridge
      );
      return {
        layer: layer.index,
        kind: part.kind,
        removed: part.channels,
        means: Float32Array.from(g.sums, v => v / grams.tokens),
        coefficients: Float32Array.from(coefficients)
      };
    });
  });
  return {
    kind: 'regression-fit',
    tokens: grams.tokens,
    ridge: grams.ridge,
    projections
  };
}

/** One projection input's statistics, checked to be of its n channels. */
function gramOf(
  grams: ProjectionGrams,
  layer: number,
  kind: 'ffn' | 'attention',
  n: number
): ChannelGram {
  const stats = grams.layers.find(l => l.index === layer);
  if (!stats) {
    throw new CusprunError(
      'bad-argument',
      `the Gram matrices have no layer ${layer}; were they computed for another model?`
    );
  }
  const g = stats[kind];
  if (g.sums.length !== n) {
    throw new CusprunError(
      'bad-argument',
      `layer ${layer}: ${g.sums.length} ${kind} channels for a projection of ${n} inputs; were the Gram matrices computed for another model?`
    );
  }
  return g;
}

/**
 * The float64 sums and Gram matrices `regressionFit` holds at once, at most (a layer that needs
 * more alone is a pass of its own); the pass's float32 outputs and onnxruntime's buffers come on
 * top, about as much again.
 */
export const GRAM_BUDGET_BYTES = 512 * 2 ** 20;

/** The bytes of one layer's sums and Gram matrices, down and o projection inputs. */
function gramBytes(layer: LayerMap): number {
  return [layer.ffn.down.in, layer.attention.o.in].reduce(
    (bytes, n) => bytes + 8 * (n + n * n),
    0
  );
}

/**
 * The layers that lose input channels under `plan`, in order, grouped into passes whose Gram
 * matrices fit `budget` bytes.
 */
export function gramPasses(
  map: ModelMap,
  plan: UnitPlan,
  budget: number
): number[][] {
  const passes: number[][] = [];
  let bytes = 0;
  unitsByLayer(map, plan).forEach((units, i) => {
    const layer = map.layers[i];
    if (removedChannels(layer, units).length === 0) {
      return;
    }
    const need = gramBytes(layer);
    const last = passes[passes.length - 1];
    if (last && bytes + need <= budget) {
      last.push(layer.index);
      bytes += need;
    } else {
      passes.push([layer.index]);
      bytes = need;
    }
  });
  return passes;
}

/**
 * `plan`'s regression fit, its Gram matrices computed in passes of at most `gramBudget` bytes,
 * each pass's projections fitted before the next pass: memory bounded by the budget instead of
 * every layer's matrices at once (Σ n²·8 bytes: 3× the weights on SmolLM2, ~35 GB on a 7B
 * model), for one pass over the documents per group of layers, each stopping at its last layer.
 */
export async function regressionFit(
  model: OnnxModel,
  map: ModelMap,
  plan: UnitPlan,
  documents: number[][],
  options: GramOptions & { gramBudget?: number } = {}
): Promise<RegressionFit> {
  const budget = options.gramBudget ?? GRAM_BUDGET_BYTES;
  const projections: ProjectionFit[] = [];
  for (const layers of gramPasses(map, plan, budget)) {
    const grams = await projectionGrams(model, map, documents, {
      ...options,
      layers
    });
    const ofPass = plan.layers.filter(l => layers.includes(l.index));
    projections.push(
      ...fitRegression(map, { layers: ofPass }, grams).projections
    );
  }
  return {
    kind: 'regression-fit',
    tokens: documents.reduce((n, d) => n + d.length, 0),
    ridge: options.ridge ?? DEFAULT_RIDGE,
    projections
  };
}

/**
 * One projection's edit: its weight with B·W_S added to the kept rows (the removed rows are
 * left for the cut to remove or zero) and the constant (μ_S − μ_K·B)·W_S for its output.
 */
function projectionEdit(model: OnnxModel, ref: LinearRef, fit: ProjectionFit) {
  const n = ref.in;
  const out = ref.out;
  const { tensor } = weightOf(model, ref);
  const w = model.float32(tensor);
  // Row c of W in y = x·W (input channel c), whichever way it is stored.
  const inOut = ref.layout === 'in-out';
  const row = (c: number): Float64Array =>
    inOut
      ? Float64Array.from(w.subarray(c * out, (c + 1) * out))
      : Float64Array.from({ length: out }, (_, j) => w[j * n + c]);
  const { removed, means, coefficients } = fit;
  const s = removed.length;
  const removedRows = removed.map(row);
  const bias = new Float64Array(out);
  removedRows.forEach((r, p) => {
    const mean = means[removed[p]];
    for (let j = 0; j < out; j++) {
      bias[j] += mean * r[j];
    }
  });
  const edited = Float64Array.from(w);
  keptChannels(n, removed).forEach((c, i) => {
    const delta = new Float64Array(out);
    removedRows.forEach((r, p) => {
      const coefficient = coefficients[i * s + p];
      for (let j = 0; j < out; j++) {
        delta[j] += coefficient * r[j];
      }
    });
    const mean = means[c];
    for (let j = 0; j < out; j++) {
      edited[inOut ? c * out + j : j * n + c] += delta[j];
      bias[j] -= mean * delta[j];
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

/** The edits of a fit: per projection that loses inputs under `plan`, the fit's own. */
export function regressionEdits(
  model: OnnxModel,
  map: ModelMap,
  plan: UnitPlan,
  fit: RegressionFit
): CompensationEdits {
  const edits: CompensationEdits = { biases: [], weights: new Map() };
  unitsByLayer(map, plan).forEach((units, i) => {
    const layer = map.layers[i];
    for (const part of removedChannels(layer, units)) {
      const own = fit.projections.find(
        p => p.layer === layer.index && p.kind === part.kind
      );
      if (
        !own ||
        own.removed.length !== part.channels.length ||
        own.removed.some((c, k) => c !== part.channels[k]) ||
        own.means.length !== part.projection.in
      ) {
        throw new CusprunError(
          'bad-argument',
          `the regression fit has no ${part.kind} fit of layer ${layer.index} for the plan's units; was it made for another plan or model?`
        );
      }
      const edit = projectionEdit(model, part.projection, own);
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
