/**
 * The prune job: plan from the run's scores, write the pruned model folder, and check it against
 * the original with the same units zeroed on a few of the run's documents before it takes its
 * place (a model that fails the check is never left behind). The folder carries what `cusprun
 * verify` needs to check it again on its own: the plan, the original's identity and the token
 * sequences it was checked on, and for a compensated model the means (bias) or the regression
 * fit it was made with.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { modelMapOf } from '../../engine/arch/inspect';
import { ModelMap } from '../../core/model/model-map';
import { Corpus, loadCorpus, loadTokenizer } from '../../engine/corpus';
import { CusprunError } from '../../core/errors';
import { aboutFile } from '../../engine/fs-errors';
import { OnnxModel } from '../../engine/onnx/model';
import { ProtectedPlace } from '../../engine/output';
import {
  checkPrunedOutput,
  CompensationStatistics,
  describeComparison,
  MEANS_FILE,
  meansSha256,
  ProjectionMeans,
  projectionMeans,
  readMeansFile,
  readRegressionFile,
  REGRESSION_FILE,
  RegressionFit,
  regressionFit,
  regressionSha256,
  UnitPlan,
  verifyPruned,
  writeMeansFile,
  writeRegressionFile,
  WrittenModel,
  writePrunedModel
} from '../../engine/prune';
import type { Verification } from '../../core/protocol';
import { modelIdentity } from '../../engine/score/identity';
import type { ScoreProgress } from '../../engine/score/score';
import { ExpertPlan, unitPlanOf } from '../../core/select';
import { cusprunVersion, readRun, RunRecord, writeRun } from '../run-folder';
import { expertViewOf, PlanJob, requestedDimensions } from './plan';
import { sensitivityPlanner } from './sensitivity';
import {
  CompensationKind,
  DEFAULT_PRUNE_COMPENSATION,
  REMOVED_UNITS,
  RemovedUnits,
  StudyAllocation
} from '../../core/experiment';

export type PruneJob = PlanJob & {
  out: string;
  overwrite?: boolean;
  /** Places the output must not replace or hold, besides the model, run and corpus. */
  protect?: ProtectedPlace[];
  /** Documents (at most this many tokens each) to compare the pruned model on. */
  verifyDocuments?: number;
  verifyTokens?: number;
  /**
   * What becomes of the removed units (default DEFAULT_PRUNE_COMPENSATION): zeroed; replaced by
   * their means over the run's documents of the requested dimensions, folded into the bias
   * after their projection (engine/prune/compensation.ts); or replaced by their ridge
   * predictions from the kept channels, fitted on the same documents (engine/prune/regression.ts).
   */
  compensation?: CompensationKind;
  /** The compensation's pass over the run's documents, as it goes. */
  onScoreProgress?: (progress: ScoreProgress) => void;
  /** `sensitivity`: per-layer counts allocated by the probe (jobs/sensitivity.ts), not one σ. */
  allocation?: StudyAllocation;
};

/** The job's plan: at σ or a target ratio, or with counts allocated by sensitivity. */
async function prunePlan(
  job: PruneJob,
  record: RunRecord,
  model: OnnxModel,
  map: ModelMap
): Promise<ExpertPlan> {
  const view = expertViewOf(job, record, map);
  if (job.allocation !== 'sensitivity') {
    return view.at(job).plan;
  }
  const planner = await sensitivityPlanner(
    job.run,
    record,
    {
      source: model,
      map,
      sha256: modelIdentity(model).sha256,
      tokenizer: loadTokenizer(model.dir)
    },
    view.expert,
    { dims: requestedDimensions(record, job.dims) }
  );
  return planner.plan(job);
}

/** What a pruned folder says about itself, for `cusprun verify`. */
export const PLAN_FILE = 'cusprun-plan.json';

export interface PrunedFolderRecord {
  format: 'cusprun-pruned';
  version: 1;
  created: string;
  cusprun: string;
  /** The model it was pruned from (SHA-256 as the run records it) and the run it was planned on. */
  source: { model: string; sha256: string; run: string };
  plan: ExpertPlan;
  /** Token sequences of the run's documents the model is checked on. */
  sequences: number[][];
  /**
   * For a compensated model: the file (beside this one) of its means (bias) or its regression
   * fit, and what they are over.
   */
  compensation?: ({ means: string } | { regression: string; ridge: number }) & {
    dimensions: string[];
    tokens: number;
    /** The file's SHA-256 (absent in folders written before it was kept): verify checks it. */
    sha256?: string;
  };
}

/** The first few of the run's documents, shortened: what a pruned model is checked on. */
function verificationSequences(corpus: Corpus, job: PruneJob): number[][] {
  return corpus.dimensions
    .flatMap(d => d.documents)
    .slice(0, job.verifyDocuments ?? 4)
    .map(d => d.tokens.slice(0, job.verifyTokens ?? 64));
}

