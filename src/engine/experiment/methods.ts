/**
 * The methods a sweep compares: the Cus-Prun expert and the baselines of method.md, each
 * removing the expert's per-layer counts so that all reach the same ratio.
 */
import { ModelMap } from '../../core/model/model-map';
import { PooledScores, randomPlan, rankedPlan, UnitValues } from '../baselines';
import { CusprunError } from '../../core/errors';
import { UnitPlan } from '../../core/model/unit-plan';
import type { Method } from '../../core/experiment';

/** What the baselines rank by; a method whose input is missing cannot be asked for. */
export interface BaselineInputs {
  seed: number;
  magnitude?: UnitValues;
  general?: PooledScores;
  wanda?: PooledScores;
  flap?: UnitValues;
}

export function methodPlan(
  method: Method,
  map: ModelMap,
  expert: UnitPlan,
  inputs: BaselineInputs
): UnitPlan {
  if (method === 'cus-prun') {
    return expert;
  }
  if (method === 'random') {
    return randomPlan(map, expert, inputs.seed);
  }
  const values = inputs[method];
  if (!values) {
    throw new CusprunError(
      'bad-argument',
      `the ${method} baseline has no scores to rank by`,
      'methods'
    );
  }
  return rankedPlan(map, values, expert);
}
