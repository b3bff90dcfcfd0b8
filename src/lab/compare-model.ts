/**
 * The experiment tracker's comparison of runs (2–4), apart from its widget: side by side, the
 * runs' configuration (model, corpus, scoring, versions, prunes), their pruning ratios at the
 * dashboard's σ and the metrics of their latest sweeps, each row marked where the runs differ. Pure
 * (no DOM, no Jupyter imports), so jest covers it without a browser.
 *
 */
import {
  formatMetric,
  formatRatio,
  formatSigma,
  NOT_APPLICABLE
} from '../core/format';
import type {
  EvalMetric,
  Method,
  RunDetail,
  SigmaAnswer,
  SweepRecord
} from '../core/protocol';

/** What the comparison reads of a σ answer and of a sweep record (the charts' data it skips). */
export type ComparedSigma = Pick<SigmaAnswer, 'plan' | 'layers'>;
export type ComparedSweep = Pick<
  SweepRecord,
  'at' | 'evalSets' | 'dense' | 'points'
>;
import { Translate } from './sweep-model';

/** One side of the comparison: a run, its σ view and its latest sweep when the panel has them. */
export interface CompareSide {
  run: RunDetail;
  /** The run's answer at the panel's current σ (absent: not scored yet, or not asked). */
  sigma?: ComparedSigma | null;
  /** The run's latest sweep record (absent: the run has none). */
  sweep?: ComparedSweep | null;
}

export interface CompareRow {
  label: string;
  /** One text per run, in the order of the sides. */
  cells: string[];
  /** Not every cell's text is the same (a value a run lacks shows MISSING there). */
  differs: boolean;
}

export type CompareSectionId = 'config' | 'ratios' | 'metrics';

export interface CompareSection {
  id: CompareSectionId;
  /** The section's heading, translated. */
  title: string;
  rows: CompareRow[];
}

export interface Comparison {
  /** Config always; Ratios and Metrics only when at least one run has a σ view or a sweep. */
  sections: CompareSection[];
  /** Rows that differ, over all sections. */
  differing: number;
}

/** What a cell shows when its run has no such value. */
export const MISSING = NOT_APPLICABLE;

/** The method whose sweep points the metrics section shows. */
export const CUS_PRUN_METHOD: Method = 'cus-prun';

/** Bytes in binary units to 3 significant digits ("11.2 MiB"). */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let i = 0;
  while (Math.abs(value) >= 1024 && i < units.length - 1) {
    value /= 1024;
    i++;
  }
  return i === 0 ? `${bytes} B` : `${value.toPrecision(3)} ${units[i]}`;
}

/** The first 12 hex digits of a SHA-256, enough to tell files apart at a glance. */
export function shortSha(sha: string): string {
  return sha.slice(0, 12);
}

/**
 * The Cus-Prun point of a sweep nearest a pruning ratio (the first of equally near ones), or
 * undefined when the sweep has no Cus-Prun point. Without a ratio, the sweep's first one.
 */
export function nearestPoint(
  sweep: ComparedSweep,
  ratio: number | undefined,
  method = CUS_PRUN_METHOD
): ComparedSweep['points'][number] | undefined {
  let best: ComparedSweep['points'][number] | undefined;
  for (const p of sweep.points) {
    if (p.method !== method) {
      continue;
    }
    if (!best) {
      best = p;
    } else if (
      ratio !== undefined &&
      Math.abs(p.ratio - ratio) < Math.abs(best.ratio - ratio)
    ) {
      best = p;
    }
  }
  return best;
}

function row(label: string, cells: string[]): CompareRow {
  return { label, cells, differs: new Set(cells).size > 1 };
}

/** A row from a value per side, MISSING where a side has none. */
function rowOf<T>(
  label: string,
  values: (T | undefined)[],
  show: (x: T) => string
): CompareRow {
  return row(
    label,
    values.map(v => (v === undefined ? MISSING : show(v)))
  );
}

