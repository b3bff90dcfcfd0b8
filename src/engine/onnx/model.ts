/**
 * An ONNX model on disk: the decoded proto plus lazy access to its tensors' bytes, and a
 * crash-safe writer (temp files, then rename) that never writes over its own input.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CusprunError } from '../../core/errors';
import { externalTensor, producerOf, tensorWithoutData } from './edit';
import {
  encodeStreaming,
  ModelEncoding,
  streamChecked,
  TensorBytes
} from './encode';
import { FileSink } from './file-sink';
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
import { IN_FILE_MIN_BYTES, readSkeleton, Skeleton } from './skeleton';

export interface SaveOptions {
  /**
   * Where initializers' bytes go: `'auto'` keeps the source's choice (external if it used
   * external data), `true` moves initializers of at least `sizeThreshold` bytes to a data file
   * beside the model, `false` stores everything inside the model file.
   */
  externalData?: 'auto' | boolean;
  sizeThreshold?: number;
  /**
   * External tensors that `proto` leaves unedited keep their locations instead of being
   * copied: the caller has made those files reachable from the output's folder (hard links).
   */
  keepExternal?: boolean;
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

function decodeOrExplain(skeleton: Skeleton, file: string): ModelProto {
  let proto: ModelProto;
  try {
    proto = decodeModel(skeleton.bytes);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    if (/index out of range/i.test(reason)) {
      throw new CusprunError(
        'truncated',
        `the ONNX file ends early (truncated? ${fs.statSync(file).size} bytes)`,
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
  // Large inline initializers point at their bytes in the .onnx file itself, as external data;
  // their other fields (doc strings, metadata) stay as decoded.
  const graph = proto.graph;
  graph.initializer = graph.initializer.map((tensor, i) => {
    const range = skeleton.ranges.get(i);
    if (!range) {
      return tensor;
    }
    const where = { location: path.basename(file), ...range };
    const { external_data } = externalTensor('', 0, [], where);
    return { ...tensor, data_location: DATA_LOCATION_EXTERNAL, external_data };
  });
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
  /** Reused by every stream out of the external-data files. */
  private copyBuffer: Uint8Array | undefined;

  private constructor(file: string, proto: ModelProto) {
    this.file = file;
    this.proto = proto;
    this.external = new ExternalDataFiles(file);
  }

  /**
   * Decodes the model file's skeleton (skeleton.ts: large inline initializers become records
   * of where their bytes lie in the .onnx file) and checks that every tensor's bytes are
   * present (inline or in its external-data file) without reading any weight.
   */
  static load(fileOrDir: string): OnnxModel {
    const file = resolveModelFile(fileOrDir);
    const model = new OnnxModel(
      file,
      decodeOrExplain(readSkeleton(file), file)
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

  /**
   * Whether a tensor's external-data record points at the .onnx file itself: an inline
   * initializer of the file, which a saved copy keeps inline.
   */
  private inFile(tensor: TensorProto): boolean {
    return (
      isExternal(tensor) &&
      this.record(tensor).location === path.basename(this.file)
    );
  }

  /** Whether a tensor's bytes lie in a side file. */
  private inSideFile(tensor: TensorProto): boolean {
    return isExternal(tensor) && !this.inFile(tensor);
  }

  hasExternalData(): boolean {
    for (const tensor of graphTensors(this.graph)) {
      if (this.inSideFile(tensor)) {
        return true;
      }
    }
    return false;
  }

  /** The side files this model reads, as absolute paths. */
  externalDataFiles(): string[] {
    const files = new Set<string>();
    for (const tensor of graphTensors(this.graph)) {
      if (this.inSideFile(tensor)) {
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
      if (this.inSideFile(tensor)) {
        this.external.check(this.record(tensor), name, expected);
      } else if (
        expected !== undefined &&
        this.byteLength(tensor) !== expected
      ) {
        throw new CusprunError(
          'truncated',
          `tensor '${name}' holds ${this.byteLength(tensor)} bytes but its shape and type need ${expected} (truncated or corrupt)`,
          this.file
        );
      }
    }
  }

  private record(tensor: TensorProto): ExternalRecord {
    return externalRecord(tensor, this.file);
  }

  /** Byte length of a tensor's data wherever it is stored (or however it is produced). */
  byteLength(tensor: TensorProto): number {
    const produced = producerOf(tensor);
    if (produced) {
      return produced.length;
    }
    return isExternal(tensor)
      ? this.external.check(this.record(tensor), tensor.name ?? '', undefined)
      : inlineByteLength(tensor);
  }

  /** The tensor's bytes, little-endian, in a fresh aligned buffer. */
  bytes(tensor: TensorProto): Uint8Array {
    const produced = producerOf(tensor);
    if (produced) {
      const out = new Uint8Array(produced.length);
      let at = 0;
      streamChecked(produced, chunk => {
        out.set(chunk, at);
        at += chunk.byteLength;
      });
      return out;
    }
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
    if (isExternal(tensor) && !producerOf(tensor)) {
      return this.external.read(
        this.record(tensor),
        byteOffset,
        new Uint8Array(byteLength)
      );
    }
    if (tensor.raw_data && tensor.raw_data.byteLength > 0) {
      return tensor.raw_data.slice(byteOffset, byteOffset + byteLength);
    }
    return this.bytes(tensor).slice(byteOffset, byteOffset + byteLength);
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
   * The bytes a tensor of `proto` streams into an output, or undefined when it is encoded as it
   * is (data in typed fields, or none). External bytes pass through one reused buffer.
   */
  private rawBytes(tensor: TensorProto): TensorBytes | undefined {
    const produced = producerOf(tensor);
    if (produced) {
      return produced;
    }
    const length = this.byteLength(tensor);
    if (isExternal(tensor)) {
      const record = this.record(tensor);
      return {
        length,
        stream: sink => {
          this.copyBuffer ??= new Uint8Array(COPY_CHUNK_BYTES);
          for (let done = 0; done < length; done += COPY_CHUNK_BYTES) {
            const size = Math.min(COPY_CHUNK_BYTES, length - done);
            sink(
              this.external.read(
                record,
                done,
                this.copyBuffer.subarray(0, size)
              )
            );
          }
        }
      };
    }
    const raw = tensor.raw_data;
    return raw && raw.byteLength > 0
      ? { length, stream: sink => sink(raw) }
      : undefined;
  }

  /**
   * Lays out `proto` for writing with every main-graph initializer's bytes inline, streamed
   * from where they are (this model's data, or a producer). Other tensors (attributes,
   * subgraphs) are small and read inline first. Tensors in `asIs` are external-data records
   * meant for the output (its own data file, or bytes left where they lie) and are encoded as
   * they are.
   */
  private encoding(
    proto: ModelProto,
    asIs = new Set<TensorProto>()
  ): ModelEncoding {
    const graph = proto.graph as GraphProto;
    const initializers = new Set(graph.initializer);
    const inlined = mapGraphTensors(graph, tensor =>
      initializers.has(tensor) || asIs.has(tensor)
        ? tensor
        : this.inlined(tensor)
    );
    const encoding = encodeStreaming({ ...proto, graph: inlined }, tensor =>
      asIs.has(tensor) ? undefined : this.rawBytes(tensor)
    );
    if (encoding.byteLength > PROTOBUF_LIMIT) {
      throw new CusprunError(
        'unsupported',
        `the model needs ${(encoding.byteLength / 2 ** 30).toFixed(2)} GiB inline, more than protobuf's 2 GiB limit for one model file; write it with external data`,
        this.file
      );
    }
    return encoding;
  }

  /**
   * Writes `proto` (this model, or an edited copy of its proto whose unedited tensors still
   * point into this model's data) to `outFile`. Every tensor's bytes are streamed in chunks from
   * where they are — the source's data file, its model file, or a producer (a sliced tensor) —
   * so neither file is ever held whole. Both files are written under temporary names and
   * renamed into place, so a crash leaves no half-written model.
   */
  save(
    outFile: string,
    options: SaveOptions = {},
    proto: ModelProto = this.proto
  ): void {
    const target = path.resolve(outFile);
    // Kept tensors point at the source's data file by name, hard-linked beside the target (the
    // scoring graph, the check's reference): the new data file must not replace that link.
    const kept = options.keepExternal
      ? this.externalDataFiles().map(f => path.relative(this.dir, f))
      : [];
    const dataName = dataFileName(path.basename(target), kept);
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
    const files: { data?: FileSink; model?: FileSink } = {};
    const written = new Set<TensorProto>();
    try {
      const toFile = (tensor: TensorProto): TensorProto => {
        files.data ??= new FileSink(tmpData);
        const offset = files.data.align(EXTERNAL_ALIGNMENT);
        const bytes = this.rawBytes(tensor) ?? {
          length: this.byteLength(tensor),
          stream: sink => sink(inlineBytes(tensor))
        };
        streamChecked(bytes, chunk => files.data?.write(chunk));
        const placed: TensorProto = {
          ...tensorWithoutData(tensor),
          data_location: DATA_LOCATION_EXTERNAL,
          external_data: [
            { key: 'location', value: dataName },
            { key: 'offset', value: String(offset) },
            { key: 'length', value: String(bytes.length) }
          ]
        };
        written.add(placed);
        return placed;
      };
      const place = (
        tensor: TensorProto,
        isInitializer: boolean
      ): TensorProto => {
        if (
          options.keepExternal &&
          this.inSideFile(tensor) &&
          producerOf(tensor) === undefined
        ) {
          written.add(tensor);
          return tensor;
        }
        const external = isExternal(tensor) || producerOf(tensor) !== undefined;
        return externalize &&
          (external || (isInitializer && this.byteLength(tensor) >= threshold))
          ? toFile(tensor)
          : tensor;
      };
      const graph = mapGraphTensors(proto.graph as GraphProto, place);
      if (files.data) {
        files.data.close(true);
        fs.renameSync(tmpData, dataPath);
      }
      files.model = new FileSink(tmpModel);
      this.encoding({ ...proto, graph }, written).write(chunk =>
        files.model?.write(chunk)
      );
      files.model.close(true);
      fs.renameSync(tmpModel, target);
    } catch (error) {
      files.data?.close(false);
      files.model?.close(false);
      fs.rmSync(tmpData, { force: true });
      fs.rmSync(tmpModel, { force: true });
      throw error;
    }
  }

  /** A tensor that is not an initializer, with its bytes inside it. */
  private inlined(tensor: TensorProto): TensorProto {
    return isExternal(tensor) || producerOf(tensor)
      ? { ...tensorWithoutData(tensor), raw_data: this.bytes(tensor) }
      : tensor;
  }

  /**
   * `proto` (this model, or an edited copy of its proto whose unedited tensors still point into
   * this model's data) encoded for onnxruntime to load from memory while it reads every weight
   * that is already on disk where it lies: this model's external data, and the bytes of its
   * inline tensors inside its own .onnx file (open the session with this model's folder as the
   * folder of external data). Only edited tensors and small ones are in the buffer, streamed
   * into it once. Protobuf caps those at 2 GiB (refused before any of them is made).
   */
  encodeReferencing(proto: ModelProto = this.proto): Uint8Array {
    const graph = proto.graph as GraphProto;
    const inPlace = new Set<TensorProto>();
    for (const tensor of graph.initializer) {
      if (
        isExternal(tensor) &&
        !producerOf(tensor) &&
        this.byteLength(tensor) >= IN_FILE_MIN_BYTES
      ) {
        inPlace.add(tensor);
      }
    }
    const encoding = this.encoding(proto, inPlace);
    const out = new Uint8Array(encoding.byteLength);
    let at = 0;
    encoding.write(chunk => {
      out.set(chunk, at);
      at += chunk.byteLength;
    });
    return out;
  }

  close(): void {
    this.external.close();
  }
}

/** `<model file>_data`, else, when kept tensors already point at that name, `…_data1`, `…_data2`. */
function dataFileName(modelName: string, taken: string[]): string {
  let name = `${modelName}_data`;
  for (let i = 1; taken.includes(name); i++) {
    name = `${modelName}_data${i}`;
  }
  return name;
}
