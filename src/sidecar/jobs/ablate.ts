/**
 * The ablation job: experts on every non-empty subset of the run's dimensions at one target
 * ratio, evaluated side by side; the result is kept in the run folder's `ablations/`.
 */
import * as path from 'node:path';
import type { AblationRecord, AblationRow } from '../../core/experiment';
import { runAblation } from '../../engine/experiment';
import { writeFileAtomic } from '../../engine/output';
import { ExperimentJob, openExperiment } from './experiment';
import { ExpertJob, readDimensionRanks, requestedDimensions } from './plan';
import { evalSetRecords } from './sweep';
import { stampName } from '../run-folder';

export interface AblateJob extends ExperimentJob, ExpertJob {
  targetRatio: number;
  onRow?: (row: AblationRow) => void;
}

export const ABLATIONS_DIR = 'ablations';

export async function runAblateJob(
  job: AblateJob
): Promise<{ record: AblationRecord; file: string }> {
  const experiment = openExperiment(job);
  try {
    const { record: run, map, evaluator } = experiment;
    const dims = requestedDimensions(run, job.dims);
    const ranks = readDimensionRanks(job.run, run, map, dims, job);
    const result = await runAblation(
      map,
      ranks,
      job,
      job.targetRatio,
      evaluator,
      job.onRow
    );
    const at = new Date().toISOString();
    const record: AblationRecord = {
      kind: 'ablation',
      at,
      rule: ranks[0].rule,
      q: ranks[0].q,
      evalSets: evalSetRecords(evaluator.sets),
      truncation: evaluator.settings.truncation,
      ...result
    };
    const file = path.join(job.run, ABLATIONS_DIR, stampName(at));
    writeFileAtomic(file, `${JSON.stringify(record, null, 1)}\n`);
    return { record, file };
  } finally {
    experiment.close();
  }
}
