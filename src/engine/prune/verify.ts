/**
 * Checks a pruned model against its definition: on the same token sequences, its logits equal
 * those of the original model with the plan's units zeroed, within a bound in ulps of the
 * logits' own float type at each row's largest |logit| (logit-bound.ts, README.md).
 */
import * as path from 'node:path';
import { ModelMap } from '../../core/model/model-map';
import {
  asFeed,
  Feed,
  Fetched,
  ModelSession,
  RuntimeOptions
} from '../capture/runtime';
import { linkExternalData, modelInputs } from '../capture/scoring-graph';
import { batchFeeds } from '../capture/scoring-session';
import { DataType, dataTypeLabel } from '../onnx/dtype';
import { OnnxModel } from '../onnx/model';
import { GraphProto } from '../onnx/proto';
import { planStages, Stage, stageModel, stageStarts } from '../onnx/stages';
import { makeTempDir, removeTempDir } from '../output/temp-dir';
import {
  compareLogits,
  LogitComparison,
  Logits,
  readLogits
} from './logit-bound';
import { UnitPlan } from '../../core/model/unit-plan';
import { ProjectionMeans } from './means';
import { zeroUnits } from './zero';

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
 * modelLogits run stage by stage (onnx/stages.ts): every sequence goes through the first stage,
 * then the second…, each stage in a session of its own that reads its weights where they lie in
 * the model's files and is released before the next opens, so onnxruntime only ever holds one
 * stage's weights (at most `cut` bytes of initializers, or one larger initializer). Only the
 * values later stages read are kept between stages (a few short sequences: small), and each
 * sequence's logits go to `take` as soon as the last stage computed them, so a caller that
 * compares them one by one never holds them all. For a graph that cannot be cut, returns why
 * instead. `cut` is the budget, or where another model of the same graph was cut (its `starts`).
 */
export async function stagedLogits(
  model: OnnxModel,
  sequences: number[][],
  cut: number | string[],
  take: TakeLogits,
  options: RuntimeOptions = {}
): Promise<StagedRun | string> {
  const graph = model.graph;
  const staging = planStages(graph, ['logits'], cut, t => model.byteLength(t));
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
      'logits',
      ...stages.slice(s + 1).flatMap(t => t.inputs)
    ]);
    const last = s === stages.length - 1;
    values = await runStage(model, stage, values, later, options, (i, v) =>
      last ? take(i, readLogits(v.get('logits') as Fetched, model.file)) : v
    );
  }
  return { starts: stageStarts(graph, stages) };
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

export interface VerifyOptions extends RuntimeOptions {
  /** The bound in ulps (default: defaultBoundUlps of the logits' type). */
  boundUlps?: number;
  /** The means the pruned model was bias-compensated with (compensation.ts), if it was. */
  means?: ProjectionMeans;
  /**
   * Initializer bytes a stage of the check's forwards may hold (stagedLogits; default a
   * quarter of the model's): onnxruntime maps a model's external data and every page a
   * forward reads stays resident until its session is released, so a whole-model forward
   * would cost about the weights' size.
   */
  stageBytes?: number;
}

/**
 * A model file's logits as the check computes them, each sequence's to `take`: stage by stage
 * (stagedLogits), cut where `like` (the other model's run) was cut when its graph has those
 * nodes, else by the budget; for a graph that cannot be cut, in one session.
 */
async function checkLogits(
  file: string,
  sequences: number[][],
  take: TakeLogits,
  options: RuntimeOptions,
  stageBytes?: number,
  like?: StagedRun
): Promise<StagedRun> {
  const model = OnnxModel.load(file);
  try {
    const weights = model.graph.initializer.reduce(
      (n, t) => n + model.byteLength(t),
      0
    );
    const budget = stageBytes ?? weights / 4;
    let staged = like?.starts
      ? await stagedLogits(model, sequences, like.starts, take, options)
      : 'not cut like another model';
    if (typeof staged === 'string') {
      staged = await stagedLogits(model, sequences, budget, take, options);
    }
    if (typeof staged === 'string') {
      const logits = await modelLogits(file, model.graph, sequences, options);
      logits.forEach((l, i) => take(i, l));
      return {};
    }
    return staged;
  } finally {
    model.close();
  }
}

/** Each sequence's comparison as one: the worst of them, numbered by its sequence. */
function combined(parts: LogitComparison[]): LogitComparison {
  return parts.reduce((all, part, sequence) => {
    const worst = { ...part.worst, sequence };
    const worse =
      worst.ulps > all.worst.ulps ||
      (worst.ulps === all.worst.ulps && worst.scale > all.worst.scale);
    return {
      ...all,
      ok: all.ok && part.ok,
      maxAbsDiff: Math.max(all.maxAbsDiff, part.maxAbsDiff),
      worst: worse ? worst : all.worst
    };
  });
}

/**
 * Runs the original with the plan's units zeroed, then the pruned file, on the same sequences
 * and compares their logits. Never throws for a difference: the caller reads `ok` (or calls
 * assertWithinBound) and reports `describeComparison`.
 */
export async function verifyPruned(
  model: OnnxModel,
  map: ModelMap,
  plan: UnitPlan,
  prunedFile: string,
  sequences: number[][],
  options: VerifyOptions = {}
): Promise<LogitComparison> {
  const { boundUlps, means, stageBytes, ...rest } = options;
  // A few short sequences: packed weight copies would cost a whole model's memory for nothing.
  const runtime = { prepack: false, ...rest };
  const dir = makeTempDir('cusprun-verify-');
  try {
    // Tensors the plan leaves alone (the embedding, norms) stay in the source's data file,
    // hard-linked beside the reference, when the file system allows it.
    const linked = model.hasExternalData() && linkExternalData(model, dir);
    const zeroedFile = path.join(dir, linked ? 'zeroed.onnx' : 'model.onnx');
    // External data even for an inline source: onnxruntime then reads the weights tensor by
    // tensor instead of parsing a model-sized protobuf beside its own copies of them.
    model.save(
      zeroedFile,
      { externalData: true, keepExternal: linked },
      zeroUnits(model, map, plan, means)
    );
    const reference: (Logits | undefined)[] = [];
    const run = await checkLogits(
      zeroedFile,
      sequences,
      (i, logits) => (reference[i] = logits),
      runtime,
      stageBytes
    );
    removeTempDir(dir);
    // Each sequence is compared as soon as the pruned model's logits come, and both are let go:
    // with a large vocabulary they are a sizeable part of the check's memory. The pruned model
    // is cut where the reference was: fused across a different boundary, float16 logits round
    // apart by more than the bound.
    const parts: LogitComparison[] = [];
    const compare = (i: number, logits: Logits) => {
      const a = reference[i] as Logits;
      reference[i] = undefined;
      parts[i] = compareLogits([a], [logits], prunedFile, boundUlps);
    };
    await checkLogits(prunedFile, sequences, compare, runtime, stageBytes, run);
    return parts.length
      ? combined(parts)
      : compareLogits([], [], prunedFile, boundUlps);
  } finally {
    removeTempDir(dir);
  }
}
