/**
 * Checks a pruned model against its definition: on the same token sequences, its logits equal
 * those of the original model with the plan's units zeroed, within a bound in ulps of the
 * logits' own float type at each row's largest |logit| (logit-bound.ts, README.md).
 */
import * as path from 'node:path';
import { ModelMap } from '../../core/model/model-map';
import { ModelSession, RuntimeOptions } from '../capture/runtime';
import { linkExternalData, modelInputs } from '../capture/scoring-graph';
import { batchFeeds } from '../capture/scoring-session';
import { OnnxModel } from '../onnx/model';
import { GraphProto } from '../onnx/proto';
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

export interface VerifyOptions extends RuntimeOptions {
  /** The bound in ulps (default: defaultBoundUlps of the logits' type). */
  boundUlps?: number;
  /** The means the pruned model was bias-compensated with (compensation.ts), if it was. */
  means?: ProjectionMeans;
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
  const { boundUlps, means, ...rest } = options;
  // A few short sequences: packed weight copies would cost a whole model's memory for nothing.
  const runtime = { prepack: false, ...rest };
  const dir = makeTempDir('cusprun-verify-');
  try {
    // Tensors the plan leaves alone (the embedding, norms) stay in the source's data file,
    // hard-linked beside the reference, when the file system allows it.
    const linked = model.hasExternalData() && linkExternalData(model, dir);
    const zeroedFile = path.join(dir, linked ? 'zeroed.onnx' : 'model.onnx');
    const zeroed = zeroUnits(model, map, plan, means);
    // External data even for an inline source: onnxruntime then reads the weights tensor by
    // tensor instead of parsing a model-sized protobuf beside its own copies of them.
    model.save(
      zeroedFile,
      { externalData: true, keepExternal: linked },
      zeroed
    );
    const pruned = OnnxModel.load(prunedFile);
    const prunedGraph = pruned.graph;
    pruned.close();
    // One session at a time: each holds (or maps) a whole model's weights, and only the
    // logits are kept from the first when the second opens.
    const zeroedGraph = zeroed.graph as GraphProto;
    const a = await modelLogits(zeroedFile, zeroedGraph, sequences, runtime);
    removeTempDir(dir);
    const b = await modelLogits(prunedFile, prunedGraph, sequences, runtime);
    return compareLogits(a, b, prunedFile, boundUlps);
  } finally {
    removeTempDir(dir);
  }
}
