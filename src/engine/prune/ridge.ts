/**
 * Ridge least squares for regression compensation: the coefficients that predict the removed
 * channels of a projection's input from its kept channels, solved from their covariance by a
 * Cholesky factorisation (row-major Float64Arrays, each inner loop over contiguous memory).
 */
import { CusprunError } from '../../core/errors';

/**
 * B = (C_KK + ρ·mean(diag C_KK)·I)⁻¹ · C_KS, [|K| × |S|] row-major, from the covariance `c`
 * ([n × n]) of the channels: `ρ` scales the penalty to the kept channels' mean variance, so
 * it means the same on every layer. All zero when the kept channels do not vary.
 */
export function ridgeCoefficients(
  c: Float64Array,
  n: number,
  kept: number[],
  removed: number[],
  ridge: number
): Float64Array {
  const k = kept.length;
  const s = removed.length;
  const a = new Float64Array(k * k);
  const rhs = new Float64Array(k * s);
  let trace = 0;
  kept.forEach((ci, i) => {
    kept.forEach((cj, j) => (a[i * k + j] = c[ci * n + cj]));
    removed.forEach((cj, j) => (rhs[i * s + j] = c[ci * n + cj]));
    trace += c[ci * n + ci];
  });
  const penalty = (ridge * trace) / k;
  if (!(penalty > 0)) {
    return new Float64Array(k * s);
  }
  for (let i = 0; i < k; i++) {
    a[i * k + i] += penalty;
  }
  choleskyInPlace(a, k);
  solveCholesky(a, k, rhs, s);
  return rhs;
}

/** Σ_{p<m} x[xi+p]·y[yi+p], in four running sums (they keep the floating-point pipeline full). */
function dot(
  x: Float64Array,
  xi: number,
  y: Float64Array,
  yi: number,
  m: number
): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let p = 0;
  for (; p + 3 < m; p += 4) {
    s0 += x[xi + p] * y[yi + p];
    s1 += x[xi + p + 1] * y[yi + p + 1];
    s2 += x[xi + p + 2] * y[yi + p + 2];
    s3 += x[xi + p + 3] * y[yi + p + 3];
  }
  for (; p < m; p++) {
    s0 += x[xi + p] * y[yi + p];
  }
  return s0 + s1 + s2 + s3;
}

/** The lower factor L of a symmetric positive definite `a` ([n × n]), written over `a`. */
export function choleskyInPlace(a: Float64Array, n: number): void {
  for (let j = 0; j < n; j++) {
    const rj = j * n;
    const d = a[rj + j] - dot(a, rj, a, rj, j);
    if (!(d > 0)) {
      throw new CusprunError(
        'bad-argument',
        `the kept channels' covariance is not positive definite at row ${j}; use a larger ridge`
      );
    }
    const pivot = Math.sqrt(d);
    a[rj + j] = pivot;
    for (let i = j + 1; i < n; i++) {
      const ri = i * n;
      a[ri + j] = (a[ri + j] - dot(a, ri, a, rj, j)) / pivot;
    }
  }
}

/**
 * row −= Σ f[t]·b[from[t] … +m] over the rows `from` (four at a time: `row` is read and written
 * once per four rows, which is what bounds this loop).
 */
function subtractRows(
  row: Float64Array,
  b: Float64Array,
  from: number[],
  f: number[],
  m: number
): void {
  let t = 0;
  for (; t + 3 < from.length; t += 4) {
    const [o0, o1, o2, o3] = [from[t], from[t + 1], from[t + 2], from[t + 3]];
    const [f0, f1, f2, f3] = [f[t], f[t + 1], f[t + 2], f[t + 3]];
    for (let j = 0; j < m; j++) {
      row[j] -=
        f0 * b[o0 + j] + f1 * b[o1 + j] + f2 * b[o2 + j] + f3 * b[o3 + j];
    }
  }
  for (; t < from.length; t++) {
    const [o, ft] = [from[t], f[t]];
    for (let j = 0; j < m; j++) {
      row[j] -= ft * b[o + j];
    }
  }
}

/** Solves L·Lᵀ·X = B for X ([n × m]), written over `b`, given L from `choleskyInPlace`. */
export function solveCholesky(
  l: Float64Array,
  n: number,
  b: Float64Array,
  m: number
): void {
  // Forward (L·Y = B), then back (Lᵀ·X = Y): each row less the solved rows' share, over its pivot.
  const solveRow = (
    i: number,
    others: number[],
    factor: (p: number) => number
  ) => {
    const row = b.subarray(i * m, (i + 1) * m);
    const used = others.filter(p => factor(p) !== 0);
    subtractRows(
      row,
      b,
      used.map(p => p * m),
      used.map(factor),
      m
    );
    const pivot = l[i * n + i];
    for (let j = 0; j < m; j++) {
      row[j] /= pivot;
    }
  };
  const range = (from: number, to: number) =>
    Array.from({ length: Math.max(0, to - from) }, (_, t) => from + t);
  for (let i = 0; i < n; i++) {
    solveRow(i, range(0, i), p => l[i * n + p]);
  }
  for (let i = n - 1; i >= 0; i--) {
    solveRow(i, range(i + 1, n), p => l[p * n + i]);
  }
}
