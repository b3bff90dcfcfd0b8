/**
 * The merge job: the shard runs of `cusprun score --shard I/N` joined into one run folder, made
 * whole in a staging folder beside it and renamed into place (src/engine/output), so that it is
 * the run a single `cusprun score` writes, or nothing.
 */
import * as path from 'node:path';
import { writeOutputFolder } from '../../engine/output';
import {
  checkShardRuns,
  mergeShardStores,
  ScoreStore,
  ShardRun
} from '../../engine/score';
import {
  readRun,
  RunRecord,
  SCORES_DIR,
  toolVersions,
  writeRun
} from '../run-folder';

export interface MergeJob {
  run: string;
  shards: string[];
}

/** Merges the shard runs into `job.run`; returns the merged run's record. */
export async function runMergeJob(job: MergeJob): Promise<RunRecord> {
  const runs: ShardRun[] = [];
  try {
    for (const dir of job.shards) {
      const record = readRun(dir);
      runs.push({
        dir,
        record,
        store: ScoreStore.open(path.join(dir, SCORES_DIR))
      });
    }
    const shards = checkShardRuns(runs);
    const { shard: _shard, ...scoring } = shards[0].record.scoring;
    const now = new Date().toISOString();
    const record: RunRecord = {
      ...shards[0].record,
      created: now,
      updated: now,
      scoring,
      versions: toolVersions(),
      prunes: []
    };
    await writeOutputFolder(
      job.run,
      async staging => {
        mergeShardStores(path.join(staging, SCORES_DIR), shards);
        writeRun(staging, record);
      },
      {
        protect: job.shards.map(dir => ({ path: dir, what: 'a shard run' }))
      }
    );
    return record;
  } finally {
    runs.forEach(r => r.store.close());
  }
}
