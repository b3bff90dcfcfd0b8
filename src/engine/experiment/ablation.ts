/**
 * The dimension ablation: an expert on every non-empty subset of the scored dimensions (7 for
 * L, D and T), each at the same target ratio with σ solved per subset, evaluated side by side.
 * It can be split into shards of its evaluations (shard.ts): e = 0 is the dense model and
 * e = 1 + i the i-th subset (in `subsets` order).
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
import { Evaluator } from './evaluator';
import { EvaluationShard, inShard } from './shard';

/** The dense model's metrics and one row per subset of the dimensions. */
export type AblationResult = Pick<
  AblationRecord,
  'targetRatio' | 'dense' | 'rows'
>;

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

export async function runAblation(
  map: ModelMap,
  dimensions: DimensionRanks[],
  guards: Pick<PlanOptions, 'minKeep' | 'multipleOf'>,
  targetRatio: number,
  evaluator: Evaluator,
  onRow?: (row: AblationRow) => void,
  shard?: EvaluationShard
): Promise<AblationResult> {
  // A shard without the dense evaluation reports no dense metrics.
  const dense = inShard(shard, 0) ? (await evaluator.evaluate()).metrics : [];
  const rows: AblationRow[] = [];
  for (const [i, subset] of subsets(dimensions).entries()) {
    if (!inShard(shard, 1 + i)) {
      continue;
    }
    const names = subset.map(d => d.name);
    const plan = planOrReason(map, subset, guards, targetRatio);
    const row: AblationRow =
      typeof plan === 'string'
        ? { dimensions: names, metrics: [], cached: false, unreachable: plan }
        : {
            dimensions: names,
            sigma: plan.sigma,
            ratio: plan.ratio,
            ...(await evaluator.evaluate(unitPlanOf(plan)))
          };
    rows.push(row);
    onRow?.(row);
  }
  return { targetRatio, dense, rows };
}
