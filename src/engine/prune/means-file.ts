/**
 * The means a compensated model was made with, stored beside it so `cusprun verify` rebuilds the
 * same reference: a float file (float-file.ts) with the magic `CUSPRUN-MEANS\n`, a header with
 * each layer's widths, then every layer's FFN and attention means in the header's order.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { decodeFloatFile, encodeFloatFile } from './float-file';
import { aboutFile } from '../fs-errors';
import { ProjectionMeans } from './means';

export const MEANS_FILE = 'cusprun-means.bin';
const MAGIC = 'CUSPRUN-MEANS\n';

interface MeansHeader {
  format: 'cusprun-means';
  version: 1;
  tokens: number;
  layers: { index: number; ffn: number; attention: number }[];
}

export function encodeMeans(means: ProjectionMeans): Buffer {
  const header: MeansHeader = {
    format: 'cusprun-means',
    version: 1,
    tokens: means.tokens,
    layers: means.layers.map(l => ({
      index: l.index,
      ffn: l.ffn.length,
      attention: l.attention.length
    }))
  };
  return encodeFloatFile(
    MAGIC,
    header,
    means.layers.flatMap(l => [l.ffn, l.attention])
  );
}

export function decodeMeans(bytes: Buffer, file: string): ProjectionMeans {
  const { header, arrays } = decodeFloatFile<MeansHeader>(
    bytes,
    file,
    MAGIC,
    { what: 'means', format: 'cusprun-means' },
    h => h.layers.flatMap(l => [l.ffn, l.attention])
  );
  return {
    tokens: header.tokens,
    layers: header.layers.map((l, i) => ({
      index: l.index,
      ffn: arrays[2 * i],
      attention: arrays[2 * i + 1]
    }))
  };
}

/** The SHA-256 of the means file `writeMeansFile` writes: what names a set of means. */
export function meansSha256(means: ProjectionMeans): string {
  return createHash('sha256').update(encodeMeans(means)).digest('hex');
}

export function writeMeansFile(file: string, means: ProjectionMeans): void {
  aboutFile(file, () => fs.writeFileSync(file, encodeMeans(means)));
}

export function readMeansFile(file: string): ProjectionMeans {
  return decodeMeans(
    aboutFile(file, () => fs.readFileSync(file)),
    file
  );
}
