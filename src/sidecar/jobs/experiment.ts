/**
 * What the sweep and ablation jobs share: a run's model opened for evaluation, its evaluation
 * cache (`evaluations.jsonl` in the run folder), and the baselines' inputs. Each baseline's
 * input is made only when a method asks for it; the Wanda-style sums need a pass over the run's
 * documents, kept in the run folder's `baseline-scores/wanda` store like any score store; the
 * FLAP-style variances need one too, made again by each job (pooled moments, not per document).
 */
import * as path from 'node:path';
import { modelMapOf } from '../../engine/arch/inspect';
import { ModelMap } from '../../core/model/model-map';
import {
  flapValues,
  magnitudeValues,
  poolScores
} from '../../engine/baselines';
import { loadCorpus, loadTokenizer } from '../../engine/corpus';
import { projectionGrams } from '../../engine/prune';
import {
  BaselineInputs,
  Compensation,
  compensationWith,
  EvalCache,
  EvalSettings,
  Evaluator,
  GenerationSettings,
  loadEvalSets
} from '../../engine/experiment';
import type {
  CompensationKind,
  CompensationRecord,
  Method
} from '../../core/experiment';
import { BASELINE_SCORES_DIR, EVAL_CACHE_FILE } from '../../core/protocol';
import { CusprunError } from '../../core/errors';
import { OnnxModel } from '../../engine/onnx/model';
import {
  modelIdentity,
  openScoreStore,
  ScoreDocument,
  ScoreProgress,
  scoreDocuments,
  ScoreStore
} from '../../engine/score';
import { readRun, RunRecord, SCORES_DIR } from '../run-folder';
import { documentScores, requestedDimensions } from './plan';
import { dimensionDocuments, runMeans } from './prune';
import { documentId } from './score';

export { EVAL_CACHE_FILE };
export const WANDA_SCORES_DIR = path.join(BASELINE_SCORES_DIR, 'wanda');

export interface ExperimentJob {
  run: string;
  /** Evaluation sets: `FILE` or `NAME=FILE`. */
  evalSets: string[];
  truncation?: number;
  batchSize?: number;
  threads?: number;
  /**
   * The run whose documents calibrate the baselines (general, wanda, flap): another run of the
   * same model, e.g. scored on a general corpus, as general pruning is calibrated. Default `run`.
   */
  baselineRun?: string;
  onScoreProgress?: (progress: ScoreProgress) => void;
}

export interface Experiment {
  record: RunRecord;
  model: OnnxModel;
  map: ModelMap;
  evaluator: Evaluator;
  close(): void;
}

export const DEFAULT_EVAL_TRUNCATION = 128;

/** What one shard of an experiment's evaluations made: their count, and the cache they are in. */
export interface ShardOutcome {
  evaluations: number;
  cache: string;
}

/**
 * One shard of an experiment's evaluations (`evaluate` returns how many it made), into the run's
 * evaluation cache only: no record is kept (the whole experiment, run after its shards, reads
 * them from the cache and keeps it).
 */
export async function runShard(
  job: ExperimentJob,
  evaluate: (experiment: Experiment) => Promise<number>
): Promise<ShardOutcome> {
  const experiment = openExperiment(job);
  try {
    const evaluations = await evaluate(experiment);
    return { evaluations, cache: path.join(job.run, EVAL_CACHE_FILE) };
  } finally {
    experiment.close();
  }
}

/** `generation`: prompts every evaluated model also decodes greedily (the study's samples). */
export function openExperiment(
  job: ExperimentJob,
  generation?: (model: OnnxModel) => GenerationSettings
): Experiment {
  const record = readRun(job.run);
  const sets = loadEvalSets(job.evalSets);
  const model = OnnxModel.load(record.model.file);
  try {
    const map = modelMapOf(model);
    const settings: EvalSettings = {
      truncation: job.truncation ?? DEFAULT_EVAL_TRUNCATION,
      ...(job.batchSize ? { batchSize: job.batchSize } : {})
    };
    const evaluator = new Evaluator(
      {
        source: model,
        map,
        sha256: modelIdentity(model).sha256,
        tokenizer: loadTokenizer(model.dir)
      },
      sets,
      settings,
      new EvalCache(path.join(job.run, EVAL_CACHE_FILE)),
      { threads: job.threads },
      generation?.(model)
    );
    return { record, model, map, evaluator, close: () => model.close() };
  } catch (error) {
    model.close();
    throw error;
  }
}

/** Every document of every dimension the run scored: the pooled corpus. */
function allDocumentIds(record: RunRecord): string[] {
  return record.corpus.dimensions.flatMap(d => d.documents.map(doc => doc.id));
}

