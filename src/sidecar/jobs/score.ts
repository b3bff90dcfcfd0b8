/**
 * The score job: tokenize the corpus manifest's documents with the model's tokenizer, score every
 * unit on each, and keep the scores in the run folder's score store. A run folder belongs to one
 * model and one corpus; scoring it again resumes where it stopped.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { modelMapOf } from '../../engine/arch/inspect';
import { ScoreForm } from '../../engine/capture/scoring-graph';
import { loadCorpus, loadTokenizer } from '../../engine/corpus';
import { CusprunError } from '../../core/errors';
import { OnnxModel } from '../../engine/onnx/model';
import { makeFolder, someNames } from '../../engine/output';
import { aboutFile, userError } from '../../engine/fs-errors';
import {
  openScoreStore,
  Shard,
  ScoreProgress,
  scoreDocuments,
  ScoreSummary
} from '../../engine/score';
import {
  RunRecord,
  SCORES_DIR,
  toolVersions,
  writeRun,
  readRun,
  RUN_FILE,
  EVENTS_FILE
} from '../run-folder';

export interface ScoreJob {
  model: string;
  corpus: string;
  run: string;
  batchSize?: number;
  threads?: number;
  scoreForm?: ScoreForm;
  /** Score this shard of the corpus's batches only (merged later with `cusprun merge`). */
  shard?: Shard;
  onProgress?: (progress: ScoreProgress) => void;
  signal?: AbortSignal;
}

/** The store id of a document: its dimension, position and text hash. */
export function documentId(
  dimension: string,
  index: number,
  sha256: string
): string {
  return `${dimension}/${index}/${sha256.slice(0, 16)}`;
}

/**
 * A run folder to score into: new, empty, or a run (to resume). Any other folder is the user's,
 * and a run must not mix its files with theirs.
 */
function checkRunFolder(run: string): void {
  if (!fs.existsSync(run)) {
    return;
  }
  if (!fs.statSync(run).isDirectory()) {
    throw new CusprunError(
      'bad-argument',
      'is a file; --run names a run folder (new, empty, or a run to resume)',
      run
    );
  }
  // A run killed before its first run.json holds its score store alone; a run of the store
  // gets its event log when the job is submitted.
  const foreign = fs
    .readdirSync(run)
    .filter(name => ![RUN_FILE, SCORES_DIR, EVENTS_FILE].includes(name));
  if (!fs.existsSync(path.join(run, RUN_FILE)) && foreign.length) {
    throw new CusprunError(
      'would-overwrite',
      `is not a run folder (no ${RUN_FILE}) and holds other files (${someNames(foreign)}); choose a new folder for the run`,
      run
    );
  }
}

/**
 * A resumed run must score the slice it began with: the shard, and (since it decides which
 * batches are the shard's) the batch size.
 */
function checkSameShard(job: ScoreJob, existing: RunRecord | undefined): void {
  if (!existing) {
    return;
  }
  const name = (s: Shard | undefined) =>
    s ? `shard ${s.index}/${s.count}` : 'no shard';
  const was = existing.scoring.shard;
  if (name(was) !== name(job.shard)) {
    throw new CusprunError(
      'bad-argument',
      `this run folder holds the scores of ${name(was)}, now ${name(job.shard)}; use a new --run folder`,
      job.run
    );
  }
  const batchSize = job.batchSize ?? 8;
  if (was && existing.scoring.batchSize !== batchSize) {
    throw new CusprunError(
      'bad-argument',
      `this shard run was scored with --batch ${existing.scoring.batchSize}, now ${batchSize}; a shard's batches depend on it, so give --batch ${existing.scoring.batchSize}`,
      job.run
    );
  }
}

export async function runScoreJob(
  job: ScoreJob
): Promise<{ record: RunRecord; summary: ScoreSummary }> {
  checkRunFolder(job.run);
  const model = OnnxModel.load(job.model);
  try {
    const map = modelMapOf(model);
    const corpus = loadCorpus(job.corpus, loadTokenizer(model.dir), {
      vocab: map.vocab
    });
    const scoreForm = job.scoreForm ?? 'paper';
    aboutFile(job.run, () => makeFolder(job.run));
    const store = openScoreStore(
      path.join(job.run, SCORES_DIR),
      model,
      map,
      scoreForm
    );
    try {
      const existing = fs.existsSync(path.join(job.run, RUN_FILE))
        ? readRun(job.run)
        : undefined;
      if (existing && existing.corpus.sha256 !== corpus.sha256) {
        throw new CusprunError(
          'bad-argument',
          `this run folder holds scores of another corpus (sha256 ${existing.corpus.sha256.slice(0, 12)}…, now ${corpus.sha256.slice(0, 12)}…); use a new --run folder`,
          job.run
        );
      }
      checkSameShard(job, existing);
      const now = new Date().toISOString();
      const record: RunRecord = {
        format: 'cusprun-run',
        version: 1,
        created: existing?.created ?? now,
        updated: now,
        model: {
          file: model.file,
          sha256: store.header.model.sha256,
          family: map.family
        },
        corpus: {
          manifest: path.resolve(job.corpus),
          sha256: corpus.sha256,
          truncation: corpus.truncation,
          seed: corpus.seed,
          documentsPerDimension: corpus.documentsPerDimension,
          tokenizerSha256: corpus.tokenizer.sha256,
          dimensions: corpus.dimensions.map(d => ({
            dimension: d.dimension,
            name: d.name,
            available: d.available,
            truncated: d.truncated,
            documents: d.documents.map(doc => ({
              id: documentId(d.dimension, doc.index, doc.sha256),
              sha256: doc.sha256,
              source: doc.source,
              tokens: doc.tokens.length,
              truncated: doc.truncated
            }))
          }))
        },
        scoring: {
          scoreForm,
          batchSize: job.batchSize ?? 8,
          threads: job.threads ?? 0,
          // Only a shard run says so: a single run's record stays as it was.
          ...(job.shard ? { shard: job.shard } : {})
        },
        versions: toolVersions(),
        prunes: existing?.prunes ?? []
      };
      writeRun(job.run, record);
      const documents = corpus.dimensions.flatMap(d =>
        d.documents.map(doc => ({
          id: documentId(d.dimension, doc.index, doc.sha256),
          tokens: doc.tokens
        }))
      );
      const summary = await scoreDocuments(model, map, documents, store, {
        batchSize: job.batchSize,
        threads: job.threads,
        scoreForm,
        onProgress: job.onProgress,
        signal: job.signal,
        shard: job.shard
      });
      writeRun(job.run, record);
      return { record, summary };
    } finally {
      store.close();
    }
  } catch (error) {
    // A write to the score store that fails (a full disk) names no path: it is the run's.
    throw userError(error, job.run) ?? error;
  } finally {
    model.close();
  }
}
