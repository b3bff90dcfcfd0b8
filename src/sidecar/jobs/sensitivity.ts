/**
 * An expert whose per-layer counts are allocated by sensitivity (core/select/allocation.ts): the
 * probe scores the run's own documents of the expert's dimensions, on the run's evaluation cache
 * like every evaluation. What the study and the prune job share.
 */
import * as path from 'node:path';
import { CusprunError } from '../../core/errors';
import { ModelMap } from '../../core/model/model-map';
import { Expert } from '../../core/select';
import {
  EvalCache,
  EvaluatedModel,
  Evaluator,
  Planner,
  probeSensitivities,
  probeSet
} from '../../engine/experiment';
import { EVAL_CACHE_FILE } from '../../core/protocol';
import { RunRecord } from '../run-folder';

export async function sensitivityPlanner(
  run: string,
  record: RunRecord,
  model: EvaluatedModel,
  expert: Expert,
  options: { dims: string[]; threads?: number }
): Promise<Planner> {
  const probe = new Evaluator(
    model,
    [probeSet(record.corpus.manifest, options.dims)],
    { truncation: record.corpus.truncation },
    new EvalCache(path.join(run, EVAL_CACHE_FILE)),
    { threads: options.threads }
  );
  const map: ModelMap = model.map;
  const sensitivities = await probeSensitivities(expert, map, probe);
  return {
    plan: target => {
      if (target.targetRatio === undefined) {
        throw new CusprunError(
          'bad-argument',
          'allocation by sensitivity needs a target ratio (--target-ratio R), not σ'
        );
      }
      return expert.allocatedPlan(target.targetRatio, sensitivities);
    }
  };
}
