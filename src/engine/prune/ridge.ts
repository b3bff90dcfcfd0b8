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

/** The lower factor L of a symmetric positive definite `a` ([n × n]), written over `a`. */
export function choleskyInPlace(a: Float64Array, n: number): void {
  for (let j = 0; j < n; j++) {
    const rj = j * n;
    let d = a[rj + j];
    for (let p = 0; p < j; p++) {
      d -= a[rj + p] * a[rj + p];
    }
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
      let v = a[ri + j];
      for (let p = 0; p < j; p++) {
        v -= a[ri + p] * a[rj + p];
      }
      a[ri + j] = v / pivot;
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
  for (let i = 0; i < n; i++) {
    const row = b.subarray(i * m, (i + 1) * m);
    for (let p = 0; p < i; p++) {
      const f = l[i * n + p];
      if (f !== 0) {
        const prior = p * m;
        for (let j = 0; j < m; j++) {
          row[j] -= f * b[prior + j];
        }
      }
    }
    const pivot = l[i * n + i];
    for (let j = 0; j < m; j++) {
      row[j] /= pivot;
    }
  }
  for (let i = n - 1; i >= 0; i--) {
    const row = b.subarray(i * m, (i + 1) * m);
    for (let p = i + 1; p < n; p++) {
      const f = l[p * n + i];
      if (f !== 0) {
        const later = p * m;
        for (let j = 0; j < m; j++) {
          row[j] -= f * b[later + j];
        }
      }
    }
    const pivot = l[i * n + i];
    for (let j = 0; j < m; j++) {
      row[j] /= pivot;
    }
  }
}
