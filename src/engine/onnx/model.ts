/**
 * An ONNX model on disk: the decoded proto plus lazy access to its tensors' bytes, and a
 * crash-safe writer (temp files, then rename) that never writes over its own input.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CusprunError } from '../errors';
import { tensorWithoutData } from './edit';
import { bytesToFloat32 } from './dtype';
import {
  ExternalDataFiles,
  ExternalRecord,
  externalRecord,
  isExternal
} from './external';
import {
  AttributeProto,
  DATA_LOCATION_EXTERNAL,
  decodeModel,
  encodeModel,
  GraphProto,
  ModelProto,
  NodeProto,
  TensorProto
} from './proto';
import {
  bytesToInts,
  expectedByteLength,
  inlineByteLength,
  inlineBytes
} from './tensor';

export interface SaveOptions {
  /**
   * Where initializers' bytes go: `'auto'` keeps the source's choice (external if it used
   * external data), `true` moves initializers of at least `sizeThreshold` bytes to a data file
   * beside the model, `false` stores everything inside the model file.
   */
  externalData?: 'auto' | boolean;
  sizeThreshold?: number;
}

const COPY_CHUNK_BYTES = 8 << 20;
/** Protobuf cannot encode or parse a message of 2 GiB or more. */
const PROTOBUF_LIMIT = 2 ** 31 - 1;
const EXTERNAL_ALIGNMENT = 64;
export const DEFAULT_MODEL_FILE = 'model.onnx';

/** Resolves a model folder or file to the .onnx file to load. */
export function resolveModelFile(fileOrDir: string): string {
  const resolved = path.resolve(fileOrDir);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(resolved);
  } catch {
    throw new CusprunError('not-found', 'no such file or folder', fileOrDir);
  }
  if (stat.isFile()) {
    return resolved;
  }
  const candidate = path.join(resolved, DEFAULT_MODEL_FILE);
  if (fs.existsSync(candidate)) {
    return candidate;
  }
  const onnxFiles = fs.readdirSync(resolved).filter(f => f.endsWith('.onnx'));
  if (onnxFiles.length === 1) {
    return path.join(resolved, onnxFiles[0]);
  }
  throw new CusprunError(
    'not-found',
    onnxFiles.length === 0
      ? `the folder holds no ${DEFAULT_MODEL_FILE} (nor any other .onnx file)`
      : `the folder holds no ${DEFAULT_MODEL_FILE} and several .onnx files (${onnxFiles.join(', ')}); name one`,
    fileOrDir
  );
}

function decodeOrExplain(bytes: Uint8Array, file: string): ModelProto {
  let proto: ModelProto;
  try {
    proto = decodeModel(bytes);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    if (/index out of range/i.test(reason)) {
      throw new CusprunError(
        'truncated',
        `the ONNX file ends early (truncated? ${bytes.byteLength} bytes)`,
        file
      );
    }
    throw new CusprunError(
      'not-onnx',
      `not an ONNX model (protobuf decoding failed: ${reason})`,
      file
    );
  }
  if (!proto.graph || proto.graph.node.length === 0 || !proto.ir_version) {
    throw new CusprunError(
      'not-onnx',
      'not an ONNX model (it decodes, but has no IR version or no graph nodes)',
      file
    );
  }
  return proto;
}

/** Every tensor a graph holds: initializers and tensor attributes, nested graphs included. */
function* graphTensors(graph: GraphProto): Generator<TensorProto> {
  yield* graph.initializer;
  for (const node of graph.node) {
    for (const attribute of node.attribute) {
      if (attribute.t) {
        yield attribute.t;
      }
      yield* attribute.tensors;
      if (attribute.g) {
        yield* graphTensors(attribute.g);
      }
      for (const sub of attribute.graphs) {
        yield* graphTensors(sub);
      }
    }
  }
}

/** A copy of the graph with each tensor replaced by `map(tensor, isInitializer)`. */
function mapGraphTensors(
  graph: GraphProto,
  map: (tensor: TensorProto, isInitializer: boolean) => TensorProto
): GraphProto {
  const mapAttribute = (attribute: AttributeProto): AttributeProto => ({
    ...attribute,
    ...(attribute.t ? { t: map(attribute.t, false) } : {}),
    ...(attribute.g ? { g: mapGraphTensors(attribute.g, map) } : {}),
    tensors: attribute.tensors.map(t => map(t, false)),
    graphs: attribute.graphs.map(g => mapGraphTensors(g, map))
  });
  const mapNode = (node: NodeProto): NodeProto =>
    node.attribute.some(a => a.t || a.g || a.tensors.length || a.graphs.length)
      ? { ...node, attribute: node.attribute.map(mapAttribute) }
      : node;
  return {
    ...graph,
    initializer: graph.initializer.map(t => map(t, true)),
    node: graph.node.map(mapNode)
  };
}

