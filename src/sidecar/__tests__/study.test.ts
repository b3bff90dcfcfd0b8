/**
 * `cusprun study` on the embedded demo model, as a user runs it: two runs (two document samples
 * of the demo corpora), a small grid with a perplexity set, a multiple-choice set and greedy
 * texts from the demo prompts, the four files in the first run's study/, and a rerun served
 * whole from the shared evaluation cache with the same figures and texts.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { studyLabel, type StudyRecord } from '../../core/experiment';
import { formatChange } from '../../core/format';
import type { ExpertPlan } from '../../core/select';
import { cusprun } from './cli-process';

const DEMO = path.resolve(__dirname, '../../../demo');
const EVAL = path.join(DEMO, 'data', 'eval');
const PROMPTS = path.join(DEMO, 'data', 'prompts-de.jsonl');

let tmp: string;
/** The demo's German command questions, the first 8 (a multiple-choice set, kept small). */
let commands: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cusprun-study-'));
  commands = path.join(tmp, 'commands.jsonl');
  const lines = fs
    .readFileSync(path.join(EVAL, 'mc-command-de.jsonl'), 'utf8')
    .split('\n');
  fs.writeFileSync(commands, `${lines.slice(0, 8).join('\n')}\n`);
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

/** The name of the study JSON `run` wrote last. */
function latestJson(run: string): string {
  return fs
    .readdirSync(path.join(run, 'study'))
    .filter(f => f.endsWith('.json'))
    .sort()
    .at(-1) as string;
}

/**
 * A small study of `run` at 20% (plain, the expert against general calibration, on the expert's
 * cell) with `experts`' options (which may name the compensations); it must succeed, and gives
 * its output and the record it wrote.
 */
function smallStudy(run: string, ...experts: string[]) {
  const result = cusprun(
    'study',
    '--run',
    run,
    '--target-ratios',
    '0.2',
    ...(experts.includes('--compensation') ? [] : ['--compensation', 'none']),
    ...experts,
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
    fs.readFileSync(path.join(run, 'study', latestJson(run)), 'utf8')
  ) as StudyRecord;
  return { result, record };
}

/** A study of `run` with `options` is refused as a usage error, in this one line. */
function expectRefused(run: string, options: string[], line: string) {
  const refused = cusprun(
    'study',
    '--run',
    run,
    '--target-ratios',
    '0.2',
    ...options,
    '--eval',
    path.join(EVAL, 'ppl-general.jsonl')
  );
  expect(refused.code).toBe(2);
  expect(refused.stderr).toBe(`cusprun: ${line}\n`);
}

