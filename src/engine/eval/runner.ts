/**
 * Runs a causal LM for evaluation through its evaluation graph (eval-graph.ts), so that what
 * leaves onnxruntime is log-probabilities of given tokens and greedy choices, never logits: a
 * model file (dense or pruned) or a pruned model held in memory. Inputs are filled as for
 * scoring (`modelInputs`).
 */
import { ScoringInput, modelInputs } from '../capture/scoring-graph';
import { batchFeeds } from '../capture/scoring-session';
import {
  Feed,
  Fetched,
  ModelSession,
  RuntimeOptions
} from '../capture/runtime';
import { CusprunError } from '../../core/errors';
import { DataType } from '../onnx/dtype';
import { OnnxModel } from '../onnx/model';
import { GraphProto, ModelProto } from '../onnx/proto';
import {
  ARGMAX,
  buildEvalProto,
  EvalProto,
  GREEDY,
  LOGPROB,
  POSITIONS,
  TARGETS
} from './eval-graph';

/** Logits one run may hold inside onnxruntime: [positions, vocab] in float32 and float64. */
const LOGITS_BUDGET_BYTES = 256 << 20;
const LOGIT_BYTES = 4 + 8;

/** The KV cache after a step: one tensor per past input, and the positions it holds. */
export interface KvCache {
  length: number;
  past: Record<string, Feed>;
}

/** What one cached step returns: the greedy next token, and the cache with the step added. */
export interface StepResult {
  next: number;
  cache: KvCache;
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

const int64Feed = (values: number[]): Feed => ({
  type: 'int64',
  dims: [values.length],
  data: BigInt64Array.from(values, v => BigInt(v))
});

/** Optimum names the cache `past_key_values.{i}.key` in and `present.{i}.key` out. */
function presentName(past: string, outputs: Set<string>): string | undefined {
  return [
    past.replace(/past_key_values/, 'present'),
    past.replace(/past/, 'present')
  ].find(name => outputs.has(name));
}

/** What a run of the graph needs besides the session: its inputs and outputs, described. */
function describe(built: EvalProto, label: string) {
  const graph = built.proto.graph as GraphProto;
  const own = new Set([POSITIONS, TARGETS, GREEDY]);
  return {
    inputs: modelInputs(
      { ...graph, input: graph.input.filter(i => !own.has(i.name)) },
      label
    ),
    outputs: graph.output.map(o => o.name),
    vocab: built.vocab
  };
}

export class ModelRunner {
  /** past input → present output, when every past input has its present. */
  private readonly cacheNames: Map<string, string> | undefined;
  /** The model's inputs (ids, mask, positions, past), as `batchFeeds` fills them. */
  readonly inputs: ScoringInput[];
  /** The vocabulary, when the graph declares it. */
  readonly vocab: number | undefined;

  private constructor(
    private readonly session: ModelSession,
    described: ReturnType<typeof describe>
  ) {
    this.inputs = described.inputs;
    this.vocab = described.vocab;
    const available = new Set(described.outputs);
    const past = this.inputs.filter(i => i.role === 'past');
    const pairs = past.map(i => [i.name, presentName(i.name, available)]);
    this.cacheNames =
      past.length > 0 && pairs.every(([, present]) => present)
        ? new Map(pairs as [string, string][])
        : undefined;
  }

  /**
   * A model file: dense, or pruned and written (external data beside it is fine). Its
   * evaluation graph is built in memory; onnxruntime reads the weights from the model's own
   * files, and nothing is written.
   */
  static async open(
    file: string,
    options: RuntimeOptions = {}
  ): Promise<ModelRunner> {
    const model = OnnxModel.load(file);
    try {
      return await ModelRunner.build(model, model.proto, model.file, options);
    } finally {
      model.close();
    }
  }

  /**
   * A model held in memory, e.g. `pruneModel(source, map, plan)`: its edited tensors are made
   * into the encoded graph, its unedited ones read by onnxruntime from `source`'s files; no
   * file is written. Limit: protobuf's 2 GiB for what is held.
   */
  static async inMemory(
    source: OnnxModel,
    proto: ModelProto,
    options: RuntimeOptions = {}
  ): Promise<ModelRunner> {
    const label = `${source.file} (edited, in memory)`;
    return ModelRunner.build(source, proto, label, options);
  }

  private static async build(
    source: OnnxModel,
    proto: ModelProto,
    label: string,
    options: RuntimeOptions
  ): Promise<ModelRunner> {
    const built = buildEvalProto(proto, label);
    const described = describe(built, label);
    const session = await ModelSession.fromBytes(
      source.encodeReferencing(built.proto),
      options,
      label,
      source.dir
    );
    return new ModelRunner(session, described);
  }

  /** The file (or in-memory label) errors name. */
  get label(): string {
    return this.session.file;
  }

  /** Whether the export takes a KV cache that `step` can feed back. */
  get hasKvCache(): boolean {
    return this.cacheNames !== undefined;
  }

  /** Positions one run may read within the logits' memory budget (at least one sequence's). */
  get maxPositions(): number {
    return this.vocab
      ? Math.max(
          1,
          Math.floor(LOGITS_BUDGET_BYTES / (LOGIT_BYTES * this.vocab))
        )
      : Infinity;
  }

  /**
   * One forward over a batch, right-padded with `padId` and masked, empty KV cache: the
   * log-probability of `targets[i]` at flat position `positions[i]` (row · T + t, T the
   * longest sequence).
   */
  async logProbs(
    sequences: ArrayLike<number>[],
    positions: number[],
    targets: number[],
    padId = 0
  ): Promise<Float64Array> {
    const fetched = await this.run(
      batchFeeds(this.inputs, sequences, padId),
      { positions, targets },
      [LOGPROB]
    );
    return fetched[LOGPROB].data as Float64Array;
  }

  /** The greedy next token of each sequence: the argmax at its last position. */
  async nextTokens(sequences: ArrayLike<number>[]): Promise<number[]> {
    const time = Math.max(...Array.from(sequences, s => s.length));
    const positions = Array.from(
      sequences,
      (s, row) => row * time + s.length - 1
    );
    const fetched = await this.run(
      batchFeeds(this.inputs, sequences),
      { greedy: positions },
      [ARGMAX]
    );
    return Array.from(fetched[ARGMAX].data as BigInt64Array, Number);
  }

  /**
   * One cached step for a single sequence: `tokens` follow the `cache.length` positions already
   * in the cache (none: a prefill). Returns the greedy token after them and the cache with them
   * added.
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
    const fetched = await this.run(feeds, { greedy: [tokens.length - 1] }, [
      ARGMAX,
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
      next: Number((fetched[ARGMAX].data as BigInt64Array)[0]),
      cache: { length: (cache?.length ?? 0) + tokens.length, past }
    };
  }

  /** One run: log-probabilities at some positions, greedy tokens at others (none: []). */
  private run(
    feeds: Record<string, Feed>,
    ask: { positions?: number[]; targets?: number[]; greedy?: number[] },
    fetches: string[]
  ): Promise<Record<string, Fetched>> {
    return this.session.run(
      {
        ...feeds,
        [POSITIONS]: int64Feed(ask.positions ?? []),
        [TARGETS]: int64Feed(ask.targets ?? []),
        [GREEDY]: int64Feed(ask.greedy ?? [])
      },
      fetches
    );
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
