/**
 * Greedy generation against torch's (fixtures/make_eval_reference.py) token for token, with and
 * without the KV cache; exact match, stop ids and repetition on the bigram model; latency.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { generate, latency, ModelRunner } from '..';
import {
  byteTokenizer,
  evalReference,
  fixture,
  writeBigramModel
} from './helpers';

const reference = evalReference();
const tokenizer = byteTokenizer();
const options = { maxNewTokens: reference.maxNewTokens };

async function generated(
  file: string,
  useCache: boolean,
  prompts = reference.prompts
) {
  const runner = await ModelRunner.open(file, { threads: 1 });
  try {
    return await generate(runner, prompts, tokenizer, { ...options, useCache });
  } finally {
    await runner.release();
  }
}

describe('greedy generation', () => {
  it.each(Object.keys(reference.families))(
    '%s: equals torch token for token, with the KV cache and without',
    async family => {
      const want = reference.families[family].generations;
      const cached = await generated(fixture(family, 'kv'), true);
      const recomputed = await generated(fixture(family, 'kv'), false);
      const plain = await generated(fixture(family, 'torchscript'), true);
      expect(cached.usedCache).toBe(true);
      expect(recomputed.usedCache).toBe(false);
      // An export without past/present inputs cannot use a cache, whatever is asked.
      expect(plain.usedCache).toBe(false);
      for (const result of [cached, recomputed, plain]) {
        expect(result.generations.map(g => g.tokens)).toEqual(want);
      }
    }
  );

  it('fp16: the KV cache gives the tokens of full recomputation', async () => {
    const prompts = [...reference.prompts, reference.texts[0]];
    const cached = await generated(fixture('qwen3', 'fp16'), true, prompts);
    const recomputed = await generated(
      fixture('qwen3', 'fp16'),
      false,
      prompts
    );
    expect(cached.generations).toEqual(recomputed.generations);
  });
});

describe('generation metrics on the bigram model (next letter; 1→2→3→1)', () => {
  let tmp: string;
  let bigram: ModelRunner;
  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cusprun-generate-'));
    writeBigramModel(path.join(tmp, 'bigram.onnx'));
    bigram = await ModelRunner.open(path.join(tmp, 'bigram.onnx'));
  });
  afterAll(async () => {
    await bigram.release();
    fs.rmSync(tmp, { recursive: true, force: true });
  });
  const ids = (text: string) => [...Buffer.from(text, 'utf8')];

  it('matches references by their tokens, and measures repeated 3-grams', async () => {
    const result = await generate(bigram, ['abc', 'x1', 'mno'], tokenizer, {
      maxNewTokens: 8,
      references: ['defg', '23123', 'xyz']
    });
    expect(result.generations.map(g => g.tokens)).toEqual([
      ids('defghijk'),
      ids('23123123'),
      ids('pqrstuvw')
    ]);
    expect(result.generations.map(g => g.exactMatch)).toEqual([
      true,
      true,
      false
    ]);
    expect(result.exactMatch).toBeCloseTo(2 / 3, 12);
    // "23123123": 6 3-grams, the last 3 repeat the first 3.
    expect(result.generations.map(g => [g.repeatedNgrams, g.ngrams])).toEqual([
      [0, 6],
      [3, 6],
      [0, 6]
    ]);
    expect(result.repetitionRate).toBeCloseTo(3 / 18, 12);
    expect(result.usedCache).toBe(false);
  });

  it('ends a generation at a stop id, which it does not keep', async () => {
    const result = await generate(bigram, ['a'], tokenizer, {
      maxNewTokens: 8,
      stopIds: ids('e')
    });
    expect(result.generations[0].tokens).toEqual(ids('bcd'));
    expect(result.generations[0].ngrams).toBe(1);
    expect(result.exactMatch).toBeUndefined();
  });

  it('refuses bad options', async () => {
    await expect(
      generate(bigram, ['a'], tokenizer, { maxNewTokens: 0 })
    ).rejects.toThrow(/maxNewTokens must be a positive integer/);
    await expect(
      generate(bigram, ['a', 'b'], tokenizer, {
        maxNewTokens: 2,
        references: ['b']
      })
    ).rejects.toThrow(/1 references for 2 prompts/);
  });
});

describe('latency', () => {
  it.each([
    ['kv', true],
    ['torchscript', false]
  ])('llama/%s: prefill and per-token decode medians', async (style, cache) => {
    const runner = await ModelRunner.open(fixture('llama', style));
    try {
      const result = await latency(runner, {
        promptTokens: 16,
        decodeTokens: 4,
        repeats: 3
      });
      expect(result.usedCache).toBe(cache);
      expect(result.prefillMs).toBeGreaterThan(0);
      expect(result.decodeMsPerToken).toBeGreaterThan(0);
      expect(Number.isFinite(result.prefillMs + result.decodeMsPerToken)).toBe(
        true
      );
      await expect(
        latency(runner, { promptTokens: 16, decodeTokens: 4, repeats: 0 })
      ).rejects.toThrow(/repeats must be a positive integer/);
    } finally {
      await runner.release();
    }
  });
});
