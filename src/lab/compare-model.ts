/**
 * The experiment tracker's comparison of two runs, apart from its widget: side by side, the
 * runs' configuration (model, corpus, scoring, versions, prunes), their pruning ratios at the
 * panel's σ and the metrics of their latest sweeps, each row marked where the two differ. Pure
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
  a: string;
  b: string;
  /** The two cells' texts differ (a value missing on one side shows MISSING there). */
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

function row(label: string, a: string, b: string): CompareRow {
  return { label, a, b, differs: a !== b };
}

/** A row from a value per side, MISSING where a side has none. */
function rowOf<T>(
  label: string,
  a: T | undefined,
  b: T | undefined,
  show: (x: T) => string
): CompareRow {
  return row(
    label,
    a === undefined ? MISSING : show(a),
    b === undefined ? MISSING : show(b)
  );
}

function configRows(
  a: RunDetail,
  b: RunDetail,
  trans: Translate
): CompareRow[] {
  const both = (label: string, show: (r: RunDetail) => string) =>
    row(label, show(a), show(b));
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
    rowOf(trans.__('Latest prune: ratio'), latest(a), latest(b), p =>
      trans.__(
        '%1 at σ %2',
        formatRatio(p.plan.ratio),
        formatSigma(p.plan.sigma)
      )
    ),
    rowOf(trans.__('Latest prune: size'), latest(a), latest(b), p =>
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
  a: ComparedSigma | undefined,
  b: ComparedSigma | undefined,
  trans: Translate
): CompareRow[] {
  return [
    rowOf(trans.__('σ'), a, b, s => formatSigma(s.plan.sigma)),
    rowOf(trans.__('Expert dimensions'), a, b, s =>
      s.plan.dimensions.join(', ')
    ),
    rowOf(trans.__('Ratio (prunable parameters)'), a, b, s =>
      formatRatio(s.plan.ratio)
    ),
    rowOf(trans.__('Ratio (whole model)'), a, b, s =>
      formatRatio(s.plan.wholeModelRatio)
    ),
    rowOf(trans.__('FFN channels removed'), a, b, s => unitShare(s, 'ffn')),
    rowOf(trans.__('Attention groups removed'), a, b, s =>
      unitShare(s, 'attention')
    ),
    rowOf(trans.__('Parameters removed'), a, b, s =>
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
  a: { sweep?: ComparedSweep; ratio?: number },
  b: { sweep?: ComparedSweep; ratio?: number },
  trans: Translate
): CompareRow[] {
  const pa = a.sweep && nearestPoint(a.sweep, a.ratio);
  const pb = b.sweep && nearestPoint(b.sweep, b.ratio);
  const rows: CompareRow[] = [
    rowOf(trans.__('Sweep'), a.sweep, b.sweep, s => s.at)
  ];
  for (const name of evalSetNames(a.sweep, b.sweep)) {
    const set = (s?: ComparedSweep) => s?.evalSets.find(e => e.name === name);
    rows.push(
      rowOf(
        trans.__('Eval set %1', name),
        set(a.sweep),
        set(b.sweep),
        e => `${e.task} · ${shortSha(e.sha256)}`
      )
    );
  }
  rows.push(
    rowOf(trans.__('Cus-Prun point nearest the ratio'), pa, pb, p =>
      trans.__('ratio %1 at σ %2', formatRatio(p.ratio), formatSigma(p.sigma))
    )
  );
  for (const key of metricKeys(a.sweep, b.sweep)) {
    const what = `${key.evalSet} · ${key.metric}`;
    rows.push(
      rowOf(
        trans.__('%1 (dense)', what),
        metricValue(a.sweep?.dense, key),
        metricValue(b.sweep?.dense, key),
        v => formatMetric(key.metric, v)
      ),
      rowOf(
        trans.__('%1 (Cus-Prun)', what),
        metricValue(pa?.metrics, key),
        metricValue(pb?.metrics, key),
        v => formatMetric(key.metric, v)
      )
    );
  }
  return rows;
}

/**
 * Two runs side by side. The metrics come from each run's latest sweep: the dense values, and
 * Cus-Prun's at the sweep point nearest the run's ratio at the panel's σ (that of the other run
 * when one has no σ view, else that of the run's latest prune, else the sweep's first point);
 * the row "Cus-Prun point nearest the ratio" says which point that is.
 */
export function compareRuns(
  a: CompareSide,
  b: CompareSide,
  trans: Translate
): Comparison {
  const sigmaA = a.sigma ?? undefined;
  const sigmaB = b.sigma ?? undefined;
  const sweepA = a.sweep ?? undefined;
  const sweepB = b.sweep ?? undefined;
  const target = (own?: ComparedSigma, run?: RunDetail) =>
    own?.plan.ratio ??
    sigmaA?.plan.ratio ??
    sigmaB?.plan.ratio ??
    run?.record.prunes.at(-1)?.plan.ratio;
  const sections: CompareSection[] = [
    {
      id: 'config',
      title: trans.__('Config'),
      rows: configRows(a.run, b.run, trans)
    }
  ];
  if (sigmaA || sigmaB) {
    sections.push({
      id: 'ratios',
      title: trans.__('Ratios at σ'),
      rows: ratioRows(sigmaA, sigmaB, trans)
    });
  }
  if (sweepA || sweepB) {
    sections.push({
      id: 'metrics',
      title: trans.__('Metrics (latest sweep)'),
      rows: metricRows(
        { sweep: sweepA, ratio: target(sigmaA, a.run) },
        { sweep: sweepB, ratio: target(sigmaB, b.run) },
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
