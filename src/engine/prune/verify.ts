/**
 * Checks a pruned model against its definition: on the same token sequences, its logits equal
 * those of the original model with the plan's units zeroed. Returns the largest absolute
 * difference; the caller decides the tolerance (1e-4 for fp32, 2e-3 for fp16 by default).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ModelMap } from '../arch/types';
import { Fetched, ModelSession, RuntimeOptions } from '../capture/runtime';
import { modelInputs } from '../capture/scoring-graph';
import { batchFeeds } from '../capture/scoring-session';
import { float16BitsToFloat32 } from '../onnx/dtype';
import { OnnxModel } from '../onnx/model';
import { GraphProto } from '../onnx/proto';
import { UnitPlan } from './plan';
import { zeroUnits } from './zero';

function floats(logits: Fetched): Float32Array {
  return logits.data instanceof Float32Array
    ? logits.data
    : Float32Array.from(logits.data as Uint16Array, float16BitsToFloat32);
}

async function logits(
  file: string,
  graph: GraphProto,
  sequences: number[][],
  options: RuntimeOptions
): Promise<Float32Array[]> {
  const session = await ModelSession.open(file, options);
  try {
    const inputs = modelInputs(graph, file);
    const out: Float32Array[] = [];
    for (const tokens of sequences) {
      const result = await session.run(batchFeeds(inputs, [tokens]), [
        'logits'
      ]);
      out.push(floats(result.logits));
    }
    return out;
  } finally {
    await session.release();
  }
}

export function defaultTolerance(map: ModelMap): number {
  return map.dtype === 'float32' ? 1e-4 : 2e-3;
}

export async function compareWithZeroed(
  model: OnnxModel,
  map: ModelMap,
  plan: UnitPlan,
  prunedFile: string,
  sequences: number[][],
  options: RuntimeOptions = {}
): Promise<number> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cusprun-verify-'));
  try {
    const zeroedFile = path.join(dir, 'model.onnx');
    const zeroed = zeroUnits(model, map, plan);
    model.save(zeroedFile, {}, zeroed);
    const pruned = OnnxModel.load(prunedFile);
    const prunedGraph = pruned.graph;
    pruned.close();
    const [a, b] = await Promise.all([
      logits(zeroedFile, zeroed.graph as GraphProto, sequences, options),
      logits(prunedFile, prunedGraph, sequences, options)
    ]);
    let worst = 0;
    a.forEach((values, i) => {
      values.forEach((v, k) => {
        worst = Math.max(worst, Math.abs(v - b[i][k]));
      });
    });
    return worst;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
