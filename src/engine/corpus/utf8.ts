/** Strict UTF-8 reading: a file that is not valid UTF-8 is an error naming the byte offset. */
import * as fs from 'node:fs';
import { CusprunError } from '../../core/errors';

const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * The byte offset of the first byte that does not start or continue a valid UTF-8 sequence
 * (overlong forms, surrogates and code points past U+10FFFF included), or -1 when all are valid.
 */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i];
    if (b < 0x80) {
      i += 1;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) {
      need = 1;
    } else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      if (b === 0xe0) lo = 0xa0; // overlong
      if (b === 0xed) hi = 0x9f; // surrogates
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      if (b === 0xf0) lo = 0x90; // overlong
      if (b === 0xf4) hi = 0x8f; // past U+10FFFF
    } else {
      return i;
    }
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if (c === undefined) {
        return i; // truncated sequence at the end of the file
      }
      if (k === 1 ? c < lo || c > hi : c < 0x80 || c > 0xbf) {
        return i;
      }
    }
    i += need + 1;
  }
  return -1;
}

/** Decodes bytes as UTF-8 (a leading BOM is dropped); `file` names them in the error. */
export function decodeUtf8(bytes: Uint8Array, file: string): string {
  try {
    return decoder.decode(bytes);
  } catch {
    const offset = firstInvalidUtf8(bytes);
    const where =
      offset < 0
        ? ''
        : ` (byte 0x${bytes[offset].toString(16).padStart(2, '0')} at byte offset ${offset})`;
    throw new CusprunError(
      'bad-argument',
      `not valid UTF-8${where}; save the file as UTF-8`,
      file
    );
  }
}

/** Reads a whole file as strict UTF-8. */
export function readUtf8File(file: string): string {
  return decodeUtf8(fs.readFileSync(file), file);
}
