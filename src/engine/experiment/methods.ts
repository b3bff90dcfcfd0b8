/**
 * The methods a sweep compares: the Cus-Prun expert and the baselines of method.md, each
 * removing the expert's per-layer counts so that all reach the same ratio.
 */
import { ModelMap } from '../../core/model/model-map';
import { PooledScores, randomPlan, rankedPlan, UnitValues } from '../baselines';
import { CusprunError } from '../../core/errors';
import { UnitPlan } from '../../core/model/unit-plan';
import { METHODS, Method } from '../../core/experiment';

export { METHODS };
export type { Method };

/** What the baselines rank by; a method whose input is missing cannot be asked for. */
export interface BaselineInputs {
  seed: number;
  magnitude?: UnitValues;
  general?: PooledScores;
  wanda?: PooledScores;
  flap?: UnitValues;
}

export function parseMethods(list: string): Method[] {
  const methods = list
    .split(',')
    .map(m => m.trim())
    .filter(Boolean);
  for (const m of methods) {
    if (!(METHODS as readonly string[]).includes(m)) {
      throw new CusprunError(
        'bad-argument',
        `unknown method '${m}': choose from ${METHODS.join(', ')}`,
        'methods'
      );
    }
  }
  if (methods.length === 0) {
    throw new CusprunError('bad-argument', 'no method given', 'methods');
  }
  return methods as Method[];
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
