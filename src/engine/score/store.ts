/**
 * The score store: a folder with an append-only binary file of float32 records (one per
 * document) and a JSON manifest that says which records are committed.
 *
 *   scores.f32      record after record, little-endian float32, no header
 *   manifest.json   the model's identity, the record layout, the committed documents in order
 *   commits.jsonl   one JSON line per batch committed since the manifest was last rewritten
 *
 * A record holds, for each layer in order, the FFN channel scores then the attention group
 * scores. Appending (one batch) writes the records after the last committed one, fsyncs the data
 * file, then appends one line naming the batch's documents to the commit index and fsyncs it: a
 * commit costs the same at the millionth document as at the first. The manifest is rewritten
 * (temporary file, rename, then the index emptied) only when the index holds more documents than
 * it, when a writer opens the store and when it closes it, so rewrites cost O(n) in all. What is
 * committed is the manifest then each whole index line that continues it; a torn last line (a
 * kill during its write) is not committed. A crash at any point leaves a readable store: bytes past the
 * manifest's `dataBytes` are ignored by readers, and a writer cuts them off when it opens the
 * store, so a resumed run redoes exactly the documents that were not committed. A manifest that
 * commits more than the data holds (a file system that lost synced data) is cut back by a writer
 * to the last batch whose records are whole: the manifest's `batches` keep the batch ends, since
 * a resumed run gives bit-identical scores only when it forms the same batches.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ModelMap } from '../../core/model/model-map';
import { ScoreForm, ScoreKind } from '../capture/scoring-graph';
import { CusprunError } from '../../core/errors';
import { ModelIdentity } from './identity';

export const STORE_FORMAT = 'cusprun-score-store';
export const STORE_VERSION = 1;
export const MANIFEST_FILE = 'manifest.json';
export const DATA_FILE = 'scores.f32';
/** Held by the one process appending to the store. */
export const LOCK_FILE = 'writer.lock';
/** Batches committed since the manifest was last rewritten, one JSON line each. */
export const INDEX_FILE = 'commits.jsonl';
/**
 * The manifest is rewritten once the index holds more documents than this and than the manifest:
 * the rewrites then cost O(1) per document amortized, and a reader's index stays short.
 */
export const COMPACT_AFTER = 4096;

/** Units per layer and kind: what a record holds. */
export interface StoreLayer {
  index: number;
  ffn: number;
  attention: number;
}

/** What a store was made for; a store is only ever extended with scores of the same kind. */
export interface StoreHeader {
  model: ModelIdentity;
  family: string;
  scoreForm: ScoreForm;
  layers: StoreLayer[];
}

/** One part of a record: a layer's scores of one kind, at `offset` floats into the record. */
export interface RecordPart {
  layer: number;
  kind: ScoreKind;
  offset: number;
  units: number;
}

export interface StoredDocument {
  id: string;
  /** Real tokens scored. */
  tokens: number;
  /** Byte offset of the document's record in the data file. */
  offset: number;
}

export interface Manifest extends StoreHeader {
  format: typeof STORE_FORMAT;
  version: number;
  data: string;
  /** Floats per record, and where each layer's scores sit in it. */
  record: { floats: number; bytes: number; parts: RecordPart[] };
  /** Committed bytes of the data file: documents × record bytes. */
  dataBytes: number;
  documents: StoredDocument[];
  /**
   * The document count after each committed batch, ascending, the last one `documents.length`.
   * Absent in stores written before it was kept: their documents then count as one batch.
   */
  batches: number[];
  created: string;
  updated: string;
}

export interface LayerScores {
  layer: number;
  kind: ScoreKind;
  scores: Float32Array;
}

export interface StoredScores {
  id: string;
  tokens: number;
  /** Per layer in order: one score per FFN channel and per attention group. */
  layers: Record<ScoreKind, Float32Array>[];
}

export interface NewRecord {
  id: string;
  tokens: number;
  /** The whole record: `record.floats` values in the order of `record.parts`. */
  scores: Float32Array;
}

