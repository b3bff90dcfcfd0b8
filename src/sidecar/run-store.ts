/**
 * The run store: one folder (default `.cusprun/` in the working folder) with a folder per run.
 * A run folder is what `cusprun score --run` makes (run.json, scores/, sweeps/, ablations/,
 * evaluations.jsonl, …) plus `events.jsonl`, the append-only log of the sidecar's jobs on it.
 * Any folder of the store with a run.json is a run, so runs the CLI made with `--run` inside
 * the store are listed like the sidecar's own.
 *
 * run.json and the records are replaced through temp + rename; the score store commits its own
 * way; an event is one appended line, and a line a crash cut short is skipped when read.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readCorpusTexts, readManifest } from '../engine/corpus';
import { CusprunError, isCusprunError } from '../core/errors';
import { userError } from '../engine/fs-errors';
import { processAlive, ScoreStore } from '../engine/score';
import {
  checkRunId,
  CorpusInfo,
  FINAL_STATES,
  JobEvent,
  JobInfo,
  JobType,
  RegisterCorpusRequest,
  RunDetail,
  RunRecord,
  RunSummary
} from '../core/protocol';
import { writeFileAtomic } from '../engine/output';
import { ABLATIONS_DIR } from './jobs/ablate';
import { STUDY_DIR } from './jobs/study';
import { SWEEPS_DIR } from './jobs/sweep';
import { EVENTS_FILE, readRun, RUN_FILE, SCORES_DIR } from './run-folder';

export const DEFAULT_STORE = '.cusprun';
export { EVENTS_FILE };
/** The store's registered corpora: name → manifest. */
export const CORPORA_FILE = 'corpora.json';

export type RecordKind =
  typeof SWEEPS_DIR | typeof ABLATIONS_DIR | typeof STUDY_DIR;

/**
 * `--store`, else CUSPRUN_STORE, else the nearest existing `.cusprun` folder from the working
 * folder up (as git finds a repository), else `.cusprun` in the working folder.
 */
export function storeRoot(
  option?: string,
  cwd: string = process.cwd()
): string {
  const given = option ?? process.env.CUSPRUN_STORE;
  if (given !== undefined && given !== '') return path.resolve(cwd, given);
  return findStore(cwd) ?? path.resolve(cwd, DEFAULT_STORE);
}

