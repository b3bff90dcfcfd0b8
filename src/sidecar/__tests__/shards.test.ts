/**
 * `cusprun score --shard I/N` and `cusprun merge`: three shards merged give the run a single
 * `cusprun score` writes, byte for byte but for its times; shards that do not belong together
 * are refused in one line naming the shard and the field.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Progress } from '../../core/protocol';
import { FIXTURES } from '../../engine/__tests__/fixtures';
import { DATA_FILE, INDEX_FILE, MANIFEST_FILE } from '../../engine/score';
import { RUN_FILE, SCORES_DIR } from '../run-folder';
import { cusprun } from './cli-process';

jest.setTimeout(120_000);

const MODEL = path.join(FIXTURES, 'qwen2', 'torchscript');
const CORPUS = path.resolve(FIXTURES, '..', 'corpora', 'corpus.yaml');

let dir: string;
/** What `cusprun score --shard 2/3 --progress json` printed on stdout. */
let jsonOutput: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cusprun-shards-'));
  const score = (run: string, ...more: string[]) => {
    const done = cusprun(
      'score',
      MODEL,
      '--corpus',
      CORPUS,
      '--run',
      path.join(dir, run),
      '--batch',
      '2',
      ...more
    );
    expect(done).toMatchObject({ code: 0 });
    return done;
  };
  score('single');
  score('shard0', '--shard', '0/3');
  score('shard1', '--shard', '1/3');
  jsonOutput = score('shard2', '--shard', '2/3', '--progress', 'json').stdout;
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const shards = () => [0, 1, 2].map(i => path.join(dir, `shard${i}`));
/** A file of a run with its times blanked: what may differ between two runs of one job. */
const timeless = (file: string) =>
  fs
    .readFileSync(file, 'utf8')
    .replace(/"(created|updated)": "[^"]*"/g, '"$1": "…"');

describe('a run scored in shards and merged', () => {
  it('is the run one process writes: the same score bytes, manifest and run record', () => {
    const sizes = shards().map(
      s => fs.statSync(path.join(s, SCORES_DIR, DATA_FILE)).size
    );
    expect(sizes.every(n => n > 0)).toBe(true);
    const merged = path.join(dir, 'merged');
    const done = cusprun('merge', '--run', merged, ...shards());
    expect(done.stderr).toBe('');
    expect(done).toMatchObject({ code: 0 });
    expect(done.stdout).toMatch(/^merged 3 shards \(\d+ documents\) into /);
    const single = path.join(dir, 'single');
    const data = (run: string) =>
      fs.readFileSync(path.join(run, SCORES_DIR, DATA_FILE));
    expect(data(merged).equals(data(single))).toBe(true);
    expect(data(merged).length).toBe(sizes.reduce((a, b) => a + b, 0));
    for (const file of [path.join(SCORES_DIR, MANIFEST_FILE), RUN_FILE]) {
      expect(timeless(path.join(merged, file))).toBe(
        timeless(path.join(single, file))
      );
    }
    expect(fs.readdirSync(path.join(merged, SCORES_DIR)).sort()).toEqual(
      fs.readdirSync(path.join(single, SCORES_DIR)).sort()
    );
    expect(fs.existsSync(path.join(merged, SCORES_DIR, INDEX_FILE))).toBe(
      false
    );
  });

  it('refuses shards that do not belong together in one line, and writes nothing', () => {
    // shard 1 as if scored on another corpus
    const other = path.join(dir, 'other1');
    fs.cpSync(shards()[1], other, { recursive: true });
    const record = JSON.parse(
      fs.readFileSync(path.join(other, RUN_FILE), 'utf8')
    ) as { corpus: { sha256: string } };
    record.corpus.sha256 = 'cd'.repeat(32);
    fs.writeFileSync(path.join(other, RUN_FILE), JSON.stringify(record));
    const target = path.join(dir, 'refused');
    const cases: [string[], string][] = [
      [
        [shards()[0], other, shards()[2]],
        `cusprun: ${other}: its corpus sha256 (cdcdcdcdcdcd…) differs from ${shards()[0]}'s (`
      ],
      [
        [shards()[0], shards()[2]],
        `cusprun: shard 1/3 of ${shards()[0]}'s run is missing; give the folders of all 3 shards`
      ],
      [
        [shards()[0], shards()[1], shards()[1], shards()[2]],
        `cusprun: ${shards()[1]}: is shard 1/3, as is ${shards()[1]}; give each shard once`
      ],
      [
        [path.join(dir, 'single')],
        `cusprun: ${path.join(dir, 'single')}: is not a shard run (scored without --shard)`
      ]
    ];
    for (const [given, message] of cases) {
      const done = cusprun('merge', '--run', target, ...given);
      expect(done.code).not.toBe(0);
      expect(done.stderr.startsWith(message)).toBe(true);
      expect(done.stderr.trim().split('\n')).toHaveLength(1);
      expect(fs.existsSync(target)).toBe(false);
    }
  });

  it('with --progress json, prints a JSON line per batch and the summary last, for a driver', () => {
    const lines = jsonOutput
      .trim()
      .split('\n')
      .map(line => JSON.parse(line) as Record<string, unknown>);
    const progress = lines.slice(0, -1).map(l => l.progress as Progress);
    expect(lines.slice(0, -1).every(l => l.type === 'progress')).toBe(true);
    expect(progress.length).toBeGreaterThan(0);
    const last = progress[progress.length - 1];
    expect(last.done).toBe(last.total);
    expect(lines[lines.length - 1]).toEqual({
      type: 'scored',
      summary: {
        scored: last.total,
        skipped: 0,
        tokens: last.tokens,
        seconds: expect.any(Number),
        complete: true
      }
    });
    const bad = cusprun(
      'score',
      MODEL,
      '--corpus',
      CORPUS,
      '--run',
      path.join(dir, 'y'),
      '--progress',
      'xml'
    );
    expect(bad).toMatchObject({
      code: 2,
      stderr: "cusprun: --progress: is 'text' or 'json', got 'xml'\n"
    });
  });

  it('resumes a shard only as the same shard, and takes --shard as I/N', () => {
    const again = cusprun(
      'score',
      MODEL,
      '--corpus',
      CORPUS,
      '--run',
      shards()[0],
      '--batch',
      '2',
      '--shard',
      '1/3'
    );
    expect(again.code).not.toBe(0);
    expect(again.stderr).toBe(
      `cusprun: ${shards()[0]}: this run folder holds the scores of shard 0/3, now shard 1/3; use a new --run folder\n`
    );
    const bad = cusprun(
      'score',
      MODEL,
      '--corpus',
      CORPUS,
      '--run',
      path.join(dir, 'x'),
      '--shard',
      '3/3'
    );
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe(
      "cusprun: --shard: takes I/N, shard I of N counted from 0 (0/3, 1/3, 2/3), got '3/3'\n"
    );
  });
});
