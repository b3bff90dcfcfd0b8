/**
 * The sweep job: over a σ grid or a target-ratio grid, the expert and the baselines built in
 * memory and evaluated; the result is kept in the run folder's `sweeps/`.
 */
import * as path from 'node:path';
import type {
  CompensationKind,
  EvalSetRecord,
  Method,
  SweepGrid,
  SweepPoint,
  SweepRecord
} from '../../core/experiment';
import {
  EvaluationShard,
  runSweep,
  sweepShardMethods
} from '../../engine/experiment';
import { EvalSet } from '../../engine/experiment/eval-sets';
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
import { expertViewOf, ExpertJob } from './plan';
import { stampName } from '../run-folder';

export interface SweepJob extends ExperimentJob, ExpertJob {
  grid: SweepGrid;
  methods: Method[];
  seed?: number;
  /**
   * Evaluate every method with its removed units compensated so, fitted on the run's documents
   * of dims; default `none`.
   */
  compensation?: CompensationKind;
  onPoint?: (point: SweepPoint) => void;
}

export const SWEEPS_DIR = 'sweeps';

export function evalSetRecords(sets: EvalSet[]): EvalSetRecord[] {
  return sets.map(({ name, task, file, sha256 }) => ({
    name,
    task,
    file,
    sha256
  }));
}

/** The sweep's evaluations (a shard's only, given one) and what its record needs besides. */
async function sweepIn(
  experiment: Experiment,
  job: SweepJob,
  shard?: EvaluationShard
) {
  const view = expertViewOf(job, experiment.record, experiment.map);
  // A shard makes only the baseline inputs its own evaluations rank by.
  const methods = sweepShardMethods(job.methods, job.grid, shard);
  const inputs = await baselineInputs(job, experiment, methods);
  const compensated = await experimentCompensation(
    experiment,
    job.dims,
    job.compensation
  );
  const result = await runSweep(
    view.expert,
    experiment.evaluator,
    job.methods,
    inputs,
    job.grid,
    job.onPoint,
    compensated?.compensation,
    shard
  );
  return { view, inputs, compensated, result };
}

export async function runSweepJob(
  job: SweepJob
): Promise<{ record: SweepRecord; file: string }> {
  const experiment = openExperiment(job);
  try {
    const { view, inputs, compensated, result } = await sweepIn(
      experiment,
      job
    );
    const { expert } = view;
    const at = new Date().toISOString();
    const record: SweepRecord = {
      kind: 'sweep',
      at,
      dimensions: expert.dimensions,
      grid: job.grid,
      methods: job.methods,
      seed: inputs.seed,
      rule: expert.rule,
      q: expert.q,
      evalSets: evalSetRecords(experiment.evaluator.sets),
      truncation: experiment.evaluator.settings.truncation,
      ...(compensated ? { compensation: compensated.record } : {}),
      ...(job.baselineRun
        ? { baselineRun: path.resolve(job.baselineRun) }
        : {}),
      ...result,
      ratios: view.ratios()
    };
    const file = path.join(job.run, SWEEPS_DIR, stampName(at));
    writeFileAtomic(file, `${JSON.stringify(record, null, 1)}\n`);
    return { record, file };
  } finally {
    experiment.close();
  }
}

/** One shard of a sweep's evaluations, into the run's evaluation cache only (runShard). */
export function runSweepShard(
  job: SweepJob,
  shard: EvaluationShard
): Promise<ShardOutcome> {
  return runShard(job, async experiment => {
    const { result } = await sweepIn(experiment, job, shard);
    return result.points.length + (result.dense.length ? 1 : 0);
  });
}
