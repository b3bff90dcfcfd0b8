/**
 * The rank identity of method.md: with rank_c(u) the 0-based ascending rank of unit u's score in
 * document c (ties by index), u is irrelevant to c at σ iff rank_c(u) < ⌊σ·n⌋. Over a dimension's
 * documents u is irrelevant to all (strict) or to a fraction q of them (relaxed) iff one number,
 * its deciding rank, is below ⌊σ·n⌋; over several dimensions the deciding rank is the maximum.
 * One number per unit decides every σ.
 */

/** Which of a float64's two 32-bit words holds its sign and exponent, on this machine. */
const HIGH_WORD = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1 ? 1 : 0;

/**
 * Ranks of `scores` ascending, ties broken by unit index. A stable LSD radix sort over each
 * score's float64 bits made to order as unsigned integers (a stable sort of units in index order
 * breaks ties by index): linear time, where sorting indices with a comparator took seconds on a
 * million units.
 */
export function ascendingRanks(scores: ArrayLike<number>): Uint32Array {
  const n = scores.length;
  const keys = new Float64Array(n);
  for (let u = 0; u < n; u++) {
    keys[u] = scores[u] + 0; // -0 becomes 0: equal scores tie
  }
  const words = new Uint32Array(keys.buffer);
  const hi = HIGH_WORD;
  const lo = 1 - HIGH_WORD;
  for (let u = 0; u < n; u++) {
    const high = words[2 * u + hi];
    if (high & 0x80000000) {
      // negative: larger magnitudes first
      words[2 * u + hi] = ~high;
      words[2 * u + lo] = ~words[2 * u + lo];
    } else {
      words[2 * u + hi] = high | 0x80000000;
    }
  }
  let order = new Uint32Array(n);
  for (let u = 0; u < n; u++) {
    order[u] = u;
  }
  let next = new Uint32Array(n);
  const starts = new Uint32Array(257);
  for (let pass = 0; pass < 8; pass++) {
    const word = pass < 4 ? lo : hi;
    const shift = (pass % 4) * 8;
    starts.fill(0);
    for (let i = 0; i < n; i++) {
      starts[((words[2 * order[i] + word] >>> shift) & 255) + 1]++;
    }
    if (
      n === 0 ||
      starts[((words[2 * order[0] + word] >>> shift) & 255) + 1] === n
    ) {
      continue; // one digit for all: this pass would not move anything
    }
    for (let d = 1; d <= 256; d++) {
      starts[d] += starts[d - 1];
    }
    for (let i = 0; i < n; i++) {
      const u = order[i];
      next[starts[(words[2 * u + word] >>> shift) & 255]++] = u;
    }
    [order, next] = [next, order];
  }
  const ranks = new Uint32Array(n);
  for (let r = 0; r < n; r++) {
    ranks[order[r]] = r;
  }
  return ranks;
}

/**
 * Per unit, the rank that decides whether it is irrelevant to a dimension: the largest rank over
 * the documents (strict, q = 1), or the ⌈q·C⌉-th smallest (relaxed: irrelevant to at least a
 * fraction q of the C documents).
 */
export function dimensionRanks(
  documentRanks: Uint32Array[],
  q = 1
): Uint32Array {
  if (documentRanks.length === 0) {
    throw new RangeError('a dimension needs at least one document');
  }
  if (!(q > 0 && q <= 1)) {
    throw new RangeError(`q must be in (0, 1], got ${q}`);
  }
  const n = documentRanks[0].length;
  const m = Math.ceil(q * documentRanks.length - 1e-9);
  const out = new Uint32Array(n);
  const column = new Uint32Array(documentRanks.length);
  for (let u = 0; u < n; u++) {
    documentRanks.forEach((ranks, c) => {
      column[c] = ranks[u];
    });
    column.sort();
    out[u] = column[m - 1];
  }
  return out;
}

/** Irrelevant to every requested dimension: the largest of the dimensions' deciding ranks. */
export function expertRanks(dimensions: Uint32Array[]): Uint32Array {
  const out = new Uint32Array(dimensions[0].length);
  for (const ranks of dimensions) {
    ranks.forEach((r, u) => {
      if (r > out[u]) {
        out[u] = r;
      }
    });
  }
  return out;
}

/** ⌊σ·n⌋, the number of lowest-ranked units each document calls irrelevant. */
export function irrelevantPerDocument(sigma: number, units: number): number {
  return Math.floor(sigma * units + 1e-9);
}
