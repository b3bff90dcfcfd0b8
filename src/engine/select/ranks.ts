/**
 * The rank identity of method.md: with rank_c(u) the 0-based ascending rank of unit u's score in
 * document c (ties by index), u is irrelevant to c at σ iff rank_c(u) < ⌊σ·n⌋. Over a dimension's
 * documents u is irrelevant to all (strict) or to a fraction q of them (relaxed) iff one number,
 * its deciding rank, is below ⌊σ·n⌋; over several dimensions the deciding rank is the maximum.
 * One number per unit decides every σ.
 */

/** Ranks of `scores` ascending, ties broken by unit index. */
export function ascendingRanks(scores: ArrayLike<number>): Uint32Array {
  const order = Array.from({ length: scores.length }, (_, i) => i);
  order.sort((a, b) => scores[a] - scores[b] || a - b);
  const ranks = new Uint32Array(scores.length);
  order.forEach((unit, rank) => {
    ranks[unit] = rank;
  });
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