/** The store layout for a model map. */
export function storeLayers(map: ModelMap): StoreLayer[] {
  return map.layers.map(l => ({
    index: l.index,
    ffn: l.ffn.units,
    attention: l.attention.units
  }));
}

function recordParts(layers: StoreLayer[]): RecordPart[] {
  const parts: RecordPart[] = [];
  let offset = 0;
  for (const layer of layers) {
    parts.push({ layer: layer.index, kind: 'ffn', offset, units: layer.ffn });
    offset += layer.ffn;
    parts.push({
      layer: layer.index,
      kind: 'attention',
      offset,
      units: layer.attention
    });
    offset += layer.attention;
  }
  return parts;
}

function fsyncDir(dir: string): void {
  try {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    // Some platforms cannot fsync a folder; the rename is still atomic.
  }
}

function differences(a: StoreHeader, b: StoreHeader): string[] {
  const out: string[] = [];
  if (a.model.sha256 !== b.model.sha256) {
    out.push(
      `model ${path.basename(path.dirname(a.model.file))}/${path.basename(a.model.file)} (sha256 ${a.model.sha256.slice(0, 12)}…) vs ${b.model.sha256.slice(0, 12)}…`
    );
  }
  if (a.scoreForm !== b.scoreForm) {
    out.push(`FFN score form '${a.scoreForm}' vs '${b.scoreForm}'`);
  }
  if (JSON.stringify(a.layers) !== JSON.stringify(b.layers)) {
    out.push('units per layer differ');
  }
  return out;
}

/** One line of the commit index: a batch's documents, appended after the first `start`. */
interface IndexLine {
  start: number;
  documents: StoredDocument[];
}

/** What a store on disk commits: its manifest extended by its index, and how the two split. */
interface Committed {
  manifest: Manifest;
  /** Documents in manifest.json itself. */
  compacted: number;
  /** Whether the index file holds anything (to empty when a writer opens the store). */
  indexed: boolean;
}

/** The manifest and the index lines that continue it. */
function readCommitted(dir: string): Committed {
  const manifest = readManifest(path.join(dir, MANIFEST_FILE));
  const compacted = manifest.documents.length;
  let text = '';
  try {
    text = fs.readFileSync(path.join(dir, INDEX_FILE), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw error;
    }
  }
  let start = 0;
  for (
    let end = text.indexOf('\n');
    end >= 0 && extend(manifest, text.slice(start, end));
    end = text.indexOf('\n', start)
  ) {
    start = end + 1;
  }
  return { manifest, compacted, indexed: text.length > 0 };
}

/**
 * Extends the manifest (in place) by one index line and says whether the line is committed: a
 * line a rewrite already holds (a crash between the rewrite and emptying the index) adds
 * nothing; one that does not continue the manifest (torn, or from before another rewrite) is
 * not committed, and reading stops there.
 */
function extend(manifest: Manifest, text: string): boolean {
  let line: IndexLine;
  try {
    line = JSON.parse(text) as IndexLine;
  } catch {
    return false;
  }
  if (!Number.isInteger(line.start) || !Array.isArray(line.documents)) {
    return false;
  }
  const count = manifest.documents.length;
  const end = line.start + line.documents.length;
  if (line.documents.length > 0 && end <= count) {
    return true;
  }
  const { bytes } = manifest.record;
  const whole =
    line.start === count &&
    line.documents.length > 0 &&
    line.documents.every(
      (d, i) =>
        typeof d.id === 'string' &&
        Number.isInteger(d.tokens) &&
        d.offset === (count + i) * bytes
    );
  if (whole) {
    manifest.documents.push(...line.documents);
    manifest.batches.push(end);
    manifest.dataBytes = end * bytes;
  }
  return whole;
}

