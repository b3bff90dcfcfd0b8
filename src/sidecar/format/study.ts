/**
 * `cusprun study` results: one row per variant (target ratio, q, compensation, method) with each
 * (set, metric) cell holding the seeds' values in the runs' order ("59.90 / 61.23"), as a
 * terminal table and as Markdown (with the first run's greedy texts per prompt, when the study
 * had prompts); tidy CSV with one value per line; and the four files the study keeps (JSON,
 * CSV, Markdown, SVG chart).
 */
import * as path from 'node:path';
import { studySpec } from '../../core/charts';
import type {
  EvalMetric,
  GenerationCheck,
  StudyRecord,
  StudyRow
} from '../../core/experiment';
import { STUDY_COMPARED, studyLabel } from '../../core/experiment';
import { settingsKey } from '../../core/study-comparison';
import {
  formatChange,
  formatMetric,
  formatRatio,
  formatSigma,
  NOT_APPLICABLE,
  SCORE_DECIMALS
} from '../../core/format';
import { renderSvg } from '../../engine/charts/svg';
import { writeFileAtomic } from '../../engine/output';
import { stampName } from '../run-folder';
import { metricColumns, SHORT } from './experiment';
import { formatTable, toCsv } from './table';

const column = (m: EvalMetric) => `${m.evalSet} ${SHORT[m.metric]}`;

