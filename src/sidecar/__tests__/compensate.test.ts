/**
 * `cusprun prune` (regression compensation by default, or `--compensation bias|none`), then
 * `cusprun verify`, as a user runs them: the folder keeps the regression fit (or the means) it
 * was made with, verify rebuilds the same reference from them, and fails once they are altered.
 * Real processes on the built CLI, fixture models (one whose o/down projections have biases)
 * and the fixture corpora.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CompensationKind, REMOVED_UNITS } from '../../core/experiment';
import { unitPlanOf } from '../../core/select';
import { FIXTURES } from '../../engine/__tests__/fixtures';
import {
  MEANS_FILE,
  readMeansFile,
  readRegressionFile,
  REGRESSION_FILE,
  writeMeansFile,
  writeRegressionFile
} from '../../engine/prune';
import { cusprun, notProgress, PROGRESS_LINE } from './cli-process';

const CORPUS = path.resolve(FIXTURES, '..', 'corpora', 'corpus.yaml');

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cusprun-compensate-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/**
 * Scores the fixture and prunes it over two dimensions, with `--compensation how`, or without
 * the option (prune's default) when `how` is not given.
 */
function compensatedExpert(
  family: string,
  style: string,
  how?: CompensationKind
): string {
  const dir = path.join(tmp, `${family}-${style}-${how ?? 'default'}`);
  const run = path.join(dir, 'run');
  const model = path.join(FIXTURES, family, style);
  expect(cusprun('score', model, '--corpus', CORPUS, '--run', run).code).toBe(
    0
  );
  const out = path.join(dir, 'expert');
  const pruned = cusprun(
    'prune',
    '--run',
    run,
    '--target-ratio',
    '0.25',
    '--dims',
    'language,task',
    ...(how ? ['--compensation', how] : []),
    '--out',
    out
  );
  expect(pruned.code).toBe(0);
  // stderr: the compensation's pass over the documents, as score shows its own; nothing else
  expect(notProgress(pruned.stderr)).toEqual([]);
  expect(PROGRESS_LINE.test(pruned.stderr)).toBe(how !== 'none');
  expect(pruned.stdout).toContain(
    `checked against the original with the units ${REMOVED_UNITS[how ?? 'regression']}: max |logit difference| `
  );
  return out;
}

/**
 * verify on a folder whose statistics `file` was altered: refused by the plan's SHA-256 of it,
 * in one line; and, that SHA-256 taken out (a folder written before it was kept), by `logits`.
 */
function expectAlteredRefused(out: string, file: string, logits: RegExp) {
  const planFile = path.join(out, 'cusprun-plan.json');
  const folder = JSON.parse(fs.readFileSync(planFile, 'utf8'));
  const altered = cusprun('verify', out);
  expect(altered.code).toBe(1);
  expect(altered.stderr).toBe(
    `cusprun: ${file}: is not the file cusprun prune stored beside this model (its SHA-256 differs from ${folder.compensation.sha256.slice(0, 12)}… in cusprun-plan.json); put the original back, or prune again\n`
  );
  delete folder.compensation.sha256;
  fs.writeFileSync(planFile, JSON.stringify(folder));
  const older = cusprun('verify', out);
  expect(older.code).not.toBe(0);
  expect(older.stderr).toMatch(logits);
}

