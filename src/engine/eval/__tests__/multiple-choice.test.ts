/**
 * Multiple choice on a bigram model whose log-likelihoods are known in closed form, so the
 * expected accuracies are known before running it; the JSONL reader's errors; the pairing of
 * question and choice tokens on a real BPE tokenizer.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadTokenizer } from '../../corpus/tokenizer';
import {
  encodePair,
  McItem,
  ModelRunner,
  multipleChoice,
  perplexity,
  readMultipleChoice
} from '..';
import {
  bigramLogProb,
  byteTokenizer,
  evalReference,
  fixture,
  writeBigramModel
} from './helpers';

const tokenizer = byteTokenizer();
let tmp: string;
let bigram: ModelRunner;
beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cusprun-mc-'));
  writeBigramModel(path.join(tmp, 'bigram.onnx'));
  bigram = await ModelRunner.open(path.join(tmp, 'bigram.onnx'));
});
afterAll(async () => {
  await bigram.release();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Σ log p over the continuation's bytes, each given the byte before it, by hand. */
function expectedLogLikelihood(context: string, continuation: string): number {
  const bytes = [...Buffer.from(context + continuation, 'utf8')];
  const first = Buffer.byteLength(context, 'utf8');
  let sum = 0;
  for (let t = first; t < bytes.length; t++) {
    sum += bigramLogProb(bytes[t - 1], bytes[t]);
  }
  return sum;
}

describe('multiple choice', () => {
  // The bigram model predicts the next letter (a→b→…) with logit 8 against 0, so a choice that
  // continues the alphabet costs ≈0.09 nats a byte and any other byte ≈8.09 nats.
  const items: McItem[] = [
    // Every byte of "def" is predicted: right by the sum and per byte.
    { question: 'abc', choices: ['xyz', 'def', 'dxx'], answer: 1 },
    // "dx" = 1 hit + 1 miss (≈ -8.2, -4.1/byte); "qrstuvwxyz" = 1 miss + 9 hits (≈ -8.9,
    // -0.89/byte): the sum prefers "dx", the per-byte mean the answer.
    { question: 'abc', choices: ['dx', 'qrstuvwxyz'], answer: 1 },
    // The question's trailing space moves to the choices (lm-eval): each starts with a miss
    // (" " after "c"), then a byte after " ", whose row is uniform (≈ -5.5). "d" ≈ -13.6 has
    // the best sum; per byte "é" (2 bytes, ≈ -19.2) ≈ -9.6 beats "dd" ≈ -10.9 and "d".
    { question: 'abc ', choices: ['é', 'd', 'dd'], answer: 1 }
  ];

  it('scores each choice as a continuation and gets the accuracies known in advance', async () => {
    const result = await multipleChoice(bigram, items, tokenizer, {
      batchSize: 2
    });
    expect(result.items).toBe(3);
    result.results.forEach((r, i) => {
      const { question, choices } = items[i];
      const trimmed = question.trimEnd();
      const moved = question.slice(trimmed.length);
      r.logLikelihoods.forEach((ll, k) =>
        expect(ll).toBeCloseTo(
          expectedLogLikelihood(trimmed, moved + choices[k]),
          6
        )
      );
    });
    expect(result.results.map(r => r.predicted)).toEqual([1, 0, 1]);
    expect(result.results.map(r => r.predictedNorm)).toEqual([1, 1, 0]);
    expect(result.accuracy).toBeCloseTo(2 / 3, 12);
    expect(result.accuracyNorm).toBeCloseTo(2 / 3, 12);
  });

  it('keeps the end of long questions under a truncation, and refuses choices that do not fit', async () => {
    const long = {
      question: 'x'.repeat(50) + 'abc',
      choices: ['def', 'xyz'],
      answer: 0
    };
    const result = await multipleChoice(bigram, [long], tokenizer, {
      truncation: 5
    });
    expect(result.results[0].logLikelihoods[0]).toBeCloseTo(
      expectedLogLikelihood('abc', 'def'),
      6
    );
    await expect(
      multipleChoice(bigram, [{ ...long, line: 7 }], tokenizer, {
        truncation: 3
      })
    ).rejects.toThrow(
      /line 7: choice 0 has 3 tokens, more than the truncation of 3/
    );
  });

  it('on a fixture LLM, a choice scores Σ log p of its tokens (as perplexity counts them)', async () => {
    const runner = await ModelRunner.open(fixture('llama', 'kv'));
    try {
      const question = evalReference().texts[1];
      const choices = [' Oui.', ' Non, merci.'];
      const { results } = await multipleChoice(
        runner,
        [{ question, choices, answer: 0 }],
        tokenizer
      );
      const total = async (text: string) => {
        const p = await perplexity(runner, [text], tokenizer, {
          truncation: 1000
        });
        return -p.nll * p.tokens;
      };
      for (const [k, choice] of choices.entries()) {
        expect(results[0].logLikelihoods[k]).toBeCloseTo(
          (await total(question + choice)) - (await total(question)),
          4
        );
      }
    } finally {
      await runner.release();
    }
  });
});

