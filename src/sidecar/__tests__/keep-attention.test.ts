/**
 * `cusprun prune --keep-attention`, then `cusprun verify`, as a user runs them on a GQA fixture
 * (two key-value groups per layer): the same target ratio that takes attention groups without
 * the guard comes from the FFN channels alone with it, the written folder records the guard, and
 * verify passes on it. Real processes on the built CLI, the fixture model and corpora.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ExpertPlan } from '../../core/select';
import { FIXTURES } from '../../engine/__tests__/fixtures';
import { cusprun, notProgress } from './cli-process';

const CORPUS = path.resolve(FIXTURES, '..', 'corpora', 'corpus.yaml');
const MODEL = path.join(FIXTURES, 'qwen2', 'torchscript');

let tmp: string;
let run: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cusprun-keep-attention-'));
  run = path.join(tmp, 'run');
  expect(cusprun('score', MODEL, '--corpus', CORPUS, '--run', run).code).toBe(
    0
  );
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** The expert every command below asks for: a 45% target under rank-mean. */
const expert = () => [
  '--run',
  run,
  '--rule',
  'rank-mean',
  '--target-ratio',
  '0.45'
];

/** `cusprun plan --json` of that expert, with `extra` flags. */
function plan(...extra: string[]): ExpertPlan {
  const result = cusprun('plan', ...expert(), '--json', ...extra);
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as ExpertPlan;
}

const groupsPruned = (p: ExpertPlan) =>
  p.layers.reduce((n, l) => n + l.attention.prunedGroups.length, 0);

describe('prune --keep-attention, then verify', () => {
  it('reaches the target from the FFNs alone, records the guard, and verifies', () => {
    const pruning = plan();
    expect(groupsPruned(pruning)).toBeGreaterThan(0);
    const keeping = plan('--keep-attention');
    expect(keeping.keepAttention).toBe(true);
    expect(groupsPruned(keeping)).toBe(0);
    expect(Math.abs(keeping.ratio - 0.45)).toBeLessThan(0.02);
    // More FFN channels go in every layer to make up for the kept groups.
    keeping.layers.forEach((l, i) =>
      expect(l.ffn.pruned.length).toBeGreaterThan(
        pruning.layers[i].ffn.pruned.length
      )
    );

    const text = cusprun('plan', ...expert(), '--keep-attention');
    expect(text.stdout).toMatch(
      /^guards {7}min_keep 1, widths rounded to multiples of 1, attention groups kept$/m
    );

    const out = path.join(tmp, 'expert');
    const pruned = cusprun(
      'prune',
      ...expert(),
      '--keep-attention',
      '--out',
      out
    );
    expect(notProgress(pruned.stderr)).toEqual([]);
    expect(pruned.code).toBe(0);
    const folder = JSON.parse(
      fs.readFileSync(path.join(out, 'cusprun-plan.json'), 'utf8')
    ) as { plan: ExpertPlan };
    expect(folder.plan.keepAttention).toBe(true);
    expect(folder.plan.layers).toEqual(keeping.layers);
    const verified = cusprun('verify', out);
    expect(verified.code).toBe(0);
    expect(verified.stdout).toMatch(
      /^ok: the same logits as the original with the units replaced by their ridge predictions/
    );
  });
});
