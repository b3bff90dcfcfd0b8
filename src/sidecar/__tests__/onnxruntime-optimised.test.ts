/**
 * A model "optimised" by onnxruntime before pruning, as a user runs the CLI on it: inspect,
 * score and prune each refuse it with the same one line that says what to do, and leave
 * nothing behind. The optimised graphs are made here from the fixtures with onnxruntime-node.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { savedByOnnxruntime } from '../../engine/arch/__tests__/onnxruntime-saved';
import {
  FIXTURES,
  FixtureEntry,
  fixtureFile,
  fixtureManifest
} from '../../engine/__tests__/fixtures';
import { cusprun } from './cli-process';

const CORPUS = path.resolve(FIXTURES, '..', 'corpora', 'corpus.yaml');
const ADVICE =
  "export the model again without onnxruntime's offline optimisation (the exporter's own model.onnx, not a graph saved through an onnxruntime session's optimized model file path or by onnxruntime.transformers' optimizer)";

const fixtures = fixtureManifest();
const fixture = (family: string, style: string) =>
  fixtures.find(f => f.family === family && f.style === style) as FixtureEntry;

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cusprun-cli-ort-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** The one line a refused command prints, and that it printed nothing else. */
function refusal(result: ReturnType<typeof cusprun>): string {
  expect(result.code).toBe(1);
  expect(result.stdout).toBe('');
  expect(result.stderr.endsWith('\n')).toBe(true);
  expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
  return result.stderr.trimEnd();
}

describe('cusprun on a graph onnxruntime saved after its extended optimisation', () => {
  it.each([
    [
      'gpt2/torchscript',
      "uses onnxruntime's fused operators (com.microsoft.FusedMatMul, com.microsoft.FastGelu), which cusprun does not map or prune; "
    ],
    [
      'llama/kv',
      "uses onnxruntime's fused operators (SimplifiedLayerNormalization, com.microsoft.FusedMatMul, com.microsoft.QuickGelu), which cusprun does not map or prune; "
    ],
    [
      'llama/fp16',
      'no decoder layers found: the graph has no attention (no Softmax); onnxruntime saved this graph after rewriting it, so '
    ]
  ])(
    '%s: inspect and score refuse it in the same line',
    async (name, reason) => {
      const [family, style] = name.split('/');
      const dir = await savedByOnnxruntime(
        fixture(family, style),
        'extended',
        path.join(tmp, name)
      );
      const line = `cusprun: ${path.join(dir, 'model.onnx')}: ${reason}${ADVICE}`;
      expect(refusal(cusprun('inspect', dir))).toBe(line);
      const run = path.join(tmp, `${name} run`);
      expect(
        refusal(cusprun('score', dir, '--corpus', CORPUS, '--run', run))
      ).toBe(line);
      expect(fs.existsSync(run)).toBe(false);
    }
  );

  it('prune refuses a run whose model was replaced by its optimised graph, in the same line', async () => {
    const entry = fixture('gpt2', 'torchscript');
    const model = path.join(tmp, 'gpt2-replaced');
    fs.cpSync(path.dirname(fixtureFile(entry)), model, { recursive: true });
    const run = path.join(tmp, 'gpt2-run');
    expect(cusprun('score', model, '--corpus', CORPUS, '--run', run).code).toBe(
      0
    );
    const optimised = await savedByOnnxruntime(
      entry,
      'extended',
      path.join(tmp, 'gpt2-optimised')
    );
    fs.copyFileSync(
      path.join(optimised, 'model.onnx'),
      path.join(model, 'model.onnx')
    );
    const out = path.join(tmp, 'gpt2-expert');
    const line = refusal(
      cusprun('prune', '--run', run, '--target-ratio', '0.25', '--out', out)
    );
    expect(line).toBe(refusal(cusprun('inspect', model)));
    expect(line).toContain('com.microsoft.FastGelu');
    expect(fs.existsSync(out)).toBe(false);
  });
});