describe('pairing question and choice tokens', () => {
  // The demo's 8k byte-level BPE, which adds BOS.
  const bpe = loadTokenizer(path.resolve(__dirname, '../../../../demo/model'));
  const withoutBos = (text: string) => bpe.encode(text).slice(1);

  it('moves trailing whitespace into the choice, which keeps its own tokens', () => {
    const pair = encodePair(bpe, 'Q: What does ls do?\nA: ', 'list files');
    expect(pair.context).toEqual(bpe.encode('Q: What does ls do?\nA:'));
    expect(pair.context[0]).toBe(bpe.bosId);
    expect(pair.continuation).toEqual(withoutBos(' list files'));
  });

  it('encodes the choice alone when a merge crosses the boundary', () => {
    const context = 'The comm';
    const choice = 'and line';
    // The test needs a real merge across the boundary: check the premise first.
    const whole = bpe.encode(context + choice);
    const contextIds = bpe.encode(context);
    expect(contextIds.every((id, i) => whole[i] === id)).toBe(false);
    const pair = encodePair(bpe, context, choice);
    expect(pair.context).toEqual(contextIds);
    expect(pair.continuation).toEqual(withoutBos(choice));
  });
});

describe('reading multiple-choice JSONL', () => {
  const write = (name: string, lines: string[]) => {
    const file = path.join(tmp, name);
    fs.writeFileSync(file, lines.join('\n'));
    return file;
  };
  const good = '{"question": "Q?", "choices": [" a", " b"], "answer": 1}';

  it('reads items with their lines, skipping blank lines', () => {
    const file = write('good.jsonl', [good, '', good.replace('1}', '0}')]);
    expect(readMultipleChoice(file)).toEqual([
      { question: 'Q?', choices: [' a', ' b'], answer: 1, line: 1 },
      { question: 'Q?', choices: [' a', ' b'], answer: 0, line: 3 }
    ]);
  });

  it('reads the demo evaluation sets', () => {
    const file = path.resolve(
      __dirname,
      '../../../../demo/data/eval/mc-command-en.jsonl'
    );
    const items = readMultipleChoice(file);
    expect(items.length).toBeGreaterThan(10);
    expect(items.every(i => i.answer < i.choices.length)).toBe(true);
  });

  it.each([
    [
      '{"question": "Q?", "choices": [" a", " b"]}',
      /line 2: no "answer" field/
    ],
    [
      '{"question": "Q?", "choices": [" a", " b"], "answer": 2}',
      /line 2: "answer" is 2, but there are 2 choices \(0–1\)/
    ],
    [
      '{"question": "Q?", "choices": [" a", " b"], "answer": "b"}',
      /line 2: "answer" must be the index of the right choice \(0–1\), not "b"/
    ],
    [
      '{"question": "Q?", "choices": [" a"], "answer": 0}',
      /line 2: "choices" must be a list of at least 2 non-empty strings/
    ],
    [
      '{"question": "", "choices": [" a", " b"], "answer": 0}',
      /line 2: "question" must be a non-empty string/
    ],
    ['["Q?"]', /line 2: not a JSON object/],
    ['{"question": "Q?",', /line 2: not valid JSON/]
  ])('names the file and line of a bad item: %s', (line, message) => {
    const file = write('bad.jsonl', [good, line]);
    expect(() => readMultipleChoice(file)).toThrow(message);
    expect(() => readMultipleChoice(file)).toThrow(`${file}: line 2`);
  });

  it('refuses a file with no items', () => {
    const file = write('empty.jsonl', ['', '  ']);
    expect(() => readMultipleChoice(file)).toThrow(`${file}: holds no items`);
  });
});