export class OnnxModel {
  /** Absolute path of the .onnx file. */
  readonly file: string;
  readonly proto: ModelProto;
  private readonly external: ExternalDataFiles;
  private initializerIndex: Map<string, TensorProto> | undefined;

  private constructor(file: string, proto: ModelProto) {
    this.file = file;
    this.proto = proto;
    this.external = new ExternalDataFiles(file);
  }

  /**
   * Decodes the model file and checks that every tensor's bytes are present (inline or in its
   * external-data file) without reading external data.
   */
  static load(fileOrDir: string): OnnxModel {
    const file = resolveModelFile(fileOrDir);
    const model = new OnnxModel(
      file,
      decodeOrExplain(fs.readFileSync(file), file)
    );
    try {
      model.checkTensors();
    } catch (error) {
      model.close();
      throw error;
    }
    return model;
  }

  get graph(): GraphProto {
    return this.proto.graph as GraphProto;
  }

  get dir(): string {
    return path.dirname(this.file);
  }

  /** Initializers of the main graph by name. */
  get initializers(): Map<string, TensorProto> {
    if (!this.initializerIndex) {
      this.initializerIndex = new Map(
        this.graph.initializer.map(t => [t.name ?? '', t])
      );
    }
    return this.initializerIndex;
  }

  hasExternalData(): boolean {
    for (const tensor of graphTensors(this.graph)) {
      if (isExternal(tensor)) {
        return true;
      }
    }
    return false;
  }

  /** The side files this model reads, as absolute paths. */
  externalDataFiles(): string[] {
    const files = new Set<string>();
    for (const tensor of graphTensors(this.graph)) {
      if (isExternal(tensor)) {
        files.add(
          path.join(this.dir, externalRecord(tensor, this.file).location)
        );
      }
    }
    return [...files];
  }

  private checkTensors(): void {
    for (const tensor of graphTensors(this.graph)) {
      const expected = expectedByteLength(tensor);
      const name = tensor.name ?? '';
      if (isExternal(tensor)) {
        this.external.check(externalRecord(tensor, this.file), name, expected);
      } else if (
        expected !== undefined &&
        inlineByteLength(tensor) !== expected
      ) {
        throw new CusprunError(
          'truncated',
          `tensor '${name}' holds ${inlineByteLength(tensor)} bytes but its shape and type need ${expected} (truncated or corrupt)`,
          this.file
        );
      }
    }
  }

  private record(tensor: TensorProto): ExternalRecord {
    return externalRecord(tensor, this.file);
  }

  /** Byte length of a tensor's data wherever it is stored. */
  byteLength(tensor: TensorProto): number {
    return isExternal(tensor)
      ? this.external.check(this.record(tensor), tensor.name ?? '', undefined)
      : inlineByteLength(tensor);
  }

  /** The tensor's bytes, little-endian, in a fresh aligned buffer. */
  bytes(tensor: TensorProto): Uint8Array {
    return isExternal(tensor)
      ? this.slice(tensor, 0, this.byteLength(tensor))
      : inlineBytes(tensor);
  }

  /** A byte range of the tensor's data; external data is read from disk for just that range. */
  slice(
    tensor: TensorProto,
    byteOffset: number,
    byteLength: number
  ): Uint8Array {
    if (isExternal(tensor)) {
      return this.external.read(
        this.record(tensor),
        byteOffset,
        new Uint8Array(byteLength)
      );
    }
    if (tensor.raw_data && tensor.raw_data.byteLength > 0) {
      return tensor.raw_data.slice(byteOffset, byteOffset + byteLength);
    }
    return inlineBytes(tensor).slice(byteOffset, byteOffset + byteLength);
  }

  /** A float tensor (fp32, fp16, bf16, fp64) as float32 values. */
  float32(tensor: TensorProto): Float32Array {
    return bytesToFloat32(this.bytes(tensor), tensor.data_type ?? 0);
  }

  /** An int32/int64 tensor as numbers. */
  ints(tensor: TensorProto): number[] {
    return bytesToInts(this.bytes(tensor), tensor.data_type ?? 0);
  }