/** The nearest folder named `.cusprun` in `from` or one of its parents, if any. */
export function findStore(from: string): string | undefined {
  for (let dir = path.resolve(from); ;) {
    const candidate = path.join(dir, DEFAULT_STORE);
    try {
      if (fs.statSync(candidate).isDirectory()) return candidate;
    } catch {
      // not here: one folder up
    }
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

const LIFECYCLE = new Set<JobEvent['type']>([
  'job-queued',
  'job-started',
  'job-done',
  'job-failed',
  'job-cancelled',
  'job-interrupted'
]);

export class RunStore {
  readonly root: string;
  /** Event logs this process has appended to (each checked once for a torn last line). */
  private readonly opened = new Set<string>();

  constructor(root: string) {
    this.root = path.resolve(root);
    fs.mkdirSync(this.root, { recursive: true });
  }

  /** The folder of run `id` (which need not exist yet). */
  dir(id: string): string {
    return path.join(this.root, checkRunId(id));
  }

  has(id: string): boolean {
    return fs.existsSync(path.join(this.dir(id), RUN_FILE));
  }

  /** The folder of an existing run. */
  existing(id: string): string {
    if (!this.has(id)) {
      throw new CusprunError(
        'not-found',
        `no run '${id}' in the run store ${this.root}; start one with a score job`
      );
    }
    return this.dir(id);
  }

  ids(): string[] {
    return fs
      .readdirSync(this.root, { withFileTypes: true })
      .filter(e => e.isDirectory() && this.has(e.name))
      .map(e => e.name)
      .sort();
  }

  /** Every run; one whose run.json cannot be read is listed as damaged, with the reason. */
  list(): RunSummary[] {
    return this.ids().map(id => {
      try {
        const record = this.runRecord(id);
        return this.summary(id, described(record), record);
      } catch (error) {
        const damage = userError(error);
        if (!damage) {
          throw error;
        }
        return this.summary(id, this.damaged(id, damage.message));
      }
    });
  }

  /**
   * A run's record, checked for the fields a summary reads; a damaged one (half written, hand
   * edited, unreadable) is a one-line CusprunError that says what to do.
   */
  runRecord(id: string): RunRecord {
    const dir = this.existing(id);
    let record: RunRecord;
    try {
      record = readRun(dir);
    } catch (error) {
      throw isCusprunError(error)
        ? runDamage(error.code, error.message)
        : error;
    }
    const missing = missingField(record);
    if (missing !== undefined) {
      throw runDamage(
        'bad-argument',
        `${path.join(dir, RUN_FILE)}: not a cusprun run record (no ${missing})`
      );
    }
    return record;
  }

  /** What a damaged run's row shows: the reason, its scores and jobs, and nothing made up. */
  private damaged(id: string, reason: string): RunFacts {
    const changed =
      fs
        .statSync(path.join(this.dir(id), RUN_FILE), { throwIfNoEntry: false })
        ?.mtime.toISOString() ?? '';
    return {
      created: changed,
      updated: changed,
      model: { file: '', sha256: '', family: '' },
      corpus: { manifest: '', sha256: '', dimensions: [] },
      documents: 0,
      damaged: reason
    };
  }

  private summary(
    id: string,
    facts: RunFacts,
    record?: RunRecord,
    jobs: JobInfo[] = this.jobs(id)
  ): RunSummary {
    const scored = this.scored(id);
    const summary: RunSummary = { id, ...facts, scored };
    const last = lastJob(
      jobs,
      record ? this.cliWork(id, record, scored >= facts.documents) : []
    );
    return last ? { ...summary, lastJob: last } : summary;
  }

  /**
   * What the CLI did on a run, as far as the run folder tells: its scoring (run.json's
   * `created`), its prunes (run.json's `prunes`), its sweeps and ablations (their files' time
   * stamps). A sidecar's jobs leave the same traces, a moment before they end.
   */
  private cliWork(
    id: string,
    record: RunRecord,
    complete: boolean
  ): NonNullable<RunSummary['lastJob']>[] {
    const done = (type: JobType, at: string) => ({
      type,
      state: 'done' as const,
      at,
      origin: 'cli' as const
    });
    const stamped = (kind: RecordKind, type: JobType) =>
      this.files(id, kind).flatMap(file => {
        const at = stampTime(file);
        return at ? [done(type, at)] : [];
      });
    return [
      {
        ...done('score', record.created),
        state: complete ? ('done' as const) : ('interrupted' as const)
      },
      ...(record.prunes ?? []).map(p => done('prune', p.at)),
      ...stamped(SWEEPS_DIR, 'sweep'),
      ...stamped(ABLATIONS_DIR, 'ablate')
    ];
  }

  private scored(id: string): number {
    try {
      const store = ScoreStore.open(path.join(this.dir(id), SCORES_DIR));
      store.close();
      return store.size;
    } catch {
      // A run whose scoring never committed a document has no readable store yet.
      return 0;
    }
  }

  detail(id: string): RunDetail {
    const record = this.runRecord(id);
    const jobs = this.jobs(id);
    return {
      ...this.summary(id, described(record), record, jobs),
      record,
      sweeps: this.files(id, SWEEPS_DIR),
      ablations: this.files(id, ABLATIONS_DIR),
      jobs
    };
  }

  /** The JSON files of a run's `sweeps/` or `ablations/`, oldest first (names are time stamps). */
  files(id: string, kind: RecordKind): string[] {
    const dir = path.join(this.dir(id), kind);
    return fs.existsSync(dir)
      ? fs
          .readdirSync(dir)
          .filter(f => f.endsWith('.json'))
          .sort()
      : [];
  }

  /** A sweep or ablation record: the named file, or the latest. */
  record<T>(id: string, kind: RecordKind, file?: string) {
    const files = this.files(id, kind);
    const name = file === undefined ? files.at(-1) : path.basename(file);
    if (name === undefined || !files.includes(name)) {
      throw new CusprunError(
        'not-found',
        file === undefined
          ? `run '${id}' has no ${kind} yet`
          : `run '${id}' has no ${kind} file '${file}' (it has ${files.join(', ') || 'none'})`
      );
    }
    const relative = `${kind}/${name}`;
    return {
      file: relative,
      record: readJson(path.join(this.dir(id), relative)) as T
    };
  }

  appendEvent(id: string, event: JobEvent): void {
    const file = path.join(this.dir(id), EVENTS_FILE);
    let prefix = '';
    if (!this.opened.has(file)) {
      this.opened.add(file);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      // A crash can cut the last line short: start ours on a line of its own.
      prefix = endsMidLine(file) ? '\n' : '';
    }
    fs.appendFileSync(file, `${prefix}${JSON.stringify(event)}\n`);
  }

  /** A run's events in order; lines that are not whole JSON (cut by a crash) are skipped. */
  events(id: string): JobEvent[] {
    const file = path.join(this.dir(id), EVENTS_FILE);
    if (!fs.existsSync(file)) {
      return [];
    }
    return fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .flatMap(line => {
        try {
          const event: unknown = line ? JSON.parse(line) : undefined;
          return isObject(event) ? [event as unknown as JobEvent] : [];
        } catch {
          return [];
        }
      });
  }

  /** Every job of the run's log in its latest state, in submission order. */
  jobs(id: string): JobInfo[] {
    const jobs = new Map<string, JobInfo>();
    for (const event of this.events(id)) {
      if ('info' in event && LIFECYCLE.has(event.type)) {
        jobs.set(event.job, event.info);
      } else if (event.type === 'progress' && jobs.has(event.job)) {
        jobs.set(event.job, {
          ...(jobs.get(event.job) as JobInfo),
          progress: event.progress
        });
      }
    }
    return [...jobs.values()];
  }

  /**
   * Jobs a sidecar that is gone left queued or running (killed, crashed): logged as
   * interrupted, so clients see them as such and can resume them. Jobs of a sidecar that still
   * runs on the same store are left alone.
   */
  recoverInterrupted(): JobInfo[] {
    const recovered: JobInfo[] = [];
    for (const id of this.ids()) {
      for (const job of this.jobs(id)) {
        // At start-up no job is this process's own, whatever its pid says (pids get reused).
        const gone = job.pid === process.pid || !processAlive(job.pid);
        if (FINAL_STATES.includes(job.state) || !gone) {
          continue;
        }
        const at = new Date().toISOString();
        const info: JobInfo = {
          ...job,
          state: 'interrupted',
          finished: at,
          error: {
            code: 'interrupted',
            message: `the sidecar (pid ${job.pid}) stopped while this job was ${job.state}; resume it with POST /api/runs/${id}/resume`
          }
        };
        this.appendEvent(id, {
          type: 'job-interrupted',
          at,
          job: job.id,
          run: id,
          info
        });
        recovered.push(info);
      }
    }
    return recovered;
  }

  /**
   * The registered corpora. A damaged registry is set aside (renamed, never deleted) with one
   * warning line on stderr, and starts again from the entries that could be read.
   */
  corpora(): CorpusInfo[] {
    const file = path.join(this.root, CORPORA_FILE);
    if (!fs.existsSync(file)) {
      return [];
    }
    const { corpora, damage } = readCorpora(fs.readFileSync(file, 'utf8'));
    if (damage !== undefined) {
      const aside = setAside(file);
      if (corpora.length > 0) {
        writeCorpora(file, corpora);
      }
      process.stderr.write(
        `cusprun sidecar: ${file}: ${damage}; set aside as ${path.basename(aside)}, the registry starts again with ${corpora.length} of its corpora\n`
      );
    }
    return corpora;
  }

  /** Reads the manifest and its sources (no tokenizing) and keeps it under its name. */
  registerCorpus(request: RegisterCorpusRequest): CorpusInfo {
    const manifest = readManifest(request.manifest);
    const texts = readCorpusTexts(manifest);
    const info: CorpusInfo = {
      name:
        request.name ??
        path.basename(manifest.file, path.extname(manifest.file)),
      manifest: manifest.file,
      registered: new Date().toISOString(),
      truncation: manifest.truncation,
      seed: manifest.seed,
      documentsPerDimension: manifest.documents,
      dimensions: texts.map(d => ({
        dimension: d.dimension,
        name: d.name,
        sources: d.sources,
        available: d.available,
        documents: d.documents.length
      }))
    };
    const others = this.corpora().filter(c => c.name !== info.name);
    writeCorpora(path.join(this.root, CORPORA_FILE), [...others, info]);
    return info;
  }

  /** A registered corpus's manifest, or the argument itself as a manifest path. */
  corpusManifest(nameOrPath: string): string {
    return (
      this.corpora().find(c => c.name === nameOrPath)?.manifest ??
      readManifest(nameOrPath).file
    );
  }
}

/**
 * The latest of a run's jobs, whoever ran them: the sidecar's (by when they ended, else
 * started, else were submitted) and what the CLI left in the run folder; on a tie the sidecar's
 * job wins (its traces are written before it ends).
 */
export function lastJob(
  jobs: readonly JobInfo[],
  cli: readonly NonNullable<RunSummary['lastJob']>[]
): RunSummary['lastJob'] {
  const sidecar = jobs.map(job => ({
    id: job.id,
    type: job.type,
    state: job.state,
    at: job.finished ?? job.started ?? job.submitted,
    origin: 'sidecar' as const
  }));
  let best: RunSummary['lastJob'];
  for (const job of [...cli, ...sidecar]) {
    if (best === undefined || Date.parse(job.at) >= Date.parse(best.at)) {
      best = job;
    }
  }
  return best;
}

/** The time a `stampName` file name holds (`2026-01-02T03-04-05-678Z.json`), if it holds one. */
export function stampTime(file: string): string | undefined {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2})-(\d{2})-(\d{2})-(\d{3})Z\.json$/.exec(
    file
  );
  return m ? `${m[1]}:${m[2]}:${m[3]}.${m[4]}Z` : undefined;
}

