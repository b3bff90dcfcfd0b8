/**
 * A σ sweep with metrics: at each grid point the expert's plan, and each baseline with the
 * same per-layer counts, built in memory and evaluated. Points come out as they finish.
 */
import { CusprunError } from '../../core/errors';
import { Expert, unitPlanOf } from '../../core/select/expert';
import type { SweepGrid, SweepPoint, SweepRecord } from '../../core/experiment';
import { Evaluator } from './evaluator';
import { BaselineInputs, Method, methodPlan } from './methods';

export type { SweepGrid, SweepPoint };

/** The dense model's metrics and every method's at each grid point. */
export type SweepResult = Pick<SweepRecord, 'dense' | 'points'>;

/** The most points a grid may have: each is a plan (and, in a sweep, evaluations) of its own. */
export const MAX_GRID_POINTS = 1000;

export function checkGridSize(count: number, what: string): void {
  if (count > MAX_GRID_POINTS) {
    throw new CusprunError(
      'bad-argument',
      `${count.toLocaleString('en-US')} grid points are more than the limit of ${MAX_GRID_POINTS.toLocaleString('en-US')}; ask for fewer (a larger STEP)`,
      what
    );
  }
}

/**
 * `a:b:step` (inclusive of b, within rounding) or a comma-separated list; each value strictly
 * between 0 and 1, at most MAX_GRID_POINTS of them (checked before any is made). `what` names
 * the option in messages.
 */
export function parseGrid(spec: string, what: string): number[] {
  let values: number[];
  const range = /^\s*([^:]+):([^:]+):([^:]+)\s*$/.exec(spec);
  if (range) {
    const [start, stop, step] = range.slice(1).map(Number);
    if (
      ![start, stop, step].every(Number.isFinite) ||
      step <= 0 ||
      stop < start
    ) {
      throw new CusprunError(
        'bad-argument',
        `'${spec}' is not a range START:STOP:STEP with STEP > 0 and STOP ≥ START`,
        what
      );
    }
    const count = Math.floor((stop - start) / step + 1e-9) + 1;
    checkGridSize(count, what);
    values = Array.from({ length: count }, (_, i) =>
      Number((start + i * step).toFixed(10))
    );
  } else {
    values = spec.split(',').map(v => Number(v.trim()));
    checkGridSize(values.length, what);
  }
  for (const v of values) {
    if (!(v > 0 && v < 1)) {
      throw new CusprunError(
        'bad-argument',
        `every value must lie strictly between 0 and 1, got ${Number.isNaN(v) ? `'${spec}'` : v}`,
        what
      );
    }
  }
  return values;
}

export async function runSweep(
  expert: Expert,
  evaluator: Evaluator,
  methods: Method[],
  inputs: BaselineInputs,
  grid: SweepGrid,
  onPoint?: (point: SweepPoint) => void
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
        methodPlan(method, evaluator.model.map, units, inputs)
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
