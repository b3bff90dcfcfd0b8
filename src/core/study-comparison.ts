/**
 * How a study's expert fares against the baselines at its own per-layer counts, computed once
 * and kept in each expert row (`StudyRow.versus`), so that the CLI's table, `cusprun report` and
 * the notebook's table show the same figure.
 */
import type { EvalMetric, StudyRow } from './experiment';
import { STUDY_COMPARED } from './experiment';

/**
 * A row's target, expert settings and compensation (what the baselines at its counts share with
 * it), with `more` to tell rows apart by run or method.
 */
export const settingsKey = (r: StudyRow, ...more: string[]) =>
  JSON.stringify([
    r.targetRatio ?? r.ratio,
    r.q,
    r.rule,
    r.allocation,
    r.attention,
    r.compensation,
    ...more
  ]);

/**
 * The rows with every expert's `versus` (re)computed from the rows themselves, on the first of
 * the dense model's metrics; a baseline's row, or an expert without baselines, has none.
 */
export function withComparisons(
  rows: StudyRow[],
  dense: EvalMetric[]
): StudyRow[] {
  const [first] = dense;
  const value = (r: StudyRow | undefined) =>
    r?.metrics.find(
      m => m.evalSet === first?.evalSet && m.metric === first.metric
    )?.value;
  const byKey = new Map(rows.map(r => [settingsKey(r, r.run, r.method), r]));
  return rows.map(row => {
    const plain = { ...row };
    delete plain.versus;
    const own = value(row);
    const changes = STUDY_COMPARED.flatMap(method => {
      const base = value(byKey.get(settingsKey(row, row.run, method)));
      return row.method !== 'cus-prun' ||
        own === undefined ||
        base === undefined
        ? []
        : [[method, own / base - 1] as const];
    });
    return changes.length
      ? { ...plain, versus: Object.fromEntries(changes) }
      : plain;
  });
}
