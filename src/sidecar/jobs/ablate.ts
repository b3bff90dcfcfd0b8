/**
 * The ablation job: experts on every non-empty subset of the run's dimensions at one target
 * ratio, and general calibration at the all-dimension expert's per-layer counts (calibrated on
 * the documents of `baselineRun`, else the run's own, as a sweep's), evaluated side by side; the
 * result is kept in the run folder's `ablations/`.
 */
import * as path from 'node:path';
import type {
  AblationRecord,
  AblationRow,
  CompensationKind
} from '../../core/experiment';
import {
  EvaluationShard,
  generalEvaluation,
  inShard,
  runAblation
} from '../../engine/experiment';
import { writeFileAtomic } from '../../engine/output';
import {
  baselineInputs,
  Experiment,
  ExperimentJob,
  experimentCompensation,
  openExperiment,
  runShard,
  ShardOutcome
} from './experiment';
import { ExpertJob, readDimensionRanks, requestedDimensions } from './plan';
import { evalSetRecords } from './sweep';
import { stampName } from '../run-folder';

export interface AblateJob extends ExperimentJob, ExpertJob {
  targetRatio: number;
  /**
   * Evaluate every row with its removed units compensated so, fitted once on the run's documents
   * of dims (every row's, whichever subset it keeps); default `none`.
   */
  compensation?: CompensationKind;
  onRow?: (row: AblationRow) => void;
}

export const ABLATIONS_DIR = 'ablations';

/** The ablation's evaluations (a shard's only, given one), and the experts' ranks. */
async function ablationIn(
  experiment: Experiment,
  job: AblateJob,
  shard?: EvaluationShard
) {
  const { record: run, map, evaluator } = experiment;
  const dims = requestedDimensions(run, job.dims);
  const ranks = readDimensionRanks(job.run, run, map, dims, job);
  // A shard without the general row does not pool the calibration's scores.
  const { general } = inShard(shard, generalEvaluation(ranks.length))
    ? await baselineInputs(job, experiment, ['general'])
    : {};
  const compensated = await experimentCompensation(
    experiment,
    job.dims,
    job.compensation
  );
  const result = await runAblation(
    map,
    ranks,
    job,
    job.targetRatio,
    evaluator,
    {
      onRow: job.onRow,
      shard,
      general,
      compensation: compensated?.compensation
    }
  );
  return { ranks, compensated, result };
}

export async function runAblateJob(
  job: AblateJob
): Promise<{ record: AblationRecord; file: string }> {
  const experiment = openExperiment(job);
  try {
    const { ranks, compensated, result } = await ablationIn(experiment, job);
    const { evaluator } = experiment;
    const at = new Date().toISOString();
    const record: AblationRecord = {
      kind: 'ablation',
      at,
      rule: ranks[0].rule,
      q: ranks[0].q,
      evalSets: evalSetRecords(evaluator.sets),
      truncation: evaluator.settings.truncation,
      ...(compensated ? { compensation: compensated.record } : {}),
      ...(job.baselineRun
        ? { baselineRun: path.resolve(job.baselineRun) }
        : {}),
      ...result
    };
    const file = path.join(job.run, ABLATIONS_DIR, stampName(at));
    writeFileAtomic(file, `${JSON.stringify(record, null, 1)}\n`);
    return { record, file };
  } finally {
    experiment.close();
  }
}

/** One shard of an ablation's evaluations, into the run's evaluation cache only (runShard). */
export function runAblateShard(
  job: AblateJob,
  shard: EvaluationShard
): Promise<ShardOutcome> {
  return runShard(job, async experiment => {
    const { result } = await ablationIn(experiment, job, shard);
    const rows = [...result.rows, ...(result.general ? [result.general] : [])];
    const made = rows.filter(r => r.unreachable === undefined).length;
    return made + (result.dense.length ? 1 : 0);
  });
}
