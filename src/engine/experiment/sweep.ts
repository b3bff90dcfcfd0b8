/**
 * A σ sweep with metrics: at each grid point the expert's plan, and each baseline with the
 * same per-layer counts, built in memory and evaluated (each bias-compensated, given means).
 * Points come out as they finish. A sweep can be split into shards of its evaluations (shard.ts):
 * e = 0 is the dense model and e = 1 + t × methods + m is method m at grid value t.
 */
import { CusprunError } from '../../core/errors';
import { ExpertPlan, PlanTarget, unitPlanOf } from '../../core/select/expert';
import type {
  Method,
  SweepGrid,
  SweepPoint,
  SweepRecord
} from '../../core/experiment';
import { Compensation, Evaluator } from './evaluator';
import { BaselineInputs, methodPlan } from './methods';
import { EvaluationShard, inShard } from './shard';

export type { SweepGrid, SweepPoint };

/** The methods some evaluation of `shard` uses (all of them without a shard). */
export function sweepShardMethods(
  methods: Method[],
  grid: SweepGrid,
  shard?: EvaluationShard
): Method[] {
  const values = (grid.sigmas ?? grid.targetRatios ?? []).length;
  return methods.filter((_, m) =>
    Array.from({ length: values }, (_, t) => 1 + t * methods.length + m).some(
      e => inShard(shard, e)
    )
  );
}

/** The dense model's metrics and every method's at each grid point. */
export type SweepResult = Pick<SweepRecord, 'dense' | 'points'>;

/** What plans the expert at each grid point: an Expert, or one with allocated counts. */
export interface Planner {
  plan(target: PlanTarget): ExpertPlan;
}

export async function runSweep(
  expert: Planner,
  evaluator: Evaluator,
  methods: Method[],
  inputs: BaselineInputs,
  grid: SweepGrid,
  onPoint?: (point: SweepPoint) => void,
  compensation?: Compensation,
  shard?: EvaluationShard
): Promise<SweepResult> {
  if ((grid.sigmas === undefined) === (grid.targetRatios === undefined)) {
    throw new CusprunError(
      'bad-argument',
      'give a σ grid (--sigma) or a target-ratio grid (--target-ratios), not both'
    );
  }
  const targets = (grid.sigmas ?? grid.targetRatios ?? []).map(value =>
    grid.sigmas ? { sigma: value } : { targetRatio: value }
  );
  // A shard without the dense evaluation reports no dense metrics.
  const dense = inShard(shard, 0) ? (await evaluator.evaluate()).metrics : [];
  const points: SweepPoint[] = [];
  let evaluation = 0;
  for (const target of targets) {
    const plan = expert.plan(target);
    const units = unitPlanOf(plan);
    for (const method of methods) {
      if (!inShard(shard, ++evaluation)) {
        continue;
      }
      const { metrics, cached, generation } = await evaluator.evaluate(
        methodPlan(method, evaluator.model.map, units, inputs),
        compensation
      );
      const point: SweepPoint = {
        method,
        sigma: plan.sigma,
        ratio: plan.ratio,
        ...(target.targetRatio !== undefined
          ? { targetRatio: target.targetRatio }
          : {}),
        metrics,
        ...(generation ? { generation } : {}),
        cached
      };
      points.push(point);
      onPoint?.(point);
    }
  }
  return { dense, points };
}
