/**
 * The means a compensated model was made with, stored beside it so `cusprun verify` rebuilds the
 * same reference: the magic `CUSPRUN-MEANS\n` (what marks the file as cusprun's), a uint32 (LE)
 * length, a JSON header with each layer's widths, then every layer's FFN and attention means as
 * float32 little-endian, in the header's order.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { CusprunError } from '../../core/errors';
import { aboutFile } from '../fs-errors';
import { ProjectionMeans } from './means';

export const MEANS_FILE = 'cusprun-means.bin';
const MAGIC = Buffer.from('CUSPRUN-MEANS\n', 'latin1');

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
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32LE(json.length);
  const values = means.layers.flatMap(l => [l.ffn, l.attention]);
  const data = values.map(v => {
    const bytes = Buffer.alloc(v.length * 4);
    v.forEach((x, i) => bytes.writeFloatLE(x, i * 4));
    return bytes;
  });
  return Buffer.concat([MAGIC, length, json, ...data]);
}

function parseHeader(bytes: Buffer): MeansHeader | undefined {
  try {
    const header = JSON.parse(bytes.toString('utf8')) as MeansHeader;
    return Array.isArray(header.layers) ? header : undefined;
  } catch {
    return undefined;
  }
}

export function decodeMeans(bytes: Buffer, file: string): ProjectionMeans {
  const bad = (why: string) =>
    new CusprunError(
      'bad-argument',
      `not a means file written by 'cusprun prune' (${why})`,
      file
    );
  if (
    bytes.length < MAGIC.length + 4 ||
    !bytes.subarray(0, MAGIC.length).equals(MAGIC)
  ) {
    throw bad('no cusprun header');
  }
  let at = MAGIC.length;
  const length = bytes.readUInt32LE(at);
  at += 4;
  const header = parseHeader(bytes.subarray(at, at + length));
  if (!header) {
    throw bad('its header is not readable');
  }
  at += length;
  if (header.format !== 'cusprun-means' || header.version !== 1) {
    throw bad(`format '${header.format}' version ${header.version}`);
  }
  const floats = (count: number) => {
    if (at + count * 4 > bytes.length) {
      throw bad('it ends early');
    }
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++, at += 4) {
      out[i] = bytes.readFloatLE(at);
    }
    return out;
  };
  const layers = header.layers.map(l => ({
    index: l.index,
    ffn: floats(l.ffn),
    attention: floats(l.attention)
  }));
  if (at !== bytes.length) {
    throw bad('it has bytes past its means');
  }
  return { tokens: header.tokens, layers };
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
