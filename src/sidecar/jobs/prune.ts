/**
 * The prune job: plan from the run's scores, write the pruned model folder, and check it against
 * the original with the same units zeroed on a few of the run's documents. A difference past
 * the tolerance fails the job loudly (the written model stays, for inspection); the result is
 * recorded in the run either way.
 */
import * as fs from 'node:fs';
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
import { ModelMap } from '../../engine/arch/types';
import { readRun, RunRecord, writeRun } from '../run-folder';
import { PlanJob, planWithMap } from './plan';

export interface PruneJob extends PlanJob {
  out: string;
  overwrite?: boolean;
  /** Documents (at most this many tokens each) to compare the pruned model on. */
  verifyDocuments?: number;
  verifyTokens?: number;
}

/** The plan a pruned folder was made with, kept beside the model for `cusprun verify`. */
export const PLAN_FILE = 'cusprun-plan.json';

/** The first few of the run's documents, shortened: what a pruned model is checked on. */
function verificationSequences(
  record: RunRecord,
  model: OnnxModel,
  map: ModelMap,
  options: { verifyDocuments?: number; verifyTokens?: number }
): number[][] {
  const corpus = loadCorpus(record.corpus.manifest, loadTokenizer(model.dir), {
    vocab: map.vocab
  });
  return corpus.dimensions
    .flatMap(d => d.documents)
    .slice(0, options.verifyDocuments ?? 4)
    .map(d => d.tokens.slice(0, options.verifyTokens ?? 64));
}

function checkDifference(
  maxAbsDiff: number,
  map: ModelMap,
  file: string
): void {
  const tolerance = defaultTolerance(map);
  if (!(maxAbsDiff <= tolerance)) {
    throw new CusprunError(
      'unsupported',
      `the pruned model differs from the original with the same units zeroed by ${maxAbsDiff} (tolerance ${tolerance}); please report this export`,
      file
    );
  }
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
    checkDifference(maxAbsDiff, map, written.file);
    return { plan, written, maxAbsDiff };
  } finally {
    model.close();
  }
}

/** `cusprun verify`: checks a pruned folder written by `prune` against its run's original. */
export async function runVerifyJob(job: {
  pruned: string;
  run: string;
  verifyDocuments?: number;
  verifyTokens?: number;
}): Promise<{ maxAbsDiff: number; tolerance: number }> {
  const planFile = path.join(path.resolve(job.pruned), PLAN_FILE);
  if (!fs.existsSync(planFile)) {
    throw new CusprunError(
      'not-found',
      `not a folder written by 'cusprun prune' (no ${PLAN_FILE})`,
      job.pruned
    );
  }
  const plan = JSON.parse(fs.readFileSync(planFile, 'utf8')) as ExpertPlan;
  const record = readRun(job.run);
  const model = OnnxModel.load(record.model.file);
  try {
    const map = mapModel(model, { config: readModelConfig(model.file) });
    const pruned = path.join(path.resolve(job.pruned), 'model.onnx');
    const maxAbsDiff = await compareWithZeroed(
      model,
      map,
      unitPlanOf(plan),
      pruned,
      verificationSequences(record, model, map, job)
    );
    checkDifference(maxAbsDiff, map, pruned);
    return { maxAbsDiff, tolerance: defaultTolerance(map) };
  } finally {
    model.close();
  }
}
