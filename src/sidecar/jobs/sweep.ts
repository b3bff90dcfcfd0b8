/**
 * The sweep job: over a σ grid or a target-ratio grid, the expert and the baselines built in
 * memory and evaluated; the result is kept in the run folder's `sweeps/`.
 */
import * as path from 'node:path';
import type {
  EvalSetRecord,
  Method,
  SweepGrid,
  SweepPoint,
  SweepRecord
} from '../../core/experiment';
import { runSweep } from '../../engine/experiment';
import { EvalSet } from '../../engine/experiment/eval-sets';
import { writeFileAtomic } from '../../engine/output';
import {
  baselineInputs,
  ExperimentJob,
  experimentCompensation,
  openExperiment
} from './experiment';
import { expertViewOf, ExpertJob } from './plan';

export interface SweepJob extends ExperimentJob, ExpertJob {
  grid: SweepGrid;
  methods: Method[];
  seed?: number;
  /** Evaluate every method bias-compensated with the means over the run's documents of dims. */
  compensateBias?: boolean;
  onPoint?: (point: SweepPoint) => void;
}

export const SWEEPS_DIR = 'sweeps';

/** A file name from a time stamp, sortable and safe on every filesystem. */
export function stampName(at: string): string {
  return `${at.replace(/[:.]/g, '-')}.json`;
}

export function evalSetRecords(sets: EvalSet[]): EvalSetRecord[] {
  return sets.map(({ name, task, file, sha256 }) => ({
    name,
    task,
    file,
    sha256
  }));
}

export async function runSweepJob(
  job: SweepJob
): Promise<{ record: SweepRecord; file: string }> {
  const experiment = openExperiment(job);
  try {
    const view = expertViewOf(job, experiment.record, experiment.map);
    const { expert } = view;
    const inputs = await baselineInputs(job, experiment, job.methods);
    const compensated = job.compensateBias
      ? await experimentCompensation(experiment, job.dims)
      : undefined;
    const result = await runSweep(
      expert,
      experiment.evaluator,
      job.methods,
      inputs,
      job.grid,
      job.onPoint,
      compensated?.compensation
    );
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
