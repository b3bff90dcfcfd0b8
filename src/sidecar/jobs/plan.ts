/**
 * The plan job: from a run's scores, the units an expert on the requested dimensions loses at σ
 * (or at the σ that reaches a target ratio).
 */
import * as path from 'node:path';
import { readModelConfig } from '../../engine/arch/inspect';
import { mapModel } from '../../engine/arch/map';
import { ModelMap } from '../../engine/arch/types';
import { CusprunError } from '../../engine/errors';
import { OnnxModel } from '../../engine/onnx/model';
import { ScoreStore } from '../../engine/score';
import {
  DocumentScores,
  expertPlan,
  ExpertPlan,
  PlanOptions
} from '../../engine/select';
import { readRun, RunRecord, SCORES_DIR } from '../run-folder';

export interface PlanJob extends PlanOptions {
  run: string;
  /** Dimensions to intersect (default: every dimension the run scored). */
  dims?: string[];
}

/** A stored record as per-layer FFN and attention scores. */
function* documentScores(
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

/** Plans against an already mapped model (the prune job maps it once for both). */
export function planWithMap(
  job: PlanJob,
  record: RunRecord,
  map: ModelMap
): ExpertPlan {
  const known = record.corpus.dimensions.map(d => d.dimension);
  const dims = job.dims ?? known;
  for (const dim of dims) {
    if (!known.includes(dim)) {
      throw new CusprunError(
        'bad-argument',
        `unknown dimension '${dim}': this run scored ${known.join(', ')}`,
        'dims'
      );
    }
  }
  const store = ScoreStore.open(path.join(job.run, SCORES_DIR));
  try {
    const dimensions = dims.map(dim => {
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
          job.run
        );
      }
      return {
        name: dim,
        documents: documentScores(store, ids, map.layers.length)
      };
    });
    return expertPlan(map, dimensions, job);
  } finally {
    store.close();
  }
}

export function runPlanJob(job: PlanJob): ExpertPlan {
  const record = readRun(job.run);
  const model = OnnxModel.load(record.model.file);
  try {
    return planWithMap(
      job,
      record,
      mapModel(model, { config: readModelConfig(model.file) })
    );
  } finally {
    model.close();
  }
}
