/** Greedy generation from prompts, with exact match against references and a repetition rate. */
import { CusprunError } from '../../core/errors';
import { continuationIds, PairTokenizer } from './multiple-choice';
import { KvCache, ModelRunner } from './runner';

/** Repetition is counted over n-grams of this many tokens. */
export const REPEAT_NGRAM = 3;

/**
 * Greedy decoding one token at a time: with the KV cache (each step feeds the previous
 * present.* back as past) or, without one, recomputing the whole sequence every step. Either
 * way only the last position's argmax leaves onnxruntime.
 */
export class GreedyDecoder {
  private cache: KvCache | undefined;
  private sequence: number[] = [];

  constructor(
    private readonly runner: ModelRunner,
    readonly usesCache: boolean
  ) {
    if (usesCache && !runner.hasKvCache) {
      throw new CusprunError(
        'unsupported',
        'the model has no KV-cache inputs and outputs to decode with',
        runner.label
      );
    }
  }

  /** Runs the prompt; returns the first new token. */
  async prefill(prompt: number[]): Promise<number> {
    if (prompt.length === 0) {
      throw new CusprunError('bad-argument', 'cannot generate from no tokens');
    }
    this.sequence = [...prompt];
    this.cache = undefined;
    return this.predict(prompt);
  }

  /** Appends `token` (the last one returned); returns the one after it. */
  async next(token: number): Promise<number> {
    this.sequence.push(token);
    return this.predict([token]);
  }

  private async predict(tokens: number[]): Promise<number> {
    if (this.usesCache) {
      const step = await this.runner.step(tokens, this.cache);
      this.cache = step.cache;
      return step.next;
    }
    return (await this.runner.nextTokens([this.sequence]))[0];
  }
}

export interface GenerateOptions {
  maxNewTokens: number;
  /**
   * The expected continuation of each prompt: a generation matches when its tokens begin with
   * the reference's tokens (encoded as a continuation of the prompt).
   */
  references?: string[];
  /** Ids that end a generation, e.g. the EOS id; the stop id is not kept. */
  stopIds?: number[];
  /** Decode with the KV cache when the export has one (default true). */
  useCache?: boolean;
}

export interface Generation {
  promptTokens: number;
  /** The new tokens. */
  tokens: number[];
  /** The generation's n-grams (REPEAT_NGRAM tokens) … */
  ngrams: number;
  /** … and those of them that already occurred earlier in it. */
  repeatedNgrams: number;
  exactMatch?: boolean;
}

export interface GenerateResult {
  usedCache: boolean;
  generations: Generation[];
  /** Share of generations that match their reference, when references are given. */
  exactMatch?: number;
  /** Σ repeated n-grams ÷ Σ n-grams over all generations (0 when there are none). */
  repetitionRate: number;
}

function repetition(tokens: number[]): { ngrams: number; repeated: number } {
  const seen = new Set<string>();
  let repeated = 0;
  for (let i = 0; i + REPEAT_NGRAM <= tokens.length; i++) {
    const key = tokens.slice(i, i + REPEAT_NGRAM).join(',');
    if (seen.has(key)) {
      repeated++;
    }
    seen.add(key);
  }
  return { ngrams: Math.max(0, tokens.length - REPEAT_NGRAM + 1), repeated };
}

export async function generate(
  runner: ModelRunner,
  prompts: string[],
  tokenizer: PairTokenizer,
  options: GenerateOptions
): Promise<GenerateResult> {
  const { maxNewTokens, references } = options;
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 1) {
    throw new CusprunError(
      'bad-argument',
      `maxNewTokens must be a positive integer, not ${maxNewTokens}`
    );
  }
  if (references && references.length !== prompts.length) {
    throw new CusprunError(
      'bad-argument',
      `${references.length} references for ${prompts.length} prompts`
    );
  }
  const stop = new Set(options.stopIds ?? []);
  const usedCache = (options.useCache ?? true) && runner.hasKvCache;
  const generations: Generation[] = [];
  for (const [i, prompt] of prompts.entries()) {
    const promptIds = tokenizer.encode(prompt);
    const decoder = new GreedyDecoder(runner, usedCache);
    const tokens: number[] = [];
    let token = await decoder.prefill(promptIds);
    while (!stop.has(token)) {
      tokens.push(token);
      if (tokens.length === maxNewTokens) {
        break;
      }
      token = await decoder.next(token);
    }
    const { ngrams, repeated } = repetition(tokens);
    const generation: Generation = {
      promptTokens: promptIds.length,
      tokens,
      ngrams,
      repeatedNgrams: repeated
    };
    if (references) {
      const expected = continuationIds(
        tokenizer,
        promptIds,
        prompt,
        references[i]
      );
      generation.exactMatch =
        tokens.length >= expected.length &&
        expected.every((id, k) => tokens[k] === id);
    }
    generations.push(generation);
  }
  const ngrams = generations.reduce((n, g) => n + g.ngrams, 0);
  const repeated = generations.reduce((n, g) => n + g.repeatedNgrams, 0);
  return {
    usedCache,
    generations,
    ...(references
      ? {
          exactMatch:
            generations.filter(g => g.exactMatch).length /
            Math.max(1, generations.length)
        }
      : {}),
    repetitionRate: ngrams === 0 ? 0 : repeated / ngrams
  };
}