describe('cusprun study', () => {
  it('runs the grid over two seeds, writes its four files, and reruns from the cache', () => {
    const runs = [scoredRun(0), scoredRun(1)];
    const study = () =>
      cusprun(
        'study',
        // The first run as a path relative to the working folder, the second absolute: the
        // greedy texts below the table are the first run's either way.
        ...['--run', path.relative(process.cwd(), runs[0]), '--run', runs[1]],
        '--target-ratios',
        '0.2',
        '--q',
        '1,0.75',
        '--methods',
        'cus-prun,general,random',
        // The commands' longest question + choice needs 64 tokens.
        '--truncation',
        '64',
        '--eval',
        `expert=${path.join(EVAL, 'ppl-cell-de-computing-qa.jsonl')}`,
        '--eval',
        `commands=${commands}`,
        '--prompts',
        PROMPTS,
        '--max-new-tokens',
        '4'
      );
    const first = study();
    expect(first.code).toBe(0);
    const dir = path.join(runs[0], 'study');
    const stamp = /^\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z/;
    const [stem] = fs.readdirSync(dir)[0].match(stamp) ?? [];
    expect(fs.readdirSync(dir).sort()).toEqual(
      ['.csv', '.json', '.md', '.svg'].map(e => `${stem}${e}`)
    );
    /** The latest study's file with this extension. */
    const latest = (extension: string) =>
      path.join(
        dir,
        fs
          .readdirSync(dir)
          .filter(f => f.endsWith(extension))
          .sort()
          .at(-1) as string
      );
    const read = () =>
      JSON.parse(fs.readFileSync(latest('.json'), 'utf8')) as StudyRecord;
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
    expect(expert('regression')).not.toEqual(expert('none'));
    // Every row: perplexity, multiple-choice accuracy, and a greedy text per prompt.
    const prompts = fs
      .readFileSync(PROMPTS, 'utf8')
      .trim()
      .split('\n')
      .map(l => (JSON.parse(l) as { prompt: string }).prompt);
    for (const row of [
      { metrics: record.dense, generation: record.denseGeneration },
      ...record.rows
    ]) {
      expect(row.metrics.map(m => `${m.evalSet} ${m.metric}`)).toEqual([
        'expert perplexity',
        'commands accuracy',
        'commands accuracy_norm'
      ]);
      expect(row.generation?.samples.map(s => s.prompt)).toEqual(prompts);
      expect(row.generation?.samples.every(s => s.text !== '')).toBe(true);
    }
    // The dense model's texts are the ones `cusprun eval` decodes from the same prompts.
    const evalJson = path.join(tmp, 'dense-eval.json');
    expect(
      cusprun(
        'eval',
        path.join(DEMO, 'model'),
        '--eval',
        commands,
        '--prompts',
        PROMPTS,
        '--max-new-tokens',
        '4',
        '--json',
        evalJson
      ).code
    ).toBe(0);
    const [dense] = JSON.parse(fs.readFileSync(evalJson, 'utf8')) as {
      generation: { samples: { text: string }[] };
    }[];
    expect(record.denseGeneration?.samples.map(s => s.text)).toEqual(
      dense.generation.samples.map(s => s.text)
    );
    // Random removal at 20% changes some text: the rows decode their own pruned models.
    const texts = (r?: { generation?: { samples: { text: string }[] } }) =>
      r?.generation?.samples.map(s => s.text);
    expect(
      record.rows
        .filter(r => r.method === 'random')
        .some(r => JSON.stringify(texts(r)) !== JSON.stringify(texts(dense)))
    ).toBe(true);
    // The terminal table: header, dense, then one row per variant with a value per seed.
    const lines = first.stdout.split('\n').filter(l => /\S/.test(l));
    const table = lines.filter(l => !l.startsWith('wrote '));
    expect(table).toHaveLength(2 + 12);
    expect(table[0]).toMatch(
      /^ratio +sigma +compensation +variant +expert ppl +commands acc +commands acc_norm +expert ppl vs general +greedy rep3 *$/
    );
    expect(table[1]).toMatch(
      /^0\.00% +- +- +dense +[\d.]+ +[01]\.\d{3} +[01]\.\d{3} +- +[01]\.\d{3} *$/
    );
    expect(table.find(l => /general @ cus-prun q0\.75/.test(l))).toMatch(
      /([\d.]+ \/ [\d.]+ +){3}- +[\d.]+ \/ [\d.]+ *$/
    );
    // Each expert's expert-set perplexity against general calibration at its counts, per seed.
    // The record keeps the change in each expert's row, for the notebook's table.
    const change = (seed: number, compensation: string) => {
      const [expert, general] = ['cus-prun', 'general'].map(method =>
        record.rows.find(
          r =>
            r.seed === seed &&
            r.q === 1 &&
            r.method === method &&
            r.compensation === compensation
        )
      );
      const expected = expert!.metrics[0].value / general!.metrics[0].value - 1;
      expect(expert?.versus?.general).toBeCloseTo(expected, 12);
      expect(general?.versus).toBeUndefined();
      return formatChange(expected);
    };
    expect(
      table.find(l => /^\S+ +\S+ \/ \S+ +regression +paper /.test(l))
    ).toContain(` ${change(0, 'regression')} / ${change(1, 'regression')} `);
    // The table, then per prompt the first run's texts: dense and the 12 variants of seed 0.
    const md = fs.readFileSync(latest('.md'), 'utf8');
    const sections = md.split('\n## Greedy text: ');
    expect(sections).toHaveLength(1 + prompts.length);
    expect(
      sections[0].split('\n').filter(l => l.startsWith('| '))
    ).toHaveLength(2 + 13);
    sections.slice(1).forEach((section, i) => {
      expect(section.startsWith(JSON.stringify(prompts[i]))).toBe(true);
      expect(section.split('\n').filter(l => l.startsWith('| '))).toHaveLength(
        2 + 13
      );
    });
    // One line per row and figure: 3 metrics and the greedy texts' rep3 (not every demo
    // prompt has a reference, so no exact match).
    const csv = fs.readFileSync(latest('.csv'), 'utf8');
    expect(csv.trim().split('\n')).toHaveLength(1 + 24 * 4);
    expect(fs.readFileSync(latest('.svg'), 'utf8')).toMatch(/^<svg/);
    expect(study().code).toBe(0);
    // The second study keeps its own files beside the first's.
    expect(fs.readdirSync(dir)).toHaveLength(8);
    const again = read();
    expect(again.rows.every(r => r.cached)).toBe(true);
    expect(again.rows.map(r => r.metrics)).toEqual(
      record.rows.map(r => r.metrics)
    );
    expect(again.rows.map(r => r.generation)).toEqual(
      record.rows.map(r => r.generation)
    );
  });

  it('refuses --max-new-tokens 0 in one line before evaluating anything', () => {
    const result = cusprun(
      'study',
      '--run',
      path.join(tmp, 'run-0'),
      '--target-ratios',
      '0.2',
      '--eval',
      path.join(EVAL, 'ppl-general.jsonl'),
      '--prompts',
      PROMPTS,
      '--max-new-tokens',
      '0'
    );
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(
      /max-new-tokens must be a positive integer, not 0\n$/
    );
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('adds experts under the named rules and allocated by sensitivity, each a row of its own', () => {
    const run = scoredRun(0);
    const { result, record } = smallStudy(
      run,
      '--q',
      '1',
      '--rules',
      'pooled-intersect,rank-mean',
      '--allocations',
      'sigma,sensitivity'
    );
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
      /^\d+\.\d\d% .* general @ cus-prun rank-mean \+sensitivity +[\d.]+ +- *$/m
    );
    expectRefused(
      run,
      ['--rules', 'paper'],
      "--rules: 'paper' is not one of pooled-intersect, rank-mean (the paper's rule and the q rule come from --q)"
    );
  });

  it('studies the named rules alone when --q is not given', () => {
    const { record } = smallStudy(scoredRun(0), '--rules', 'rank-mean');
    expect(record.qs).toEqual([]);
    expect(record.rows.map(r => r.variant)).toEqual([
      'cus-prun rank-mean',
      'general'
    ]);
  });

  it('regression-compensates the expert and the baselines at its counts alike, recording the ridge', () => {
    const { record, result } = smallStudy(
      scoredRun(0),
      '--q',
      '1',
      '--compensation',
      'bias,regression'
    );
    expect(record.compensations).toEqual(['bias', 'regression']);
    expect(record.ridge).toBe(0.1);
    expect(record.rows.map(r => `${r.compensation} ${r.variant}`)).toEqual([
      'bias paper',
      'bias general',
      'regression paper',
      'regression general'
    ]);
    const value = (compensation: string, variant: string) =>
      record.rows.find(
        r => r.compensation === compensation && r.variant === variant
      )?.metrics[0].value;
    // Replacing a removed channel by its prediction is another model than by its mean.
    expect(value('regression', 'paper')).not.toBe(value('bias', 'paper'));
    expect(value('regression', 'general')).not.toBe(value('bias', 'general'));
    expect(result.stdout).toMatch(/ regression +paper /);
  });

  it('adds an expert keeping every attention group beside each one, at the counts plan gives', () => {
    const run = scoredRun(0);
    const { record } = smallStudy(run, '--q', '1', '--attention', 'prune,keep');
    expect(record.attentions).toEqual(['prune', 'keep']);
    expect(
      record.rows.map(r => [r.attention ?? 'prune', studyLabel(r)])
    ).toEqual([
      ['prune', 'paper'],
      ['prune', 'general @ paper'],
      ['keep', 'paper +keep-attention'],
      ['keep', 'general @ paper +keep-attention']
    ]);
    // Each expert is the one `cusprun plan` makes with and without --keep-attention.
    const plan = (...extra: string[]) =>
      JSON.parse(
        cusprun(
          'plan',
          '--run',
          run,
          '--q',
          '1',
          '--target-ratio',
          '0.2',
          '--json',
          ...extra
        ).stdout
      ) as ExpertPlan;
    const groups = (p: ExpertPlan) =>
      p.layers.reduce((n, l) => n + l.attention.prunedGroups.length, 0);
    const [pruning, keeping] = [plan(), plan('--keep-attention')];
    expect(groups(pruning)).toBeGreaterThan(0);
    expect(groups(keeping)).toBe(0);
    for (const [row, expected] of [
      [record.rows[0], pruning],
      [record.rows[2], keeping]
    ] as const) {
      expect([row.sigma, row.ratio]).toEqual([expected.sigma, expected.ratio]);
    }
    expectRefused(
      run,
      ['--attention', 'drop'],
      "--attention: 'drop' is not one of prune, keep"
    );
  });

  it('reports several studies in one Markdown file: one table per set of runs, a shared row once', () => {
    const [run, other] = [scoredRun(0), scoredRun(1)];
    const studied = (target: string, ...experts: string[]) => {
      smallStudy(target, ...experts);
      const json = path.join(target, 'study', latestJson(target));
      const md = fs.readFileSync(json.replace(/\.json$/, '.md'), 'utf8');
      return { json, md };
    };
    // rank-mean and general calibration at its counts are in both studies of `run`.
    const studies = [
      studied(run, '--q', '1', '--rules', 'rank-mean'),
      studied(run, '--rules', 'rank-mean,pooled-intersect'),
      studied(other, '--rules', 'rank-mean')
    ];
    // The last as versions before `versus` wrote it: the report computes the changes.
    const last = JSON.parse(fs.readFileSync(studies[2].json, 'utf8'));
    for (const row of last.rows) {
      delete row.versus;
    }
    fs.writeFileSync(studies[2].json, JSON.stringify(last));
    expect(studies[2].md).toMatch(/\| [−+]\d+\.\d% \|/);
    const out = path.join(tmp, 'report.md');
    fs.writeFileSync(out, 'notes of mine\n');
    const report = () =>
      cusprun('report', ...studies.map(s => s.json), '--out', out);
    expect(report()).toMatchObject({
      code: 1,
      stderr: `cusprun: ${out}: exists and was not written by cusprun; move it away or choose another name\n`
    });
    fs.rmSync(out);
    expect(report()).toMatchObject({ code: 0, stdout: `wrote ${out}\n` });
    expect(report().code).toBe(0); // its own file, replaced
    const [head, ...sections] = fs.readFileSync(out, 'utf8').split('\n## ');
    expect(head).toMatch(
      /: 8 evaluated variants in 2 tables, \d+ s of study time\.\n/
    );
    expect(sections.map(s => s.split('\n')[0])).toEqual([
      `${path.basename(run)}`,
      `${path.basename(other)}`
    ]);
    // Each study's rows, as its own table shows them, are in the report's table once.
    const rows = (md: string) =>
      md
        .split('\n#')[0]
        .split('\n')
        .filter(l => /^\| \d/.test(l));
    const merged = rows(sections[0]);
    expect(merged).toEqual([
      ...new Set([...rows(studies[0].md), ...rows(studies[1].md)])
    ]);
    expect(merged).toHaveLength(1 + 6);
    expect(rows(sections[1])).toEqual(rows(studies[2].md));
    expect(cusprun('report', out)).toMatchObject({
      code: 1,
      stderr: `cusprun: ${out}: is not JSON; give the .json a study wrote into its run's study/\n`
    });
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
