/**
 * How far a pruned model's logits may lie from the reference's (the original with the same units
 * zeroed): a number of ulps — the spacing of the logits' own float type — at the largest |logit|
 * of the row (one token position). Why this bound and these numbers: README.md beside this file.
 */
import { Fetched } from '../capture/runtime';
import { CusprunError } from '../../core/errors';
import { float16BitsToFloat32 } from '../onnx/dtype';
import type { LogitComparison, LogitType } from '../../core/model/verification';

export type { LogitComparison, LogitType };

interface Precision {
  /** Stored fraction bits: ulp(x) = 2^(exponent(x) - fractionBits). */
  fractionBits: number;
  /** Exponent of the smallest normal number; below it the spacing stays 2^(this - bits). */
  minExponent: number;
  /** The default bound in ulps (README.md says why). */
  boundUlps: number;
}

const PRECISION: Record<LogitType, Precision> = {
  float32: { fractionBits: 23, minExponent: -126, boundUlps: 512 },
  float16: { fractionBits: 10, minExponent: -14, boundUlps: 4 }
};

/** The default bound, in ulps, for logits of this type. */
export function defaultBoundUlps(type: LogitType): number {
  return PRECISION[type].boundUlps;
}

/** The spacing of `type` floats at magnitude `x`. */
function ulpOf(type: LogitType, x: number): number {
  const { fractionBits, minExponent } = PRECISION[type];
  const exponent = x > 0 ? Math.floor(Math.log2(x)) : minExponent;
  return 2 ** (Math.max(exponent, minExponent) - fractionBits);
}

/** One logits tensor of one sequence ([1, tokens, vocab]), as plain numbers. */
export interface Logits {
  type: LogitType;
  dims: number[];
  values: Float32Array;
}

export function readLogits(fetched: Fetched, file: string): Logits {
  const { type, dims, data } = fetched;
  if (type === 'float32') {
    return { type, dims, values: data as Float32Array };
  }
  if (type === 'float16') {
    const values = Float32Array.from(data as Uint16Array, float16BitsToFloat32);
    return { type, dims, values };
  }
  throw new CusprunError(
    'unsupported',
    `its logits are ${type}; cusprun verifies float32 and float16 logits only`,
    file
  );
}

function sameShape(a: Logits, b: Logits): boolean {
  return (
    a.type === b.type &&
    a.dims.length === b.dims.length &&
    a.dims.every((d, i) => d === b.dims[i])
  );
}

/** One row's (token position's) running maxima over the vocabulary slices compared so far. */
interface RowMaxima {
  /** Largest |logit| of the row in either model. */
  scale: number;
  /** Largest |difference| (NaN counted as Infinity), and its vocabulary index (the first). */
  diff: number;
  vocab: number;
}

/**
 * Logits compared a vocabulary slice at a time (every logit of every row, in any slice order
 * along the vocabulary), keeping per row only its largest |logit| and largest difference: the
 * bound is in ulps at the row's largest |logit| (the same unit for the whole row), so the row's
 * worst element is its largest difference, and the result equals comparing whole rows.
 */
export class SlicedComparison {
  private readonly rows: RowMaxima[][] = [];
  private type: LogitType | undefined;

  constructor(private readonly file: string) {}

  /** Folds in logits [offset, offset + width) of every row of one sequence, `a` the reference's. */
  add(sequence: number, a: Logits, b: Logits | undefined, offset = 0): void {
    if (!b || !sameShape(a, b)) {
      throw new CusprunError(
        'unsupported',
        `its logits are ${b ? `${b.type}[${b.dims.join(', ')}]` : 'missing'} where the original's are ${a.type}[${a.dims.join(', ')}]; it is not the same model pruned`,
        this.file
      );
    }
    this.type ??= a.type;
    const width = a.dims[a.dims.length - 1];
    const rows = (this.rows[sequence] ??= []);
    for (let r = 0, start = 0; start < a.values.length; r++, start += width) {
      const row = (rows[r] ??= { scale: 0, diff: -1, vocab: 0 });
      for (let j = 0; j < width; j++) {
        const x = a.values[start + j];
        const y = b.values[start + j];
        row.scale = Math.max(row.scale, Math.abs(x), Math.abs(y));
        const raw = Math.abs(x - y);
        const diff = Number.isNaN(raw) ? Infinity : raw;
        if (diff > row.diff || (diff === row.diff && offset + j < row.vocab)) {
          row.diff = diff;
          row.vocab = offset + j;
        }
      }
    }
  }

  /** The comparison of everything added, within `boundUlps` (default: the type's). */
  result(boundUlps?: number): LogitComparison {
    const type = this.type ?? 'float32';
    const bound = boundUlps ?? defaultBoundUlps(type);
    let maxAbsDiff = 0;
    let worst = { sequence: 0, token: 0, vocab: 0, diff: 0, scale: 0, ulps: 0 };
    this.rows.forEach((rows, sequence) =>
      rows.forEach(({ scale, diff, vocab }, token) => {
        maxAbsDiff = Math.max(maxAbsDiff, diff);
        const ulps = diff / ulpOf(type, scale);
        // Ties go to the larger row, so equal logits report the largest |logit| compared.
        if (ulps > worst.ulps || (ulps === worst.ulps && scale > worst.scale)) {
          worst = { sequence, token, vocab, diff, scale, ulps };
        }
      })
    );
    return {
      ok: worst.ulps <= bound,
      type,
      boundUlps: bound,
      maxAbsDiff,
      worst
    };
  }
}

/**
 * Compares logits sequence by sequence. The unit of each row is the ulp at its largest |logit|,
 * not at each element: a logit near zero carries the rounding of the whole dot product that made
 * it, which is the size of the row's large terms, not of its own value.
 */
export function compareLogits(
  reference: Logits[],
  pruned: Logits[],
  file: string,
  boundUlps?: number
): LogitComparison {
  const comparison = new SlicedComparison(file);
  reference.forEach((a, sequence) =>
    comparison.add(sequence, a, pruned[sequence])
  );
  return comparison.result(boundUlps);
}

const figure = (x: number) => (x === 0 ? '0' : x.toExponential(2));

/**
 * One line for every caller: `max |logit difference| 9.77e-4 (worst 1.0 ulps at |logit| 0.920;
 * bound 4 float16 ulps)`.
 */
export function describeComparison(c: LogitComparison): string {
  return `max |logit difference| ${figure(c.maxAbsDiff)} (worst ${c.worst.ulps.toFixed(1)} ulps at |logit| ${c.worst.scale.toPrecision(3)}; bound ${c.boundUlps} ${c.type} ulps)`;
}

/** Throws the one-line failure when the pruned model lies outside the bound. */
export function assertWithinBound(c: LogitComparison, file: string): void {
  if (!c.ok) {
    throw new CusprunError(
      'unsupported',
      `the pruned model differs from the original with the same units zeroed: ${describeComparison(c)}; please report this export`,
      file
    );
  }
}
