/**
 * Seeded sampling of documents: deterministic for a given seed and dimension, and the chosen
 * documents keep their original order.
 */
import { createHash } from 'node:crypto';

/** mulberry32: a small, fast 32-bit PRNG; returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The PRNG state for one dimension: the first 4 bytes of sha256("cusprun-sample:<seed>:<key>"),
 * so each dimension draws from its own stream and a seed means the same on every machine.
 */
export function streamSeed(seed: number, key: string): number {
  return createHash('sha256')
    .update(`cusprun-sample:${seed}:${key}`)
    .digest()
    .readUInt32BE(0);
}

/**
 * `k` of the indices 0..n-1 chosen uniformly without replacement (partial Fisher–Yates),
 * returned ascending. All of them, in order, when k ≥ n.
 */
export function sampleIndices(
  n: number,
  k: number,
  seed: number,
  key: string
): number[] {
  const all = Array.from({ length: n }, (_, i) => i);
  if (k >= n) {
    return all;
  }
  const random = mulberry32(streamSeed(seed, key));
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(random() * (n - i));
    const tmp = all[i];
    all[i] = all[j];
    all[j] = tmp;
  }
  return all.slice(0, k).sort((a, b) => a - b);
}
