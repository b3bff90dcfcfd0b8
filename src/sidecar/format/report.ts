/**
 * `cusprun report`: several studies in one Markdown document. Studies over the same runs,
 * calibration, evaluation sets and prompts make one table (their rows merged: a row two studies
 * share appears once, the larger target ratios first); each such group is a section, titled by
 * its runs' folders.
 */
import * as path from 'node:path';
import type { StudyRecord, StudyRow } from '../../core/experiment';
import { settingsKey, withComparisons } from '../../core/study-comparison';
import { studyMarkdown } from './study';

/** What makes two studies' rows comparable in one table. */
const tableKey = (r: StudyRecord) =>
  JSON.stringify([
    r.runs,
    r.baselineRun ?? null,
    r.truncation,
    r.evalSets.map(s => [s.name, s.task, s.sha256]),
    r.prompts ?? null
  ]);

/** Each value once, in first-seen order. */
function union<T>(lists: (readonly T[] | undefined)[]): T[] {
  return [...new Set(lists.flatMap(list => list ?? []))];
}

/** Studies of one table as one record: every distinct row, the larger ratios first. */
export function mergeStudies(records: StudyRecord[]): StudyRecord {
  const rows = new Map<string, StudyRow>();
  for (const row of records.flatMap(r => r.rows)) {
    const key = settingsKey(row, row.run, row.method);
    rows.set(key, rows.get(key) ?? row);
  }
  const [first] = records;
  return {
    ...first,
    at: records.map(r => r.at).sort()[records.length - 1],
    seconds: records.reduce((sum, r) => sum + r.seconds, 0),
    qs: union(records.map(r => r.qs)),
    rules: union(records.map(r => r.rules)),
    allocations: union(records.map(r => r.allocations ?? ['sigma'])),
    attentions: union(records.map(r => r.attentions ?? ['prune'])),
    compensations: union(records.map(r => r.compensations)),
    methods: union(records.map(r => r.methods)),
    // Sorting is stable: within a ratio, the studies' own order. Records of earlier versions
    // have no `versus`: every row's is computed afresh.
    rows: withComparisons(
      [...rows.values()].sort(
        (a, b) => (b.targetRatio ?? b.ratio) - (a.targetRatio ?? a.ratio)
      ),
      first.dense
    )
  };
}

/** The studies grouped into tables, in the order their first study was given. */
export function studyTables(records: StudyRecord[]): StudyRecord[] {
  const groups = new Map<string, StudyRecord[]>();
  for (const record of records) {
    const key = tableKey(record);
    groups.set(key, [...(groups.get(key) ?? []), record]);
  }
  return [...groups.values()].map(mergeStudies);
}

export function reportMarkdown(
  records: StudyRecord[],
  files: string[],
  at = new Date().toISOString()
): string {
  const tables = studyTables(records);
  const seconds = records.reduce((sum, r) => sum + r.seconds, 0);
  const rows = tables.reduce((sum, t) => sum + t.rows.length, 0);
  return [
    `# cusprun report, ${at}`,
    '',
    `${records.length} studies (${files.join(', ')}): ${rows} evaluated variants in ` +
      `${tables.length} tables, ${seconds.toFixed(0)} s of study time.`,
    '',
    ...tables.map(table =>
      studyMarkdown(
        table,
        table.runs.map(r => path.basename(r.run)).join(' · '),
        2
      )
    )
  ].join('\n');
}
