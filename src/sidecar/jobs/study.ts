/**
 * The study job: one grid over the runs given (each a document sample of the same corpora:
 * the seeds), the target ratios, the relaxed rule's q values (q = 1 is the paper's rule) and
 * plain against bias-compensated, with the baselines at each expert's per-layer counts, all on
 * one evaluation cache (the first run's), kept in the first run's `study/`.
 */
import * as path from 'node:path';
import { CusprunError } from '../../core/errors';
import type {
  Method,
  StudyCompensation,
  StudyRecord,
  StudyRow
} from '../../core/experiment';
import { studyVariant } from '../../core/experiment';
import { sha256Hex } from '../../engine/corpus';
import { readUtf8File } from '../../engine/corpus/utf8';
import { runSweep } from '../../engine/experiment';
import { readRun } from '../run-folder';
import {
  baselineInputs,
  Experiment,
  ExperimentJob,
  experimentCompensation,
  openExperiment
} from './experiment';
import { readPrompts } from './eval';
import { stopIds } from './generate';
import { expertViewOf, requestedDimensions } from './plan';
import { evalSetRecords } from './sweep';

export const STUDY_DIR = 'study';

export interface StudyJob extends ExperimentJob {
  /** More runs of the same model and corpora, scored from other document samples. */
  seedRuns?: string[];
  dims?: string[];
  targetRatios: number[];
  qs: number[];
  compensations: StudyCompensation[];
  methods: Method[];
  /** JSON Lines of `{prompt, reference?}`: every row decodes each greedily (its sample texts). */
  prompts?: string;
  maxNewTokens?: number;
  onRow?: (row: StudyRow) => void;
}

export const DEFAULT_STUDY_NEW_TOKENS = 20;

/** The prompts as the record names them, and the evaluator's settings (the model's EOS ends a text). */
function studyPrompts(job: StudyJob) {
  if (job.prompts === undefined) {
    return undefined;
  }
  const file = path.resolve(job.prompts);
  const prompts = readPrompts(file);
  const maxNewTokens = job.maxNewTokens ?? DEFAULT_STUDY_NEW_TOKENS;
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 1) {
    throw new CusprunError(
      'bad-argument',
      `max-new-tokens must be a positive integer, not ${maxNewTokens}`
    );
  }
  return {
    record: { file, sha256: sha256Hex(readUtf8File(file)), maxNewTokens },
    settings: (model: { dir: string }) => ({
      prompts,
      maxNewTokens,
      stopIds: stopIds(model.dir)
    })
  };
}

/** `run` as an experiment on the first run's model and evaluator (its cache shared). */
function seedExperiment(first: Experiment, run: string): Experiment {
  const record = readRun(run);
  if (record.model.sha256 !== first.record.model.sha256) {
    throw new CusprunError(
      'bad-argument',
      `was scored on another model (SHA-256 ${record.model.sha256.slice(0, 12)}…, not ${first.record.model.sha256.slice(0, 12)}…)`,
      run
    );
  }
  return { ...first, record };
}

/** Every row of one run: each q's expert and the baselines at its counts, plain and compensated. */
async function runRows(
  job: StudyJob,
  experiment: Experiment,
  run: string
): Promise<StudyRow[]> {
  const seed = experiment.record.corpus.seed;
  const inputs = await baselineInputs(
    { ...job, run, seed },
    experiment,
    job.methods
  );
  const means = job.compensations.includes('bias')
    ? await experimentCompensation(experiment, job.dims)
    : undefined;
  const rows: StudyRow[] = [];
  for (const q of job.qs) {
    const { expert } = expertViewOf(
      { run, dims: job.dims, q },
      experiment.record,
      experiment.map
    );
    for (const compensation of job.compensations) {
      await runSweep(
        expert,
        experiment.evaluator,
        job.methods,
        inputs,
        { targetRatios: job.targetRatios },
        point => {
          const row = {
            ...point,
            ...{ run, seed, q, compensation },
            variant: studyVariant(point.method, q)
          };
          rows.push(row);
          job.onRow?.(row);
        },
        compensation === 'bias' ? means?.compensation : undefined
      );
    }
  }
  return rows;
}

export async function runStudyJob(job: StudyJob): Promise<StudyRecord> {
  const started = Date.now();
  const prompts = studyPrompts(job);
  const experiment = openExperiment(job, prompts?.settings);
  try {
    // Absolute, as the record's `runs` name them: rows are matched to their run by it.
    const runs = [job.run, ...(job.seedRuns ?? [])].map(r => path.resolve(r));
    const rows: StudyRow[] = [];
    for (const run of runs) {
      const seeded =
        run === runs[0] ? experiment : seedExperiment(experiment, run);
      rows.push(...(await runRows(job, seeded, run)));
    }
    const { evaluator, record } = experiment;
    const dense = await evaluator.evaluate();
    return {
      kind: 'study',
      at: new Date().toISOString(),
      seconds: (Date.now() - started) / 1000,
      dimensions: requestedDimensions(record, job.dims),
      runs: runs.map(run => ({ run, seed: readRun(run).corpus.seed })),
      targetRatios: job.targetRatios,
      qs: job.qs,
      compensations: job.compensations,
      methods: job.methods,
      evalSets: evalSetRecords(evaluator.sets),
      truncation: evaluator.settings.truncation,
      ...(prompts ? { prompts: prompts.record } : {}),
      dense: dense.metrics,
      ...(dense.generation ? { denseGeneration: dense.generation } : {}),
      rows
    };
  } finally {
    experiment.close();
  }
}