  /**
   * Writes `proto` (this model, or an edited copy of its proto whose unedited tensors still
   * point into this model's data) to `outFile`. Bytes of external tensors are streamed from the
   * source data file in chunks. Both files are written under temporary names and renamed into
   * place, so a crash leaves no half-written model.
   */
  save(
    outFile: string,
    options: SaveOptions = {},
    proto: ModelProto = this.proto
  ): void {
    const target = path.resolve(outFile);
    const dataName = `${path.basename(target)}_data`;
    const dataPath = path.join(path.dirname(target), dataName);
    const inputs = [this.file, ...this.externalDataFiles()];
    for (const written of [target, dataPath]) {
      if (inputs.includes(written)) {
        throw new CusprunError(
          'would-overwrite',
          'refusing to write over the input model; choose another output path',
          written
        );
      }
    }
    const mode = options.externalData ?? 'auto';
    const externalize = mode === 'auto' ? this.hasExternalData() : mode;
    const threshold = options.sizeThreshold ?? 1024;
    const suffix = `.tmp-${process.pid}-${Date.now()}`;
    const tmpModel = target + suffix;
    const tmpData = dataPath + suffix;
    fs.mkdirSync(path.dirname(target), { recursive: true });
    let dataFd: number | undefined;
    let dataOffset = 0;
    let copyBuffer: Uint8Array | undefined;
    try {
      const toFile = (tensor: TensorProto): TensorProto => {
        if (dataFd === undefined) {
          dataFd = fs.openSync(tmpData, 'w');
        }
        const padding =
          (EXTERNAL_ALIGNMENT - (dataOffset % EXTERNAL_ALIGNMENT)) %
          EXTERNAL_ALIGNMENT;
        if (padding) {
          fs.writeSync(dataFd, new Uint8Array(padding), 0, padding, dataOffset);
          dataOffset += padding;
        }
        const offset = dataOffset;
        const length = this.byteLength(tensor);
        if (isExternal(tensor)) {
          // Stream from the source file through one reused buffer.
          copyBuffer ??= new Uint8Array(COPY_CHUNK_BYTES);
          for (let done = 0; done < length; done += COPY_CHUNK_BYTES) {
            const chunk = this.external.read(
              this.record(tensor),
              done,
              copyBuffer.subarray(0, Math.min(COPY_CHUNK_BYTES, length - done))
            );
            fs.writeSync(dataFd, chunk, 0, chunk.byteLength, offset + done);
          }
        } else {
          const bytes = tensor.raw_data?.byteLength
            ? tensor.raw_data
            : inlineBytes(tensor);
          fs.writeSync(dataFd, bytes, 0, bytes.byteLength, offset);
        }
        dataOffset += length;
        return {
          ...tensorWithoutData(tensor),
          data_location: DATA_LOCATION_EXTERNAL,
          external_data: [
            { key: 'location', value: dataName },
            { key: 'offset', value: String(offset) },
            { key: 'length', value: String(length) }
          ]
        };
      };
      const place = (
        tensor: TensorProto,
        isInitializer: boolean
      ): TensorProto => {
        const size = this.byteLength(tensor);
        if (
          externalize &&
          (isExternal(tensor) || (isInitializer && size >= threshold))
        ) {
          return toFile(tensor);
        }
        return this.inlined(tensor);
      };
      const graph = mapGraphTensors(proto.graph as GraphProto, place);
      const bytes = encodeModel({ ...proto, graph });
      if (dataFd !== undefined) {
        fs.fsyncSync(dataFd);
        fs.closeSync(dataFd);
        dataFd = undefined;
        fs.renameSync(tmpData, dataPath);
      }
      fs.writeFileSync(tmpModel, bytes);
      fs.renameSync(tmpModel, target);
    } catch (error) {
      if (dataFd !== undefined) {
        fs.closeSync(dataFd);
      }
      fs.rmSync(tmpData, { force: true });
      fs.rmSync(tmpModel, { force: true });
      throw error;
    }
  }

  /** The tensor with its bytes inside it (external bytes read into `raw_data`). */
  private inlined(tensor: TensorProto): TensorProto {
    return isExternal(tensor)
      ? { ...tensorWithoutData(tensor), raw_data: this.bytes(tensor) }
      : tensor;
  }

  /**
   * `proto` (this model, or an edited copy of its proto whose unedited tensors still point into
   * this model's data) encoded with every tensor's bytes inline, so that it can run from memory
   * with no file written. Protobuf caps a model at 2 GiB: a larger one must be saved with
   * external data and run from its file.
   */
  encodeInline(proto: ModelProto = this.proto): Uint8Array {
    const graph = proto.graph as GraphProto;
    let tensorBytes = 0;
    for (const tensor of graphTensors(graph)) {
      tensorBytes += this.byteLength(tensor);
    }
    // Checked before reading any external data, so a model too large is refused at no cost.
    const refuse = (bytes: number) => {
      throw new CusprunError(
        'unsupported',
        `the model needs ${(bytes / 2 ** 30).toFixed(2)} GiB inline, more than protobuf's 2 GiB limit for a model held in memory; write it to a file (with external data) and run that`,
        this.file
      );
    };
    if (tensorBytes > PROTOBUF_LIMIT) {
      refuse(tensorBytes);
    }
    const bytes = encodeModel({
      ...proto,
      graph: mapGraphTensors(graph, tensor => this.inlined(tensor))
    });
    if (bytes.byteLength > PROTOBUF_LIMIT) {
      refuse(bytes.byteLength);
    }
    return bytes;
  }

  close(): void {
    this.external.close();
  }
}