/** A manifest from disk, checked; `batches` made up where an older store lacks them. */
function readManifest(file: string): Manifest {
  let manifest: Manifest;
  try {
    manifest = JSON.parse(fs.readFileSync(file, 'utf8')) as Manifest;
  } catch (error) {
    throw new CusprunError(
      'truncated',
      `the score store's manifest is not valid JSON (${error instanceof Error ? error.message : String(error)})`,
      file
    );
  }
  if (manifest.format !== STORE_FORMAT || manifest.version !== STORE_VERSION) {
    throw new CusprunError(
      'unsupported',
      `not a cusprun score store of version ${STORE_VERSION} (format '${manifest.format}', version ${manifest.version})`,
      file
    );
  }
  const expected = manifest.documents.length * manifest.record.bytes;
  if (manifest.dataBytes !== expected) {
    throw new CusprunError(
      'truncated',
      `the manifest lists ${manifest.documents.length} documents but ${manifest.dataBytes} bytes of scores`,
      file
    );
  }
  return { ...manifest, batches: batchEnds(manifest) };
}

/**
 * The manifest's batch ends if they are whole; else (a store older than them) its documents as
 * one batch, so that cutting back never splits a batch whose ends are unknown.
 */
function batchEnds(manifest: Manifest): number[] {
  const ends: unknown = manifest.batches;
  const count = manifest.documents.length;
  const whole =
    Array.isArray(ends) &&
    ends.at(-1) === count &&
    ends.every(
      (end, i) => Number.isInteger(end) && end > (i === 0 ? 0 : ends[i - 1])
    );
  return whole ? (ends as number[]) : count === 0 ? [] : [count];
}

export class ScoreStore {
  readonly dir: string;
  private manifest: Manifest;
  /** Documents manifest.json itself holds; the rest are in the index. */
  private compacted: number;
  private readonly index = new Map<string, number>();
  private fd: number | undefined;
  private indexFd: number | undefined;
  /** Bytes of whole lines in the index file (a failed append is cut back to them). */
  private indexBytes = 0;
  private readFd: number | undefined;
  private truncated = false;
  private locked = false;

  private constructor(dir: string, committed: Committed) {
    this.dir = dir;
    this.manifest = committed.manifest;
    this.compacted = committed.compacted;
    this.indexDocuments();
  }

  /**
   * Opens the store in `dir`. With a header (to write), creates it when it does not exist yet,
   * checks that an existing one was made for the same model, FFN score form and layout, and
   * cuts a torn tail back to the last committed batch; without one (to read), the store must
   * exist, and bytes past the committed ones are ignored.
   */
  static open(dir: string, header?: StoreHeader): ScoreStore {
    const root = path.resolve(dir);
    const manifestPath = path.join(root, MANIFEST_FILE);
    if (!fs.existsSync(manifestPath)) {
      if (!header) {
        throw new CusprunError(
          'not-found',
          `no score store here (no ${MANIFEST_FILE})`,
          root
        );
      }
      return ScoreStore.create(root, header);
    }
    const committed = readCommitted(root);
    const { manifest } = committed;
    if (header) {
      const diff = differences(manifest, header);
      if (diff.length) {
        throw new CusprunError(
          'bad-argument',
          `this score store was made for other scores (${diff.join('; ')}); use another folder`,
          root
        );
      }
    }
    const store = new ScoreStore(root, committed);
    const size = store.dataSize();
    if (header && size !== manifest.dataBytes) {
      store.cutTornTail();
    } else if (size < manifest.dataBytes) {
      throw new CusprunError(
        'truncated',
        `the score data holds ${size} bytes but the manifest commits ${manifest.dataBytes}; score the run again (it resumes) to cut it back to its last whole batch`,
        store.dataPath()
      );
    }
    return store;
  }