/** The rows of one variant across the seeds, in first-seen order. */
function variants(rows: StudyRow[]): StudyRow[][] {
  const groups = new Map<string, StudyRow[]>();
  for (const row of rows) {
    const key = settingsKey(row, row.method);
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

/** The greedy texts' columns: exact match when the prompts have references, repeated 3-grams. */
const GENERATION_COLUMNS: [
  string,
  (g: GenerationCheck) => number | undefined
][] = [
  ['greedy match', g => g.exactMatch],
  ['greedy rep3', g => g.repetitionRate]
];

function generationColumns(record: StudyRecord) {
  const checks = [
    record.denseGeneration,
    ...record.rows.map(r => r.generation)
  ];
  return GENERATION_COLUMNS.filter(([, value]) =>
    checks.some(g => g && value(g) !== undefined)
  );
}

function generationCells(
  columns: ReturnType<typeof generationColumns>,
  checks: (GenerationCheck | undefined)[]
): string[] {
  return columns.map(([, value]) =>
    checks
      .map(g => {
        const v = g && value(g);
        return v === undefined ? NOT_APPLICABLE : v.toFixed(SCORE_DECIMALS);
      })
      .join(' / ')
  );
}

/**
 * Per compared baseline the study has, an expert row's change against it at the same counts
 * ("−1.8%": lower perplexity than the baseline), one per seed; '-' where there is none.
 */
function comparisonColumns(record: StudyRecord) {
  const [first] = record.dense;
  const methods = STUDY_COMPARED.filter(m => record.methods.includes(m));
  return methods.map(method => ({
    name: `${first ? column(first) : ''} vs ${method}`,
    cells: (group: StudyRow[]) => {
      const changes = group.map(r => r.versus?.[method]);
      return changes.every(c => c === undefined)
        ? NOT_APPLICABLE
        : changes
            .map(c => (c === undefined ? NOT_APPLICABLE : formatChange(c)))
            .join(' / ');
    }
  }));
}

/** Header and rows: the dense model first, then every variant. */
export function studyCells(record: StudyRecord): string[][] {
  const columns = metricColumns(record.dense);
  const compared = comparisonColumns(record);
  const greedy = generationColumns(record);
  return [
    [
      'ratio',
      'sigma',
      'compensation',
      'variant',
      ...columns,
      ...compared.map(c => c.name),
      ...greedy.map(([name]) => name)
    ],
    [
      formatRatio(0),
      NOT_APPLICABLE,
      NOT_APPLICABLE,
      'dense',
      ...seedCells(columns, [{ metrics: record.dense }]),
      ...compared.map(() => NOT_APPLICABLE),
      ...generationCells(greedy, [record.denseGeneration])
    ],
    ...variants(record.rows).map(group => [
      formatRatio(group[0].ratio),
      group.map(r => formatSigma(r.sigma)).join(' / '),
      group[0].compensation,
      studyLabel(group[0]),
      ...seedCells(columns, group),
      ...compared.map(c => c.cells(group)),
      ...generationCells(
        greedy,
        group.map(r => r.generation)
      )
    ])
  ];
}

export function studyTable(record: StudyRecord): string {
  return formatTable(studyCells(record));
}

const mdLine = (cells: string[]) => `| ${cells.join(' | ')} |`;

/** A generated text as one Markdown cell: quoted, newlines escaped, pipes too. */
const mdText = (text: string) => JSON.stringify(text).replace(/\|/g, '\\|');

/** Per prompt, the first run's greedy text of the dense model and of every variant. */
function greedySections(record: StudyRecord, heading: string): string[] {
  const first = record.runs[0]?.run;
  const rows = record.rows.filter(r => r.run === first && r.generation);
  if (!record.denseGeneration || rows.length === 0) {
    return [];
  }
  return record.denseGeneration.samples.flatMap((sample, i) => [
    `${heading}# Greedy text: ${mdText(sample.prompt)}` +
      (sample.reference !== undefined
        ? ` (reference ${mdText(sample.reference)})`
        : ''),
    '',
    mdLine(['ratio', 'compensation', 'variant', 'text']),
    mdLine(['---', '---', '---', '---']),
    mdLine([formatRatio(0), NOT_APPLICABLE, 'dense', mdText(sample.text)]),
    ...rows.map(r =>
      mdLine([
        formatRatio(r.ratio),
        r.compensation,
        studyLabel(r),
        mdText(r.generation?.samples[i]?.text ?? '')
      ])
    ),
    ''
  ]);
}

/** The study as Markdown under a heading of `level` (1: the study's own file). */
export function studyMarkdown(
  record: StudyRecord,
  title = `cusprun study, ${record.at}`,
  level = 1
): string {
  const heading = '#'.repeat(level);
  const [header, ...rows] = studyCells(record);
  const seeds = record.runs.map(r => `seed ${r.seed} (${r.run})`).join(', ');
  const texts = record.prompts
    ? ` Greedy texts: ${record.prompts.maxNewTokens} new tokens at most from each prompt of ` +
      `${record.prompts.file}, the first run's below the table ` +
      '(rep3: the share of repeated 3-grams; match: the share that begins with the reference).'
    : '';
  return [
    `${heading} ${title}`,
    '',
    `Dimensions ${record.dimensions.join(' · ')}; truncation ${record.truncation}; ` +
      `${record.rows.length} evaluated variants in ${record.seconds.toFixed(0)} s. ` +
      `Cells hold one value per run, in order: ${seeds}. ` +
      'A baseline removes the per-layer counts of the expert named after its @' +
      (record.baselineRun
        ? `, calibrated on the documents of ${record.baselineRun}.`
        : ", calibrated on its run's own documents.") +
      texts,
    '',
    mdLine(header),
    mdLine(header.map(() => '---')),
    ...rows.map(mdLine),
    '',
    ...greedySections(record, heading)
  ].join('\n');
}

/** The greedy texts' figures as the CSV's tidy lines (the texts themselves are in the JSON). */
function generationMetrics(g: GenerationCheck | undefined) {
  if (!g) {
    return [];
  }
  const count = g.samples.length;
  return [
    ...(g.exactMatch !== undefined
      ? [
          {
            evalSet: 'greedy',
            metric: 'exact_match',
            value: g.exactMatch,
            count
          }
        ]
      : []),
    {
      evalSet: 'greedy',
      metric: 'repetition_rate',
      value: g.repetitionRate,
      count
    }
  ];
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
      [...r.metrics, ...generationMetrics(r.generation)].map(m => [
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

/** Writes the study as STAMP.json, .csv, .md and .svg into `dir` (the JSON first); returns their paths. */
export async function writeStudy(
  dir: string,
  record: StudyRecord
): Promise<string[]> {
  const files: [string, string][] = [
    ['.json', `${JSON.stringify(record, null, 1)}\n`],
    ['.csv', studyCsv(record)],
    ['.md', studyMarkdown(record)],
    ['.svg', await renderSvg(studySpec(record))]
  ];
  return files.map(([extension, data]) => {
    const file = path.join(dir, stampName(record.at, extension));
    writeFileAtomic(file, data);
    return file;
  });
}
