/** Shape, size and in-message bytes of a TensorProto, whatever field the exporter used. */
import { DataType, dataTypeName, elementBytes } from './dtype';
import { TensorProto, toNumber } from './proto';

export function tensorDims(tensor: TensorProto): number[] {
  return tensor.dims.map(d => toNumber(d));
}

export function elementCount(dims: number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/** The byte size the tensor's shape and type call for; undefined for variable-size types. */
export function expectedByteLength(tensor: TensorProto): number | undefined {
  const size = elementBytes(tensor.data_type ?? 0);
  return size === undefined
    ? undefined
    : size * elementCount(tensorDims(tensor));
}

/**
 * Bytes stored inside the message (raw_data or a typed field), little-endian, copied into a
 * fresh buffer: raw_data can sit at any offset of the decoded file, so views need a copy.
 */
export function inlineBytes(tensor: TensorProto): Uint8Array {
  if (tensor.raw_data && tensor.raw_data.byteLength > 0) {
    return new Uint8Array(tensor.raw_data);
  }
  const dataType = tensor.data_type ?? 0;
  const count = elementCount(tensorDims(tensor));
  const size = elementBytes(dataType);
  if (size === undefined) {
    throw new TypeError(
      `tensor '${tensor.name ?? ''}' of type ${dataTypeName(dataType)} has no fixed-size bytes`
    );
  }
  const out = new Uint8Array(count * size);
  const view = new DataView(out.buffer);
  switch (dataType) {
    case DataType.FLOAT:
    case DataType.COMPLEX64:
      tensor.float_data.forEach((v, i) => view.setFloat32(i * 4, v, true));
      break;
    case DataType.DOUBLE:
    case DataType.COMPLEX128:
      tensor.double_data.forEach((v, i) => view.setFloat64(i * 8, v, true));
      break;
    case DataType.INT64:
      tensor.int64_data.forEach((v, i) => view.setBigInt64(i * 8, v, true));
      break;
    case DataType.UINT64:
      tensor.uint64_data.forEach((v, i) => view.setBigUint64(i * 8, v, true));
      break;
    case DataType.UINT32:
      tensor.uint64_data.forEach((v, i) =>
        view.setUint32(i * 4, Number(v), true)
      );
      break;
    case DataType.INT32:
      tensor.int32_data.forEach((v, i) => view.setInt32(i * 4, v, true));
      break;
    case DataType.INT16:
      tensor.int32_data.forEach((v, i) => view.setInt16(i * 2, v, true));
      break;
    case DataType.UINT16:
    case DataType.FLOAT16:
    case DataType.BFLOAT16:
      // fp16 and bf16 keep their bit patterns in int32_data when not in raw_data.
      tensor.int32_data.forEach((v, i) => view.setUint16(i * 2, v, true));
      break;
    case DataType.INT8:
      tensor.int32_data.forEach((v, i) => view.setInt8(i, v));
      break;
    case DataType.UINT8:
    case DataType.BOOL:
      tensor.int32_data.forEach((v, i) => view.setUint8(i, v));
      break;
    default:
      throw new TypeError(
        `tensor '${tensor.name ?? ''}': unsupported ${dataTypeName(dataType)}`
      );
  }
  return out;
}

/** Byte length of the data stored inside the message, to check it against the shape. */
export function inlineByteLength(tensor: TensorProto): number {
  if (tensor.raw_data && tensor.raw_data.byteLength > 0) {
    return tensor.raw_data.byteLength;
  }
  const size = elementBytes(tensor.data_type ?? 0) ?? 0;
  const stored =
    tensor.float_data.length +
    tensor.double_data.length +
    tensor.int32_data.length +
    tensor.int64_data.length +
    tensor.uint64_data.length;
  return stored * size;
}

/** Reads integer tensor bytes (int32/int64) as numbers, for shapes and indices. */
export function bytesToInts(bytes: Uint8Array, dataType: number): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: number[] = [];
  if (dataType === DataType.INT64) {
    for (let i = 0; i < bytes.byteLength; i += 8) {
      out.push(Number(view.getBigInt64(i, true)));
    }
  } else if (dataType === DataType.INT32) {
    for (let i = 0; i < bytes.byteLength; i += 4) {
      out.push(view.getInt32(i, true));
    }
  } else {
    throw new TypeError(`not an integer tensor: ${dataTypeName(dataType)}`);
  }
  return out;
}
