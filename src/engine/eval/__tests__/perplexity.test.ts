/**
 * Perplexity against torch (fixtures/make_eval_reference.py), and a model pruned in memory
 * against the same pruned model written to a folder.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { mapModel } from '../../arch/map';
import { readModelConfig } from '../../arch/inspect';
import { OnnxModel } from '../../onnx/model';
import { pruneModel, UnitPlan, writePrunedModel } from '../../prune';
import { ModelRunner, perplexity } from '..';
import { byteTokenizer, evalReference, fixture } from './helpers';

const reference = evalReference();
const tokenizer = byteTokenizer();
const options = { truncation: reference.truncation };

async function withRunner<T>(
  runner: Promise<ModelRunner>,
  use: (runner: ModelRunner) => Promise<T>
): Promise<T> {
  const opened = await runner;
  try {
    return await use(opened);
  } finally {
    await opened.release();
  }
}

const relative = (a: number, b: number) => Math.abs(a / b - 1);

describe('perplexity', () => {
  const cases = Object.keys(reference.families).flatMap(family =>
    ['torchscript', 'dynamo', 'kv', 'external'].map(style => [family, style])
  );

  it.each(cases)(
    '%s/%s equals torch to 1e-4 relative',
    async (family, style) => {
      const want = reference.families[family];
      const got = await withRunner(
        ModelRunner.open(fixture(family, style), { threads: 1 }),
        runner => perplexity(runner, reference.texts, tokenizer, options)
      );
      expect(got.tokens).toBe(want.tokens);
      expect(got.documents).toBe(reference.texts.length);
      expect(got.truncated).toBe(1);
      expect(relative(got.perplexity, want.perplexity)).toBeLessThan(1e-4);
      expect(relative(got.nll, want.nll)).toBeLessThan(1e-4);
    }
  );

  it('converts fp16 logits (close to the fp32 torch model)', async () => {
    const got = await withRunner(
      ModelRunner.open(fixture('llama', 'fp16')),
      r => perplexity(r, reference.texts, tokenizer, options)
    );
    expect(got.tokens).toBe(reference.families.llama.tokens);
    expect(
      relative(got.perplexity, reference.families.llama.perplexity)
    ).toBeLessThan(1e-2);
  });

  it('does not depend on the batch size (rows are padded and masked)', async () => {
    const texts = [...reference.texts, 'x', 'Kurz.', ...reference.texts];
    const [one, three] = await withRunner(
      ModelRunner.open(fixture('qwen2', 'kv')),
      async runner => [
        await perplexity(runner, texts, tokenizer, {
          ...options,
          batchSize: 1
        }),
        await perplexity(runner, texts, tokenizer, { ...options, batchSize: 3 })
      ]
    );
    expect(one.skipped).toBe(1);
    expect(one.tokens).toBe(2 * reference.families.qwen2.tokens + 4);
    expect(three.tokens).toBe(one.tokens);
    expect(relative(three.nll, one.nll)).toBeLessThan(1e-6);
  });

  it('refuses a truncation under 2 tokens and texts that predict nothing', async () => {
    await withRunner(
      ModelRunner.open(fixture('gpt2', 'torchscript')),
      async r => {
        await expect(
          perplexity(r, reference.texts, tokenizer, { truncation: 1 })
        ).rejects.toThrow(/truncation must be an integer of at least 2/);
        await expect(
          perplexity(r, ['', 'a'], tokenizer, options)
        ).rejects.toThrow(/no document has the 2 tokens or more/);
      }
    );
  });
});

describe('a model pruned in memory', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cusprun-eval-'));
  });
  afterAll(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  /** Names, sizes and times of everything under `dir`. */
  const snapshot = (dir: string) =>
    fs
      .readdirSync(dir, { recursive: true, encoding: 'utf8' })
      .sort()
      .map(name => {
        const stat = fs.statSync(path.join(dir, name));
        return `${name} ${stat.size} ${stat.mtimeMs}`;
      });

  const WRITES = [
    'writeFileSync',
    'writeSync',
    'openSync',
    'mkdtempSync',
    'mkdirSync',
    'linkSync',
    'copyFileSync',
    'renameSync'
  ];

  // Layer 0 loses FFN channels and a KV group, layer 1 one channel: the KV-cache shapes change.
  const plan: UnitPlan = {
    layers: [
      { index: 0, ffn: [0, 1, 2, 3, 40], attention: [1] },
      { index: 1, ffn: [5], attention: [] }
    ]
  };

  it.each([
    ['llama', 'external'],
    ['llama', 'kv'],
    ['qwen3', 'fp16']
  ])(
    '%s/%s: same perplexity as the pruned model written to a file, and writes nothing',
    async (family, style) => {
      const source = fixture(family, style);
      const model = OnnxModel.load(source);
      const map = mapModel(model, { config: readModelConfig(model.file) });
      const before = snapshot(path.dirname(source));
      const tmpBefore = snapshot(tmp);
      // The engine writes files only through node:fs: spy on its writing calls (and on opens
      // other than for reading), checked below to see the writes of writePrunedModel.
      const realFs = jest.requireActual<Record<string, jest.Func>>('node:fs');
      const spies = WRITES.map(name => jest.spyOn(realFs, name));
      const writes = () =>
        spies.flatMap((spy, i) =>
          spy.mock.calls
            .filter(args => WRITES[i] !== 'openSync' || args[1] !== 'r')
            .map(args => `${WRITES[i]}(${String(args[0])})`)
        );
      const out = path.join(tmp, `${family}-${style}`);
      let inMemory;
      try {
        inMemory = await withRunner(
          ModelRunner.inMemory(model, pruneModel(model, map, plan)),
          r => perplexity(r, reference.texts, tokenizer, options)
        );
        expect(writes()).toEqual([]);
        expect(snapshot(path.dirname(source))).toEqual(before);
        expect(snapshot(tmp)).toEqual(tmpBefore);
        await writePrunedModel(model, plan, out);
        expect(writes().length).toBeGreaterThan(0);
      } finally {
        spies.forEach(spy => spy.mockRestore());
        model.close();
      }
      const fromFile = await withRunner(ModelRunner.open(out), r =>
        perplexity(r, reference.texts, tokenizer, options)
      );
      const dense = reference.families[family].perplexity;
      expect(inMemory.tokens).toBe(fromFile.tokens);
      expect(relative(inMemory.perplexity, fromFile.perplexity)).toBeLessThan(
        1e-9
      );
      expect(relative(inMemory.perplexity, dense)).toBeGreaterThan(1e-4);
    }
  );
});
