/**
 * Per-layer allocation by sensitivity: instead of one σ for every layer, each layer's module
 * (FFN, attention) loses a share of its units inversely proportional to how much the expert's
 * loss rose when a fixed fraction of that module's lowest-ranked units was removed (the probe,
 * measured by the engine). Within a module the rule's deciding ranks still choose which units
 * go; the allocation only sets how many. Deterministic and training-free.
 */
import { CusprunError } from '../errors';
import { formatRatio } from '../format';
import { guardedCount, RatioResult, Selection } from './selection';

/** The fraction of a module's lowest units the probe removes (at least one unit). */
export const PROBE_FRACTION = 0.25;

/**
 * Units the probe removes from a module of `units` (at least one), or 0 where the guards leave
 * none to remove: such a module is never pruned.
 */
export function probeCount(units: number, minKeep: number): number {
  const most = units - Math.min(minKeep, units);
  return Math.min(most, Math.max(1, Math.floor(PROBE_FRACTION * units)));
}

/** What the probe measured for one group of a Selection (same order). */
export interface GroupSensitivity {
  /** Units the probe removed (0: not probed, never pruned). */
  removed: number;
  /** Loss (mean NLL per token) with them removed, minus the dense model's. */
  lossIncrease: number;
}

/**
 * The lowest rise per parameter that counts: a probe whose loss did not rise (or fell) is
 * treated as this cheap, so its module is pruned first but never divides by zero.
 */
const FLOOR = 1e-12;

/**
 * Each group's pruned count at scale λ: its share λ / cost (cost = the probe's loss rise per
 * removed parameter), capped by the guards, as whole units.
 */
function countsAt(
  selection: Selection,
  costs: number[],
  lambda: number
): number[] {
  return selection.groups.map((group, g) => {
    const n = group.ranks.length;
    if (!Number.isFinite(costs[g])) {
      return 0;
    }
    const share = Math.min(1, lambda / costs[g]);
    return guardedCount(Math.floor(share * n + 1e-9), n, selection.guardsOf(g));
  });
}

function resultOf(
  selection: Selection,
  counts: number[],
  sigma: number
): RatioResult {
  let removed = 0;
  const groups = selection.groups.map((group, g) => {
    removed += counts[g] * group.paramsPerUnit;
    return {
      layer: group.layer,
      kind: group.kind,
      units: group.ranks.length,
      pruned: counts[g],
      params: counts[g] * group.paramsPerUnit
    };
  });
  return {
    sigma,
    ratio: removed / selection.prunableParams,
    removedParams: removed,
    groups
  };
}

/**
 * Per-group pruned counts whose ratio comes closest to `target` (ties to the larger), by
 * bisection on the scale λ of the shares λ / cost. `sigma` is carried into the result as the
 * one-σ plan's at the same target, for reference.
 */
export function allocateBySensitivity(
  selection: Selection,
  sensitivities: GroupSensitivity[],
  target: number,
  sigma: number
): RatioResult {
  if (sensitivities.length !== selection.groups.length) {
    throw new CusprunError(
      'bad-argument',
      `the probe measured ${sensitivities.length} unit groups but the expert has ${selection.groups.length}`
    );
  }
  const costs = sensitivities.map((s, g) =>
    s.removed === 0
      ? Infinity
      : Math.max(FLOOR, s.lossIncrease) /
        (s.removed * selection.groups[g].paramsPerUnit)
  );
  const ratioAt = (lambda: number) =>
    resultOf(selection, countsAt(selection, costs, lambda), sigma);
  let hi = Math.max(...costs.filter(Number.isFinite), FLOOR);
  if (ratioAt(hi).ratio < target) {
    throw new CusprunError(
      'bad-argument',
      `the target ratio ${formatRatio(target)} cannot be reached: the guards and the unprobed modules allow at most ${formatRatio(ratioAt(hi).ratio)}; ask for less`
    );
  }
  let lo = 0;
  for (let step = 0; step < 80; step++) {
    const mid = (lo + hi) / 2;
    if (ratioAt(mid).ratio >= target) {
      hi = mid;
    } else {
      lo = mid;
    }
  }
  const above = ratioAt(hi);
  const below = ratioAt(lo);
  return target - below.ratio < above.ratio - target ? below : above;
}
