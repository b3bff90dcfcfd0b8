/**
 * σ and target-ratio grids as users write them (`START:STOP:STEP` or `v1,v2,…`), bounded before
 * any point is made: the CLI, the sidecar and (through the generated constants) the magics
 * apply the same rule.
 */
import { CusprunError } from './errors';

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
