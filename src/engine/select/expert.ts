/**
 * An expert's plan from scored documents: the deciding ranks over the requested dimensions, σ
 * given or solved for a target ratio, and the units each layer loses. Its JSON is what
 * `cusprun plan --json` prints and `cusprun prune` applies.
 */
import { ModelMap } from '../arch/types';
import { CusprunError } from '../errors';
import { UnitPlan } from '../prune/plan';
import {
  DocumentScores,
  dimensionLayerRanks,
  expertLayerRanks,
  unitGroups
} from './from-scores';
import { checkSigma, RatioResult, Selection } from './selection';

export interface PlanOptions {
  /** σ itself, or a target pruning ratio to solve σ for: exactly one of the two. */
  sigma?: number;
  targetRatio?: number;
  /** Relaxed intersection: irrelevant to at least this fraction of a dimension's documents. */
  q?: number;
  minKeep?: number;
  multipleOf?: number;
}

export interface ExpertPlan {
  sigma: number;
  /** Removed over all prunable decoder-layer projection parameters. */
  ratio: number;
  /** Removed over every parameter of the model, embeddings and lm_head included. */
  wholeModelRatio: number;
  removedParams: number;
  prunableParams: number;
  totalParams: number;
  targetRatio?: number;
  dimensions: string[];
  q: number;
  minKeep: number;
  multipleOf: number;
  layers: {
    index: number;
    ffn: { width: number; pruned: number[] };
    attention: { groups: number; prunedGroups: number[] };
  }[];
}

export interface ScoredDimension {
  name: string;
  documents: Iterable<DocumentScores>;
}

export function expertPlan(
  map: ModelMap,
  dimensions: ScoredDimension[],
  options: PlanOptions
): ExpertPlan {
  if ((options.sigma === undefined) === (options.targetRatio === undefined)) {
    throw new CusprunError(
      'bad-argument',
      'give either σ (--sigma) or a target ratio (--target-ratio), not both'
    );
  }
  if (dimensions.length === 0) {
    throw new CusprunError(
      'bad-argument',
      'an expert needs at least one dimension'
    );
  }
  const q = options.q ?? 1;
  if (!(q > 0 && q <= 1)) {
    throw new CusprunError('bad-argument', `q must lie in (0, 1], got ${q}`);
  }
  const ranks = expertLayerRanks(
    dimensions.map(d => dimensionLayerRanks(d.documents, q))
  );
  const minKeep = options.minKeep ?? 1;
  const multipleOf = options.multipleOf ?? 1;
  const selection = new Selection(unitGroups(map, ranks), map.prunableParams, {
    minKeep,
    multipleOf
  });
  let result: RatioResult;
  if (options.sigma !== undefined) {
    checkSigma(options.sigma);
    result = selection.ratio(options.sigma);
  } else {
    result = selection.sigmaForRatio(options.targetRatio as number);
  }
  return {
    sigma: result.sigma,
    ratio: result.ratio,
    wholeModelRatio: result.removedParams / map.totalParams,
    removedParams: result.removedParams,
    prunableParams: map.prunableParams,
    totalParams: map.totalParams,
    ...(options.targetRatio !== undefined
      ? { targetRatio: options.targetRatio }
      : {}),
    dimensions: dimensions.map(d => d.name),
    q,
    minKeep,
    multipleOf,
    layers: map.layers.map((layer, i) => ({
      index: layer.index,
      ffn: {
        width: layer.ffn.units,
        pruned: selection.units(2 * i, result.sigma)
      },
      attention: {
        groups: layer.attention.units,
        prunedGroups: selection.units(2 * i + 1, result.sigma)
      }
    }))
  };
}

export function unitPlanOf(plan: ExpertPlan): UnitPlan {
  return {
    layers: plan.layers.map(l => ({
      index: l.index,
      ffn: l.ffn.pruned,
      attention: l.attention.prunedGroups
    }))
  };
}
