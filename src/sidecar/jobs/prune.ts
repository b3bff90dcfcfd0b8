/**
 * The prune job: plan from the run's scores, write the pruned model folder, and check it against
 * the original with the same units zeroed on a few of the run's documents. A difference past
 * the tolerance fails the job loudly (the written model stays, for inspection); the result is
 * recorded in the run either way.
 */
import * as path from 'node:path';
import { readModelConfig } from '../../engine/arch/inspect';
import { mapModel } from '../../engine/arch/map';
import { loadCorpus, loadTokenizer } from '../../engine/corpus';
import { CusprunError } from '../../engine/errors';
import { OnnxModel } from '../../engine/onnx/model';
import {
  compareWithZeroed,
  defaultTolerance,
  WrittenModel,
  writePrunedModel
} from '../../engine/prune';
import { ExpertPlan, unitPlanOf } from '../../engine/select';
import { readRun, writeRun } from '../run-folder';
import { PlanJob, planWithMap } from './plan';

export interface PruneJob extends PlanJob {
  out: string;
  overwrite?: boolean;
  /** Documents (at most this many tokens each) to compare the pruned model on. */
  verifyDocuments?: number;
  verifyTokens?: number;
}

export async function runPruneJob(
  job: PruneJob
): Promise<{ plan: ExpertPlan; written: WrittenModel; maxAbsDiff: number }> {
  const record = readRun(job.run);
  const model = OnnxModel.load(record.model.file);
  try {
    const map = mapModel(model, { config: readModelConfig(model.file) });
    const plan = planWithMap(job, record, map);
    const units = unitPlanOf(plan);
    const written = writePrunedModel(model, units, job.out, {
      overwrite: job.overwrite
    });
    const corpus = loadCorpus(
      record.corpus.manifest,
      loadTokenizer(model.dir),
      { vocab: map.vocab }
    );
    const sequences = corpus.dimensions
      .flatMap(d => d.documents)
      .slice(0, job.verifyDocuments ?? 4)
      .map(d => d.tokens.slice(0, job.verifyTokens ?? 64));
    const maxAbsDiff = await compareWithZeroed(
      model,
      map,
      units,
      written.file,
      sequences
    );
    const { layers: _layers, ...summary } = plan;
    record.prunes.push({
      out: written.dir,
      at: new Date().toISOString(),
      plan: summary,
      bytesBefore: written.bytesBefore,
      bytesAfter: written.bytesAfter,
      maxAbsDiff
    });
    writeRun(job.run, record);
    const tolerance = defaultTolerance(map);
    if (!(maxAbsDiff <= tolerance)) {
      throw new CusprunError(
        'unsupported',
        `the pruned model differs from the original with the same units zeroed by ${maxAbsDiff} (tolerance ${tolerance}); please report this export`,
        path.join(written.dir, 'model.onnx')
      );
    }
    return { plan, written, maxAbsDiff };
  } finally {
    model.close();
  }
}
