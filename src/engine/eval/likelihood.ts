/** Token log-probabilities of sequences, computed inside the evaluation graph (eval-graph.ts). */
import { CusprunError } from '../../core/errors';
import { ModelRunner } from './runner';

/**
 * Consecutive runs of sequences: at most `batchSize` each, and no more positions to read than
 * the runner's logits budget allows, unless one sequence alone needs more.
 */
function runsOf(
  positions: number[],
  batchSize: number,
  budget: number
): [number, number][] {
  const runs: [number, number][] = [];
  let start = 0;
  let held = 0;
  positions.forEach((count, i) => {
    if (i > start && (i - start === batchSize || held + count > budget)) {
      runs.push([start, i]);
      start = i;
      held = 0;
    }
    held += count;
  });
  if (positions.length > start) {
    runs.push([start, positions.length]);
  }
  return runs;
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
  const starts = from.map(f => Math.max(1, f));
  const counts = sequences.map((ids, i) => Math.max(0, ids.length - starts[i]));
  const out: Float64Array[] = [];
  for (const [first, end] of runsOf(counts, batchSize, runner.maxPositions)) {
    const batch = sequences.slice(first, end);
    const time = Math.max(...batch.map(ids => ids.length));
    const positions: number[] = [];
    const targets: number[] = [];
    batch.forEach((ids, row) => {
      for (let t = starts[first + row]; t < ids.length; t++) {
        if (runner.vocab !== undefined && ids[t] >= runner.vocab) {
          throw new CusprunError(
            'bad-argument',
            `token id ${ids[t]} is outside the model's vocabulary of ${runner.vocab} (is the tokenizer the model's own?)`,
            runner.label
          );
        }
        positions.push(row * time + t - 1);
        targets.push(ids[t]);
      }
    });
    const values = await runner.logProbs(batch, positions, targets);
    let at = 0;
    batch.forEach((_, row) => {
      const count = counts[first + row];
      out.push(values.slice(at, at + count));
      at += count;
    });
  }
  return out;
}
