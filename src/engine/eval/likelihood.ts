/** Token log-probabilities and greedy choices from logits, in float64. */
import { CusprunError } from '../errors';
import { Logits, ModelRunner } from './runner';

/** log softmax(logits at `position`)[target], with max subtraction, summed in float64. */
export function logProb(
  logits: Logits,
  position: number,
  target: number
): number {
  const { vocab, data } = logits;
  const offset = position * vocab;
  let max = -Infinity;
  for (let v = 0; v < vocab; v++) {
    max = Math.max(max, data[offset + v]);
  }
  let sum = 0;
  for (let v = 0; v < vocab; v++) {
    sum += Math.exp(data[offset + v] - max);
  }
  return data[offset + target] - max - Math.log(sum);
}

/** The highest-scoring token at `position`; the lowest id wins a tie, as numpy's argmax. */
export function argmax(logits: Logits, position: number): number {
  const { vocab, data } = logits;
  const offset = position * vocab;
  let best = 0;
  for (let v = 1; v < vocab; v++) {
    if (data[offset + v] > data[offset + best]) {
      best = v;
    }
  }
  return best;
}

/**
 * log p(x_t | x_<t) for t = from[i] … length-1 of each sequence, each sequence alone (batches
 * of `batchSize` rows are right-padded and masked, so rows never see each other).
 */
export async function sequenceLogProbs(
  runner: ModelRunner,
  sequences: number[][],
  from: number[],
  batchSize: number
): Promise<Float64Array[]> {
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new CusprunError(
      'bad-argument',
      `batch size must be a positive integer, not ${batchSize}`
    );
  }
  const out: Float64Array[] = [];
  for (let first = 0; first < sequences.length; first += batchSize) {
    const batch = sequences.slice(first, first + batchSize);
    const logits = await runner.forward(batch);
    batch.forEach((ids, row) => {
      const start = Math.max(1, from[first + row]);
      const values = new Float64Array(Math.max(0, ids.length - start));
      for (let t = start; t < ids.length; t++) {
        if (ids[t] >= logits.vocab) {
          throw new CusprunError(
            'bad-argument',
            `token id ${ids[t]} is outside the model's vocabulary of ${logits.vocab} (is the tokenizer the model's own?)`,
            runner.label
          );
        }
        values[t - start] = logProb(logits, row * logits.time + t - 1, ids[t]);
      }
      out.push(values);
    });
  }
  return out;
}
