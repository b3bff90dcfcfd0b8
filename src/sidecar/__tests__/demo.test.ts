/**
 * The quick start's pipeline on the embedded default model at a reduced size: score a few
 * documents per dimension, prune the 3D expert at 25%, and check the written expert loads and
 * gives a finite perplexity (make demo runs the same commands at full size).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cusprun } from './cli-process';

/** Runs a step that must succeed; its output. */
function step(...args: string[]): string {
  const result = cusprun(...args);
  expect(result.code).toBe(0);
  return result.stdout;
}

const ROOT = path.resolve(__dirname, '../../..');
const DEMO = path.join(ROOT, 'demo');

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cusprun-demo-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

it('prunes the embedded default into a German · computing · QA expert that loads and evaluates', () => {
  expect(step('inspect', path.join(DEMO, 'model'))).toMatch(/pruning: ready/);
  // The quick start's manifest, cut to 4 short documents per dimension.
  const manifest = path.join(tmp, 'expert.yaml');
  const full = fs.readFileSync(
    path.join(DEMO, 'expert-de-computing-qa.yaml'),
    'utf8'
  );
  fs.writeFileSync(
    manifest,
    full
      .replace(/data\/corpora\//g, `${DEMO}/data/corpora/`)
      .replace(/^truncation: \d+$/m, 'truncation: 32')
      .replace(/^documents: \d+$/m, 'documents: 4')
  );
  const run = path.join(tmp, 'run');
  expect(
    step('score', path.join(DEMO, 'model'), '--corpus', manifest, '--run', run)
  ).toMatch(/^scored 12 documents/);
  const expert = path.join(tmp, 'expert');
  expect(
    step('prune', '--run', run, '--target-ratio', '0.25', '--out', expert)
  ).toMatch(
    /checked against the original with the units replaced by their ridge predictions: max \|logit difference\| 0 \(/
  );
  expect(step('verify', expert)).toMatch(
    /^ok: the same logits as the original with the units replaced by their ridge predictions: /
  );
  const evaluated = path.join(tmp, 'eval.json');
  step(
    'eval',
    expert,
    '--eval',
    path.join(DEMO, 'data/eval/ppl-cell-de-computing-qa.jsonl'),
    '--truncation',
    '32',
    '--json',
    evaluated
  );
  const [result] = JSON.parse(fs.readFileSync(evaluated, 'utf8'));
  const perplexity = result.metrics[0].value;
  expect(Number.isFinite(perplexity)).toBe(true);
  expect(perplexity).toBeGreaterThan(1);
  expect(result.bytes).toBeLessThan(
    fs.statSync(path.join(DEMO, 'model', 'model.onnx')).size
  );
});