describe('prune --compensation bias, then verify', () => {
  it.each([
    ['qwen2', 'torchscript'],
    ['gpt2', 'fp16']
  ])(
    '%s/%s: verify passes on the stored means and fails once one is altered',
    (family, style) => {
      const out = compensatedExpert(family, style, 'bias');
      const folder = JSON.parse(
        fs.readFileSync(path.join(out, 'cusprun-plan.json'), 'utf8')
      );
      expect(folder.compensation).toEqual({
        means: MEANS_FILE,
        dimensions: ['language', 'task'],
        tokens: expect.any(Number),
        sha256: createHash('sha256')
          .update(fs.readFileSync(path.join(out, MEANS_FILE)))
          .digest('hex')
      });
      const verified = cusprun('verify', out);
      expect(verified.code).toBe(0);
      expect(verified.stdout).toMatch(
        /^ok: the same logits as the original with the units replaced by their means: max \|logit difference\| /
      );
      // One removed FFN channel's mean, moved by 1.
      const file = path.join(out, MEANS_FILE);
      const means = readMeansFile(file);
      const plan = unitPlanOf(folder.plan);
      const at = plan.layers.findIndex(l => l.ffn.length > 0);
      means.layers[at].ffn[plan.layers[at].ffn[0]] += 1;
      writeMeansFile(file, means);
      expectAlteredRefused(
        out,
        file,
        /the pruned model differs from the original with the same units replaced by their means: max \|logit difference\| .*; if the folder was not changed after 'cusprun prune' wrote it, please report this export\n$/
      );
    }
  );

  it('refuses a means file that is not cusprun’s, in one line', () => {
    const out = compensatedExpert('llama', 'torchscript', 'bias');
    fs.writeFileSync(path.join(out, MEANS_FILE), 'not means');
    const verified = cusprun('verify', out);
    expect(verified.code).not.toBe(0);
    expect(verified.stderr).toContain(
      "not a means file written by 'cusprun prune' (no cusprun header)"
    );
  });

  it('refuses a compensation it does not know, in one line, writing nothing', () => {
    const run = path.join(
      path.dirname(compensatedExpert('llama', 'kv', 'none')),
      'run'
    );
    const out = path.join(tmp, 'unknown');
    const refused = cusprun(
      'prune',
      '--run',
      run,
      '--target-ratio',
      '0.25',
      '--compensation',
      'ridge',
      '--out',
      out
    );
    expect(refused.code).toBe(2);
    expect(refused.stderr).toBe(
      "cusprun: --compensation: 'ridge' is not one of none, bias, regression\n"
    );
    expect(fs.existsSync(out)).toBe(false);
  });

  it('prune --compensation none writes the paper’s model: units zeroed, no statistics beside it', () => {
    const out = compensatedExpert('qwen2', 'kv', 'none');
    const folder = JSON.parse(
      fs.readFileSync(path.join(out, 'cusprun-plan.json'), 'utf8')
    );
    expect(folder.compensation).toBeUndefined();
    expect(fs.existsSync(path.join(out, REGRESSION_FILE))).toBe(false);
    expect(fs.existsSync(path.join(out, MEANS_FILE))).toBe(false);
    expect(cusprun('verify', out).stdout).toMatch(
      /^ok: the same logits as the original with the units zeroed: /
    );
  });

  it('sweep --compensation bias|regression evaluates compensated and records the statistics', () => {
    const out = compensatedExpert('mistral', 'torchscript', 'bias');
    const run = path.join(path.dirname(out), 'run');
    const sweep = (...extra: string[]) =>
      cusprun(
        'sweep',
        '--run',
        run,
        '--dims',
        'language,task',
        '--sigma',
        '0.3',
        '--methods',
        'cus-prun',
        '--eval',
        path.join(path.dirname(CORPUS), 'task', 'qa.jsonl'),
        ...extra
      );
    const records = () =>
      fs
        .readdirSync(path.join(run, 'sweeps'))
        .sort()
        .map(f =>
          JSON.parse(fs.readFileSync(path.join(run, 'sweeps', f), 'utf8'))
        );
    expect(sweep().code).toBe(0);
    const biased = sweep('--compensation', 'bias');
    expect(biased.code).toBe(0);
    expect(biased.stdout).toMatch(
      /\nremoved units replaced by their means, fitted on \d+ tokens of language, task\n/
    );
    const regressed = sweep('--compensation', 'regression');
    expect(regressed.stdout).toMatch(
      /\nremoved units replaced by their ridge predictions from the kept channels \(ρ 0\.1\), fitted on \d+ tokens of language, task\n/
    );
    const [plain, compensated, regression] = records();
    expect(plain.compensation).toBeUndefined();
    const means = fs.readFileSync(path.join(out, MEANS_FILE));
    expect(compensated.compensation).toEqual({
      sha256: createHash('sha256').update(means).digest('hex'),
      dimensions: ['language', 'task'],
      tokens: expect.any(Number)
    });
    expect(compensated.points[0].cached).toBe(false);
    expect(compensated.points[0].metrics).not.toEqual(plain.points[0].metrics);
    expect(regression.compensation).toEqual({
      sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
      dimensions: ['language', 'task'],
      tokens: compensated.compensation.tokens,
      ridge: 0.1
    });
    expect(regression.points[0].metrics).not.toEqual(
      compensated.points[0].metrics
    );
  });
});

