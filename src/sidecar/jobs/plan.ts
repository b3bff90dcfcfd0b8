/**
 * The plan job: from a run's scores, the units an expert on the requested dimensions loses at σ
 * (or at the σ that reaches a target ratio).
 */
import * as path from 'node:path';
import { readModelConfig } from '../../engine/arch/inspect';
import { mapModel } from '../../engine/arch/map';
import { ModelMap } from '../../core/model/model-map';
import { CusprunError } from '../../core/errors';
import { OnnxModel } from '../../engine/onnx/model';
import { ScoreStore } from '../../engine/score';
import {
  DimensionRanks,
  DocumentScores,
  checkTarget,
  Expert,
  ExpertPlan,
  PlanOptions,
  rankDimension
} from '../../core/select';
import {
  GroupCount,
  groupCountsOfPlan,
  RankHistogram,
  RatioSweep,
  ratioSweep,
  relevanceHistogram
} from '../../core/charts';
import { readRun, RunRecord, SCORES_DIR } from '../run-folder';

export interface PlanJob extends PlanOptions {
  run: string;
  /** Dimensions to intersect (default: every dimension the run scored). */
  dims?: string[];
}

/** A stored record as per-layer FFN and attention scores. */
export function* documentScores(
  store: ScoreStore,
  ids: string[],
  layers: number
): Generator<DocumentScores> {
  for (const id of ids) {
    const scores: DocumentScores = {
      layers: Array.from({ length: layers }, () => ({
        ffn: new Float32Array(0),
        attention: new Float32Array(0)
      }))
    };
    for (const part of store.scores(id)) {
      scores.layers[part.layer][part.kind] = part.scores;
    }
    yield scores;
  }
}

/** The dimensions asked for (default: all the run scored), each one the run knows. */
export function requestedDimensions(
  record: RunRecord,
  dims?: string[]
): string[] {
  const known = record.corpus.dimensions.map(d => d.dimension);
  for (const dim of dims ?? []) {
    if (!known.includes(dim)) {
      throw new CusprunError(
        'bad-argument',
        `unknown dimension '${dim}': this run scored ${known.join(', ')}`,
        'dims'
      );
    }
  }
  return dims ?? known;
}

/** Reads each requested dimension's scored documents once into its deciding ranks. */
export function readDimensionRanks(
  run: string,
  record: RunRecord,
  map: ModelMap,
  dims: string[],
  q = 1
): DimensionRanks[] {
  const store = ScoreStore.open(path.join(run, SCORES_DIR));
  try {
    return dims.map(dim => {
      const ids = (
        record.corpus.dimensions.find(d => d.dimension === dim) ?? {
          documents: []
        }
      ).documents.map(d => d.id);
      const missing = ids.filter(id => !store.has(id)).length;
      if (missing) {
        throw new CusprunError(
          'bad-argument',
          `${missing} of ${ids.length} '${dim}' documents are not scored yet; run 'cusprun score' on this run folder to finish`,
          run
        );
      }
      return rankDimension(
        { name: dim, documents: documentScores(store, ids, map.layers.length) },
        q
      );
    });
  } finally {
    store.close();
  }
}

/** The expert on the job's dimensions, ready for any σ or target ratio. */
export function expertOf(
  job: PlanJob,
  record: RunRecord,
  map: ModelMap
): Expert {
  const dims = requestedDimensions(record, job.dims);
  return new Expert(
    map,
    readDimensionRanks(job.run, record, map, dims, job.q),
    job
  );
}

/** Plans against an already mapped model (the prune job maps it once for both). */
export function planWithMap(
  job: PlanJob,
  record: RunRecord,
  map: ModelMap
): ExpertPlan {
  checkTarget(job);
  return expertOf(job, record, map).plan(job);
}

/** The σ values a ratio-against-σ curve is drawn through. */
export const SIGMA_CURVE = Array.from({ length: 99 }, (_, i) => (i + 1) / 100);
/** Bins of the relevance histograms, here and in the sidecar's σ answers and live histograms. */
export const HISTOGRAM_BINS = 50;

/** A plan with what its charts show: the dimensions' histograms, ratio against σ, per layer. */
export interface PlanView {
  plan: ExpertPlan;
  histogram: RankHistogram;
  ratios: RatioSweep;
  layers: GroupCount[];
}

export function runPlanJob(job: PlanJob): PlanView {
  checkTarget(job);
  const record = readRun(job.run);
  const model = OnnxModel.load(record.model.file);
  try {
    const map = mapModel(model, { config: readModelConfig(model.file) });
    const dims = requestedDimensions(record, job.dims);
    const ranks = readDimensionRanks(job.run, record, map, dims, job.q);
    const expert = new Expert(map, ranks, job);
    const plan = expert.plan(job);
    return {
      plan,
      histogram: relevanceHistogram(ranks, plan.sigma, HISTOGRAM_BINS),
      ratios: ratioSweep(
        expert.selection.sweep(SIGMA_CURVE),
        expert.selection.groups,
        plan.sigma
      ),
      layers: groupCountsOfPlan(plan)
    };
  } finally {
    model.close();
  }
}