  private static create(root: string, header: StoreHeader): ScoreStore {
    fs.mkdirSync(root, { recursive: true });
    const parts = recordParts(header.layers);
    const floats = parts.reduce((sum, p) => sum + p.units, 0);
    const now = new Date().toISOString();
    const manifest: Manifest = {
      format: STORE_FORMAT,
      version: STORE_VERSION,
      model: header.model,
      family: header.family,
      scoreForm: header.scoreForm,
      layers: header.layers,
      data: DATA_FILE,
      record: { floats, bytes: floats * 4, parts },
      dataBytes: 0,
      documents: [],
      batches: [],
      created: now,
      updated: now
    };
    const store = new ScoreStore(root, {
      manifest,
      compacted: 0,
      indexed: false
    });
    store.writeManifest();
    return store;
  }

  get header(): StoreHeader {
    const { model, family, scoreForm, layers } = this.manifest;
    return { model, family, scoreForm, layers };
  }

  get parts(): readonly RecordPart[] {
    return this.manifest.record.parts;
  }

  get recordFloats(): number {
    return this.manifest.record.floats;
  }

  /** Committed documents in the order they were scored. */
  get documents(): readonly StoredDocument[] {
    return this.manifest.documents;
  }

  get size(): number {
    return this.manifest.documents.length;
  }

  has(id: string): boolean {
    return this.index.has(id);
  }

  private dataPath(): string {
    return path.join(this.dir, this.manifest.data);
  }

  private dataSize(): number {
    return fs.statSync(this.dataPath(), { throwIfNoEntry: false })?.size ?? 0;
  }

  private indexDocuments(): void {
    this.index.clear();
    this.manifest.documents.forEach((d, i) => this.index.set(d.id, i));
  }

  /** The data file, opened to write under the writer lock. */
  private open(): number {
    if (this.fd === undefined) {
      this.lock();
      // Under the lock, the store on disk is the last committed batch (another writer may
      // have committed one since this store was opened). Its index is folded into the manifest,
      // which drops a torn last line, so that this writer's lines continue whole ones.
      const committed = readCommitted(this.dir);
      this.manifest = committed.manifest;
      this.compacted = committed.compacted;
      this.indexDocuments();
      if (committed.indexed) {
        this.rewrite(this.manifest);
      }
      const file = this.dataPath();
      if (!fs.existsSync(file)) {
        fs.writeFileSync(file, new Uint8Array(0));
      }
      this.fd = fs.openSync(file, 'r+');
    }
    return this.fd;
  }

  /**
   * Cuts the store back to its last committed batch whose records the data holds whole: the
   * manifest first (when it commits more than the data holds), then the data. Under the writer
   * lock, so that a live writer's batch in flight is never taken for a torn tail.
   */
  private cutTornTail(): void {
    const fd = this.open();
    const { bytes } = this.manifest.record;
    const size = fs.fstatSync(fd).size;
    const batches = this.manifest.batches.filter(end => end * bytes <= size);
    const keep = batches.at(-1) ?? 0;
    if (keep < this.size) {
      this.rewrite({
        ...this.manifest,
        documents: this.manifest.documents.slice(0, keep),
        batches,
        dataBytes: keep * bytes
      });
    }
    fs.ftruncateSync(fd, this.manifest.dataBytes);
    fs.fsyncSync(fd);
    this.truncated = true;
  }