/** What became of the removed units in what a pruned model equals: zeroed, or what replaced them. */
export function removedUnits(
  statistics: CompensationStatistics | undefined
): RemovedUnits {
  if (!statistics) {
    return REMOVED_UNITS.none;
  }
  return REMOVED_UNITS['kind' in statistics ? 'regression' : 'bias'];
}

/** The run's documents of the requested dimensions: what compensation's means are over. */
export async function runMeans(
  corpus: Corpus,
  dimensions: string[],
  model: OnnxModel,
  map: ModelMap
): Promise<ProjectionMeans> {
  return projectionMeans(model, map, dimensionDocuments(corpus, dimensions));
}

/** The token ids of the corpus's documents of `dimensions`. */
export function dimensionDocuments(
  corpus: Corpus,
  dimensions: string[]
): number[][] {
  return corpus.dimensions
    .filter(d => dimensions.includes(d.dimension))
    .flatMap(d => d.documents.map(doc => doc.tokens));
}

/**
 * Compares `prunedFile` with the original with the plan's units zeroed (or, given statistics,
 * compensated with them); past the bound, throws one line about `subject` that ends with
 * `advice`.
 */
async function checkPruned(
  model: OnnxModel,
  map: ModelMap,
  units: UnitPlan,
  prunedFile: string,
  sequences: number[][],
  failure: { subject: string; advice: string },
  statistics?: CompensationStatistics
): Promise<Verification> {
  const comparison = await verifyPruned(
    model,
    map,
    units,
    prunedFile,
    sequences,
    { compensation: statistics }
  );
  const description = describeComparison(comparison);
  const removed = removedUnits(statistics);
  if (!comparison.ok) {
    throw new CusprunError(
      'unsupported',
      `the pruned model differs from the original with the same units ${removed}: ${description}; ${failure.advice}`,
      failure.subject
    );
  }
  return { ...comparison, description, removedUnits: removed };
}

/** A compensated prune's statistics, and the file beside the model that keeps them. */
interface PruneCompensation {
  statistics: ProjectionMeans | RegressionFit;
  file: string;
  write: (file: string) => void;
  sha256: string;
  /** What the folder and the run record say of it, besides the file. */
  about: { dimensions: string[]; tokens: number; ridge?: number };
}

/** The job's compensation, fitted on the run's documents of the requested dimensions. */
async function pruneCompensation(
  job: PruneJob,
  documents: () => number[][],
  model: OnnxModel,
  map: ModelMap,
  units: UnitPlan,
  dimensions: string[]
): Promise<PruneCompensation | undefined> {
  const kind = job.compensation ?? DEFAULT_PRUNE_COMPENSATION;
  const options = { onProgress: job.onScoreProgress };
  if (kind === 'bias') {
    const means = await projectionMeans(model, map, documents(), options);
    return {
      statistics: means,
      file: MEANS_FILE,
      write: file => writeMeansFile(file, means),
      sha256: meansSha256(means),
      about: { dimensions, tokens: means.tokens }
    };
  }
  if (kind === 'none') {
    return undefined;
  }
  const fit = await regressionFit(model, map, units, documents(), options);
  return {
    statistics: fit,
    file: REGRESSION_FILE,
    write: file => writeRegressionFile(file, fit),
    sha256: regressionSha256(fit),
    about: { dimensions, tokens: fit.tokens, ridge: fit.ridge }
  };
}

export async function runPruneJob(job: PruneJob): Promise<{
  plan: ExpertPlan;
  written: WrittenModel;
  verification: Verification;
}> {
  const record = readRun(job.run);
  const model = OnnxModel.load(record.model.file);
  try {
    const guard = {
      overwrite: job.overwrite,
      protect: [
        { path: job.run, what: 'the run folder' },
        { path: record.corpus.manifest, what: 'the corpus manifest' },
        ...(job.protect ?? [])
      ]
    };
    // A refused place is said before the probe's and the compensation's minutes.
    checkPrunedOutput(model, job.out, guard);
    const map = modelMapOf(model);
    const plan = await prunePlan(job, record, model, map);
    const units = unitPlanOf(plan);
    const corpus = loadCorpus(
      record.corpus.manifest,
      loadTokenizer(model.dir),
      { vocab: map.vocab }
    );
    const dimensions = requestedDimensions(record, job.dims);
    const compensation = await pruneCompensation(
      job,
      () => dimensionDocuments(corpus, dimensions),
      model,
      map,
      units,
      dimensions
    );
    const folder: PrunedFolderRecord = {
      format: 'cusprun-pruned',
      version: 1,
      created: new Date().toISOString(),
      cusprun: cusprunVersion(),
      source: {
        model: model.file,
        sha256: record.model.sha256,
        run: path.resolve(job.run)
      },
      plan,
      sequences: verificationSequences(corpus, job),
      ...(compensation
        ? {
            compensation: {
              ...(compensation.about.ridge === undefined
                ? { means: compensation.file }
                : {
                    regression: compensation.file,
                    ridge: compensation.about.ridge
                  }),
              dimensions,
              tokens: compensation.about.tokens,
              sha256: compensation.sha256
            }
          }
        : {})
    };
    let verification: Verification | undefined;
    const written = await writePrunedModel(model, units, job.out, {
      compensation: compensation?.statistics,
      guard,
      finish: async staging => {
        verification = await checkPruned(
          model,
          map,
          units,
          path.join(staging, 'model.onnx'),
          folder.sequences,
          {
            subject: job.out,
            advice: 'nothing was written; please report this export'
          },
          compensation?.statistics
        );
        compensation?.write(path.join(staging, compensation.file));
        fs.writeFileSync(
          path.join(staging, PLAN_FILE),
          `${JSON.stringify(folder, null, 1)}\n`
        );
      }
    });
    const { layers: _layers, ...summary } = plan;
    record.prunes.push({
      out: written.dir,
      at: folder.created,
      plan: summary,
      bytesBefore: written.bytesBefore,
      bytesAfter: written.bytesAfter,
      maxAbsDiff: verification!.maxAbsDiff,
      ...(compensation
        ? {
            compensation: { sha256: compensation.sha256, ...compensation.about }
          }
        : {})
    });
    writeRun(job.run, record);
    return { plan, written, verification: verification! };
  } finally {
    model.close();
  }
}

