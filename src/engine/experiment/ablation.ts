/**
 * The dimension ablation: an expert on every non-empty subset of the scored dimensions (7 for
 * L, D and T), each at the same target ratio with σ solved per subset, evaluated side by side.
 * Given general calibration's pooled scores, one more row: the `general` baseline at the
 * per-layer counts of the expert on every dimension, so that what the expert gains on its own
 * set, and gives up on the others, is in view.
 * It can be split into shards of its evaluations (shard.ts): e = 0 is the dense model,
 * e = 1 + i the i-th subset (in `subsets` order) and e = 2^dimensions the general row.
 */
import { ModelMap } from '../../core/model/model-map';
import { CusprunError } from '../../core/errors';
import {
  DimensionRanks,
  Expert,
  ExpertPlan,
  PlanOptions,
  unitPlanOf
} from '../../core/select/expert';
import type { AblationRecord, AblationRow } from '../../core/experiment';
import type { PooledScores } from '../baselines';
import { Compensation, Evaluator } from './evaluator';
import { methodPlan } from './methods';
import { EvaluationShard, inShard } from './shard';

/** The dense model's metrics, one row per subset of the dimensions, and the general row. */
export type AblationResult = Pick<
  AblationRecord,
  'targetRatio' | 'dense' | 'rows' | 'general'
>;

export interface AblationOptions {
  /** Each subset's row as it is made. */
  onRow?: (row: AblationRow) => void;
  shard?: EvaluationShard;
  /** General calibration's scores: with them, the general row (else none). */
  general?: PooledScores;
  /** Every row evaluated with its removed units compensated with these statistics. */
  compensation?: Compensation;
}

/** The general row's evaluation: after the dense model and the 2^n − 1 subsets. */
export function generalEvaluation(dimensions: number): number {
  return 1 << dimensions;
}

export type { AblationRow };

/** Non-empty subsets, smallest first, each in the items' own order. */
export function subsets<T>(items: readonly T[]): T[][] {
  const all: T[][] = [];
  for (let mask = 1; mask < 1 << items.length; mask++) {
    all.push(items.filter((_, i) => mask & (1 << i)));
  }
  return all.sort((a, b) => a.length - b.length);
}

/** The subset's plan at the target ratio, or why it cannot reach it. */
function planOrReason(
  map: ModelMap,
  subset: DimensionRanks[],
  guards: Pick<PlanOptions, 'minKeep' | 'multipleOf'>,
  targetRatio: number
): ExpertPlan | string {
  try {
    return new Expert(map, subset, guards).plan({ targetRatio });
  } catch (error) {
    if (error instanceof CusprunError && error.code === 'bad-argument') {
      return error.message;
    }
    throw error;
  }
}

/** The row of a plan, evaluated as `evaluate` prunes it, or of why there is no plan. */
async function rowOf(
  dimensions: string[],
  plan: ExpertPlan | string,
  evaluate: (plan: ExpertPlan) => ReturnType<Evaluator['evaluate']>
): Promise<AblationRow> {
  return typeof plan === 'string'
    ? { dimensions, metrics: [], cached: false, unreachable: plan }
    : {
        dimensions,
        sigma: plan.sigma,
        ratio: plan.ratio,
        ...(await evaluate(plan))
      };
}

export async function runAblation(
  map: ModelMap,
  dimensions: DimensionRanks[],
  guards: Pick<PlanOptions, 'minKeep' | 'multipleOf'>,
  targetRatio: number,
  evaluator: Evaluator,
  { onRow, shard, general, compensation }: AblationOptions = {}
): Promise<AblationResult> {
  // A shard without the dense evaluation reports no dense metrics.
  const dense = inShard(shard, 0) ? (await evaluator.evaluate()).metrics : [];
  const rows: AblationRow[] = [];
  for (const [i, subset] of subsets(dimensions).entries()) {
    if (!inShard(shard, 1 + i)) {
      continue;
    }
    const plan = planOrReason(map, subset, guards, targetRatio);
    const row = await rowOf(
      subset.map(d => d.name),
      plan,
      p => evaluator.evaluate(unitPlanOf(p), compensation)
    );
    rows.push(row);
    onRow?.(row);
  }
  if (!general || !inShard(shard, generalEvaluation(dimensions.length))) {
    return { targetRatio, dense, rows };
  }
  // The all-dimension expert's plan again (solving σ is cheap): a shard may not have made it.
  const row = await rowOf(
    dimensions.map(d => d.name),
    planOrReason(map, dimensions, guards, targetRatio),
    p =>
      evaluator.evaluate(
        methodPlan('general', map, unitPlanOf(p), { seed: 0, general }),
        compensation
      )
  );
  return { targetRatio, dense, rows, general: row };
}
