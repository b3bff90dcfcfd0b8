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

/** Largest |x| of a row in either model. */
function rowScale(
  a: Float32Array,
  b: Float32Array,
  start: number,
  end: number
) {
  let scale = 0;
  for (let i = start; i < end; i++) {
    scale = Math.max(scale, Math.abs(a[i]), Math.abs(b[i]));
  }
  return scale;
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
  const type = reference[0]?.type ?? 'float32';
  const bound = boundUlps ?? defaultBoundUlps(type);
  const result: LogitComparison = {
    ok: true,
    type,
    boundUlps: bound,
    maxAbsDiff: 0,
    worst: { sequence: 0, token: 0, vocab: 0, diff: 0, scale: 0, ulps: 0 }
  };
  reference.forEach((a, sequence) => {
    const b = pruned[sequence];
    if (!b || !sameShape(a, b)) {
      throw new CusprunError(
        'unsupported',
        `its logits are ${b ? `${b.type}[${b.dims.join(', ')}]` : 'missing'} where the original's are ${a.type}[${a.dims.join(', ')}]; it is not the same model pruned`,
        file
      );
    }
    const vocab = a.dims[a.dims.length - 1];
    for (let start = 0; start < a.values.length; start += vocab) {
      const scale = rowScale(a.values, b.values, start, start + vocab);
      const ulp = ulpOf(type, scale);
      for (let j = 0; j < vocab; j++) {
        const raw = Math.abs(a.values[start + j] - b.values[start + j]);
        const diff = Number.isNaN(raw) ? Infinity : raw;
        result.maxAbsDiff = Math.max(result.maxAbsDiff, diff);
        const ulps = diff / ulp;
        const { worst } = result;
        // Ties go to the larger row, so equal logits report the largest |logit| compared.
        if (ulps > worst.ulps || (ulps === worst.ulps && scale > worst.scale)) {
          const token = start / vocab;
          result.worst = { sequence, token, vocab: j, diff, scale, ulps };
        }
      }
    }
  });
  result.ok = result.worst.ulps <= bound;
  return result;
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
