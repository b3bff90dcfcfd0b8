/**
 * `cusprun eval`, `sweep` and `ablate` results as terminal tables and tidy CSV (one value per
 * line: what pandas and spreadsheets read best), and charts written as files (Vega-Lite spec +
 * SVG per chart; the specs themselves come from core/charts/views.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CusprunError } from '../../core/errors';
import { VegaLiteSpec } from '../../core/charts';
import { renderSvg } from '../../engine/charts/svg';
import { OutputFile, OutputGuard, writeOutputFiles } from '../../engine/output';
import type {
  AblationRecord,
  CompensationRecord,
  EvalMetric,
  ModelEvaluation,
  SweepRecord
} from '../../core/experiment';
import {
  DEFAULT_PRUNE_COMPENSATION,
  REMOVED_UNITS,
  shownAblationRows
} from '../../core/experiment';
import {
  formatMetric,
  formatRatio,
  formatSigma,
  NOT_APPLICABLE
} from '../../core/format';
import { formatTable, toCsv } from './table';

export const SHORT: Record<EvalMetric['metric'], string> = {
  perplexity: 'ppl',
  accuracy: 'acc',
  accuracy_norm: 'acc_norm'
};

/** The (set, metric) columns, in the order the metrics came. */
export function metricColumns(metrics: EvalMetric[]): string[] {
  return [...new Set(metrics.map(m => `${m.evalSet} ${SHORT[m.metric]}`))];
}

function metricCells(columns: string[], metrics: EvalMetric[]): string[] {
  const byColumn = new Map(
    metrics.map(m => [
      `${m.evalSet} ${SHORT[m.metric]}`,
      formatMetric(m.metric, m.value)
    ])
  );
  return columns.map(c => byColumn.get(c) ?? '');
}

/** One column per model; a row per set and metric, then size, generation and latency. */
export function evalTable(models: ModelEvaluation[]): string {
  const columns = metricColumns(models.flatMap(m => m.metrics));
  const row = (
    label: string,
    cell: (m: ModelEvaluation) => string | undefined
  ) =>
    models.some(m => cell(m) !== undefined)
      ? [[label, ...models.map(m => cell(m) ?? '')]]
      : [];
  return formatTable([
    ['', ...models.map(m => m.model)],
    ...columns.map(column => [
      column,
      ...models.map(m => metricCells([column], m.metrics)[0])
    ]),
    ...row('size MiB', m => (m.bytes / 2 ** 20).toFixed(2)),
    ...row('generation exact match', m => m.generation?.exactMatch?.toFixed(3)),
    ...row('generation repeated 3-grams', m =>
      m.generation?.repetitionRate.toFixed(3)
    ),
    ...row('prefill ms (64 tokens)', m => m.latency?.prefillMs.toFixed(1)),
    ...row('decode ms/token', m => m.latency?.decodeMsPerToken.toFixed(2))
  ]);
}

/** Where the baselines' calibration came from, when not from the expert's own run. */
export function baselineNote(record: { baselineRun?: string }): string {
  return record.baselineRun
    ? `baselines calibrated on the documents of ${record.baselineRun}\n`
    : '';
}

/** A line saying what became of a sweep's or ablation's removed units. */
export function compensationNote(record: {
  compensation?: CompensationRecord;
}): string {
  const c = record.compensation;
  if (!c) {
    // Said, since a model prune writes is compensated unless told: the figures differ from its.
    return `removed units ${REMOVED_UNITS.none} (cusprun prune's default: ${REMOVED_UNITS[DEFAULT_PRUNE_COMPENSATION]})\n`;
  }
  const how =
    c.ridge === undefined
      ? REMOVED_UNITS.bias
      : `${REMOVED_UNITS.regression} from the kept channels (ρ ${c.ridge})`;
  return `removed units ${how}, fitted on ${c.tokens} tokens of ${c.dimensions.join(', ')}\n`;
}

export function sweepTable(record: SweepRecord): string {
  const columns = metricColumns(record.dense);
  return formatTable([
    ['method', 'sigma', 'ratio', ...columns],
    [
      'dense',
      NOT_APPLICABLE,
      formatRatio(0),
      ...metricCells(columns, record.dense)
    ],
    ...record.points.map(p => [
      p.method,
      formatSigma(p.sigma),
      formatRatio(p.ratio),
      ...metricCells(columns, p.metrics)
    ])
  ]);
}

export function ablationTable(record: AblationRecord): string {
  const columns = metricColumns(record.dense);
  return formatTable([
    ['dimensions', 'sigma', 'ratio', ...columns],
    [
      'dense',
      NOT_APPLICABLE,
      formatRatio(0),
      ...metricCells(columns, record.dense)
    ],
    ...shownAblationRows(record).map(({ label, row: r }) =>
      r.unreachable
        ? [
            label,
            NOT_APPLICABLE,
            NOT_APPLICABLE,
            `unreachable: ${r.unreachable}`
          ]
        : [
            label,
            formatSigma(r.sigma),
            formatRatio(r.ratio as number),
            ...metricCells(columns, r.metrics)
          ]
    )
  ]);
}

const CSV_HEADER = ['eval_set', 'metric', 'value', 'count'];
const csvValues = (m: EvalMetric) => [m.evalSet, m.metric, m.value, m.count];

export function evalCsv(models: ModelEvaluation[]): string {
  return toCsv([
    ['model', ...CSV_HEADER],
    ...models.flatMap(model =>
      model.metrics.map(m => [model.model, ...csvValues(m)])
    )
  ]);
}

export function sweepCsv(record: SweepRecord): string {
  return toCsv([
    ['method', 'sigma', 'ratio', 'cached', ...CSV_HEADER],
    ...record.dense.map(m => ['dense', 0, 0, true, ...csvValues(m)]),
    ...record.points.flatMap(p =>
      p.metrics.map(m => [
        p.method,
        p.sigma,
        p.ratio,
        p.cached,
        ...csvValues(m)
      ])
    )
  ]);
}

export function ablationCsv(record: AblationRecord): string {
  return toCsv([
    ['dimensions', 'sigma', 'ratio', ...CSV_HEADER],
    ...record.dense.map(m => ['dense', 0, 0, ...csvValues(m)]),
    ...shownAblationRows(record).flatMap(({ label, row: r }) =>
      r.metrics.map(m => [label, r.sigma ?? '', r.ratio ?? '', ...csvValues(m)])
    )
  ]);
}

/** Writes each chart as `NAME.vl.json` and `NAME.svg` in `dir`; returns the SVG files. */
export async function writeCharts(
  dir: string,
  charts: Record<string, VegaLiteSpec>,
  guard?: OutputGuard
): Promise<string[]> {
  if (fs.existsSync(dir) && !fs.statSync(dir).isDirectory()) {
    throw new CusprunError(
      'bad-argument',
      'is a file; name a folder for the charts',
      dir
    );
  }
  const files: OutputFile[] = [];
  for (const [name, spec] of Object.entries(charts)) {
    files.push(
      {
        file: path.join(dir, `${name}.vl.json`),
        data: `${JSON.stringify(spec, null, 1)}\n`
      },
      { file: path.join(dir, `${name}.svg`), data: await renderSvg(spec) }
    );
  }
  writeOutputFiles(files, guard);
  return files.filter(f => f.file.endsWith('.svg')).map(f => f.file);
}