export function readPrunedFolder(dir: string): PrunedFolderRecord {
  const file = path.join(path.resolve(dir), PLAN_FILE);
  if (!fs.existsSync(file)) {
    throw new CusprunError(
      'not-found',
      fs.existsSync(dir)
        ? `not a folder written by 'cusprun prune' (no ${PLAN_FILE})`
        : 'no such folder; name a folder written by cusprun prune',
      dir
    );
  }
  const folder = aboutFile(file, () =>
    JSON.parse(fs.readFileSync(file, 'utf8'))
  ) as PrunedFolderRecord;
  if (folder.format !== 'cusprun-pruned' || !Array.isArray(folder.sequences)) {
    throw new CusprunError(
      'bad-argument',
      `not a plan written by 'cusprun prune' (format '${folder.format}')`,
      file
    );
  }
  return folder;
}

/** The model a folder was pruned from: where it was, or where the user says it is now. */
function openSource(folder: PrunedFolderRecord, given?: string): OnnxModel {
  const file = given ?? folder.source.model;
  if (!given && !fs.existsSync(file)) {
    throw new CusprunError(
      'not-found',
      'the model this folder was pruned from is not there any more; name it with --model',
      file
    );
  }
  const model = OnnxModel.load(file);
  if (modelIdentity(model).sha256 !== folder.source.sha256) {
    model.close();
    throw new CusprunError(
      'bad-argument',
      `is not the model this folder was pruned from (its SHA-256 differs from ${folder.source.sha256.slice(0, 12)}…); name the original with --model`,
      file
    );
  }
  return model;
}

/**
 * The statistics a pruned folder's model was compensated with, read from beside it; refused in
 * one line when they are not the ones prune stored (a change too small to move the logits past
 * the bound would otherwise pass).
 */
function storedCompensation(
  dir: string,
  stored: NonNullable<PrunedFolderRecord['compensation']>
): CompensationStatistics {
  const file = path.join(
    dir,
    'regression' in stored ? stored.regression : stored.means
  );
  const statistics =
    'regression' in stored ? readRegressionFile(file) : readMeansFile(file);
  const sha256 =
    'kind' in statistics
      ? regressionSha256(statistics)
      : meansSha256(statistics);
  if (stored.sha256 !== undefined && sha256 !== stored.sha256) {
    throw new CusprunError(
      'bad-argument',
      `is not the file cusprun prune stored beside this model (its SHA-256 differs from ${stored.sha256.slice(0, 12)}… in ${PLAN_FILE}); put the original back, or prune again`,
      file
    );
  }
  return statistics;
}

/** `cusprun verify`: checks a folder `prune` wrote against the model it was pruned from. */
export async function runVerifyJob(job: {
  pruned: string;
  /** The original model, when it has moved since (default: where it was pruned from). */
  model?: string;
}): Promise<Verification> {
  const folder = readPrunedFolder(job.pruned);
  const model = openSource(folder, job.model);
  try {
    const map = modelMapOf(model);
    const dir = path.resolve(job.pruned);
    const pruned = path.join(dir, 'model.onnx');
    const statistics =
      folder.compensation && storedCompensation(dir, folder.compensation);
    return await checkPruned(
      model,
      map,
      unitPlanOf(folder.plan),
      pruned,
      folder.sequences,
      {
        subject: pruned,
        advice:
          "if the folder was not changed after 'cusprun prune' wrote it, please report this export"
      },
      statistics
    );
  } finally {
    model.close();
  }
}
