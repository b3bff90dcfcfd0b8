/**
 * The one module that touches onnxruntime-node. Everything else in cusprun runs models through
 * this seam, so threads, execution provider and error wording are decided here once.
 */
import './telemetry-off';
import * as ort from 'onnxruntime-node';
import { CusprunError } from '../../core/errors';

export interface RuntimeOptions {
  /** Intra-op threads; 0 lets onnxruntime choose. */
  threads?: number;
  executionProvider?: 'cpu';
  /** onnxruntime's graph optimisation level (default `all`). */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /**
   * Whether onnxruntime keeps a packed copy of each constant MatMul weight (default true:
   * faster runs). false keeps only the (memory-mapped) weights themselves: a whole model less
   * memory, for one-off forwards such as a prune's check.
   */
  prepack?: boolean;
}

/** onnxruntime's session config entries for `options`. */
function sessionEntries(
  options: RuntimeOptions,
  externalDataDir?: string
): Record<string, string> {
  return {
    ...(externalDataDir
      ? { model_external_initializers_file_folder_path: externalDataDir }
      : {}),
    ...(options.prepack === false ? { disable_prepacking: '1' } : {})
  };
}

export type FeedType =
  | 'int64'
  | 'int32'
  | 'float32'
  | 'float16'
  | 'float64'
  | 'bool'
  | 'uint8'
  | 'int8';

export interface Feed {
  type: FeedType;
  dims: number[];
  data:
    | BigInt64Array
    | Int32Array
    | Float32Array
    | Uint16Array
    | Float64Array
    | Uint8Array
    | Int8Array;
}

export interface Fetched {
  type: string;
  dims: number[];
  data:
    | Float32Array
    | Float64Array
    | Uint16Array
    | BigInt64Array
    | Int32Array
    | Uint8Array
    | Int8Array;
}

const FEED_TYPES = new Set<string>([
  'int64',
  'int32',
  'float32',
  'float16',
  'float64',
  'bool',
  'uint8',
  'int8'
]);

/** A fetched value fed back to another session (staged runs), as it came. */
export function asFeed(value: Fetched, label: string): Feed {
  if (!FEED_TYPES.has(value.type)) {
    throw new CusprunError(
      'unsupported',
      `cannot pass a ${value.type} tensor between onnxruntime sessions`,
      label
    );
  }
  return value as Feed;
}

export interface ValueMetadata {
  name: string;
  type: string;
  /** Symbolic dimensions as strings, fixed ones as numbers. */
  shape: (number | string)[];
}

export function runtimeVersion(): string {
  return ort.env.versions.node ?? ort.env.versions.common;
}

export class ModelSession {
  private readonly session: ort.InferenceSession;
  /** The model file, or the label of a model opened from memory. */
  readonly file: string;

  private constructor(file: string, session: ort.InferenceSession) {
    this.file = file;
    this.session = session;
  }

  /** A session on a model file; `label` stands for it in errors (default: the file). */
  static async open(
    file: string,
    options: RuntimeOptions = {},
    label = file
  ): Promise<ModelSession> {
    return ModelSession.create(file, label, options);
  }

  /**
   * A session on an encoded model held in memory; `label` stands for the file in errors. Its
   * external-data records, if any, are read from files in `externalDataDir`.
   */
  static async fromBytes(
    bytes: Uint8Array,
    options: RuntimeOptions = {},
    label = 'model in memory',
    externalDataDir?: string
  ): Promise<ModelSession> {
    return ModelSession.create(bytes, label, options, externalDataDir);
  }

  private static async create(
    model: string | Uint8Array,
    label: string,
    options: RuntimeOptions,
    externalDataDir?: string
  ): Promise<ModelSession> {
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      executionProviders: [options.executionProvider ?? 'cpu'],
      intraOpNumThreads: options.threads ?? 0,
      interOpNumThreads: 1,
      graphOptimizationLevel: options.optimization ?? 'all',
      // onnxruntime's warnings (unused initializers, …) speak to model authors, not users.
      logSeverityLevel: 3,
      // A memory plan per input shape keeps a block for every shape seen; cusprun's runs change
      // shape all the time (batches, sequences, a growing KV cache), so memory would only grow.
      enableMemPattern: false,
      extra: { session: sessionEntries(options, externalDataDir) }
    };
    try {
      const session =
        typeof model === 'string'
          ? await ort.InferenceSession.create(model, sessionOptions)
          : await ort.InferenceSession.create(model, sessionOptions);
      return new ModelSession(label, session);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new CusprunError(
        'unsupported',
        `onnxruntime cannot load the model: ${reason}`,
        label
      );
    }
  }

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  get inputs(): ValueMetadata[] {
    return this.session.inputMetadata.map(describe);
  }

  async run(
    feeds: Record<string, Feed>,
    fetches?: string[]
  ): Promise<Record<string, Fetched>> {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, feed] of Object.entries(feeds)) {
      ortFeeds[name] = new ort.Tensor(feed.type, feed.data, feed.dims);
    }
    let results: ort.InferenceSession.OnnxValueMapType;
    try {
      results = await this.session.run(
        ortFeeds,
        fetches ?? [...this.session.outputNames]
      );
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new CusprunError(
        'unsupported',
        `onnxruntime failed to run the model: ${reason}`,
        this.file
      );
    }
    const out: Record<string, Fetched> = {};
    for (const [name, value] of Object.entries(results)) {
      const tensor = value as ort.Tensor;
      out[name] = {
        type: tensor.type,
        dims: [...tensor.dims],
        data: tensor.data as Fetched['data']
      };
    }
    return out;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

function describe(metadata: ort.InferenceSession.ValueMetadata): ValueMetadata {
  if (!metadata.isTensor) {
    return { name: metadata.name, type: 'non-tensor', shape: [] };
  }
  return {
    name: metadata.name,
    type: metadata.type,
    shape: [...metadata.shape]
  };
}
