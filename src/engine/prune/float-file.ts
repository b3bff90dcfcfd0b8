/**
 * cusprun's binary files of float32 arrays beside a pruned model (its means, its regression
 * fit): a magic line (what marks the file as cusprun's), a uint32 (LE) length, a JSON header,
 * then float32 little-endian arrays whose lengths the header gives, in its order.
 */
import { CusprunError } from '../../core/errors';

export function encodeFloatFile(
  magic: string,
  header: object,
  arrays: ArrayLike<number>[]
): Buffer {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32LE(json.length);
  const data = arrays.map(v => {
    const bytes = Buffer.alloc(v.length * 4);
    for (let i = 0; i < v.length; i++) {
      bytes.writeFloatLE(v[i], i * 4);
    }
    return bytes;
  });
  return Buffer.concat([Buffer.from(magic, 'latin1'), length, json, ...data]);
}

/** What every header has: the file's format and version. */
export interface FloatFileHeader {
  format: string;
  version: number;
}

/**
 * The header and arrays of a file `encodeFloatFile` wrote, of `format` version 1; `lengths`
 * reads the arrays' lengths from the header (it may throw on one it cannot read).
 */
export function decodeFloatFile<H extends FloatFileHeader>(
  bytes: Buffer,
  file: string,
  magic: string,
  { what, format }: { what: string; format: string },
  lengths: (header: H) => number[]
): { header: H; arrays: Float32Array[] } {
  const bad = (why: string) =>
    new CusprunError(
      'bad-argument',
      `not a ${what} file written by 'cusprun prune' (${why})`,
      file
    );
  const mark = Buffer.from(magic, 'latin1');
  if (
    bytes.length < mark.length + 4 ||
    !bytes.subarray(0, mark.length).equals(mark)
  ) {
    throw bad('no cusprun header');
  }
  let at = mark.length;
  const length = bytes.readUInt32LE(at);
  at += 4;
  let header: H;
  try {
    header = JSON.parse(bytes.subarray(at, at + length).toString('utf8')) as H;
  } catch {
    throw bad('its header is not readable');
  }
  if (header?.format !== format || header.version !== 1) {
    throw bad(`format '${header?.format}' version ${header?.version}`);
  }
  let counts: number[];
  try {
    counts = lengths(header);
  } catch {
    throw bad('its header is not readable');
  }
  at += length;
  const arrays = counts.map(count => {
    if (at + count * 4 > bytes.length) {
      throw bad('it ends early');
    }
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++, at += 4) {
      out[i] = bytes.readFloatLE(at);
    }
    return out;
  });
  if (at !== bytes.length) {
    throw bad('it has bytes past its values');
  }
  return { header, arrays };
}
