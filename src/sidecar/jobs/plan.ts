/**
 * The plan job: from a run's scores, the units an expert on the requested dimensions loses at σ
 * (or at the σ that reaches a target ratio), with what its charts draw (core/plan-view.ts).
 */
import * as path from 'node:path';
import { modelMapOf } from '../../engine/arch/inspect';
import { ModelMap } from '../../core/model/model-map';
import { CusprunError } from '../../core/errors';
import { OnnxModel } from '../../engine/onnx/model';
import { ScoreStore } from '../../engine/score';
import {
  DimensionRanks,
  DocumentScores,
  ExpertSettings,
  PlanTarget,
  rankDimension,
  Rule
} from '../../core/select';
import { ExpertView, PlanView } from '../../core/plan-view';
import { readRun, RunRecord, SCORES_DIR } from '../run-folder';

/** A run's expert on some of its dimensions (default: every dimension the run scored). */
export interface ExpertJob extends ExpertSettings {
  run: string;
  dims?: string[];
}

export type PlanJob = ExpertJob & PlanTarget;

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
  rule: { rule?: Rule; q?: number } = {}
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
        rule
      );
    });
  } finally {
    store.close();
  }
}

/** The expert on the job's dimensions with the views of it, ready for any σ or target ratio. */
export function expertViewOf(
  job: ExpertJob,
  record: RunRecord,
  map: ModelMap
): ExpertView {
  const dims = requestedDimensions(record, job.dims);
  return new ExpertView(
    map,
    readDimensionRanks(job.run, record, map, dims, job),
    job
  );
}

export function runPlanJob(job: PlanJob): PlanView {
  const record = readRun(job.run);
  const model = OnnxModel.load(record.model.file);
  try {
    return expertViewOf(job, record, modelMapOf(model)).at(job);
  } finally {
    model.close();
  }
}
