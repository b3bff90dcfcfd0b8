/**
 * `cusprun prune --compensate-bias`, then `cusprun verify`, as a user runs them: the folder keeps
 * the means it was made with, verify rebuilds the same reference from them, and fails once they
 * are altered. Real processes on the built CLI, fixture models (one whose o/down projections
 * have biases) and the fixture corpora.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { unitPlanOf } from '../../core/select';
import { FIXTURES } from '../../engine/__tests__/fixtures';
import { MEANS_FILE, readMeansFile, writeMeansFile } from '../../engine/prune';
import { cusprun } from './cli-process';

const CORPUS = path.resolve(FIXTURES, '..', 'corpora', 'corpus.yaml');

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cusprun-compensate-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Scores the fixture and prunes it with bias compensation over two dimensions. */
function compensatedExpert(family: string, style: string): string {
  const dir = path.join(tmp, `${family}-${style}`);
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
    '--compensate-bias',
    '--out',
    out
  );
  expect(pruned.stderr).toBe('');
  expect(pruned.code).toBe(0);
  expect(pruned.stdout).toMatch(
    /checked against the original with the units replaced by their means: max \|logit difference\| /
  );
  return out;
}

describe('prune --compensate-bias, then verify', () => {
  it.each([
    ['qwen2', 'torchscript'],
    ['gpt2', 'fp16']
  ])(
    '%s/%s: verify passes on the stored means and fails once one is altered',
    (family, style) => {
      const out = compensatedExpert(family, style);
      const folder = JSON.parse(
        fs.readFileSync(path.join(out, 'cusprun-plan.json'), 'utf8')
      );
      expect(folder.compensation).toEqual({
        means: MEANS_FILE,
        dimensions: ['language', 'task'],
        tokens: expect.any(Number)
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
      const altered = cusprun('verify', out);
      expect(altered.code).not.toBe(0);
      expect(altered.stderr).toMatch(
        /the pruned model differs from the original with the same units replaced by their means: max \|logit difference\| .*; if the folder was not changed after 'cusprun prune' wrote it, please report this export\n$/
      );
    }
  );

  it('refuses a means file that is not cusprun’s, in one line', () => {
    const out = compensatedExpert('llama', 'torchscript');
    fs.writeFileSync(path.join(out, MEANS_FILE), 'not means');
    const verified = cusprun('verify', out);
    expect(verified.code).not.toBe(0);
    expect(verified.stderr).toContain(
      "not a means file written by 'cusprun prune' (no cusprun header)"
    );
  });

  it('sweep --compensate-bias evaluates with the means and records their SHA-256', () => {
    const out = compensatedExpert('mistral', 'torchscript');
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
    expect(sweep('--compensate-bias').code).toBe(0);
    const [plain, compensated] = records();
    expect(plain.compensation).toBeUndefined();
    const means = fs.readFileSync(path.join(out, MEANS_FILE));
    expect(compensated.compensation).toEqual({
      sha256: createHash('sha256').update(means).digest('hex'),
      dimensions: ['language', 'task'],
      tokens: expect.any(Number)
    });
    expect(compensated.points[0].cached).toBe(false);
    expect(compensated.points[0].metrics).not.toEqual(plain.points[0].metrics);
  });
});
