/**
 * A model file's skeleton: the model re-encoded without the `raw_data` of its large main-graph
 * initializers, whose bytes stay in the file and are found by their byte position. The file is
 * walked at the protobuf wire level by positioned reads, so loading a model never holds its
 * weights (a whole .onnx file read at once costs as much memory as the weights themselves).
 */
import * as fs from 'node:fs';
import { CusprunError } from '../../core/errors';
import { prefix } from './encode';

/** Inline initializers at least this large are left in the file. */
export const IN_FILE_MIN_BYTES = 1024;

/** Where a large inline initializer's `raw_data` lies in the .onnx file. */
export interface InFileRange {
  offset: number;
  length: number;
}

export interface Skeleton {
  /** The model encoded without the `raw_data` of the initializers in `ranges`. */
  bytes: Uint8Array;
  /** By index in the main graph's initializer list. */
  ranges: Map<number, InFileRange>;
}

const FIELD = { graph: 7, initializer: 5, rawData: 9 } as const;
const WINDOW_BYTES = 64 << 10;

interface Field {
  number: number;
  wire: number;
  /** Offsets of the field's key, of its payload (after a length prefix) and of its end. */
  start: number;
  payload: number;
  end: number;
}

/** Positioned reads through one small window. */
class Reader {
  private window = new Uint8Array(0);
  private windowStart = 0;

  constructor(
    private readonly fd: number,
    readonly size: number,
    private readonly file: string
  ) {}

  private ends(at: number): never {
    throw new CusprunError(
      'truncated',
      `the ONNX file ends early (truncated? ${this.size} bytes; a field needs byte ${at})`,
      this.file
    );
  }

  /** `length` bytes at `at`, a view valid until the next call. */
  view(at: number, length: number): Uint8Array {
    if (at + length > this.size) {
      this.ends(at + length);
    }
    const from = at - this.windowStart;
    if (from < 0 || from + length > this.window.byteLength) {
      this.window = new Uint8Array(
        Math.min(Math.max(length, WINDOW_BYTES), this.size - at)
      );
      fs.readSync(this.fd, this.window, 0, this.window.byteLength, at);
      this.windowStart = at;
      return this.window.subarray(0, length);
    }
    return this.window.subarray(from, from + length);
  }

  /** A varint at `at`: its value and the offset after it. */
  varint(at: number): [number, number] {
    let value = 0;
    let scale = 1;
    for (let i = at; ; i++) {
      const byte = this.view(i, 1)[0];
      value += (byte & 0x7f) * scale;
      scale *= 0x80;
      if (byte < 0x80) {
        return [value, i + 1];
      }
    }
  }

  /** The fields of the message in [from, to). */
  *fields(from: number, to: number): Generator<Field> {
    for (let at = from; at < to;) {
      const [key, after] = this.varint(at);
      const field = { number: Math.floor(key / 8), wire: key % 8, start: at };
      let payload = after;
      let end: number;
      if (field.wire === 0) {
        end = this.varint(after)[1];
      } else if (field.wire === 1 || field.wire === 5) {
        end = after + (field.wire === 1 ? 8 : 4);
      } else if (field.wire === 2) {
        const [length, data] = this.varint(after);
        payload = data;
        end = data + length;
      } else {
        throw new CusprunError(
          'not-onnx',
          `not an ONNX model (protobuf wire type ${field.wire} at byte ${at})`,
          this.file
        );
      }
      if (end > this.size) {
        this.ends(end);
      }
      if (end > to) {
        throw new CusprunError(
          'not-onnx',
          `not an ONNX model (a field at byte ${at} runs past its message)`,
          this.file
        );
      }
      yield { ...field, payload, end };
      at = end;
    }
  }

  copy(f: Field): Uint8Array {
    return this.view(f.start, f.end - f.start).slice();
  }
}

/** A length-delimited field `number` holding `parts`, as pieces. */
function message(number: number, parts: Uint8Array[]): Uint8Array[] {
  const length = parts.reduce((n, p) => n + p.byteLength, 0);
  return [prefix(number, length), ...parts];
}

/** Initializers seen so far (a model may repeat its graph field), and those left in the file. */
interface Found {
  initializers: number;
  ranges: Map<number, InFileRange>;
}

function graphSkeleton(r: Reader, graph: Field, found: Found): Uint8Array[] {
  const parts: Uint8Array[] = [];
  for (const f of r.fields(graph.payload, graph.end)) {
    if (f.number !== FIELD.initializer || f.wire !== 2) {
      parts.push(r.copy(f));
      continue;
    }
    const tensor: Uint8Array[] = [];
    for (const t of r.fields(f.payload, f.end)) {
      const length = t.end - t.payload;
      if (
        t.number === FIELD.rawData &&
        t.wire === 2 &&
        length >= IN_FILE_MIN_BYTES
      ) {
        found.ranges.set(found.initializers, { offset: t.payload, length });
      } else {
        tensor.push(r.copy(t));
      }
    }
    found.initializers += 1;
    parts.push(...message(FIELD.initializer, tensor));
  }
  return message(FIELD.graph, parts);
}

/** Reads the skeleton of `file`; a truncated or non-protobuf file is one clear error. */
export function readSkeleton(file: string): Skeleton {
  const fd = fs.openSync(file, 'r');
  try {
    const r = new Reader(fd, fs.fstatSync(fd).size, file);
    const found: Found = { initializers: 0, ranges: new Map() };
    const parts: Uint8Array[] = [];
    for (const f of r.fields(0, r.size)) {
      parts.push(
        ...(f.number === FIELD.graph && f.wire === 2
          ? graphSkeleton(r, f, found)
          : [r.copy(f)])
      );
    }
    return { bytes: Buffer.concat(parts), ranges: found.ranges };
  } finally {
    fs.closeSync(fd);
  }
}