/** The pooled corpus's documents: every document of every dimension the run scored. */
function pooledDocuments(
  record: RunRecord,
  { model, map }: Experiment
): ScoreDocument[] {
  const corpus = loadCorpus(record.corpus.manifest, loadTokenizer(model.dir), {
    vocab: map.vocab
  });
  return corpus.dimensions.flatMap(d =>
    d.documents.map(doc => ({
      id: documentId(d.dimension, doc.index, doc.sha256),
      tokens: doc.tokens
    }))
  );
}

async function wandaScores(
  job: ExperimentJob,
  calibration: Calibration,
  experiment: Experiment
): Promise<ScoreStore> {
  const { model, map } = experiment;
  const store = openScoreStore(
    path.join(calibration.run, WANDA_SCORES_DIR),
    model,
    map,
    'wanda'
  );
  try {
    const documents = pooledDocuments(calibration.record, experiment);
    await scoreDocuments(model, map, documents, store, {
      threads: job.threads,
      scoreForm: 'wanda',
      onProgress: job.onScoreProgress
    });
    return store;
  } catch (error) {
    store.close();
    throw error;
  }
}

/** The run whose documents calibrate the baselines, and its record. */
interface Calibration {
  run: string;
  record: RunRecord;
}

/** The job's baseline run, checked to have scored the experiment's model; else the run itself. */
export function calibrationOf(
  job: ExperimentJob,
  experiment: Experiment
): Calibration {
  if (job.baselineRun === undefined) {
    return { run: job.run, record: experiment.record };
  }
  const record = readRun(job.baselineRun);
  if (record.model.sha256 !== experiment.record.model.sha256) {
    throw new CusprunError(
      'bad-argument',
      `scored another model (${record.model.file}) than ${job.run} (${experiment.record.model.file}); the baselines calibrate on documents scored with the expert's model`,
      job.baselineRun
    );
  }
  return { run: job.baselineRun, record };
}

export async function baselineInputs(
  job: ExperimentJob & { seed?: number },
  experiment: Experiment,
  methods: Method[]
): Promise<BaselineInputs> {
  const { model, map } = experiment;
  const inputs: BaselineInputs = { seed: job.seed ?? 0 };
  if (methods.includes('magnitude')) {
    inputs.magnitude = magnitudeValues(model, map);
  }
  const calibration = calibrationOf(job, experiment);
  const ids = allDocumentIds(calibration.record);
  const pooled = (store: ScoreStore, pooling: 'root-sum-square' | 'sum') => {
    try {
      return poolScores(
        map,
        documentScores(store, ids, map.layers.length),
        pooling
      );
    } finally {
      store.close();
    }
  };
  if (methods.includes('general')) {
    const store = ScoreStore.open(path.join(calibration.run, SCORES_DIR));
    // Relevance norms pool as root-sum-square; the code form's sums add up.
    inputs.general = pooled(
      store,
      store.header.scoreForm === 'paper' ? 'root-sum-square' : 'sum'
    );
  }
  if (methods.includes('wanda')) {
    inputs.wanda = pooled(
      await wandaScores(job, calibration, experiment),
      'sum'
    );
  }
  if (methods.includes('flap')) {
    inputs.flap = await flapValues(
      model,
      map,
      pooledDocuments(calibration.record, experiment).map(d => d.tokens),
      { threads: job.threads, onProgress: job.onScoreProgress }
    );
  }
  return inputs;
}

/**
 * Compensation of `kind` fitted on the run's documents of `dims` (bias: their means; regression:
 * their Gram matrices), and how a record names it; none for `none` or no kind.
 */
export async function experimentCompensation(
  experiment: Experiment,
  dims: string[] | undefined,
  kind: CompensationKind | undefined
): Promise<
  { compensation: Compensation; record: CompensationRecord } | undefined
> {
  if (kind === undefined || kind === 'none') {
    return undefined;
  }
  const { record, model, map } = experiment;
  const dimensions = requestedDimensions(record, dims);
  const corpus = loadCorpus(record.corpus.manifest, loadTokenizer(model.dir), {
    vocab: map.vocab
  });
  const statistics =
    kind === 'bias'
      ? await runMeans(corpus, dimensions, model, map)
      : await projectionGrams(
          model,
          map,
          dimensionDocuments(corpus, dimensions)
        );
  const compensation = compensationWith(statistics);
  return {
    compensation,
    record: {
      sha256: compensation.sha256,
      dimensions,
      tokens: statistics.tokens,
      ...('ridge' in statistics ? { ridge: statistics.ridge } : {})
    }
  };
}
