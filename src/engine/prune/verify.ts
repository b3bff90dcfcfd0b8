/**
 * Checks a pruned model against its definition: on the same token sequences, its logits equal
 * those of the original model with the plan's units zeroed, within a bound in ulps of the
 * logits' own float type at each row's largest |logit| (logit-bound.ts, README.md).
 */
import * as path from 'node:path';
import { ModelMap } from '../../core/model/model-map';
import { RuntimeOptions } from '../capture/runtime';
import { linkExternalData } from '../capture/scoring-graph';
import { OnnxModel } from '../onnx/model';
import { makeTempDir, removeTempDir } from '../output/temp-dir';
import { LogitComparison, Logits, SlicedComparison } from './logit-bound';
import { UnitPlan } from '../../core/model/unit-plan';
import { CompensationStatistics } from './compensate';
import { modelLogits, StagedRun, stagedLogits, TakeLogits } from './staged';
import { vocabSlicedCheck } from './vocab-check';
import { zeroUnits } from './zero';

export interface VerifyOptions extends RuntimeOptions {
  /** The bound in ulps (default: defaultBoundUlps of the logits' type). */
  boundUlps?: number;
  /** The statistics the pruned model was compensated with (compensate.ts), if it was. */
  compensation?: CompensationStatistics;
  /**
   * Initializer bytes a stage of the check's forwards may hold (stagedValues; default a
   * quarter of the model's): onnxruntime maps a model's external data and every page a
   * forward reads stays resident until its session is released, so a whole-model forward
   * would cost about the weights' size. The lm_head's vocabulary slices hold their weight and
   * their logits of every sequence within it too (vocab-check.ts).
   */
  stageBytes?: number;
}

/**
 * A model's logits as the check computes them, each sequence's to `take`: stage by stage, cut
 * like `like` (the other model's run) or by the budget (stagedLogits); for a graph that
 * cannot be cut, in one session.
 */
async function checkLogits(
  model: OnnxModel,
  sequences: number[][],
  take: TakeLogits,
  options: RuntimeOptions,
  budget: number,
  like?: StagedRun
): Promise<StagedRun> {
  const staged = await stagedLogits(
    model,
    sequences,
    budget,
    take,
    options,
    like
  );
  if (typeof staged === 'string') {
    const logits = await modelLogits(
      model.file,
      model.graph,
      sequences,
      options
    );
    logits.forEach((l, i) => take(i, l));
    return {};
  }
  return staged;
}

/**
 * The reference's logits of every sequence, then the pruned model's, each sequence compared as
 * its pruned logits come and let go: with a large vocabulary they are a sizeable part of the
 * check's memory. The pruned model is cut where the reference was: fused across a different
 * boundary, float16 logits round apart by more than the bound.
 */
async function wholeLogitsCheck(
  reference: OnnxModel,
  pruned: OnnxModel,
  sequences: number[][],
  budget: number,
  options: RuntimeOptions,
  comparison: SlicedComparison
): Promise<void> {
  const kept: (Logits | undefined)[] = [];
  const run = await checkLogits(
    reference,
    sequences,
    (i, logits) => (kept[i] = logits),
    options,
    budget
  );
  const compare = (i: number, logits: Logits) => {
    comparison.add(i, kept[i] as Logits, logits);
    kept[i] = undefined;
  };
  await checkLogits(pruned, sequences, compare, options, budget, run);
}

/**
 * Runs the original with the plan's units zeroed, then the pruned file, on the same sequences
 * and compares their logits: with the lm_head cut along the vocabulary where it is a MatMul by
 * a constant weight (vocab-check.ts), else whole. Never throws for a difference: the caller
 * reads `ok` (or calls assertWithinBound) and reports `describeComparison`.
 */
export async function verifyPruned(
  model: OnnxModel,
  map: ModelMap,
  plan: UnitPlan,
  prunedFile: string,
  sequences: number[][],
  options: VerifyOptions = {}
): Promise<LogitComparison> {
  const { boundUlps, compensation, stageBytes, ...rest } = options;
  // A few short sequences: packed weight copies would cost a whole model's memory for nothing.
  const runtime = { prepack: false, ...rest };
  const dir = makeTempDir('cusprun-verify-');
  const opened: OnnxModel[] = [];
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
      zeroUnits(model, map, plan, compensation)
    );
    const reference = OnnxModel.load(zeroedFile);
    opened.push(reference);
    const pruned = OnnxModel.load(prunedFile);
    opened.push(pruned);
    const weights = reference.graph.initializer.reduce(
      (n, t) => n + reference.byteLength(t),
      0
    );
    const budget = stageBytes ?? weights / 4;
    const check = [reference, pruned, sequences, budget, runtime] as const;
    const comparison = new SlicedComparison(prunedFile);
    const sliced = await vocabSlicedCheck(...check, comparison);
    if (sliced !== undefined) {
      await wholeLogitsCheck(...check, comparison);
    }
    return comparison.result(boundUlps);
  } finally {
    opened.forEach(m => m.close());
    removeTempDir(dir);
  }
}
