/** ONNX TensorProto.DataType codes and conversions between the float formats LLM exports use. */
export enum DataType {
  UNDEFINED = 0,
  FLOAT = 1,
  UINT8 = 2,
  INT8 = 3,
  UINT16 = 4,
  INT16 = 5,
  INT32 = 6,
  INT64 = 7,
  STRING = 8,
  BOOL = 9,
  FLOAT16 = 10,
  DOUBLE = 11,
  UINT32 = 12,
  UINT64 = 13,
  COMPLEX64 = 14,
  COMPLEX128 = 15,
  BFLOAT16 = 16
}

const ELEMENT_BYTES: Partial<Record<DataType, number>> = {
  [DataType.FLOAT]: 4,
  [DataType.UINT8]: 1,
  [DataType.INT8]: 1,
  [DataType.UINT16]: 2,
  [DataType.INT16]: 2,
  [DataType.INT32]: 4,
  [DataType.INT64]: 8,
  [DataType.BOOL]: 1,
  [DataType.FLOAT16]: 2,
  [DataType.DOUBLE]: 8,
  [DataType.UINT32]: 4,
  [DataType.UINT64]: 8,
  [DataType.COMPLEX64]: 8,
  [DataType.COMPLEX128]: 16,
  [DataType.BFLOAT16]: 2
};

/** Bytes per element, or undefined for types without a fixed size (strings, 4-bit types). */
export function elementBytes(dataType: number): number | undefined {
  return ELEMENT_BYTES[dataType as DataType];
}

export function dataTypeName(dataType: number): string {
  return DataType[dataType] ?? `data type ${dataType}`;
}

const LABELS: Partial<Record<DataType, string>> = {
  [DataType.FLOAT]: 'float32',
  [DataType.FLOAT16]: 'float16',
  [DataType.BFLOAT16]: 'bfloat16',
  [DataType.DOUBLE]: 'float64'
};

/** The numpy/torch-style name users know: float32, float16, bfloat16, int64, … */
export function dataTypeLabel(dataType: number): string {
  return LABELS[dataType as DataType] ?? dataTypeName(dataType).toLowerCase();
}

export function isFloatType(dataType: number): boolean {
  return (
    dataType === DataType.FLOAT ||
    dataType === DataType.FLOAT16 ||
    dataType === DataType.BFLOAT16 ||
    dataType === DataType.DOUBLE
  );
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function float16BitsToFloat32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) {
    return sign * fraction * 2 ** -24;
  }
  if (exponent === 0x1f) {
    return fraction ? NaN : sign * Infinity;
  }
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** Round-to-nearest-even conversion, as numpy and torch do it. */
export function float32ToFloat16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  let mantissa = x & 0x7fffff;
  if (exponent === 0xff) {
    return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  }
  const e = exponent - 127 + 15;
  if (e >= 0x1f) {
    return sign | 0x7c00;
  }
  if (e <= 0) {
    if (e < -10) {
      return sign;
    }
    mantissa |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mantissa & ((1 << shift) - 1);
    let result = mantissa >>> shift;
    if (rest > half || (rest === half && result & 1)) {
      result += 1;
    }
    return sign | result;
  }
  let result = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && result & 1)) {
    result += 1; // a carry into the exponent is the correct rounding, up to infinity
  }
  return sign | result;
}

export function bfloat16BitsToFloat32(bits: number): number {
  u32[0] = bits << 16;
  return f32[0];
}

export function float32ToBfloat16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0];
  if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) {
    return (x >>> 16) | 0x40;
  }
  return (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
}

/** Decodes little-endian bytes of a float tensor (fp32, fp16, bf16, fp64) into float32. */
export function bytesToFloat32(
  bytes: Uint8Array,
  dataType: number
): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dataType) {
    case DataType.FLOAT: {
      const out = new Float32Array(bytes.byteLength / 4);
      for (let i = 0; i < out.length; i++) {
        out[i] = view.getFloat32(i * 4, true);
      }
      return out;
    }
    case DataType.FLOAT16:
    case DataType.BFLOAT16: {
      const decode =
        dataType === DataType.FLOAT16
          ? float16BitsToFloat32
          : bfloat16BitsToFloat32;
      const out = new Float32Array(bytes.byteLength / 2);
      for (let i = 0; i < out.length; i++) {
        out[i] = decode(view.getUint16(i * 2, true));
      }
      return out;
    }
    case DataType.DOUBLE: {
      const out = new Float32Array(bytes.byteLength / 8);
      for (let i = 0; i < out.length; i++) {
        out[i] = view.getFloat64(i * 8, true);
      }
      return out;
    }
    default:
      throw new TypeError(`not a float data type: ${dataTypeName(dataType)}`);
  }
}

/** Encodes float32 values as little-endian bytes of the given float type. */
export function float32ToBytes(
  values: ArrayLike<number>,
  dataType: number
): Uint8Array {
  const size = elementBytes(dataType);
  if (size === undefined || !isFloatType(dataType)) {
    throw new TypeError(`not a float data type: ${dataTypeName(dataType)}`);
  }
  const bytes = new Uint8Array(values.length * size);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) {
    if (dataType === DataType.FLOAT) {
      view.setFloat32(i * 4, values[i], true);
    } else if (dataType === DataType.FLOAT16) {
      view.setUint16(i * 2, float32ToFloat16Bits(values[i]), true);
    } else if (dataType === DataType.BFLOAT16) {
      view.setUint16(i * 2, float32ToBfloat16Bits(values[i]), true);
    } else {
      view.setFloat64(i * 8, values[i], true);
    }
  }
  return bytes;
}
