/**
 * The ONNX protobuf schema, loaded from the official onnx.proto (vendored from the `onnx` wheel,
 * Apache-2.0), and typed views of the messages the engine reads and edits. Decoding keeps every
 * field the schema knows, so an unedited model encodes back byte for byte.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as protobuf from 'protobufjs';

/** int64 fields decode as bigint so that values like INT64_MAX in Slice ends survive. */
export type Int64 = bigint;

export interface StringStringEntryProto {
  key: string;
  value: string;
}

export interface TensorProto {
  dims: Int64[];
  data_type?: number;
  name?: string;
  raw_data?: Uint8Array;
  float_data: number[];
  int32_data: number[];
  int64_data: Int64[];
  double_data: number[];
  uint64_data: Int64[];
  string_data: Uint8Array[];
  data_location?: number;
  external_data: StringStringEntryProto[];
  [field: string]: unknown;
}

export interface AttributeProto {
  name: string;
  type?: number;
  f?: number;
  i?: Int64;
  s?: Uint8Array;
  t?: TensorProto;
  g?: GraphProto;
  floats: number[];
  ints: Int64[];
  strings: Uint8Array[];
  tensors: TensorProto[];
  graphs: GraphProto[];
  [field: string]: unknown;
}

export interface NodeProto {
  input: string[];
  output: string[];
  name?: string;
  op_type: string;
  domain?: string;
  attribute: AttributeProto[];
  metadata_props: StringStringEntryProto[];
  [field: string]: unknown;
}

export interface TensorShapeDimension {
  dim_value?: Int64;
  dim_param?: string;
}

export interface TypeProto {
  tensor_type?: {
    elem_type?: number;
    shape?: { dim: TensorShapeDimension[] };
  };
  [field: string]: unknown;
}

export interface ValueInfoProto {
  name: string;
  type?: TypeProto;
  [field: string]: unknown;
}

export interface GraphProto {
  name?: string;
  node: NodeProto[];
  initializer: TensorProto[];
  input: ValueInfoProto[];
  output: ValueInfoProto[];
  value_info: ValueInfoProto[];
  [field: string]: unknown;
}

export interface OperatorSetIdProto {
  domain?: string;
  version?: Int64;
}

export interface ModelProto {
  ir_version?: Int64;
  opset_import: OperatorSetIdProto[];
  producer_name?: string;
  producer_version?: string;
  graph?: GraphProto;
  metadata_props: StringStringEntryProto[];
  functions: unknown[];
  [field: string]: unknown;
}

export enum AttributeType {
  FLOAT = 1,
  INT = 2,
  STRING = 3,
  TENSOR = 4,
  GRAPH = 5,
  FLOATS = 6,
  INTS = 7,
  STRINGS = 8,
  TENSORS = 9,
  GRAPHS = 10
}

export const DATA_LOCATION_EXTERNAL = 1;

let onnxRoot: protobuf.Root | undefined;

/** A message type of the ONNX schema, e.g. `ModelProto`. */
export function onnxType(name: string): protobuf.Type {
  if (!onnxRoot) {
    const source = fs.readFileSync(path.join(__dirname, 'onnx.proto'), 'utf8');
    onnxRoot = protobuf.parse(source, { keepCase: true }).root;
  }
  return onnxRoot.lookupType(`onnx.${name}`);
}

/** Throws protobufjs's own errors; callers turn them into messages about their file. */
export function decodeModel(bytes: Uint8Array): ModelProto {
  const type = onnxType('ModelProto');
  const message = type.decode(bytes);
  return type.toObject(message, { longs: BigInt, arrays: true }) as ModelProto;
}

export function encodeModel(model: ModelProto): Uint8Array {
  const type = onnxType('ModelProto');
  return type.encode(type.fromObject(model)).finish();
}

export function toNumber(value: Int64 | number | undefined): number {
  if (value === undefined) {
    return 0;
  }
  const n = Number(value);
  if (!Number.isSafeInteger(n)) {
    throw new RangeError(
      `int64 value ${value} does not fit a JavaScript number`
    );
  }
  return n;
}
