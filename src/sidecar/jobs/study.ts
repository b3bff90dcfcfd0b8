/**
 * The study job: one grid over the runs given (each a document sample of the same corpora:
 * the seeds), the target ratios, the relaxed rule's q values (q = 1 is the paper's rule) and
 * plain against compensated, with the baselines at each expert's per-layer counts, all on
 * one evaluation cache (the first run's), kept in the first run's `study/`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CusprunError } from '../../core/errors';
import type {
  Method,
  StudyAllocation,
  StudyAttention,
  CompensationKind,
  StudyExpertSettings,
  StudyRecord,
  StudyRow
} from '../../core/experiment';
import { studyVariant } from '../../core/experiment';
import type { Expert, Rule, RuleSettings } from '../../core/select';
import { withComparisons } from '../../core/study-comparison';
import { sha256Hex } from '../../engine/corpus';
import { readUtf8File } from '../../engine/corpus/utf8';
import { aboutFile } from '../../engine/fs-errors';
import {
  BaselineInputs,
  Compensation,
  Planner,
  runSweep
} from '../../engine/experiment';
import { DEFAULT_RIDGE } from '../../engine/prune';
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
import { sensitivityPlanner } from './sensitivity';
import { evalSetRecords } from './sweep';

export const STUDY_DIR = 'study';

/** A study's record as it wrote it (STAMP.json in a run's study/). */
export function readStudyRecord(file: string): StudyRecord {
  const text = aboutFile(file, () => fs.readFileSync(file, 'utf8'));
  let record: Partial<StudyRecord>;
  try {
    record = JSON.parse(text) as Partial<StudyRecord>;
  } catch {
    throw new CusprunError(
      'bad-argument',
      `is not JSON; give the .json a study wrote into its run's ${STUDY_DIR}/`,
      file
    );
  }
  if (record?.kind !== 'study' || !Array.isArray(record.rows)) {
    throw new CusprunError(
      'bad-argument',
      `is not a study record (no "kind": "study"); give the .json a study wrote into its run's ${STUDY_DIR}/`,
      file
    );
  }
  return record as StudyRecord;
}

export interface StudyJob extends ExperimentJob {
  /** More runs of the same model and corpora, scored from other document samples. */
  seedRuns?: string[];
  dims?: string[];
  targetRatios: number[];
  qs: number[];
  /** Experts under named rules beside the q grid's (pooled-intersect, rank-mean). */
  rules?: Rule[];
  /** One σ for every layer, and/or counts allocated by sensitivity (default `sigma`). */
  allocations?: StudyAllocation[];
  /** Experts that may remove attention groups, and/or keep them all (default `prune`). */
  attentions?: StudyAttention[];
  compensations: CompensationKind[];
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

/** The study's experts: each q of the grid (q 1 is the paper's rule), then each other rule. */
function studyExperts(job: StudyJob): RuleSettings[] {
  return [
    ...job.qs.map(q => ({ rule: q === 1 ? 'paper' : 'q', q }) as const),
    ...(job.rules ?? []).map(rule => ({ rule, q: 1 }))
  ];
}

/** The expert itself (one σ), or its counts allocated by the sensitivity probe. */
async function allocatedPlanner(
  job: StudyJob,
  experiment: Experiment,
  run: string,
  expert: Expert,
  allocation: StudyAllocation
): Promise<Planner> {
  if (allocation === 'sigma') {
    return expert;
  }
  return sensitivityPlanner(
    run,
    experiment.record,
    experiment.evaluator.model,
    expert,
    {
      dims: requestedDimensions(experiment.record, job.dims),
      threads: job.threads
    }
  );
}

/** Every row of one run: each expert and the baselines at its counts, plain and compensated. */
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
  const compensations = await compensationsOf(job, experiment);
  const rows: StudyRow[] = [];
  for (const { rule, q } of studyExperts(job)) {
    for (const attention of job.attentions ?? ['prune']) {
      const { expert } = expertViewOf(
        { run, dims: job.dims, rule, q, keepAttention: attention === 'keep' },
        experiment.record,
        experiment.map
      );
      for (const allocation of job.allocations ?? ['sigma']) {
        const settings: StudyExpertSettings = {
          rule,
          q,
          ...(allocation === 'sensitivity' ? { allocation } : {}),
          ...(attention === 'keep' ? { attention } : {})
        };
        const planner = await allocatedPlanner(
          job,
          experiment,
          run,
          expert,
          allocation
        );
        rows.push(
          ...(await expertRows(
            job,
            experiment,
            run,
            planner,
            inputs,
            compensations,
            settings
          ))
        );
      }
    }
  }
  return rows;
}

/** The statistics of each compensation the study has (none for `none`), fitted on the run. */
async function compensationsOf(
  job: StudyJob,
  experiment: Experiment
): Promise<Map<CompensationKind, Compensation>> {
  const fitted = new Map<CompensationKind, Compensation>();
  for (const kind of job.compensations) {
    const made = await experimentCompensation(experiment, job.dims, kind);
    if (made) {
      fitted.set(kind, made.compensation);
    }
  }
  return fitted;
}

/** One expert's rows: it and the baselines at its counts, plain and compensated. */
async function expertRows(
  job: StudyJob,
  experiment: Experiment,
  run: string,
  planner: Planner,
  inputs: BaselineInputs,
  compensations: Map<CompensationKind, Compensation>,
  expert: StudyExpertSettings
): Promise<StudyRow[]> {
  const seed = experiment.record.corpus.seed;
  const rows: StudyRow[] = [];
  for (const compensation of job.compensations) {
    await runSweep(
      planner,
      experiment.evaluator,
      job.methods,
      inputs,
      { targetRatios: job.targetRatios },
      point => {
        const row = {
          ...point,
          ...expert,
          ...{ run, seed, compensation },
          variant: studyVariant(point.method, expert)
        };
        rows.push(row);
        job.onRow?.(row);
      },
      compensations.get(compensation)
    );
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
      ...(job.rules?.length ? { rules: job.rules } : {}),
      ...(job.allocations ? { allocations: job.allocations } : {}),
      ...(job.attentions ? { attentions: job.attentions } : {}),
      compensations: job.compensations,
      ...(job.compensations.includes('regression')
        ? { ridge: DEFAULT_RIDGE }
        : {}),
      methods: job.methods,
      ...(job.baselineRun
        ? { baselineRun: path.resolve(job.baselineRun) }
        : {}),
      evalSets: evalSetRecords(evaluator.sets),
      truncation: evaluator.settings.truncation,
      ...(prompts ? { prompts: prompts.record } : {}),
      dense: dense.metrics,
      ...(dense.generation ? { denseGeneration: dense.generation } : {}),
      rows: withComparisons(rows, dense.metrics)
    };
  } finally {
    experiment.close();
  }
}
