/**
 * What committing one batch to the score store costs at 10² and at 10⁵ committed documents, in
 * the same run: the commit index appends one line per batch, so the ratio should be about 1. The
 * old commit (the whole manifest rewritten through a temporary file and a rename, per batch) is
 * shown beside it, replayed on the same manifests, and so is the index's rewrite amortized over
 * the batches between two rewrites (the index is folded in once it outgrows the manifest).
 *
 *   node dist-bench/bench/store-commit.js
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  COMPACT_AFTER,
  MANIFEST_FILE,
  NewRecord,
  ScoreStore,
  StoreHeader
} from '../src/engine/score';
import { median, pairedRatio } from './harness';

const SIZES = [100, 100_000];
const BATCH = 8;
const ROUNDS = 200;
const HEADER: StoreHeader = {
  model: { file: '/bench/model.onnx', sha256: 'ab'.repeat(32), bytes: 1 },
  family: 'llama',
  scoreForm: 'paper',
  layers: [{ index: 0, ffn: 16, attention: 4 }]
};

const records = (prefix: string, from: number, count: number): NewRecord[] =>
  Array.from({ length: count }, (_, i) => ({
    id: `${prefix}/${from + i}/0123456789abcdef`,
    tokens: 512,
    scores: new Float32Array(20).fill(from + i)
  }));

/** A store holding `size` committed documents, folded into its manifest. */
function filled(dir: string, size: number): ScoreStore {
  const store = ScoreStore.open(dir, HEADER);
  for (let n = 0; n < size; n += 1000) {
    store.append(records('fill', n, Math.min(1000, size - n)));
  }
  store.close();
  return ScoreStore.open(dir, HEADER);
}

/** The old commit: the whole manifest serialized, written, fsynced, renamed, folder fsynced. */
function oldCommit(dir: string, manifest: unknown): void {
  const target = path.join(dir, MANIFEST_FILE);
  const temp = `${target}.bench`;
  const fd = fs.openSync(temp, 'w');
  fs.writeSync(fd, JSON.stringify(manifest, null, 1) + os.EOL);
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  fs.renameSync(temp, target);
  const dirFd = fs.openSync(dir, 'r');
  fs.fsyncSync(dirFd);
  fs.closeSync(dirFd);
}

function ms(start: number): number {
  return performance.now() - start;
}

function main(): void {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cusprun-bench-store-'));
  try {
    const dirs = SIZES.map(n => path.join(root, `n${n}`));
    const stores = SIZES.map((n, i) => filled(dirs[i], n));
    const manifests = dirs.map(
      d =>
        JSON.parse(fs.readFileSync(path.join(d, MANIFEST_FILE), 'utf8')) as {
          documents: unknown[];
        }
    );
    // Side by side in each round, so that the disk's drift cancels in the paired ratio.
    const commit = SIZES.map(() => [] as number[]);
    const old = SIZES.map(() => [] as number[]);
    for (let r = 0; r < ROUNDS; r++) {
      stores.forEach((store, i) => {
        const batch = records('bench', r * BATCH, BATCH);
        const start = performance.now();
        store.append(batch);
        commit[i].push(ms(start));
      });
      dirs.forEach((dir, i) => {
        const start = performance.now();
        oldCommit(dir, manifests[i]);
        old[i].push(ms(start));
      });
    }
    // One rewrite at each size, amortized over the batches the index then takes before the next.
    const rewrite = stores.map(store => {
      const start = performance.now();
      store.close();
      return ms(start);
    });
    const amortized = SIZES.map(
      (n, i) =>
        rewrite[i] / (Math.max(COMPACT_AFTER, n + ROUNDS * BATCH) / BATCH)
    );
    const results = {
      sizes: SIZES,
      batch: BATCH,
      rounds: ROUNDS,
      commitMs: commit.map(median),
      commitRatio: pairedRatio(commit[1], commit[0]),
      rewriteMs: rewrite,
      rewriteAmortizedMs: amortized,
      oldCommitMs: old.map(median),
      oldCommitRatio: pairedRatio(old[1], old[0])
    };
    const f = (n: number) => `${n.toFixed(3)} ms`;
    console.log(
      `score store: one batch of ${BATCH} committed at ${SIZES[0]} / ${SIZES[1].toLocaleString('en-US')} documents (median of ${ROUNDS})`
    );
    console.log(
      `  index line (now)                 ${f(results.commitMs[0])} / ${f(results.commitMs[1])}  ratio ${results.commitRatio.toFixed(2)}`
    );
    console.log(
      `  + rewrite amortized per batch    ${f(amortized[0])} / ${f(amortized[1])}`
    );
    console.log(
      `  whole manifest (before)          ${f(results.oldCommitMs[0])} / ${f(results.oldCommitMs[1])}  ratio ${results.oldCommitRatio.toFixed(2)}`
    );
    const out = path.resolve(__dirname, '../../bench/out');
    fs.mkdirSync(out, { recursive: true });
    fs.writeFileSync(
      path.join(out, 'store-commit.json'),
      `${JSON.stringify(results, null, 2)}\n`
    );
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

main();
