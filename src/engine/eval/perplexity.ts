/** Perplexity over documents: each scored alone, every predicted token weighted the same. */
import { CorpusTokenizer } from '../corpus/tokenizer';
import { CusprunError } from '../../core/errors';
import { sequenceLogProbs } from './likelihood';
import { ModelRunner } from './runner';

export interface PerplexityOptions {
  /** Tokens kept per document (its first ones, BOS included): fixed, for comparable runs. */
  truncation: number;
  /** Documents per forward (default 4); logits cost rows × tokens × vocab × 4 bytes. */
  batchSize?: number;
}

export interface PerplexityResult {
  /** Documents given. */
  documents: number;
  /** Documents cut to `truncation` tokens. */
  truncated: number;
  /** Documents with fewer than 2 tokens, which predict nothing. */
  skipped: number;
  /** Predicted tokens: Σ over documents of (tokens − 1). */
  tokens: number;
  /** Mean negative log-likelihood per predicted token, in nats. */
  nll: number;
  /** exp(nll). */
  perplexity: number;
}

export async function perplexity(
  runner: ModelRunner,
  texts: string[],
  tokenizer: Pick<CorpusTokenizer, 'encode'>,
  options: PerplexityOptions
): Promise<PerplexityResult> {
  const { truncation } = options;
  if (!Number.isInteger(truncation) || truncation < 2) {
    throw new CusprunError(
      'bad-argument',
      `truncation must be an integer of at least 2 tokens, not ${truncation}`
    );
  }
  let truncated = 0;
  const documents: number[][] = [];
  for (const text of texts) {
    const ids = tokenizer.encode(text);
    if (ids.length > truncation) {
      truncated++;
    }
    if (ids.length >= 2) {
      documents.push(ids.slice(0, truncation));
    }
  }
  if (documents.length === 0) {
    throw new CusprunError(
      'bad-argument',
      'no document has the 2 tokens or more that perplexity needs'
    );
  }
  const logProbs = await sequenceLogProbs(
    runner,
    documents,
    documents.map(() => 1),
    options.batchSize ?? 4
  );
  let sum = 0;
  let tokens = 0;
  for (const values of logProbs) {
    values.forEach(v => {
      sum -= v;
    });
    tokens += values.length;
  }
  const nll = sum / tokens;
  return {
    documents: texts.length,
    truncated,
    skipped: texts.length - documents.length,
    tokens,
    nll,
    perplexity: Math.exp(nll)
  };
}
