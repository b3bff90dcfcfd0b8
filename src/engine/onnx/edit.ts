/**
 * Building blocks for edited copies of a model: tensors with new contents, and a shallow copy of
 * a proto whose initializers can be replaced by name. The source model is never modified.
 */
import type { TensorBytes } from './encode';
import {
  DATA_LOCATION_EXTERNAL,
  GraphProto,
  ModelProto,
  TensorProto
} from './proto';

/** Producers of the tensors made by `producedTensor`, by identity. */
const producers = new WeakMap<TensorProto, TensorBytes>();

/**
 * A tensor like `like` (name, type) with new dims, whose bytes are produced on demand and never
 * held whole: saving or encoding a model streams them into the output chunk by chunk.
 */
export function producedTensor(
  like: TensorProto,
  dims: number[],
  bytes: TensorBytes
): TensorProto {
  const tensor = { ...tensorWithoutData(like), dims: dims.map(BigInt) };
  producers.set(tensor, bytes);
  return tensor;
}

/** The producer of a tensor made by `producedTensor`. */
export function producerOf(tensor: TensorProto): TensorBytes | undefined {
  return producers.get(tensor);
}

/** A new tensor holding `bytes` (little-endian) inline. */
export function inlineTensor(
  name: string,
  dataType: number,
  dims: number[],
  bytes: Uint8Array
): TensorProto {
  return {
    name,
    dims: dims.map(BigInt),
    data_type: dataType,
    raw_data: bytes,
    float_data: [],
    int32_data: [],
    int64_data: [],
    double_data: [],
    uint64_data: [],
    string_data: [],
    external_data: []
  };
}

/** A new tensor whose bytes lie in an external-data file, at `offset` (default 0). */
export function externalTensor(
  name: string,
  dataType: number,
  dims: number[],
  where: { location: string; offset?: number; length: number }
): TensorProto {
  return {
    ...inlineTensor(name, dataType, dims, new Uint8Array(0)),
    raw_data: undefined,
    data_location: DATA_LOCATION_EXTERNAL,
    external_data: [
      { key: 'location', value: where.location },
      ...(where.offset !== undefined
        ? [{ key: 'offset', value: String(where.offset) }]
        : []),
      { key: 'length', value: String(where.length) }
    ]
  };
}

/** A copy of `tensor` with no data anywhere: no inline fields, no external-data record. */
export function tensorWithoutData(tensor: TensorProto): TensorProto {
  return {
    ...tensor,
    raw_data: undefined,
    float_data: [],
    int32_data: [],
    int64_data: [],
    double_data: [],
    uint64_data: [],
    data_location: undefined,
    external_data: []
  };
}

/** A copy of `tensor` holding `bytes` inline, with new dims when given. */
export function tensorWithData(
  tensor: TensorProto,
  bytes: Uint8Array,
  dims?: number[]
): TensorProto {
  return {
    ...tensorWithoutData(tensor),
    dims: (dims ?? tensor.dims.map(Number)).map(BigInt),
    raw_data: bytes
  };
}

/** A copy of the model whose main-graph initializers are replaced by name. */
export function withInitializers(
  proto: ModelProto,
  replacements: Map<string, TensorProto>
): ModelProto {
  const graph = proto.graph as GraphProto;
  return {
    ...proto,
    graph: {
      ...graph,
      initializer: graph.initializer.map(
        t => replacements.get(t.name ?? '') ?? t
      )
    }
  };
}