describe('ablate --compensation regression', () => {
  it('evaluates every subset and the general row compensated, and records the fit', () => {
    const out = compensatedExpert('llama3', 'torchscript', 'none');
    const run = path.join(path.dirname(out), 'run');
    const ablate = (...extra: string[]) =>
      cusprun(
        'ablate',
        '--run',
        run,
        '--target-ratio',
        '0.25',
        '--eval',
        path.join(path.dirname(CORPUS), 'task', 'qa.jsonl'),
        ...extra
      );
    const plain = ablate();
    expect(plain.code).toBe(0);
    expect(plain.stdout).toContain(
      "\nremoved units zeroed (cusprun prune's default: replaced by their ridge predictions)\n"
    );
    const compensated = ablate('--compensation', 'regression');
    expect(compensated.code).toBe(0);
    expect(compensated.stdout).toMatch(
      /\nremoved units replaced by their ridge predictions from the kept channels \(ρ 0\.1\), fitted on \d+ tokens of language, domain, task\n/
    );
    const dir = path.join(run, 'ablations');
    const [before, after] = fs
      .readdirSync(dir)
      .sort()
      .map(f => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')));
    expect(before.compensation).toBeUndefined();
    expect(after.compensation).toMatchObject({
      dimensions: ['language', 'domain', 'task'],
      ridge: 0.1
    });
    const values = (record: {
      rows: { metrics: { value: number }[] }[];
      general: { metrics: { value: number }[] };
    }) => [...record.rows, record.general].map(r => r.metrics[0].value);
    expect(values(after)).toHaveLength(8);
    values(after).forEach((value, i) =>
      expect(value).not.toBe(values(before)[i])
    );
    expect(after.dense).toEqual(before.dense);
  });
});

describe('prune (regression compensation, its default), then verify', () => {
  it.each([
    ['qwen2', 'torchscript'],
    ['gpt2', 'fp16']
  ])(
    '%s/%s: verify passes on the stored fit and fails once one coefficient is altered',
    (family, style) => {
      const out = compensatedExpert(family, style);
      const folder = JSON.parse(
        fs.readFileSync(path.join(out, 'cusprun-plan.json'), 'utf8')
      );
      expect(folder.compensation).toEqual({
        regression: REGRESSION_FILE,
        ridge: 0.1,
        dimensions: ['language', 'task'],
        tokens: expect.any(Number),
        sha256: createHash('sha256')
          .update(fs.readFileSync(path.join(out, REGRESSION_FILE)))
          .digest('hex')
      });
      const run = JSON.parse(
        fs.readFileSync(path.join(path.dirname(out), 'run', 'run.json'), 'utf8')
      );
      const file = path.join(out, REGRESSION_FILE);
      expect(run.prunes.at(-1).compensation).toEqual({
        sha256: createHash('sha256')
          .update(fs.readFileSync(file))
          .digest('hex'),
        dimensions: ['language', 'task'],
        tokens: folder.compensation.tokens,
        ridge: 0.1
      });
      const verified = cusprun('verify', out);
      expect(verified.code).toBe(0);
      expect(verified.stdout).toMatch(
        /^ok: the same logits as the original with the units replaced by their ridge predictions: max \|logit difference\| /
      );
      // The first FFN fit's first coefficient, moved by 1.
      const fit = readRegressionFile(file);
      const ffn = fit.projections.find(p => p.kind === 'ffn')!;
      ffn.coefficients[0] += 1;
      writeRegressionFile(file, fit);
      expectAlteredRefused(
        out,
        file,
        /the pruned model differs from the original with the same units replaced by their ridge predictions: max \|logit difference\| .*; if the folder was not changed after 'cusprun prune' wrote it, please report this export\n$/
      );
    }
  );
});
