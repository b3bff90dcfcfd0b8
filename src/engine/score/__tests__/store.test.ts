/** The score store on disk, and resuming an interrupted scoring run on a real fixture. */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { mapModel } from '../../arch/map';
import { ModelMap } from '../../../core/model/model-map';
import { fixtureFile, fixtureManifest } from '../../__tests__/fixtures';
import { OnnxModel } from '../../onnx/model';
import { DocumentScores } from '../../../core/select/from-scores';
import {
  DATA_FILE,
  INDEX_FILE,
  LOCK_FILE,
  MANIFEST_FILE,
  Manifest,
  openScoreStore,
  ScoreDocument,
  ScoreStore,
  scoreDocuments,
  StoreHeader,
  storeHeader
} from '..';
import { removeDir, tempDir } from './helpers';

let dir: string;
beforeEach(() => {
  dir = tempDir('store');
});
afterEach(() => removeDir(dir));

const HEADER: StoreHeader = {
  model: { file: '/models/m/model.onnx', sha256: 'ab'.repeat(32), bytes: 10 },
  family: 'llama',
  scoreForm: 'paper',
  layers: [
    { index: 0, ffn: 3, attention: 2 },
    { index: 1, ffn: 3, attention: 2 }
  ]
};
const FLOATS = 10;

const record = (id: string, seed: number) => ({
  id,
  tokens: seed + 1,
  scores: Float32Array.from({ length: FLOATS }, (_, i) => seed * 100 + i + 0.5)
});

const readManifest = (root: string) =>
  JSON.parse(
    fs.readFileSync(path.join(root, MANIFEST_FILE), 'utf8')
  ) as Manifest;

/** What a store commits on disk: its manifest and its commit index (absent: undefined). */
const committedFiles = (root: string) =>
  [MANIFEST_FILE, INDEX_FILE].map(f =>
    fs.existsSync(path.join(root, f))
      ? fs.readFileSync(path.join(root, f))
      : undefined
  );
/** Puts back what `committedFiles` read: the store as a crash at that moment leaves it. */
const restoreCommitted = (root: string, files: (Buffer | undefined)[]) =>
  [MANIFEST_FILE, INDEX_FILE].forEach((f, i) =>
    files[i] === undefined
      ? fs.rmSync(path.join(root, f), { force: true })
      : fs.writeFileSync(path.join(root, f), files[i]!)
  );

