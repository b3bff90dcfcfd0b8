/**
 * Runs a scoring graph on batches of token sequences: right-pads them, masks the padding, feeds
 * an empty KV cache where the export has one, and returns only the reductions.
 */
import { CusprunError } from '../../core/errors';
import { DataType } from '../onnx/dtype';
import { Feed, ModelSession, RuntimeOptions } from './runtime';
import { ScoringGraph, ScoringInput, ScoringOutput } from './scoring-graph';

/** One reduction for a batch: `data[row · width + value]`. */
export interface BatchReduction {
  output: ScoringOutput;
  data: Float32Array;
}

function intFeed(
  input: ScoringInput,
  dims: number[],
  values: (row: number, t: number) => number
): Feed {
  const [rows, time] = dims;
  const count = rows * time;
  if (input.elemType === DataType.INT32) {
    const data = new Int32Array(count);
    for (let r = 0; r < rows; r++) {
      for (let t = 0; t < time; t++) {
        data[r * time + t] = values(r, t);
      }
    }
    return { type: 'int32', dims, data };
  }
  if (input.elemType !== DataType.INT64) {
    throw new CusprunError(
      'unsupported',
      `the input '${input.name}' is neither int64 nor int32`
    );
  }
  const data = new BigInt64Array(count);
  for (let r = 0; r < rows; r++) {
    for (let t = 0; t < time; t++) {
      data[r * time + t] = BigInt(values(r, t));
    }
  }
  return { type: 'int64', dims, data };
}

function emptyPast(input: ScoringInput, rows: number): Feed {
  const dims = (input.dims ?? []).map(d => (d === -1 ? rows : d));
  if (input.elemType === DataType.FLOAT16) {
    return { type: 'float16', dims, data: new Uint16Array(0) };
  }
  if (input.elemType === DataType.FLOAT) {
    return { type: 'float32', dims, data: new Float32Array(0) };
  }
  throw new CusprunError(
    'unsupported',
    `the KV-cache input '${input.name}' is neither float32 nor float16`
  );
}

/** The feeds for a batch of documents, right-padded to the longest with `padId`. */
export function batchFeeds(
  inputs: ScoringInput[],
  documents: ArrayLike<number>[],
  padId = 0
): Record<string, Feed> {
  const rows = documents.length;
  const time = Math.max(...Array.from(documents, d => d.length));
  if (rows === 0 || time === 0) {
    throw new CusprunError('bad-argument', 'cannot score an empty batch');
  }
  const feeds: Record<string, Feed> = {};
  for (const input of inputs) {
    switch (input.role) {
      case 'input-ids':
        feeds[input.name] = intFeed(input, [rows, time], (r, t) =>
          t < documents[r].length ? documents[r][t] : padId
        );
        break;
      case 'attention-mask':
        feeds[input.name] = intFeed(input, [rows, time], (r, t) =>
          t < documents[r].length ? 1 : 0
        );
        break;
      case 'position-ids':
        // Right padding: a document's real tokens sit at 0…L-1 as when it runs alone.
        feeds[input.name] = intFeed(input, [rows, time], (_r, t) => t);
        break;
      case 'past':
        feeds[input.name] = emptyPast(input, rows);
        break;
    }
  }
  return feeds;
}

export class ScoringSession {
  private constructor(
    readonly graph: ScoringGraph,
    private readonly session: ModelSession
  ) {}

  static async open(
    graph: ScoringGraph,
    options: RuntimeOptions = {}
  ): Promise<ScoringSession> {
    return new ScoringSession(
      graph,
      await ModelSession.open(graph.file, options)
    );
  }

  /** The session's output names: the reductions, and nothing else. */
  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  /**
   * Runs one batch; each reduction comes back as float32 [rows, width]: a row per document, or
   * one for the batch (`gram`).
   */
  async run(
    documents: ArrayLike<number>[],
    padId = 0
  ): Promise<BatchReduction[]> {
    const feeds = batchFeeds(this.graph.inputs, documents, padId);
    const names = this.graph.outputs.map(o => o.name);
    const fetched = await this.session.run(feeds, names);
    return this.graph.outputs.map(output => {
      const value = fetched[output.name];
      const rows = output.reduction === 'gram' ? 1 : documents.length;
      if (
        !value ||
        !(value.data instanceof Float32Array) ||
        value.data.length !== rows * output.width
      ) {
        throw new CusprunError(
          'unsupported',
          `the scoring graph returned an unexpected ${output.name} (${value?.type} ${value?.dims.join('×')})`,
          this.graph.file
        );
      }
      return { output, data: value.data };
    });
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
