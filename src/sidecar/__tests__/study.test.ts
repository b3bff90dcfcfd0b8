/**
 * `cusprun study` on the embedded demo model, as a user runs it: two runs (two document samples
 * of the demo corpora), a small grid, the four files in the first run's study/, and a rerun
 * served whole from the shared evaluation cache with the same figures.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { StudyRecord } from '../../core/experiment';
import { cusprun } from './cli-process';

const DEMO = path.resolve(__dirname, '../../../demo');
const EVAL = path.join(DEMO, 'data', 'eval');

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cusprun-study-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A small German · computing · QA run of the demo model from document sample `seed`. */
function scoredRun(seed: number): string {
  const corpora = path.join(DEMO, 'data', 'corpora');
  const dimension = (key: string, name: string) =>
    `  ${key}: {name: ${name}, sources: [${corpora}/${key}/${name}.jsonl], textField: text}`;
  const manifest = path.join(tmp, `corpus-${seed}.yaml`);
  fs.writeFileSync(
    manifest,
    [
      'dimensions:',
      dimension('language', 'de'),
      dimension('domain', 'computing'),
      dimension('task', 'qa'),
      'truncation: 32',
      `seed: ${seed}`,
      'documents: 6',
      ''
    ].join('\n')
  );
  const run = path.join(tmp, `run-${seed}`);
  const model = path.join(DEMO, 'model');
  expect(cusprun('score', model, '--corpus', manifest, '--run', run).code).toBe(
    0
  );
  return run;
}

describe('cusprun study', () => {
  it('runs the grid over two seeds, writes its four files, and reruns from the cache', () => {
    const runs = [scoredRun(0), scoredRun(1)];
    const study = () =>
      cusprun(
        'study',
        ...runs.flatMap(r => ['--run', r]),
        '--target-ratios',
        '0.2',
        '--q',
        '1,0.75',
        '--methods',
        'cus-prun,general,random',
        '--truncation',
        '32',
        '--eval',
        `expert=${path.join(EVAL, 'ppl-cell-de-computing-qa.jsonl')}`
      );
    const first = study();
    expect(first.code).toBe(0);
    const dir = path.join(runs[0], 'study');
    expect(fs.readdirSync(dir).sort()).toEqual([
      'study.csv',
      'study.json',
      'study.md',
      'study.svg'
    ]);
    const read = () =>
      JSON.parse(
        fs.readFileSync(path.join(dir, 'study.json'), 'utf8')
      ) as StudyRecord;
    const record = read();
    // 2 seeds × 2 q × 2 compensations × 3 methods.
    expect(record.rows).toHaveLength(24);
    expect(record.runs.map(r => r.seed)).toEqual([0, 1]);
    expect([...new Set(record.rows.map(r => r.variant))].sort()).toEqual([
      'cus-prun q0.75',
      'general',
      'paper',
      'random'
    ]);
    // Plain and compensated are different models with different figures.
    const expert = (compensation: string) =>
      record.rows.find(
        r =>
          r.seed === 0 &&
          r.variant === 'paper' &&
          r.compensation === compensation
      )?.metrics[0].value;
    expect(expert('bias')).not.toEqual(expert('none'));
    // The terminal table: header, dense, then one row per variant with a value per seed.
    const lines = first.stdout.split('\n').filter(l => /\S/.test(l));
    const table = lines.filter(l => !l.startsWith('wrote '));
    expect(table).toHaveLength(2 + 12);
    expect(table[0]).toMatch(
      /^ratio +sigma +compensation +variant +expert ppl/
    );
    expect(table[1]).toMatch(/^0\.00% +- +- +dense +[\d.]+ *$/);
    expect(table.find(l => /general @ cus-prun q0\.75/.test(l))).toMatch(
      /[\d.]+ \/ [\d.]+ *$/
    );
    const md = fs.readFileSync(path.join(dir, 'study.md'), 'utf8');
    expect(md.split('\n').filter(l => l.startsWith('| '))).toHaveLength(2 + 13);
    const csv = fs.readFileSync(path.join(dir, 'study.csv'), 'utf8');
    expect(csv.trim().split('\n')).toHaveLength(1 + 24);
    expect(fs.readFileSync(path.join(dir, 'study.svg'), 'utf8')).toMatch(
      /^<svg/
    );
    expect(study().code).toBe(0);
    const again = read();
    expect(again.rows.every(r => r.cached)).toBe(true);
    expect(again.rows.map(r => r.metrics)).toEqual(
      record.rows.map(r => r.metrics)
    );
  });

  it('adds experts under the named rules and allocated by sensitivity, each a row of its own', () => {
    const run = scoredRun(0);
    const result = cusprun(
      'study',
      '--run',
      run,
      '--target-ratios',
      '0.2',
      '--q',
      '1',
      '--rules',
      'pooled-intersect,rank-mean',
      '--allocations',
      'sigma,sensitivity',
      '--compensation',
      'none',
      '--methods',
      'cus-prun,general',
      '--truncation',
      '32',
      '--eval',
      `expert=${path.join(EVAL, 'ppl-cell-de-computing-qa.jsonl')}`
    );
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(result.code).toBe(0);
    const record = JSON.parse(
      fs.readFileSync(path.join(run, 'study', 'study.json'), 'utf8')
    ) as StudyRecord;
    expect(record.rules).toEqual(['pooled-intersect', 'rank-mean']);
    expect(record.allocations).toEqual(['sigma', 'sensitivity']);
    // 3 experts × 2 allocations × 2 methods.
    expect(record.rows).toHaveLength(12);
    expect(
      record.rows
        .filter(r => r.method === 'cus-prun')
        .map(r => [r.rule, r.allocation ?? 'sigma', r.variant])
    ).toEqual([
      ['paper', 'sigma', 'paper'],
      ['paper', 'sensitivity', 'paper +sensitivity'],
      ['pooled-intersect', 'sigma', 'cus-prun pooled-intersect'],
      [
        'pooled-intersect',
        'sensitivity',
        'cus-prun pooled-intersect +sensitivity'
      ],
      ['rank-mean', 'sigma', 'cus-prun rank-mean'],
      ['rank-mean', 'sensitivity', 'cus-prun rank-mean +sensitivity']
    ]);
    expect(result.stdout).toMatch(
      /^\d+\.\d\d% .* general @ cus-prun rank-mean \+sensitivity +[\d.]+ *$/m
    );
    const refused = cusprun(
      'study',
      '--run',
      run,
      '--target-ratios',
      '0.2',
      '--rules',
      'paper',
      '--eval',
      path.join(EVAL, 'ppl-general.jsonl')
    );
    expect(refused.code).toBe(2);
    expect(refused.stderr).toBe(
      "cusprun: --rules: 'paper' is not one of pooled-intersect, rank-mean (the paper's rule and the q rule come from --q)\n"
    );
  });

  it('refuses a q outside (0, 1] in one line, naming the option', () => {
    const result = cusprun(
      'study',
      '--run',
      tmp,
      '--target-ratios',
      '0.2',
      '--q',
      '1.5',
      '--eval',
      path.join(EVAL, 'ppl-general.jsonl')
    );
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(
      /--q: every value must lie in \(0, 1\], got '1\.5'\n$/
    );
  });
});