  /**
   * Takes the writer lock: a file holding the writer's pid, created exclusively. A lock whose
   * process is gone (a crashed or killed run) is taken over, so a resumed run never waits.
   */
  private lock(): void {
    const file = path.join(this.dir, LOCK_FILE);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
        this.locked = true;
        return;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw error;
        }
      }
      const holder = Number(fs.readFileSync(file, 'utf8'));
      if (holder > 0 && holder !== process.pid && processAlive(holder)) {
        throw new CusprunError(
          'busy',
          `another process (pid ${holder}) is writing this score store; wait for it or stop it`,
          this.dir
        );
      }
      fs.rmSync(file, { force: true });
    }
    throw new CusprunError(
      'busy',
      "could not take the score store's writer lock",
      this.dir
    );
  }

  private writeManifest(): void {
    const target = path.join(this.dir, MANIFEST_FILE);
    const temp = `${target}.tmp-${process.pid}`;
    try {
      const fd = fs.openSync(temp, 'w');
      try {
        fs.writeSync(fd, JSON.stringify(this.manifest, null, 1) + os.EOL);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(temp, target);
    } catch (error) {
      // A full disk must not leave a half-written temporary file behind.
      fs.rmSync(temp, { force: true });
      throw error;
    }
    fsyncDir(this.dir);
  }

  /**
   * Writes `manifest` whole (in memory too only once it is on disk), then empties the index,
   * which it now holds: the index's lines are ignored from the rename on, as the manifest holds
   * their documents.
   */
  private rewrite(manifest: Manifest): void {
    const previous = this.manifest;
    this.manifest = { ...manifest, updated: new Date().toISOString() };
    try {
      this.writeManifest();
    } catch (error) {
      this.manifest = previous;
      throw error;
    }
    this.compacted = this.manifest.documents.length;
    this.indexDocuments();
    const file = path.join(this.dir, INDEX_FILE);
    if (this.indexFd === undefined && fs.existsSync(file)) {
      this.indexFd = fs.openSync(file, 'r+');
    }
    if (this.indexFd !== undefined) {
      fs.ftruncateSync(this.indexFd, 0);
      fs.fsyncSync(this.indexFd);
    }
    this.indexBytes = 0;
  }

  /** The index file, opened to write (created, with its folder entry synced, if need be). */
  private indexFile(): number {
    if (this.indexFd === undefined) {
      const file = path.join(this.dir, INDEX_FILE);
      const made = !fs.existsSync(file);
      this.indexFd = fs.openSync(file, made ? 'w+' : 'r+');
      this.indexBytes = fs.fstatSync(this.indexFd).size;
      if (made) {
        fsyncDir(this.dir);
      }
    }
    return this.indexFd;
  }

  /**
   * Commits a batch whose records are on disk: one index line, written at the end of the whole
   * lines and fsynced (a line that fails half-written is cut off, so the next one stays
   * readable), then in memory. The manifest is rewritten once the index outgrows it.
   */
  private commit(documents: StoredDocument[]): void {
    const fd = this.indexFile();
    const start = this.manifest.documents.length;
    const line = Buffer.from(JSON.stringify({ start, documents }) + '\n');
    try {
      let done = 0;
      while (done < line.byteLength) {
        done += fs.writeSync(
          fd,
          line,
          done,
          line.byteLength - done,
          this.indexBytes + done
        );
      }
      fs.fsyncSync(fd);
    } catch (error) {
      fs.ftruncateSync(fd, this.indexBytes);
      throw error;
    }
    this.indexBytes += line.byteLength;
    documents.forEach((d, i) => this.index.set(d.id, start + i));
    this.manifest.documents.push(...documents);
    this.manifest.batches.push(start + documents.length);
    this.manifest.dataBytes =
      (start + documents.length) * this.manifest.record.bytes;
    const indexed = this.manifest.documents.length - this.compacted;
    if (indexed > Math.max(COMPACT_AFTER, this.compacted)) {
      this.rewrite(this.manifest);
    }
  }

  /**
   * Appends records and commits them: data first (fsynced), then the manifest. Either all of
   * them are committed or, after a crash, none.
   */
  append(records: NewRecord[]): void {
    if (records.length === 0) {
      return;
    }
    const fd = this.open();
    const { floats, bytes } = this.manifest.record;
    const seen = new Set<string>();
    for (const r of records) {
      if (this.index.has(r.id) || seen.has(r.id)) {
        throw new CusprunError(
          'bad-argument',
          `document '${r.id}' is already in the score store`,
          this.dir
        );
      }
      seen.add(r.id);
      if (r.scores.length !== floats) {
        throw new RangeError(
          `a record holds ${floats} scores, got ${r.scores.length} for '${r.id}'`
        );
      }
    }
    if (!this.truncated) {
      // Drop bytes a crashed run wrote past the committed records.
      fs.ftruncateSync(fd, this.manifest.dataBytes);
      this.truncated = true;
    }
    const buffer = new Uint8Array(records.length * bytes);
    const view = new DataView(buffer.buffer);
    records.forEach((r, n) => {
      for (let i = 0; i < floats; i++) {
        view.setFloat32(n * bytes + i * 4, r.scores[i], true);
      }
    });
    const start = this.manifest.dataBytes;
    let done = 0;
    while (done < buffer.byteLength) {
      done += fs.writeSync(
        fd,
        buffer,
        done,
        buffer.byteLength - done,
        start + done
      );
    }
    fs.fsyncSync(fd);
    this.commit(
      records.map((r, n) => ({
        id: r.id,
        tokens: r.tokens,
        offset: start + n * bytes
      }))
    );
  }

  /** A document's whole record. */
  record(id: string): Float32Array {
    const i = this.index.get(id);
    if (i === undefined) {
      throw new CusprunError(
        'not-found',
        `document '${id}' has no scores in this store`,
        this.dir
      );
    }
    const { bytes, floats } = this.manifest.record;
    const raw = new Uint8Array(bytes);
    this.readFd ??= fs.openSync(this.dataPath(), 'r');
    const fd = this.readFd;
    let done = 0;
    while (done < bytes) {
      const n = fs.readSync(fd, raw, done, bytes - done, i * bytes + done);
      if (n === 0) {
        throw new CusprunError(
          'truncated',
          'the score data ends early',
          this.dataPath()
        );
      }
      done += n;
    }
    const view = new DataView(raw.buffer);
    const out = new Float32Array(floats);
    for (let k = 0; k < floats; k++) {
      out[k] = view.getFloat32(k * 4, true);
    }
    return out;
  }

  /** A document's scores per layer and kind, in layer order (FFN, then attention). */
  scores(id: string): LayerScores[] {
    const record = this.record(id);
    return this.manifest.record.parts.map(p => ({
      layer: p.layer,
      kind: p.kind,
      scores: record.slice(p.offset, p.offset + p.units)
    }));
  }

  /**
   * A document's scores as one entry per layer (`layers[i].ffn`, `layers[i].attention`): the
   * shape the selection module reads (`DocumentScores`).
   */
  documentScores(id: string): StoredScores {
    const record = this.record(id);
    const layers = this.manifest.layers.map(() => ({
      ffn: new Float32Array(0),
      attention: new Float32Array(0)
    }));
    this.manifest.record.parts.forEach(p => {
      const i = this.manifest.layers.findIndex(l => l.index === p.layer);
      layers[i][p.kind] = record.slice(p.offset, p.offset + p.units);
    });
    const tokens = this.manifest.documents[this.index.get(id) as number].tokens;
    return { id, tokens, layers };
  }

  /** The scores of `ids` (default: every document, in store order), one record at a time. */
  *iterate(ids?: Iterable<string>): Generator<StoredScores> {
    for (const id of ids ?? this.manifest.documents.map(d => d.id)) {
      yield this.documentScores(id);
    }
  }

  /**
   * Folds the index into the manifest (a writer's closed store is one manifest, as before the
   * index), then lets go of the files and the lock.
   */
  close(): void {
    if (this.indexFd !== undefined && this.locked) {
      try {
        if (this.indexBytes > 0) {
          this.rewrite(this.manifest);
        }
        fs.closeSync(this.indexFd);
        this.indexFd = undefined;
        fs.rmSync(path.join(this.dir, INDEX_FILE), { force: true });
      } catch {
        // A full disk: the index stays, and readers and the next writer read it back.
      }
    }
    for (const fd of [this.fd, this.readFd, this.indexFd]) {
      if (fd !== undefined) {
        fs.closeSync(fd);
      }
    }
    this.fd = undefined;
    this.readFd = undefined;
    this.indexFd = undefined;
    if (this.locked) {
      fs.rmSync(path.join(this.dir, LOCK_FILE), { force: true });
      this.locked = false;
    }
  }
}

/** Whether a process with this pid still runs (a store's writer, a job's sidecar). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
