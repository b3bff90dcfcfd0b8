/**
 * The regression fit a compensated model was made with, stored beside it so `cusprun verify`
 * rebuilds the same reference: a float file (float-file.ts) with the magic
 * `CUSPRUN-REGRESSION\n`, a header naming each projection's layer, kind and removed channels,
 * then each projection's means ([n]) and coefficients ([kept × removed]) in the header's order.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { aboutFile } from '../fs-errors';
import { decodeFloatFile, encodeFloatFile } from './float-file';
import { RegressionFit } from './regression';

export const REGRESSION_FILE = 'cusprun-regression.bin';
const MAGIC = 'CUSPRUN-REGRESSION\n';
const FORMAT = 'cusprun-regression';

interface RegressionHeader {
  format: typeof FORMAT;
  version: 1;
  tokens: number;
  ridge: number;
  projections: {
    layer: number;
    kind: 'ffn' | 'attention';
    inputs: number;
    removed: number[];
  }[];
}

export function encodeRegression(fit: RegressionFit): Buffer {
  const header: RegressionHeader = {
    format: FORMAT,
    version: 1,
    tokens: fit.tokens,
    ridge: fit.ridge,
    projections: fit.projections.map(p => ({
      layer: p.layer,
      kind: p.kind,
      inputs: p.means.length,
      removed: p.removed
    }))
  };
  return encodeFloatFile(
    MAGIC,
    header,
    fit.projections.flatMap(p => [p.means, p.coefficients])
  );
}

export function decodeRegression(bytes: Buffer, file: string): RegressionFit {
  const { header, arrays } = decodeFloatFile<RegressionHeader>(
    bytes,
    file,
    MAGIC,
    { what: 'regression', format: FORMAT },
    h =>
      h.projections.flatMap(p => [
        p.inputs,
        (p.inputs - p.removed.length) * p.removed.length
      ])
  );
  return {
    kind: 'regression-fit',
    tokens: header.tokens,
    ridge: header.ridge,
    projections: header.projections.map((p, i) => ({
      layer: p.layer,
      kind: p.kind,
      removed: p.removed,
      means: arrays[2 * i],
      coefficients: arrays[2 * i + 1]
    }))
  };
}

/** The SHA-256 of the file `writeRegressionFile` writes: what names a fit. */
export function regressionSha256(fit: RegressionFit): string {
  return createHash('sha256').update(encodeRegression(fit)).digest('hex');
}

export function writeRegressionFile(file: string, fit: RegressionFit): void {
  aboutFile(file, () => fs.writeFileSync(file, encodeRegression(fit)));
}

export function readRegressionFile(file: string): RegressionFit {
  return decodeRegression(
    aboutFile(file, () => fs.readFileSync(file)),
    file
  );
}
