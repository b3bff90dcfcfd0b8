/**
 * Scoring a run in shards and merging them. A shard holds whole batches of the run's scoring
 * order: batch b (of the documents longest first, `batchSize` each) belongs to shard b mod N.
 * Whole batches, because a document's scores are bit-identical only when it is scored in the
 * same batch (the batch's padded length shapes the graph's arithmetic); round robin over the
 * length order, because it gives every shard long and short documents alike. Merging replays
 * the batches in the run's order into a new store, so the merged store is the one a single
 * process writes (the same records, offsets and batch ends).
 */
import { RunRecord } from '../../core/protocol';
import { CusprunError } from '../../core/errors';
import { NewRecord, ScoreStore } from './store';

export interface Shard {
  index: number;
  count: number;
}

/** Longest first, ties in the given order: the order `scoreDocuments` scores in by default. */
export function lengthOrder<T>(items: T[], length: (item: T) => number): T[] {
  return items
    .map((item, i) => ({ item, i, n: length(item) }))
    .sort((a, b) => b.n - a.n || a.i - b.i)
    .map(x => x.item);
}

/** The batches of `ordered` (`batchSize` each, in order) that fall to `shard`, concatenated. */
export function shardBatches<T>(
  ordered: T[],
  batchSize: number,
  shard: Shard
): T[] {
  const out: T[] = [];
  for (let b = 0; b * batchSize < ordered.length; b++) {
    if (b % shard.count === shard.index) {
      out.push(...ordered.slice(b * batchSize, (b + 1) * batchSize));
    }
  }
  return out;
}

/** A shard run to merge: its folder (for messages), its run record and its score store. */
export interface ShardRun {
  dir: string;
  record: RunRecord;
  store: ScoreStore;
}

const short = (value: unknown) =>
  typeof value === 'string' && /^[0-9a-f]{64}$/.test(value)
    ? `${value.slice(0, 12)}…`
    : String(value);

/** What every shard of a run must share, as a user names it, and how to read it. */
const SHARED: [string, (r: RunRecord) => unknown][] = [
  ['model sha256', r => r.model.sha256],
  ['tokenizer sha256', r => r.corpus.tokenizerSha256],
  ['corpus sha256', r => r.corpus.sha256],
  ['corpus truncation', r => r.corpus.truncation],
  ['corpus seed', r => r.corpus.seed],
  ['documents per dimension', r => r.corpus.documentsPerDimension],
  ['score form', r => r.scoring.scoreForm],
  ['batch size', r => r.scoring.batchSize],
  ['threads', r => r.scoring.threads],
  ['shard count', r => r.scoring.shard?.count]
];

/**
 * Checks that `runs` are every shard of one run, once each: shard runs, made with the same
 * model, tokenizer, corpus and settings. Returns them in shard order. A mismatch is one line
 * naming the shard and the field.
 */
export function checkShardRuns(runs: ShardRun[]): ShardRun[] {
  const first = runs[0];
  for (const run of runs) {
    if (!run.record.scoring.shard) {
      throw new CusprunError(
        'bad-argument',
        "is not a shard run (scored without --shard); merge the folders of 'cusprun score --shard I/N'",
        run.dir
      );
    }
    for (const [field, read] of SHARED) {
      const [mine, theirs] = [read(run.record), read(first.record)];
      if (mine !== theirs) {
        throw new CusprunError(
          'bad-argument',
          `its ${field} (${short(mine)}) differs from ${first.dir}'s (${short(theirs)}); merge shards scored with the same model, corpus and settings`,
          run.dir
        );
      }
    }
  }
  const count = first.record.scoring.shard?.count ?? 0;
  const byIndex: ShardRun[] = [];
  for (const run of runs) {
    const index = run.record.scoring.shard?.index ?? 0;
    if (byIndex[index]) {
      throw new CusprunError(
        'bad-argument',
        `is shard ${index}/${count}, as is ${byIndex[index].dir}; give each shard once`,
        run.dir
      );
    }
    byIndex[index] = run;
  }
  const missing = Array.from({ length: count }, (_, i) => i).filter(
    i => !byIndex[i]
  );
  if (missing.length) {
    throw new CusprunError(
      'bad-argument',
      `shard ${missing.map(i => `${i}/${count}`).join(', ')} of ${first.dir}'s run ${missing.length > 1 ? 'are' : 'is'} missing; give the folders of all ${count} shards`
    );
  }
  return byIndex;
}

/** The run's documents, batch by batch, in the order a single process scores them. */
export function runBatches(
  record: RunRecord
): { id: string; tokens: number }[][] {
  const documents = record.corpus.dimensions.flatMap(d =>
    d.documents.map(doc => ({ id: doc.id, tokens: doc.tokens }))
  );
  const ordered = lengthOrder(documents, d => d.tokens);
  const size = record.scoring.batchSize;
  return Array.from({ length: Math.ceil(ordered.length / size) }, (_, b) =>
    ordered.slice(b * size, (b + 1) * size)
  );
}

/**
 * Writes the shards' scores into a new store at `target`, batch by batch in the run's order
 * (batch b from shard b mod N). `shards` come from `checkShardRuns`. A shard that does not hold
 * its batches whole and in order (unfinished, or scored otherwise) is named, and nothing of
 * `target` is kept by the caller (it writes into a staging folder).
 */
export function mergeShardStores(target: string, shards: ShardRun[]): void {
  const cursors = shards.map(() => 0);
  const out = ScoreStore.open(target, shards[0].store.header);
  try {
    runBatches(shards[0].record).forEach((batch, b) => {
      const k = b % shards.length;
      const { store, dir } = shards[k];
      const held = store.documents.slice(cursors[k], cursors[k] + batch.length);
      if (held.map(d => d.id).join('\n') !== batch.map(d => d.id).join('\n')) {
        throw new CusprunError(
          'bad-argument',
          `its scores hold ${store.size} documents and not batch ${b} of the run whole; score the shard again (it resumes) to finish it`,
          dir
        );
      }
      cursors[k] += batch.length;
      const records: NewRecord[] = held.map(d => ({
        id: d.id,
        tokens: d.tokens,
        scores: store.record(d.id)
      }));
      out.append(records);
    });
    const extra = shards.findIndex((s, k) => s.store.size !== cursors[k]);
    if (extra >= 0) {
      throw new CusprunError(
        'bad-argument',
        `its scores hold ${shards[extra].store.size} documents, more than its ${cursors[extra]}; it was not scored for this run`,
        shards[extra].dir
      );
    }
  } finally {
    out.close();
  }
}
