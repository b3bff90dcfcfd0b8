/**
 * Runs a causal LM for evaluation: a model file (dense or pruned) or a pruned model held in
 * memory. Inputs are filled as for scoring (`modelInputs`); logits come back as float32.
 */
import { ScoringInput, modelInputs } from '../capture/scoring-graph';
import { batchFeeds } from '../capture/scoring-session';
import {
  Feed,
  Fetched,
  ModelSession,
  RuntimeOptions
} from '../capture/runtime';
import { CusprunError } from '../errors';
import { DataType, float16BitsToFloat32 } from '../onnx/dtype';
import { OnnxModel } from '../onnx/model';
import { GraphProto, ModelProto } from '../onnx/proto';

const LOGITS = 'logits';

/** Logits of a batch: `data[(row · time + t) · vocab + v]`. */
export interface Logits {
  rows: number;
  time: number;
  vocab: number;
  data: Float32Array;
}

/** The KV cache after a step: one tensor per past input, and the positions it holds. */
export interface KvCache {
  length: number;
  past: Record<string, Feed>;
}

/** What one cached step returns: logits [tokens, vocab] of the new tokens, and the cache. */
export interface StepResult {
  logits: Logits;
  cache: KvCache;
}

function toFloat32(value: Fetched, label: string): Float32Array {
  if (value.data instanceof Float32Array) {
    return value.data;
  }
  if (value.type === 'float16' && value.data instanceof Uint16Array) {
    return Float32Array.from(value.data, float16BitsToFloat32);
  }
  throw new CusprunError(
    'unsupported',
    `the model's ${LOGITS} are ${value.type}, neither float32 nor float16`,
    label
  );
}

function logitsOf(fetched: Record<string, Fetched>, label: string): Logits {
  const value = fetched[LOGITS];
  if (!value || value.dims.length !== 3) {
    throw new CusprunError(
      'unsupported',
      `expected ${LOGITS} of shape [batch, sequence, vocab], got ${value ? value.dims.join('×') : 'none'}`,
      label
    );
  }
  const [rows, time, vocab] = value.dims;
  return { rows, time, vocab, data: toFloat32(value, label) };
}

/** An int64/int32 feed of shape [1, values.length]. */
function rowFeed(input: ScoringInput, values: number[]): Feed {
  const dims = [1, values.length];
  if (input.elemType === DataType.INT32) {
    return { type: 'int32', dims, data: Int32Array.from(values) };
  }
  return {
    type: 'int64',
    dims,
    data: BigInt64Array.from(values, v => BigInt(v))
  };
}

/** Optimum names the cache `past_key_values.{i}.key` in and `present.{i}.key` out. */
function presentName(past: string, outputs: Set<string>): string | undefined {
  return [
    past.replace(/past_key_values/, 'present'),
    past.replace(/past/, 'present')
  ].find(name => outputs.has(name));
}

export class ModelRunner {
  /** past input → present output, when every past input has its present. */
  private readonly cacheNames: Map<string, string> | undefined;

  private constructor(
    private readonly session: ModelSession,
    readonly inputs: ScoringInput[],
    outputs: string[]
  ) {
    const available = new Set(outputs);
    if (!available.has(LOGITS)) {
      throw new CusprunError(
        'unsupported',
        `the model has no '${LOGITS}' output; evaluation needs next-token logits`,
        session.file
      );
    }
    const past = inputs.filter(i => i.role === 'past');
    const pairs = past.map(i => [i.name, presentName(i.name, available)]);
    this.cacheNames =
      past.length > 0 && pairs.every(([, present]) => present)
        ? new Map(pairs as [string, string][])
        : undefined;
  }

  /** A model file: dense, or pruned and written (external data beside it is fine). */
  static async open(
    file: string,
    options: RuntimeOptions = {}
  ): Promise<ModelRunner> {
    const model = OnnxModel.load(file);
    // Only the graph is needed here; onnxruntime reads the file and its data itself.
    model.close();
    const graph = model.graph;
    const inputs = modelInputs(graph, model.file);
    const session = await ModelSession.open(model.file, options);
    return new ModelRunner(
      session,
      inputs,
      graph.output.map(o => o.name)
    );
  }

  /**
   * A model held in memory, e.g. `pruneModel(source, map, plan)`: its tensors are read inline
   * (unedited ones from `source`'s external data) and no file is written. Limit: protobuf's
   * 2 GiB for the whole model.
   */
  static async inMemory(
    source: OnnxModel,
    proto: ModelProto,
    options: RuntimeOptions = {}
  ): Promise<ModelRunner> {
    const graph = proto.graph as GraphProto;
    const label = `${source.file} (edited, in memory)`;
    const inputs = modelInputs(graph, label);
    const session = await ModelSession.fromBytes(
      source.encodeInline(proto),
      options,
      label
    );
    return new ModelRunner(
      session,
      inputs,
      graph.output.map(o => o.name)
    );
  }

  /** The file (or in-memory label) errors name. */
  get label(): string {
    return this.session.file;
  }

  /** Whether the export takes a KV cache that `step` can feed back. */
  get hasKvCache(): boolean {
    return this.cacheNames !== undefined;
  }

  /**
   * One forward over a batch, right-padded with `padId` and masked, empty KV cache: logits at
   * every position of every row (positions past a row's end are padding).
   */
  async forward(sequences: ArrayLike<number>[], padId = 0): Promise<Logits> {
    const feeds = batchFeeds(this.inputs, sequences, padId);
    return logitsOf(await this.session.run(feeds, [LOGITS]), this.label);
  }

  /**
   * One cached step for a single sequence: `tokens` follow the `cache.length` positions already
   * in the cache (none: a prefill). Returns their logits and the cache with them added.
   */
  async step(tokens: number[], cache?: KvCache): Promise<StepResult> {
    if (!this.cacheNames) {
      throw new CusprunError(
        'unsupported',
        'the model has no KV-cache inputs and outputs to decode with',
        this.label
      );
    }
    // A prefill is an unpadded batch of one: ids, mask of ones, positions 0…n-1, empty past.
    const feeds = cache
      ? this.stepFeeds(tokens, cache)
      : batchFeeds(this.inputs, [tokens]);
    const fetched = await this.session.run(feeds, [
      LOGITS,
      ...this.cacheNames.values()
    ]);
    const past: Record<string, Feed> = {};
    for (const [pastName, present] of this.cacheNames) {
      const value = fetched[present];
      past[pastName] =
        value.data instanceof Uint16Array
          ? { type: 'float16', dims: value.dims, data: value.data }
          : {
              type: 'float32',
              dims: value.dims,
              data: value.data as Float32Array
            };
    }
    return {
      logits: logitsOf(fetched, this.label),
      cache: { length: (cache?.length ?? 0) + tokens.length, past }
    };
  }

  private stepFeeds(tokens: number[], cache: KvCache): Record<string, Feed> {
    const feeds: Record<string, Feed> = {};
    for (const input of this.inputs) {
      switch (input.role) {
        case 'input-ids':
          feeds[input.name] = rowFeed(input, tokens);
          break;
        case 'attention-mask':
          feeds[input.name] = rowFeed(
            input,
            new Array<number>(cache.length + tokens.length).fill(1)
          );
          break;
        case 'position-ids':
          feeds[input.name] = rowFeed(
            input,
            tokens.map((_, i) => cache.length + i)
          );
          break;
        case 'past':
          feeds[input.name] = cache.past[input.name];
          break;
      }
    }
    return feeds;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
