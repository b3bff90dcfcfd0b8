/**
 * A σ sweep with metrics: at each grid point the expert's plan, and each baseline with the
 * same per-layer counts, built in memory and evaluated (each bias-compensated, given means).
 * Points come out as they finish.
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

export type { SweepGrid, SweepPoint };

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
  compensation?: Compensation
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
  const dense = (await evaluator.evaluate()).metrics;
  const points: SweepPoint[] = [];
  for (const target of targets) {
    const plan = expert.plan(target);
    const units = unitPlanOf(plan);
    for (const method of methods) {
      const { metrics, cached } = await evaluator.evaluate(
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
        cached
      };
      points.push(point);
      onPoint?.(point);
    }
  }
  return { dense, points };
}
