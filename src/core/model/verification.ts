/**
 * What checking a pruned model against the original with its units zeroed found (types only,
 * shared with the protocol: logit-bound.ts computes them).
 */
export type LogitType = 'float32' | 'float16';

export interface LogitComparison {
  /** Whether every difference lies within the bound (false for NaN or infinite ones). */
  ok: boolean;
  type: LogitType;
  /** The bound that applied, in ulps at each row's largest |logit|. */
  boundUlps: number;
  maxAbsDiff: number;
  /** The element furthest from the reference in ulps. */
  worst: {
    sequence: number;
    token: number;
    vocab: number;
    diff: number;
    /** The largest |logit| of its row, in either model: where its ulp is taken. */
    scale: number;
    ulps: number;
  };
}