describe('the score store', () => {
  it('appends records and reads them back per layer and kind', () => {
    const root = path.join(dir, 's');
    const store = ScoreStore.open(root, HEADER);
    expect(store.size).toBe(0);
    expect(readManifest(root).documents).toEqual([]);
    store.append([record('a', 1), record('b', 2)]);
    store.append([record('c', 3)]);
    expect(store.has('b')).toBe(true);
    expect(store.has('z')).toBe(false);
    expect(store.scores('b')).toEqual([
      { layer: 0, kind: 'ffn', scores: Float32Array.of(200.5, 201.5, 202.5) },
      { layer: 0, kind: 'attention', scores: Float32Array.of(203.5, 204.5) },
      { layer: 1, kind: 'ffn', scores: Float32Array.of(205.5, 206.5, 207.5) },
      { layer: 1, kind: 'attention', scores: Float32Array.of(208.5, 209.5) }
    ]);
    store.close();

    const manifest = readManifest(root);
    expect(manifest).toMatchObject({
      format: 'cusprun-score-store',
      version: 1,
      family: 'llama',
      scoreForm: 'paper',
      data: DATA_FILE,
      record: { floats: FLOATS, bytes: FLOATS * 4 },
      dataBytes: 3 * FLOATS * 4,
      documents: [
        { id: 'a', tokens: 2, offset: 0 },
        { id: 'b', tokens: 3, offset: 40 },
        { id: 'c', tokens: 4, offset: 80 }
      ]
    });
    expect(manifest.record.parts.map(p => [p.layer, p.kind, p.offset])).toEqual(
      [
        [0, 'ffn', 0],
        [0, 'attention', 3],
        [1, 'ffn', 5],
        [1, 'attention', 8]
      ]
    );
    // Plain little-endian float32 records, nothing else.
    const raw = fs.readFileSync(path.join(root, DATA_FILE));
    expect(raw.byteLength).toBe(120);
    expect(raw.readFloatLE(40)).toBe(200.5);

    const reader = ScoreStore.open(root);
    expect(reader.documents.map(d => d.id)).toEqual(['a', 'b', 'c']);
    expect(reader.record('c')).toEqual(record('c', 3).scores);
    expect(() => reader.record('z')).toThrow(/no scores/);
    // The selection module's DocumentScores shape, one record at a time.
    expect([...reader.iterate(['c', 'a'])].map(d => d.id)).toEqual(['c', 'a']);
    const b = reader.documentScores('b');
    const selectable: DocumentScores = b;
    expect(selectable.layers).toHaveLength(2);
    expect(b.tokens).toBe(3);
    expect(b.layers).toEqual([
      {
        ffn: Float32Array.of(200.5, 201.5, 202.5),
        attention: Float32Array.of(203.5, 204.5)
      },
      {
        ffn: Float32Array.of(205.5, 206.5, 207.5),
        attention: Float32Array.of(208.5, 209.5)
      }
    ]);
    expect([...reader.iterate()]).toHaveLength(3);
    reader.close();
  });

  it('refuses to mix in other scores', () => {
    const root = path.join(dir, 's');
    ScoreStore.open(root, HEADER).close();
    const other = (change: Partial<StoreHeader>) => () =>
      ScoreStore.open(root, { ...HEADER, ...change });
    expect(
      other({ model: { ...HEADER.model, sha256: 'cd'.repeat(32) } })
    ).toThrow(/made for other scores \(model m\/model\.onnx/);
    expect(other({ scoreForm: 'code' })).toThrow(/FFN score form/);
    expect(other({ layers: HEADER.layers.slice(1) })).toThrow(
      /units per layer/
    );
    // The same model moved elsewhere is the same model.
    expect(() =>
      other({
        model: { ...HEADER.model, file: '/elsewhere/model.onnx' }
      })().close()
    ).not.toThrow();
    expect(() => ScoreStore.open(path.join(dir, 'none'))).toThrow(
      /no score store here/
    );
    const store = ScoreStore.open(root);
    store.append([record('a', 1)]);
    expect(() => store.append([record('a', 1)])).toThrow(/already/);
    expect(() =>
      store.append([{ id: 'x', tokens: 1, scores: new Float32Array(3) }])
    ).toThrow(/holds 10 scores/);
    store.close();
  });

  it('reads a store whose manifest lags its data (crash between the two) and overwrites the tail', () => {
    const root = path.join(dir, 's');
    const store = ScoreStore.open(root, HEADER);
    store.append([record('a', 1)]);
    const committed = committedFiles(root);
    store.append([record('b', 2), record('c', 3)]);
    store.close();
    // The crash: data of b and c written and synced, their commit never written.
    restoreCommitted(root, committed);
    fs.appendFileSync(path.join(root, DATA_FILE), new Uint8Array(7));

    const resumed = ScoreStore.open(root, HEADER);
    expect(resumed.documents.map(d => d.id)).toEqual(['a']);
    expect(resumed.has('b')).toBe(false);
    expect(resumed.record('a')).toEqual(record('a', 1).scores);
    resumed.append([record('c', 5)]);
    resumed.close();
    expect(fs.statSync(path.join(root, DATA_FILE)).size).toBe(80);
    const reread = ScoreStore.open(root);
    expect(reread.documents.map(d => [d.id, d.offset])).toEqual([
      ['a', 0],
      ['c', 40]
    ]);
    expect(reread.record('c')).toEqual(record('c', 5).scores);
    reread.close();
  });

  it('reports a data file shorter than the manifest, or a broken manifest', () => {
    const root = path.join(dir, 's');
    const store = ScoreStore.open(root, HEADER);
    store.append([record('a', 1), record('b', 2)]);
    store.close();
    fs.truncateSync(path.join(root, DATA_FILE), 50);
    expect(() => ScoreStore.open(root)).toThrow(
      /holds 50 bytes but the manifest commits 80/
    );
    fs.writeFileSync(path.join(root, MANIFEST_FILE), '{"format": "cusp');
    expect(() => ScoreStore.open(root)).toThrow(/not valid JSON/);
  });
});

describe('a torn tail', () => {
  const files = (root: string) =>
    Object.fromEntries(
      fs.readdirSync(root).map(f => [f, fs.readFileSync(path.join(root, f))])
    );
  /** Three committed batches: [a, b], [c], [d, e]. */
  const threeBatches = () => {
    const root = path.join(dir, 's');
    const store = ScoreStore.open(root, HEADER);
    store.append([record('a', 1), record('b', 2)]);
    store.append([record('c', 3)]);
    store.append([record('d', 4), record('e', 5)]);
    store.close();
    expect(readManifest(root).batches).toEqual([2, 3, 5]);
    return root;
  };

  it('past the committed batches: readers ignore it, a writer cuts it off on open', () => {
    const root = threeBatches();
    const manifest = fs.readFileSync(path.join(root, MANIFEST_FILE));
    fs.appendFileSync(path.join(root, DATA_FILE), new Uint8Array(13).fill(7));
    const before = files(root);
    const reader = ScoreStore.open(root);
    expect(reader.size).toBe(5);
    reader.close();
    expect(files(root)).toEqual(before);

    const writer = ScoreStore.open(root, HEADER);
    expect(fs.statSync(path.join(root, DATA_FILE)).size).toBe(200);
    expect(fs.readFileSync(path.join(root, MANIFEST_FILE))).toEqual(manifest);
    expect(writer.record('e')).toEqual(record('e', 5).scores);
    writer.close();
  });

  it('inside a committed batch: readers say what to do, a writer cuts back to the last whole batch', () => {
    const root = threeBatches();
    const whole = fs.readFileSync(path.join(root, DATA_FILE));
    // The file system kept d whole and 3 bytes of e: batch [d, e] is not whole.
    fs.truncateSync(path.join(root, DATA_FILE), 4 * 40 + 3);
    const before = files(root);
    expect(() => ScoreStore.open(root)).toThrow(
      `${path.join(root, DATA_FILE)}: the score data holds 163 bytes but the manifest commits 200; score the run again (it resumes) to cut it back to its last whole batch`
    );
    expect(files(root)).toEqual(before);

    const writer = ScoreStore.open(root, HEADER);
    expect(writer.documents.map(d => d.id)).toEqual(['a', 'b', 'c']);
    expect(writer.record('c')).toEqual(record('c', 3).scores);
    writer.append([record('d', 4), record('e', 5)]);
    writer.close();
    expect(readManifest(root)).toMatchObject({
      dataBytes: 200,
      batches: [2, 3, 5]
    });
    expect(fs.readFileSync(path.join(root, DATA_FILE))).toEqual(whole);
  });

  it('of a store without batch ends: its documents count as one batch', () => {
    const root = threeBatches();
    const { batches: _batches, ...older } = readManifest(root);
    fs.writeFileSync(path.join(root, MANIFEST_FILE), JSON.stringify(older));
    fs.truncateSync(path.join(root, DATA_FILE), 190);
    const writer = ScoreStore.open(root, HEADER);
    expect(writer.size).toBe(0);
    writer.close();
    expect(readManifest(root)).toMatchObject({ dataBytes: 0, batches: [] });
    expect(fs.statSync(path.join(root, DATA_FILE)).size).toBe(0);
  });

  it('is left alone while a live writer holds the lock', () => {
    const root = threeBatches();
    fs.appendFileSync(path.join(root, DATA_FILE), new Uint8Array(40));
    fs.writeFileSync(path.join(root, LOCK_FILE), '1');
    const before = files(root);
    expect(() => ScoreStore.open(root, HEADER)).toThrow(
      /another process \(pid 1\) is writing this score store/
    );
    expect(files(root)).toEqual(before);
  });
});

describe('the commit index', () => {
  const ino = (root: string) => fs.statSync(path.join(root, MANIFEST_FILE)).ino;

  it('appends one line per batch instead of rewriting the manifest, and folds it in on close', () => {
    const root = path.join(dir, 's');
    const store = ScoreStore.open(root, HEADER);
    const manifest = fs.readFileSync(path.join(root, MANIFEST_FILE));
    const inode = ino(root);
    for (let i = 0; i < 300; i++) {
      store.append([record(`d${i}`, i)]);
    }
    // 300 commits: the manifest is the one written on create, the index grew by 300 lines.
    expect(ino(root)).toBe(inode);
    expect(fs.readFileSync(path.join(root, MANIFEST_FILE))).toEqual(manifest);
    const lines = fs.readFileSync(path.join(root, INDEX_FILE), 'utf8');
    expect(lines.split('\n')).toHaveLength(301);
    const reader = ScoreStore.open(root);
    expect(reader.size).toBe(300);
    expect(reader.record('d299')).toEqual(record('d299', 299).scores);
    reader.close();
    store.close();
    expect(fs.existsSync(path.join(root, INDEX_FILE))).toBe(false);
    expect(readManifest(root).batches).toEqual(
      Array.from({ length: 300 }, (_, i) => i + 1)
    );
  });

  it('rewrites the manifest a bounded number of times over a long run', () => {
    const root = path.join(dir, 's');
    const store = ScoreStore.open(root, HEADER);
    const inodes = new Set([ino(root)]);
    for (let b = 0; b < 100; b++) {
      store.append(
        Array.from({ length: 100 }, (_, i) => record(`d${b}-${i}`, i))
      );
      inodes.add(ino(root));
    }
    // Once the index holds more than COMPACT_AFTER documents and than the manifest: at about
    // 4.1k and 8.3k of 10k documents.
    expect(inodes.size).toBeLessThanOrEqual(3);
    expect(ScoreStore.open(root).size).toBe(10000);
    store.close();
  });

  it('killed during a commit: a torn last line is not committed, and a writer repairs it', () => {
    const root = path.join(dir, 's');
    const store = ScoreStore.open(root, HEADER);
    store.append([record('a', 1), record('b', 2)]);
    store.append([record('c', 3)]);
    const whole = fs.readFileSync(path.join(root, INDEX_FILE));
    const manifest = fs.readFileSync(path.join(root, MANIFEST_FILE));
    const first = whole.indexOf('\n') + 1;
    // Every length a kill may leave of the second line (its data is on disk either way).
    for (let cut = first; cut < whole.length; cut++) {
      fs.writeFileSync(path.join(root, INDEX_FILE), whole.subarray(0, cut));
      const reader = ScoreStore.open(root);
      expect(reader.documents.map(d => d.id)).toEqual(['a', 'b']);
      reader.close();
    }
    store.close();
    fs.writeFileSync(path.join(root, MANIFEST_FILE), manifest);
    fs.writeFileSync(
      path.join(root, INDEX_FILE),
      whole.subarray(0, whole.length - 5)
    );
    const writer = ScoreStore.open(root, HEADER);
    writer.append([record('c', 4)]);
    writer.append([record('d', 5)]);
    writer.close();
    const reread = ScoreStore.open(root);
    expect(reread.documents.map(d => [d.id, d.offset])).toEqual([
      ['a', 0],
      ['b', 40],
      ['c', 80],
      ['d', 120]
    ]);
    expect(reread.record('c')).toEqual(record('c', 4).scores);
    expect(readManifest(root).batches).toEqual([2, 3, 4]);
    reread.close();
  });

  it('killed between a rewrite and emptying the index: the lines the manifest holds are skipped', () => {
    const root = path.join(dir, 's');
    const store = ScoreStore.open(root, HEADER);
    store.append([record('a', 1)]);
    store.append([record('b', 2)]);
    const index = fs.readFileSync(path.join(root, INDEX_FILE));
    store.close();
    fs.writeFileSync(path.join(root, INDEX_FILE), index);
    const reader = ScoreStore.open(root);
    expect(reader.documents.map(d => d.id)).toEqual(['a', 'b']);
    reader.close();
    const writer = ScoreStore.open(root, HEADER);
    writer.append([record('c', 3)]);
    writer.close();
    expect(readManifest(root).batches).toEqual([1, 2, 3]);
  });

  it('is absent from older stores, which open as before', () => {
    const root = path.join(dir, 's');
    const store = ScoreStore.open(root, HEADER);
    store.append([record('a', 1)]);
    store.close();
    expect(fs.readdirSync(root).sort()).toEqual([MANIFEST_FILE, DATA_FILE]);
    expect(ScoreStore.open(root).record('a')).toEqual(record('a', 1).scores);
  });
});

describe('the writer lock', () => {
  it('lets one process append at a time and frees the lock on close', () => {
    const root = path.join(dir, 's');
    const first = ScoreStore.open(root, HEADER);
    first.append([record('a', 1)]);
    expect(fs.readFileSync(path.join(root, LOCK_FILE), 'utf8')).toBe(
      String(process.pid)
    );
    first.close();
    expect(fs.existsSync(path.join(root, LOCK_FILE))).toBe(false);
    const second = ScoreStore.open(root, HEADER);
    second.append([record('b', 2)]);
    second.close();
    expect(ScoreStore.open(root).size).toBe(2);
  });

  it('refuses a second writer while the first one lives, and names it', () => {
    const root = path.join(dir, 's');
    ScoreStore.open(root, HEADER).close();
    // pid 1 (init) is always alive and never this test's process.
    fs.writeFileSync(path.join(root, LOCK_FILE), '1');
    const store = ScoreStore.open(root, HEADER);
    expect(() => store.append([record('a', 1)])).toThrow(
      /another process \(pid 1\) is writing this score store/
    );
    store.close();
    expect(ScoreStore.open(root).size).toBe(0);
    expect(fs.readFileSync(path.join(root, LOCK_FILE), 'utf8')).toBe('1');
  });

  it('takes over the lock of a process that died', () => {
    const root = path.join(dir, 's');
    ScoreStore.open(root, HEADER).close();
    const dead = spawnSync(process.execPath, ['-e', 'process.exit(0)']).pid!;
    fs.writeFileSync(path.join(root, LOCK_FILE), String(dead));
    const store = ScoreStore.open(root, HEADER);
    store.append([record('a', 1)]);
    store.close();
    expect(ScoreStore.open(root).size).toBe(1);
  });
});

describe('resuming a scoring run', () => {
  const entry = fixtureManifest().find(
    f => f.family === 'qwen2' && f.style === 'external'
  )!;
  let model: OnnxModel;
  let map: ModelMap;
  let header: StoreHeader;
  let state = 7;
  const random = () => (state = (state * 1103515245 + 12345) % 2147483648);
  const documents: ScoreDocument[] = Array.from({ length: 7 }, (_, i) => ({
    id: `doc-${i}`,
    tokens: Array.from({ length: 3 + (random() % 9) }, () => random() % 256)
  }));
  const options = { batchSize: 2, threads: 1 };

  beforeAll(() => {
    model = OnnxModel.load(fixtureFile(entry));
    map = mapModel(model);
    header = storeHeader(model, map);
  });
  afterAll(() => model.close());

  const records = (store: ScoreStore) =>
    store.documents.map(d => [d.id, d.tokens, store.record(d.id)] as const);

  it('ends with the scores of an uninterrupted run, after a stop or a crash', async () => {
    const full = openScoreStore(path.join(dir, 'full'), model, map);
    await scoreDocuments(model, map, documents, full, options);
    const expected = records(full);
    expect(expected).toHaveLength(7);
    full.close();

    // Stopped after the first batch, reopened (as a new process would), finished.
    const stopped = path.join(dir, 'stopped');
    const controller = new AbortController();
    const first = ScoreStore.open(stopped, header);
    await scoreDocuments(model, map, documents, first, {
      ...options,
      signal: controller.signal,
      onProgress: () => controller.abort()
    });
    expect(first.size).toBe(2);
    first.close();
    const second = ScoreStore.open(stopped, header);
    const summary = await scoreDocuments(
      model,
      map,
      documents,
      second,
      options
    );
    expect(summary).toMatchObject({ scored: 5, skipped: 2 });
    expect(records(second)).toEqual(expected);
    second.close();

    // Crashed after the second batch's data was synced but before its commit was written.
    const crashed = path.join(dir, 'crashed');
    let snapshot: (Buffer | undefined)[] = [];
    const crash = new AbortController();
    const store = ScoreStore.open(crashed, header);
    await scoreDocuments(model, map, documents, store, {
      ...options,
      signal: crash.signal,
      onProgress: p => {
        if (p.done === 2) {
          snapshot = committedFiles(crashed);
        } else {
          crash.abort();
        }
      }
    });
    store.close();
    restoreCommitted(crashed, snapshot);
    const recordBytes = readManifest(crashed).record.bytes;
    expect(fs.statSync(path.join(crashed, DATA_FILE)).size).toBe(
      4 * recordBytes
    );
    const reopened = ScoreStore.open(crashed, header);
    expect(reopened.size).toBe(2);
    expect(records(reopened)).toEqual(expected.slice(0, 2));
    await scoreDocuments(model, map, documents, reopened, options);
    expect(records(reopened)).toEqual(expected);
    reopened.close();
    expect(fs.statSync(path.join(crashed, DATA_FILE)).size).toBe(
      7 * recordBytes
    );
  });

  it('ends with the bit-identical scores of an uninterrupted run after the file system lost part of a committed batch', async () => {
    const bits = (store: ScoreStore) =>
      store.documents.map(d => Buffer.from(store.record(d.id).buffer));
    const full = openScoreStore(path.join(dir, 'full'), model, map);
    await scoreDocuments(model, map, documents, full, options);
    const expected = bits(full);
    full.close();

    // Three batches of two committed, then the data of the third's second record lost.
    const torn = path.join(dir, 'torn');
    const stop = new AbortController();
    const first = ScoreStore.open(torn, header);
    await scoreDocuments(model, map, documents, first, {
      ...options,
      signal: stop.signal,
      onProgress: p => (p.done === 6 ? stop.abort() : undefined)
    });
    first.close();
    const manifest = readManifest(torn);
    expect(manifest.batches).toEqual([2, 4, 6]);
    fs.truncateSync(path.join(torn, DATA_FILE), 6 * manifest.record.bytes - 3);
    expect(() => ScoreStore.open(torn)).toThrow(/score the run again/);

    const resumed = ScoreStore.open(torn, header);
    expect(bits(resumed)).toEqual(expected.slice(0, 4));
    const summary = await scoreDocuments(
      model,
      map,
      documents,
      resumed,
      options
    );
    expect(summary).toMatchObject({ scored: 3, skipped: 4 });
    expect(bits(resumed)).toEqual(expected);
    resumed.close();
    expect(readManifest(torn).batches).toEqual([2, 4, 6, 7]);
  });
});
