/** Prefill and decode latency of greedy decoding, medians over repeats. */
import type { LatencyResult } from '../../core/experiment';
import { CusprunError } from '../../core/errors';
import { GreedyDecoder } from './generate';
import { ModelRunner } from './runner';

export interface LatencyOptions {
  /** Length of the synthetic prompt. */
  promptTokens: number;
  /** Greedy tokens decoded after the prefill. */
  decodeTokens: number;
  /** Timed runs (after one untimed warm-up run). */
  repeats: number;
  /** Decode with the KV cache when the export has one (default true). */
  useCache?: boolean;
}

export type { LatencyResult };

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function positiveInteger(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new CusprunError(
      'bad-argument',
      `${name} must be a positive integer, not ${value}`
    );
  }
}

export async function latency(
  runner: ModelRunner,
  options: LatencyOptions
): Promise<LatencyResult> {
  const { promptTokens, decodeTokens, repeats } = options;
  positiveInteger('promptTokens', promptTokens);
  positiveInteger('decodeTokens', decodeTokens);
  positiveInteger('repeats', repeats);
  const usedCache = (options.useCache ?? true) && runner.hasKvCache;
  // Token content does not change the cost; ids below every real vocabulary keep it valid.
  const prompt = Array.from({ length: promptTokens }, (_, i) => 3 + (i % 200));
  const prefill: number[] = [];
  const decode: number[] = [];
  for (let run = 0; run <= repeats; run++) {
    const decoder = new GreedyDecoder(runner, usedCache);
    const start = performance.now();
    let token = await decoder.prefill(prompt);
    const prefilled = performance.now();
    for (let k = 0; k < decodeTokens; k++) {
      token = await decoder.next(token);
    }
    const done = performance.now();
    // Run 0 warms up onnxruntime's allocations and kernels, and is not timed.
    if (run > 0) {
      prefill.push(prefilled - start);
      decode.push((done - prefilled) / decodeTokens);
    }
  }
  return {
    usedCache,
    promptTokens,
    decodeTokens,
    repeats,
    prefillMs: median(prefill),
    decodeMsPerToken: median(decode)
  };
}
