/**
 * Multiple choice by log-likelihood: each choice scored as a continuation of the question, the
 * prediction the choice with the highest summed log-likelihood (`accuracy`) or the highest
 * log-likelihood per UTF-8 byte of the choice (`accuracyNorm`).
 */
import { CorpusTokenizer } from '../corpus/tokenizer';
import { readUtf8File } from '../corpus/utf8';
import { CusprunError } from '../../core/errors';
import { sequenceLogProbs } from './likelihood';
import { ModelRunner } from './runner';

export interface McItem {
  question: string;
  choices: string[];
  /** Index of the right choice. */
  answer: number;
  /** Line of the JSONL file it came from, for messages. */
  line?: number;
}

export interface McOptions {
  /**
   * Most tokens per question + choice; longer ones lose tokens from the left of the question,
   * as in lm-evaluation-harness. Unset: no limit.
   */
  truncation?: number;
  /** Question + choice sequences per forward (default 8). */
  batchSize?: number;
}

export interface McItemResult {
  /** Summed log-likelihood of each choice's tokens (nats). */
  logLikelihoods: number[];
  /** argmax of `logLikelihoods` (the first on a tie). */
  predicted: number;
  /** argmax of log-likelihood ÷ the choice's UTF-8 byte length. */
  predictedNorm: number;
  answer: number;
}

export interface McResult {
  items: number;
  accuracy: number;
  accuracyNorm: number;
  results: McItemResult[];
}

export type PairTokenizer = Pick<CorpusTokenizer, 'encode' | 'bosId'>;

/**
 * The ids that follow `contextIds` (the encoding of `context`) when `continuation` is appended:
 * the tail of the whole text's encoding when the context's ids are a prefix of it, else (a
 * merge crosses the boundary) the continuation encoded alone, BOS dropped, so that the model
 * never reads a context cut inside a token.
 */
export function continuationIds(
  tokenizer: PairTokenizer,
  contextIds: number[],
  context: string,
  continuation: string
): number[] {
  const whole = tokenizer.encode(context + continuation);
  if (
    whole.length > contextIds.length &&
    contextIds.every((id, i) => whole[i] === id)
  ) {
    return whole.slice(contextIds.length);
  }
  const alone = tokenizer.encode(continuation);
  const ids = tokenizer.bosId === undefined ? alone : alone.slice(1);
  if (ids.length === 0) {
    throw new CusprunError(
      'bad-argument',
      `the continuation ${JSON.stringify(continuation)} has no tokens to score`
    );
  }
  return ids;
}

/**
 * Token ids of a question and a choice, paired as lm-evaluation-harness (0.4) does: whitespace
 * at the end of the question moves to the front of the choice, then `continuationIds`.
 */
export function encodePair(
  tokenizer: PairTokenizer,
  context: string,
  continuation: string
): { context: number[]; continuation: number[] } {
  const trimmed = context.replace(/\s+$/u, '');
  const contextIds = tokenizer.encode(trimmed);
  if (contextIds.length === 0) {
    throw new CusprunError(
      'bad-argument',
      `the context ${JSON.stringify(context)} has no tokens to condition on`
    );
  }
  return {
    context: contextIds,
    continuation: continuationIds(
      tokenizer,
      contextIds,
      trimmed,
      context.slice(trimmed.length) + continuation
    )
  };
}

/** Reads `{question, choices, answer}` JSON Lines; errors name the file and the line. */
export function readMultipleChoice(file: string): McItem[] {
  const items: McItem[] = [];
  readUtf8File(file)
    .split(/\r?\n/)
    .forEach((raw, i) => {
      if (raw.trim() !== '') {
        items.push(parseItem(raw, i + 1, file));
      }
    });
  if (items.length === 0) {
    throw new CusprunError('bad-argument', 'holds no items', file);
  }
  return items;
}

function parseItem(raw: string, line: number, file: string): McItem {
  function fail(message: string): never {
    throw new CusprunError('bad-argument', `line ${line}: ${message}`, file);
  }
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (error) {
    fail(
      `not valid JSON (${error instanceof Error ? error.message : String(error)})`
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail(
      'not a JSON object (each line must be {"question", "choices", "answer"})'
    );
  }
  const record = value as Record<string, unknown>;
  for (const field of ['question', 'choices', 'answer']) {
    if (!Object.prototype.hasOwnProperty.call(record, field)) {
      fail(`no "${field}" field`);
    }
  }
  const { question, choices, answer } = record;
  if (typeof question !== 'string' || question.trim() === '') {
    fail('"question" must be a non-empty string');
  }
  if (
    !Array.isArray(choices) ||
    choices.length < 2 ||
    !choices.every(c => typeof c === 'string' && c !== '')
  ) {
    fail('"choices" must be a list of at least 2 non-empty strings');
  }
  if (typeof answer !== 'number' || !Number.isInteger(answer)) {
    fail(
      `"answer" must be the index of the right choice (0–${choices.length - 1}), not ${JSON.stringify(answer)}`
    );
  }
  if (answer < 0 || answer >= choices.length) {
    fail(
      `"answer" is ${answer}, but there are ${choices.length} choices (0–${choices.length - 1})`
    );
  }
  return { question, choices, answer, line };
}

/** The first index of the largest value, as numpy's argmax. */
function argmaxOf(values: number[]): number {
  return values.reduce((best, v, i) => (v > values[best] ? i : best), 0);
}

export async function multipleChoice(
  runner: ModelRunner,
  items: McItem[],
  tokenizer: PairTokenizer,
  options: McOptions = {}
): Promise<McResult> {
  const { truncation } = options;
  if (
    truncation !== undefined &&
    (!Number.isInteger(truncation) || truncation < 2)
  ) {
    throw new CusprunError(
      'bad-argument',
      `truncation must be an integer of at least 2 tokens, not ${truncation}`
    );
  }
  const sequences: number[][] = [];
  const from: number[] = [];
  items.forEach((item, index) => {
    item.choices.forEach((choice, k) => {
      const pair = encodePair(tokenizer, item.question, choice);
      let ids = [...pair.context, ...pair.continuation];
      if (truncation !== undefined && ids.length > truncation) {
        if (pair.continuation.length >= truncation) {
          const where =
            item.line === undefined ? `item ${index}` : `line ${item.line}`;
          throw new CusprunError(
            'bad-argument',
            `${where}: choice ${k} has ${pair.continuation.length} tokens, more than the truncation of ${truncation} leaves after the question`
          );
        }
        ids = ids.slice(ids.length - truncation);
      }
      sequences.push(ids);
      from.push(ids.length - pair.continuation.length);
    });
  });
  const logProbs = await sequenceLogProbs(
    runner,
    sequences,
    from,
    options.batchSize ?? 8
  );
  let next = 0;
  const results = items.map(item => {
    const logLikelihoods = item.choices.map(() =>
      logProbs[next++].reduce((sum, v) => sum + v, 0)
    );
    const perByte = logLikelihoods.map(
      (ll, k) => ll / Buffer.byteLength(item.choices[k], 'utf8')
    );
    return {
      logLikelihoods,
      predicted: argmaxOf(logLikelihoods),
      predictedNorm: argmaxOf(perByte),
      answer: item.answer
    };
  });
  const share = (hit: (r: McItemResult) => boolean) =>
    results.filter(hit).length / Math.max(1, results.length);
  return {
    items: items.length,
    accuracy: share(r => r.predicted === r.answer),
    accuracyNorm: share(r => r.predictedNorm === r.answer),
    results
  };
}
