/** A model's identity for a score store: a SHA-256 over the model file and its external data. */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OnnxModel } from '../onnx/model';

export interface ModelIdentity {
  /** The .onnx file scored (informational: a moved model keeps its identity). */
  file: string;
  /** SHA-256 of the .onnx file's bytes, then of each external-data file's, in name order. */
  sha256: string;
  /** Total bytes hashed. */
  bytes: number;
}

const CHUNK = 8 << 20;

function hashFile(hash: crypto.Hash, file: string): number {
  const fd = fs.openSync(file, 'r');
  const buffer = new Uint8Array(CHUNK);
  let total = 0;
  try {
    for (;;) {
      const n = fs.readSync(fd, buffer, 0, CHUNK, total);
      if (n === 0) {
        return total;
      }
      hash.update(buffer.subarray(0, n));
      total += n;
    }
  } finally {
    fs.closeSync(fd);
  }
}

export function modelIdentity(model: OnnxModel): ModelIdentity {
  const hash = crypto.createHash('sha256');
  let bytes = hashFile(hash, model.file);
  const sides = model
    .externalDataFiles()
    .map(f => [path.relative(model.dir, f), f] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [name, file] of sides) {
    hash.update(`\0${name}\0`);
    bytes += hashFile(hash, file);
  }
  return { file: model.file, sha256: hash.digest('hex'), bytes };
}
