/**
 * Encodes a model piece by piece, so that no buffer ever holds the whole model or a whole
 * tensor: the main graph's initializers get their bytes from a producer that writes them into
 * the sink chunk by chunk (read from the source file, or sliced on the fly). The layout is the
 * one protobufjs writes — fields in the order of their numbers — so a model whose tensors are
 * all plain `raw_data` encodes to exactly the bytes of `encodeModel`.
 */
import * as protobuf from 'protobufjs';
import { tensorWithoutData } from './edit';
import { GraphProto, ModelProto, onnxType, TensorProto } from './proto';

export type Sink = (chunk: Uint8Array) => void;

/** A tensor's bytes, produced on demand: `stream` calls the sink with consecutive chunks. */
export interface TensorBytes {
  length: number;
  stream(sink: Sink): void;
}

/** An encoded model: its size, known before any tensor byte is produced, and its writer. */
export interface ModelEncoding {
  byteLength: number;
  write(sink: Sink): void;
}

type Piece = Uint8Array | TensorBytes;

/** Streams a tensor's bytes; a producer that writes other than it promised is a bug. */
export function streamChecked(bytes: TensorBytes, sink: Sink): void {
  let written = 0;
  bytes.stream(chunk => {
    written += chunk.byteLength;
    sink(chunk);
  });
  if (written !== bytes.length) {
    throw new Error(
      `a tensor producer wrote ${written} bytes instead of ${bytes.length}`
    );
  }
}

const FIELD = { graph: 7, initializer: 5, rawData: 9 } as const;

function varint(value: number): Uint8Array {
  const out: number[] = [];
  let rest = value;
  while (rest >= 0x80) {
    out.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  out.push(rest);
  return Uint8Array.from(out);
}

/** The key and length prefix of a length-delimited field (wire type 2). */
export function prefix(field: number, length: number): Uint8Array {
  const key = varint(field * 8 + 2);
  const size = varint(length);
  const out = new Uint8Array(key.length + size.length);
  out.set(key);
  out.set(size, key.length);
  return out;
}

/** The message's fields numbered below `field`, and those above it, each encoded alone. */
function around(
  type: protobuf.Type,
  message: object,
  field: number
): [Uint8Array, Uint8Array] {
  const part = (keep: (id: number) => boolean) => {
    const picked: Record<string, unknown> = {};
    for (const f of type.fieldsArray) {
      if (keep(f.id)) {
        picked[f.name] = (message as Record<string, unknown>)[f.name];
      }
    }
    return type.encode(type.fromObject(picked)).finish();
  };
  return [part(id => id < field), part(id => id > field)];
}

const lengthOf = (pieces: Piece[]) =>
  pieces.reduce((sum, p) => sum + p.length, 0);

/** One initializer as the pieces of its GraphProto field. */
function initializerPieces(
  tensor: TensorProto,
  raw: TensorBytes | undefined
): Piece[] {
  const type = onnxType('TensorProto');
  if (!raw || raw.length === 0) {
    const whole = type.encode(type.fromObject(tensor)).finish();
    return [prefix(FIELD.initializer, whole.length), whole];
  }
  const [before, after] = around(
    type,
    tensorWithoutData(tensor),
    FIELD.rawData
  );
  const body = [before, prefix(FIELD.rawData, raw.length), raw, after];
  return [prefix(FIELD.initializer, lengthOf(body)), ...body];
}

/**
 * Lays out `proto`. `raw(tensor)` gives the bytes a main-graph initializer is to carry as
 * `raw_data` (its data fields are then ignored), or undefined to encode it as it is.
 */
export function encodeStreaming(
  proto: ModelProto,
  raw: (tensor: TensorProto) => TensorBytes | undefined
): ModelEncoding {
  const graph = proto.graph as GraphProto;
  const [graphBefore, graphAfter] = around(
    onnxType('GraphProto'),
    graph,
    FIELD.initializer
  );
  const graphPieces: Piece[] = [
    graphBefore,
    ...graph.initializer.flatMap(t => initializerPieces(t, raw(t))),
    graphAfter
  ];
  const [modelBefore, modelAfter] = around(
    onnxType('ModelProto'),
    proto,
    FIELD.graph
  );
  const pieces: Piece[] = [
    modelBefore,
    prefix(FIELD.graph, lengthOf(graphPieces)),
    ...graphPieces,
    modelAfter
  ];
  return {
    byteLength: lengthOf(pieces),
    write(sink: Sink): void {
      for (const piece of pieces) {
        if (piece instanceof Uint8Array) {
          sink(piece);
        } else {
          streamChecked(piece, sink);
        }
      }
    }
  };
}