function configRows(runs: RunDetail[], trans: Translate): CompareRow[] {
  const both = (label: string, show: (r: RunDetail) => string) =>
    row(label, runs.map(show));
  const latest = (r: RunDetail) => r.record.prunes.at(-1);
  return [
    both(
      trans.__('Model'),
      r => `${r.record.model.file} (${r.record.model.family})`
    ),
    both(trans.__('Model SHA-256'), r => shortSha(r.record.model.sha256)),
    both(trans.__('Corpus manifest'), r => r.record.corpus.manifest),
    both(trans.__('Corpus SHA-256'), r => shortSha(r.record.corpus.sha256)),
    both(trans.__('Dimensions'), r =>
      r.record.corpus.dimensions
        .map(d => `${d.dimension}: ${d.name}`)
        .join(' · ')
    ),
    both(trans.__('Documents per dimension'), r =>
      trans.__(
        '%1 requested (%2)',
        String(r.record.corpus.documentsPerDimension),
        r.record.corpus.dimensions
          .map(d => `${d.dimension} ${d.documents.length}`)
          .join(' · ')
      )
    ),
    both(trans.__('Truncation'), r =>
      trans.__('%1 tokens', String(r.record.corpus.truncation))
    ),
    both(trans.__('Seed'), r => String(r.record.corpus.seed)),
    both(trans.__('Score form'), r => r.record.scoring.scoreForm),
    both(trans.__('Documents scored'), r => `${r.scored}/${r.documents}`),
    both(trans.__('cusprun version'), r => r.record.versions.cusprun),
    both(trans.__('onnxruntime version'), r => r.record.versions.onnxruntime),
    both(trans.__('Prunes'), r => String(r.record.prunes.length)),
    rowOf(trans.__('Latest prune: ratio'), runs.map(latest), p =>
      trans.__(
        '%1 at σ %2',
        formatRatio(p.plan.ratio),
        formatSigma(p.plan.sigma)
      )
    ),
    rowOf(trans.__('Latest prune: size'), runs.map(latest), p =>
      trans.__('%1 → %2', formatBytes(p.bytesBefore), formatBytes(p.bytesAfter))
    )
  ];
}

/** Units removed over units of one kind: "1.0% (16 of 1536)". */
function unitShare(answer: ComparedSigma, kind: 'ffn' | 'attention') {
  let units = 0;
  let pruned = 0;
  for (const l of answer.layers) {
    if (l.kind === kind) {
      units += l.units;
      pruned += l.pruned;
    }
  }
  return `${formatRatio(units === 0 ? 0 : pruned / units)} (${pruned}/${units})`;
}

function ratioRows(
  sigmas: (ComparedSigma | undefined)[],
  trans: Translate
): CompareRow[] {
  return [
    rowOf(trans.__('σ'), sigmas, s => formatSigma(s.plan.sigma)),
    rowOf(trans.__('Expert dimensions'), sigmas, s =>
      s.plan.dimensions.join(', ')
    ),
    rowOf(trans.__('Ratio (prunable parameters)'), sigmas, s =>
      formatRatio(s.plan.ratio)
    ),
    rowOf(trans.__('Ratio (whole model)'), sigmas, s =>
      formatRatio(s.plan.wholeModelRatio)
    ),
    rowOf(trans.__('FFN channels removed'), sigmas, s => unitShare(s, 'ffn')),
    rowOf(trans.__('Attention groups removed'), sigmas, s =>
      unitShare(s, 'attention')
    ),
    rowOf(trans.__('Parameters removed'), sigmas, s =>
      trans.__(
        '%1 of %2',
        String(s.plan.removedParams),
        String(s.plan.prunableParams)
      )
    )
  ];
}

/** The (eval set, metric) pairs of both sweeps, A's order first, then B's others. */
function metricKeys(
  ...sweeps: (ComparedSweep | undefined)[]
): { evalSet: string; metric: string }[] {
  const seen = new Set<string>();
  const keys: { evalSet: string; metric: string }[] = [];
  for (const s of sweeps) {
    for (const m of s?.dense ?? []) {
      const key = JSON.stringify([m.evalSet, m.metric]);
      if (!seen.has(key)) {
        seen.add(key);
        keys.push({ evalSet: m.evalSet, metric: m.metric });
      }
    }
    for (const p of s?.points ?? []) {
      for (const m of p.metrics) {
        const key = JSON.stringify([m.evalSet, m.metric]);
        if (!seen.has(key)) {
          seen.add(key);
          keys.push({ evalSet: m.evalSet, metric: m.metric });
        }
      }
    }
  }
  return keys;
}

