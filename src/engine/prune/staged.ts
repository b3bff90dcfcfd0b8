/**
 * Forwards for the check: a model file's logits in one session, or a value computed stage by
 * stage so that onnxruntime holds one stage's weights at a time (onnx/stages.ts).
 */
import {
  asFeed,
  Feed,
  Fetched,
  ModelSession,
  RuntimeOptions
} from '../capture/runtime';
import { modelInputs } from '../capture/scoring-graph';
import { batchFeeds } from '../capture/scoring-session';
import { DataType, dataTypeLabel } from '../onnx/dtype';
import { OnnxModel } from '../onnx/model';
import { GraphProto } from '../onnx/proto';
import { planStages, Stage, stageModel, stageStarts } from '../onnx/stages';
import { Logits, readLogits } from './logit-bound';

/** The logits of a model file on each sequence (batch 1, empty KV cache). */
export async function modelLogits(
  file: string,
  graph: GraphProto,
  sequences: number[][],
  options: RuntimeOptions = {}
): Promise<Logits[]> {
  const session = await ModelSession.open(file, options);
  try {
    const inputs = modelInputs(graph, file);
    const out: Logits[] = [];
    for (const tokens of sequences) {
      const result = await session.run(batchFeeds(inputs, [tokens]), [
        'logits'
      ]);
      out.push(readLogits(result.logits, file));
    }
    return out;
  } finally {
    await session.release();
  }
}

/** Receives one sequence's logits. */
export type TakeLogits = (sequence: number, logits: Logits) => void;

export interface StagedRun {
  /** Where the stages began (stageStarts), if every such node has a name of its own. */
  starts?: string[];
}

/** ONNX element types by the names onnxruntime gives fetched tensors (float32, int64, bool…). */
const ELEM_TYPES = new Map(
  Object.values(DataType)
    .filter((code): code is number => typeof code === 'number')
    .map(code => [dataTypeLabel(code), code])
);

/**
 * `fetch` (the logits, or a value the lm_head reads) computed stage by stage (onnx/stages.ts):
 * every sequence goes through the first stage, then the second…, each stage in a session of its
 * own that reads its weights where they lie in the model's files and is released before the
 * next opens, so onnxruntime only ever holds one stage's weights (at most `cut` bytes of
 * initializers, or one larger initializer). Only the values later stages read are kept between
 * stages (a few short sequences: small), and each sequence's `fetch` goes to `take` as soon as
 * the last stage computed it. For a graph that cannot be cut, returns why instead. `cut` is the
 * budget, or where another model of the same graph was cut (its `starts`).
 */
export async function stagedValues(
  model: OnnxModel,
  sequences: number[][],
  fetch: string,
  cut: number | string[],
  take: (sequence: number, value: Fetched) => void,
  options: RuntimeOptions = {}
): Promise<StagedRun | string> {
  const graph = model.graph;
  const staging = planStages(graph, [fetch], cut, t => model.byteLength(t));
  if ('refused' in staging) {
    return staging.refused;
  }
  if (!sequences.length) {
    return {};
  }
  const inputs = modelInputs(graph, model.file);
  let values = sequences.map(
    tokens => new Map(Object.entries(batchFeeds(inputs, [tokens])))
  );
  const { stages } = staging;
  for (const [s, stage] of stages.entries()) {
    const later = new Set([
      fetch,
      ...stages.slice(s + 1).flatMap(t => t.inputs)
    ]);
    const last = s === stages.length - 1;
    values = await runStage(model, stage, values, later, options, (i, v) =>
      last ? take(i, v.get(fetch) as Fetched) : v
    );
  }
  return { starts: stageStarts(graph, stages) };
}

/**
 * stagedValues cut where another model of the same graph was cut (`like`: a pruned model where
 * its reference was, so that both fuse across the same boundaries) when this graph has those
 * nodes, else by `budget`. For a graph that cannot be cut, returns why instead.
 */
export async function stagedValuesLike(
  model: OnnxModel,
  sequences: number[][],
  fetch: string,
  budget: number,
  like: StagedRun | undefined,
  take: (sequence: number, value: Fetched) => void,
  options: RuntimeOptions = {}
): Promise<StagedRun | string> {
  if (like?.starts) {
    const staged = await stagedValues(
      model,
      sequences,
      fetch,
      like.starts,
      take,
      options
    );
    if (typeof staged !== 'string') {
      return staged;
    }
  }
  return stagedValues(model, sequences, fetch, budget, take, options);
}

/**
 * modelLogits run stage by stage (stagedValuesLike: cut like `like` if given, else by
 * `budget`): a caller that compares each sequence's logits as they come never holds them all.
 */
export async function stagedLogits(
  model: OnnxModel,
  sequences: number[][],
  budget: number,
  take: TakeLogits,
  options: RuntimeOptions = {},
  like?: StagedRun
): Promise<StagedRun | string> {
  const read = (i: number, value: Fetched) =>
    take(i, readLogits(value, model.file));
  return stagedValuesLike(
    model,
    sequences,
    'logits',
    budget,
    like,
    read,
    options
  );
}

/**
 * One stage on every sequence's values; returns, as `pass` returns them, the values `later`
 * stages read.
 */
async function runStage(
  model: OnnxModel,
  stage: Stage,
  values: Map<string, Feed>[],
  later: Set<string>,
  options: RuntimeOptions,
  pass: (sequence: number, values: Map<string, Feed>) => unknown
): Promise<Map<string, Feed>[]> {
  const types = new Map(
    stage.inputs.map(name => [
      name,
      ELEM_TYPES.get(values[0].get(name)?.type ?? '') ?? 0
    ])
  );
  const bytes = model.encodeReferencing(stageModel(model.proto, stage, types));
  const session = await ModelSession.fromBytes(
    bytes,
    options,
    model.file,
    model.dir
  );
  try {
    const out: Map<string, Feed>[] = [];
    for (const [i, before] of values.entries()) {
      const feeds = Object.fromEntries(
        stage.inputs.map(name => [name, before.get(name) as Feed])
      );
      const result = await session.run(feeds, stage.outputs);
      const next = new Map<string, Feed>();
      for (const [name, value] of [
        ...before.entries(),
        ...Object.entries(result).map(
          ([n, v]) => [n, asFeed(v, model.file)] as const
        )
      ]) {
        if (later.has(name)) {
          next.set(name, value);
        }
      }
      const kept = pass(i, next);
      out.push(kept instanceof Map ? kept : new Map());
    }
    return out;
  } finally {
    await session.release();
  }
}