/** What a summary says about a run apart from its id, scores and jobs. */
type RunFacts = Omit<RunSummary, 'id' | 'scored' | 'lastJob'>;

function described(record: RunRecord): RunFacts {
  const dimensions = record.corpus.dimensions;
  return {
    created: record.created,
    updated: record.updated,
    model: record.model,
    corpus: {
      manifest: record.corpus.manifest,
      sha256: record.corpus.sha256,
      dimensions: dimensions.map(d => d.dimension)
    },
    documents: dimensions.reduce((n, d) => n + d.documents.length, 0)
  };
}

/** One line, whatever the file held: a JSON error may quote it, line breaks and all. */
function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ');
}

function notJson(error: SyntaxError): string {
  return `not valid JSON (${oneLine(error.message)})`;
}

function runDamage(code: CusprunError['code'], reason: string): CusprunError {
  return new CusprunError(
    code,
    `${oneLine(reason)}; restore the run's run.json, or move its folder out of the run store`
  );
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The first field a summary reads that a parsed run.json lacks (a hand-edited one). */
function missingField(record: RunRecord): string | undefined {
  const r: Record<string, unknown> = isObject(record) ? record : {};
  const model = isObject(r.model) ? r.model : {};
  const corpus = isObject(r.corpus) ? r.corpus : {};
  const dimensions = corpus.dimensions;
  const present: [string, boolean][] = [
    ['created', typeof r.created === 'string'],
    ['updated', typeof r.updated === 'string'],
    ['model.file', typeof model.file === 'string'],
    ['corpus.manifest', typeof corpus.manifest === 'string'],
    [
      'corpus.dimensions',
      Array.isArray(dimensions) &&
        dimensions.every(
          d =>
            isObject(d) &&
            typeof d.dimension === 'string' &&
            Array.isArray(d.documents)
        )
    ]
  ];
  return present.find(([, ok]) => !ok)?.[0];
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    throw error instanceof SyntaxError
      ? new CusprunError(
          'bad-argument',
          `${notJson(error)}; the file is damaged`,
          file
        )
      : error;
  }
}