function metricValue(
  metrics: readonly EvalMetric[] | undefined,
  key: { evalSet: string; metric: string }
): number | undefined {
  return metrics?.find(
    m => m.evalSet === key.evalSet && m.metric === key.metric
  )?.value;
}

function evalSetNames(...sweeps: (ComparedSweep | undefined)[]): string[] {
  const names: string[] = [];
  for (const s of sweeps) {
    for (const e of s?.evalSets ?? []) {
      if (!names.includes(e.name)) {
        names.push(e.name);
      }
    }
  }
  return names;
}

function metricRows(
  sides: { sweep?: ComparedSweep; ratio?: number }[],
  trans: Translate
): CompareRow[] {
  const sweeps = sides.map(side => side.sweep);
  const points = sides.map(
    side => side.sweep && nearestPoint(side.sweep, side.ratio)
  );
  const rows: CompareRow[] = [rowOf(trans.__('Sweep'), sweeps, s => s.at)];
  for (const name of evalSetNames(...sweeps)) {
    rows.push(
      rowOf(
        trans.__('Eval set %1', name),
        sweeps.map(s => s?.evalSets.find(e => e.name === name)),
        e => `${e.task} · ${shortSha(e.sha256)}`
      )
    );
  }
  rows.push(
    rowOf(trans.__('Cus-Prun point nearest the ratio'), points, p =>
      trans.__('ratio %1 at σ %2', formatRatio(p.ratio), formatSigma(p.sigma))
    )
  );
  for (const key of metricKeys(...sweeps)) {
    const what = `${key.evalSet} · ${key.metric}`;
    const show = (v: number) => formatMetric(key.metric, v);
    rows.push(
      rowOf(
        trans.__('%1 (dense)', what),
        sweeps.map(s => metricValue(s?.dense, key)),
        show
      ),
      rowOf(
        trans.__('%1 (Cus-Prun)', what),
        points.map(p => metricValue(p?.metrics, key)),
        show
      )
    );
  }
  return rows;
}

/**
 * Runs side by side. The metrics come from each run's latest sweep: the dense values, and
 * Cus-Prun's at the sweep point nearest the run's ratio at the dashboard's σ (that of the first
 * run with a σ view when one has none, else that of the run's latest prune, else the sweep's
 * first point); the row "Cus-Prun point nearest the ratio" says which point that is.
 */
export function compareRuns(
  sides: CompareSide[],
  trans: Translate
): Comparison {
  const sigmas = sides.map(side => side.sigma ?? undefined);
  const sweeps = sides.map(side => side.sweep ?? undefined);
  const anyRatio = sigmas.find(s => s !== undefined)?.plan.ratio;
  const sections: CompareSection[] = [
    {
      id: 'config',
      title: trans.__('Config'),
      rows: configRows(
        sides.map(side => side.run),
        trans
      )
    }
  ];
  if (sigmas.some(s => s !== undefined)) {
    sections.push({
      id: 'ratios',
      title: trans.__('Ratios at σ'),
      rows: ratioRows(sigmas, trans)
    });
  }
  if (sweeps.some(s => s !== undefined)) {
    sections.push({
      id: 'metrics',
      title: trans.__('Metrics (latest sweep)'),
      rows: metricRows(
        sides.map((side, i) => ({
          sweep: sweeps[i],
          ratio:
            sigmas[i]?.plan.ratio ??
            anyRatio ??
            side.run.record.prunes.at(-1)?.plan.ratio
        })),
        trans
      )
    });
  }
  return {
    sections,
    differing: sections.reduce(
      (n, s) => n + s.rows.filter(r => r.differs).length,
      0
    )
  };
}
