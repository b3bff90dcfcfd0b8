/**
 * `cusprun study` results: one row per variant (target ratio, q, compensation, method) with each
 * (set, metric) cell holding the seeds' values in the runs' order ("59.90 / 61.23"), as a
 * terminal table and as Markdown; tidy CSV with one value per line; and the four files the
 * study keeps (JSON, CSV, Markdown, SVG chart).
 */
import * as path from 'node:path';
import { studySpec } from '../../core/charts';
import type { EvalMetric, StudyRecord, StudyRow } from '../../core/experiment';
import { studyLabel } from '../../core/experiment';
import {
  formatMetric,
  formatRatio,
  formatSigma,
  NOT_APPLICABLE
} from '../../core/format';
import { renderSvg } from '../../engine/charts/svg';
import { writeFileAtomic } from '../../engine/output';
import { metricColumns, SHORT } from './experiment';
import { formatTable, toCsv } from './table';

const column = (m: EvalMetric) => `${m.evalSet} ${SHORT[m.metric]}`;

/** The rows of one variant across the seeds, in first-seen order. */
function variants(rows: StudyRow[]): StudyRow[][] {
  const groups = new Map<string, StudyRow[]>();
  for (const row of rows) {
    const key = JSON.stringify([
      row.targetRatio,
      row.q,
      row.rule,
      row.allocation,
      row.compensation,
      row.method
    ]);
    groups.set(key, [...(groups.get(key) ?? []), row]);
  }
  return [...groups.values()];
}

function seedCells(columns: string[], rows: { metrics: EvalMetric[] }[]) {
  return columns.map(c =>
    rows
      .map(r => r.metrics.find(m => column(m) === c))
      .map(m => (m ? formatMetric(m.metric, m.value) : NOT_APPLICABLE))
      .join(' / ')
  );
}

/** Header and rows: the dense model first, then every variant. */
export function studyCells(record: StudyRecord): string[][] {
  const columns = metricColumns(record.dense);
  return [
    ['ratio', 'sigma', 'compensation', 'variant', ...columns],
    [
      formatRatio(0),
      NOT_APPLICABLE,
      NOT_APPLICABLE,
      'dense',
      ...seedCells(columns, [{ metrics: record.dense }])
    ],
    ...variants(record.rows).map(group => [
      formatRatio(group[0].ratio),
      group.map(r => formatSigma(r.sigma)).join(' / '),
      group[0].compensation,
      studyLabel(group[0]),
      ...seedCells(columns, group)
    ])
  ];
}

export function studyTable(record: StudyRecord): string {
  return formatTable(studyCells(record));
}

export function studyMarkdown(record: StudyRecord): string {
  const [header, ...rows] = studyCells(record);
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  const seeds = record.runs.map(r => `seed ${r.seed} (${r.run})`).join(', ');
  return [
    `# cusprun study, ${record.at}`,
    '',
    `Dimensions ${record.dimensions.join(' · ')}; truncation ${record.truncation}; ` +
      `${record.rows.length} evaluated variants in ${record.seconds.toFixed(0)} s. ` +
      `Cells hold one value per run, in order: ${seeds}. ` +
      'A baseline removes the per-layer counts of the expert named after its @.',
    '',
    line(header),
    line(header.map(() => '---')),
    ...rows.map(line),
    ''
  ].join('\n');
}

export function studyCsv(record: StudyRecord): string {
  return toCsv([
    [
      'seed',
      'target_ratio',
      'sigma',
      'ratio',
      'q',
      'compensation',
      'variant',
      'method',
      'cached',
      'eval_set',
      'metric',
      'value',
      'count'
    ],
    ...record.rows.flatMap(r =>
      r.metrics.map(m => [
        r.seed,
        r.targetRatio ?? '',
        r.sigma,
        r.ratio,
        r.q,
        r.compensation,
        r.variant,
        r.method,
        r.cached,
        m.evalSet,
        m.metric,
        m.value,
        m.count
      ])
    )
  ]);
}

/** Writes study.json, study.csv, study.md and study.svg into `dir`; returns their paths. */
export async function writeStudy(
  dir: string,
  record: StudyRecord
): Promise<string[]> {
  const files: [string, string][] = [
    ['study.json', `${JSON.stringify(record, null, 1)}\n`],
    ['study.csv', studyCsv(record)],
    ['study.md', studyMarkdown(record)],
    ['study.svg', await renderSvg(studySpec(record))]
  ];
  return files.map(([name, data]) => {
    const file = path.join(dir, name);
    writeFileAtomic(file, data);
    return file;
  });
}