/** A registry's corpora that can be read, and what was wrong with the rest (if anything). */
function readCorpora(text: string): {
  corpora: CorpusInfo[];
  damage?: string;
} {
  let entries: unknown;
  try {
    entries = JSON.parse(text);
  } catch (error) {
    return { corpora: [], damage: notJson(error as SyntaxError) };
  }
  if (!Array.isArray(entries)) {
    return { corpora: [], damage: 'not a list of corpora' };
  }
  const corpora = entries.filter(isCorpusInfo);
  return corpora.length === entries.length
    ? { corpora }
    : {
        corpora,
        damage: `${entries.length - corpora.length} of its ${entries.length} entries are not corpora`
      };
}

function isCorpusInfo(entry: unknown): entry is CorpusInfo {
  return (
    isObject(entry) &&
    typeof entry.name === 'string' &&
    typeof entry.manifest === 'string' &&
    Array.isArray(entry.dimensions)
  );
}

function writeCorpora(file: string, corpora: CorpusInfo[]): void {
  writeFileAtomic(file, `${JSON.stringify(corpora, null, 1)}\n`);
}

/** Renames a damaged file to `NAME.damaged-TIME` (a free name: nothing is ever replaced). */
function setAside(file: string): string {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  let aside = `${file}.damaged-${stamp}`;
  for (let n = 1; fs.existsSync(aside); n++) {
    aside = `${file}.damaged-${stamp}-${n}`;
  }
  fs.renameSync(file, aside);
  return aside;
}

function endsMidLine(file: string): boolean {
  if (!fs.existsSync(file)) {
    return false;
  }
  const size = fs.statSync(file).size;
  if (size === 0) {
    return false;
  }
  const last = Buffer.alloc(1);
  const fd = fs.openSync(file, 'r');
  try {
    fs.readSync(fd, last, 0, 1, size - 1);
  } finally {
    fs.closeSync(fd);
  }
  return last[0] !== 0x0a;
}
