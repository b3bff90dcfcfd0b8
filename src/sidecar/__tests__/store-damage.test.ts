/**
 * A damaged run store degrades per run, not as a whole, and request bodies are bounded: a real
 * `cusprun serve` process on a real store of CLI-scored runs, each damage made by hand on disk.
 * Every case checks the exact answer, that the other runs still list and answer, and that the
 * files around are byte-identical afterwards.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import { WebSocket } from 'ws';
import { FIXTURES } from '../../engine/__tests__/fixtures';
import { Manifest } from '../../engine/score';
import {
  EVENTS_PATH,
  JobInfo,
  MAX_BODY_DEPTH,
  RunDetail,
  RunSummary,
  ServerMessage
} from '../../core/protocol';
import { SidecarClient, SidecarProcess, spawnSidecar } from './sidecar-client';

jest.setTimeout(120_000);

const CLI = path.resolve(__dirname, '../../../dist/sidecar/cli.js');
const MODEL = path.join(FIXTURES, 'qwen2', 'torchscript');
const CORPUS = path.resolve(FIXTURES, '..', 'corpora', 'corpus.yaml');
const TOKEN = 'test-token-store-damage';
const REPAIR =
  "restore the run's run.json, or move its folder out of the run store";

const schema = JSON.parse(
  fs.readFileSync(
    path.resolve(__dirname, '../../core/protocol/schema/v1.json'),
    'utf8'
  )
);
const ajv = new Ajv2020({ allErrors: true, strict: false });
ajv.addSchema(schema);

function valid<T>(name: string, value: T): T {
  const validate = ajv.getSchema(`${schema.$id}#/$defs/${name}`);
  if (!validate) {
    throw new Error(`no definition ${name}`);
  }
  validate(value);
  expect({ [name]: validate.errors ?? [] }).toEqual({ [name]: [] });
  return value;
}

let tmp: string;
let store: string;
let sidecar: SidecarProcess;
let client: SidecarClient;

/** Every file under `dir` (relative path → bytes), but those `skip` accepts. */
function files(
  dir: string,
  skip: (relative: string) => boolean = () => false
): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (const entry of fs.readdirSync(dir, {
    recursive: true,
    withFileTypes: true
  })) {
    const full = path.join(entry.parentPath, entry.name);
    const relative = path.relative(dir, full);
    if (entry.isFile() && !skip(relative)) {
      out[relative] = fs.readFileSync(full);
    }
  }
  return out;
}

/** V8's message for JSON it cannot parse, on one line. */
function jsonError(text: string): string {
  try {
    JSON.parse(text);
  } catch (error) {
    return (error as Error).message.replace(/\s+/g, ' ');
  }
  throw new Error('valid JSON');
}

/** A copy of a scored run under another id: a run of the store like any other. */
function copyRun(from: string, to: string): string {
  fs.cpSync(path.join(store, from), path.join(store, to), { recursive: true });
  return path.join(store, to);
}

async function runJob(body: unknown): Promise<JobInfo> {
  const submitted = await client.request<JobInfo>('POST', '/api/jobs', body);
  expect(submitted.status).toBe(202);
  for (;;) {
    const { body: job } = await client.request<JobInfo>(
      'GET',
      `/api/jobs/${submitted.body.id}`
    );
    if (!['queued', 'running'].includes(job.state)) {
      return valid('JobInfo', job);
    }
    await new Promise(resolve => setTimeout(resolve, 100));
  }
}

/** The good runs still list as before and answer a detail and a σ query. */
async function goodRunsAnswer(): Promise<void> {
  for (const id of ['good-a', 'good-b']) {
    const detail = await client.request<RunDetail>('GET', `/api/runs/${id}`);
    expect(detail.status).toBe(200);
    expect(valid('RunDetail', detail.body)).toMatchObject({
      id,
      scored: 24,
      documents: 24
    });
    expect(detail.body.damaged).toBeUndefined();
    const sigma = await client.request('POST', `/api/runs/${id}/sigma`, {
      sigma: 0.3
    });
    expect(sigma.status).toBe(200);
  }
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cusprun-store-damage-'));
  store = path.join(tmp, 'store');
  const cli = spawnSync(
    process.execPath,
    [
      CLI,
      'score',
      MODEL,
      '--corpus',
      CORPUS,
      '--run',
      path.join(store, 'good-a'),
      '--batch',
      '4'
    ],
    { encoding: 'utf8' }
  );
  expect(cli.status).toBe(0);
  copyRun('good-a', 'good-b');
  sidecar = await spawnSidecar(CLI, ['--store', store], {
    token: TOKEN,
    cwd: tmp
  });
  client = sidecar.client;
});

afterAll(async () => {
  if (sidecar.child.exitCode === null) {
    sidecar.child.kill('SIGKILL');
    await sidecar.exited;
  }
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('a damaged run', () => {
  it('is listed as damaged with its reason, refused alone with a 400, and the other runs work', async () => {
    const half = copyRun('good-a', 'half');
    const text = fs.readFileSync(path.join(half, 'run.json'), 'utf8');
    fs.writeFileSync(
      path.join(half, 'run.json'),
      text.slice(0, text.length / 2)
    );
    const edited = copyRun('good-a', 'edited');
    fs.writeFileSync(
      path.join(edited, 'run.json'),
      '{"format": "cusprun-run", "version": 1}\n'
    );
    const before = files(store);
    const halfReason = `${half}/run.json: not a cusprun run record (${jsonError(text.slice(0, text.length / 2))})`;
    const editedReason = `${edited}/run.json: not a cusprun run record (no created)`;

    const runs = await client.request<RunSummary[]>('GET', '/api/runs');
    expect(runs.status).toBe(200);
    const damagedRow = (dir: string, reason: string) => {
      const changed = fs.statSync(path.join(dir, 'run.json')).mtime;
      return {
        id: path.basename(dir),
        created: changed.toISOString(),
        updated: changed.toISOString(),
        model: { file: '', sha256: '', family: '' },
        corpus: { manifest: '', sha256: '', dimensions: [] },
        scored: 24,
        documents: 0,
        damaged: `${reason}; ${REPAIR}`
      };
    };
    expect(valid('RunList', runs.body)).toEqual([
      damagedRow(edited, editedReason),
      expect.objectContaining({ id: 'good-a', scored: 24, documents: 24 }),
      expect.objectContaining({ id: 'good-b', scored: 24, documents: 24 }),
      damagedRow(half, halfReason)
    ]);
    expect(runs.body.filter(r => 'damaged' in r).map(r => r.id)).toEqual([
      'edited',
      'half'
    ]);

    // Every request on a damaged run answers the reason the listing gives.
    for (const [id, reason] of [
      ['half', halfReason],
      ['edited', editedReason]
    ]) {
      const refused = {
        status: 400,
        body: {
          error: { code: 'bad-argument', message: `${reason}; ${REPAIR}` }
        }
      };
      expect(await client.request('GET', `/api/runs/${id}`)).toEqual(refused);
      for (const [query, body] of [
        ['sigma', { sigma: 0.3 }],
        ['ranks', {}]
      ] as const) {
        expect(
          await client.request('POST', `/api/runs/${id}/${query}`, body)
        ).toEqual(refused);
      }
    }
    await goodRunsAnswer();
    expect(files(store)).toEqual(before);
    fs.rmSync(half, { recursive: true });
    fs.rmSync(edited, { recursive: true });
  });
});

describe('a damaged corpus registry', () => {
  const registry = () => path.join(store, 'corpora.json');
  /** The store's files but the registry, a set-aside one and the run its jobs score. */
  const around = (aside?: string) =>
    files(
      store,
      f => f === 'corpora.json' || f === aside || f.startsWith('after')
    );
  const asides = () =>
    fs.readdirSync(store).filter(f => f.startsWith('corpora.json.damaged-'));
  /** The sidecar's stderr from now on, once it holds `lines` lines or `ms` passed. */
  const stderrSince = () => {
    const start = sidecar.stderr().length;
    return async (lines = 1, ms = 10_000) => {
      const text = () => sidecar.stderr().slice(start);
      const until = Date.now() + ms;
      while (text().split('\n').length <= lines && Date.now() < until) {
        await new Promise(resolve => setTimeout(resolve, 50));
      }
      return text();
    };
  };

  it('that is not JSON is set aside with one warning line; jobs and registration then work', async () => {
    const registered = await client.request('POST', '/api/corpora', {
      manifest: CORPUS,
      name: 'fixture'
    });
    expect(registered.status).toBe(200);
    const whole = fs.readFileSync(registry(), 'utf8');
    const damaged = whole.slice(0, whole.length / 2);
    fs.writeFileSync(registry(), damaged);
    copyRun('good-a', 'after');
    const before = around();
    const stderr = stderrSince();

    // A score job on a registered corpus's manifest: the run resumes, all scored.
    const job = await runJob({
      type: 'score',
      run: 'after',
      model: MODEL,
      corpus: CORPUS,
      batchSize: 4
    });
    expect(job).toMatchObject({
      state: 'done',
      result: { scored: 0, skipped: 24, complete: true }
    });
    expect(asides()).toHaveLength(1);
    const [aside] = asides();
    expect(aside).toMatch(
      /^corpora\.json\.damaged-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z$/
    );
    expect(fs.readFileSync(path.join(store, aside), 'utf8')).toBe(damaged);
    expect(await stderr()).toBe(
      `cusprun sidecar: ${registry()}: not valid JSON (${jsonError(damaged)}); set aside as ${aside}, the registry starts again with 0 of its corpora\n`
    );
    expect(fs.existsSync(registry())).toBe(false);

    const again = await client.request('POST', '/api/corpora', {
      manifest: CORPUS,
      name: 'fixture'
    });
    expect(again.status).toBe(200);
    expect(
      (await client.request('GET', '/api/corpora')).body as unknown[]
    ).toEqual([again.body]);
    expect((await stderr(2, 500)).split('\n')).toHaveLength(2);
    expect(around(aside)).toEqual(before);
    await goodRunsAnswer();
    fs.rmSync(path.join(store, aside));
  });

  it('with entries that are not corpora keeps the others, which jobs then find by name', async () => {
    const [fixture] = (await client.request('GET', '/api/corpora'))
      .body as unknown[];
    const damaged = `${JSON.stringify([fixture, { name: 5 }], null, 1)}\n`;
    fs.writeFileSync(registry(), damaged);
    const before = around();
    const stderr = stderrSince();

    const corpora = await client.request('GET', '/api/corpora');
    expect(corpora).toEqual({ status: 200, body: [fixture] });
    const [aside] = asides();
    expect(fs.readFileSync(path.join(store, aside), 'utf8')).toBe(damaged);
    expect(fs.readFileSync(registry(), 'utf8')).toBe(
      `${JSON.stringify([fixture], null, 1)}\n`
    );
    expect(await stderr()).toBe(
      `cusprun sidecar: ${registry()}: 1 of its 2 entries are not corpora; set aside as ${aside}, the registry starts again with 1 of its corpora\n`
    );
    // The registered corpus by name, as before the damage.
    const job = await runJob({
      type: 'score',
      run: 'after',
      model: MODEL,
      corpus: 'fixture',
      batchSize: 4
    });
    expect(job).toMatchObject({
      state: 'done',
      result: { scored: 0, skipped: 24 }
    });
    expect(around(aside)).toEqual(before);
    expect((await stderr(2, 500)).split('\n')).toHaveLength(2);
    fs.rmSync(path.join(store, aside));
  });
});

describe('a torn score tail', () => {
  const rescore = (run: string) =>
    runJob({
      type: 'score',
      run,
      model: MODEL,
      corpus: CORPUS,
      batchSize: 4
    });
  const sigma = (run: string) =>
    client.request('POST', `/api/runs/${run}/sigma`, { sigma: 0.3 });
  const original = () => files(path.join(store, 'good-a', 'scores'));

  it('past the committed batches is ignored by queries and cut off when scoring resumes', async () => {
    // A copy no query has read yet: the sidecar caches what it read.
    const run = copyRun('good-a', 'tail');
    fs.appendFileSync(
      path.join(run, 'scores', 'scores.f32'),
      new Uint8Array(13).fill(9)
    );
    const others = files(store, f => f.startsWith('tail'));
    expect(await sigma('tail')).toEqual(await sigma('good-a'));
    expect(await rescore('tail')).toMatchObject({
      state: 'done',
      result: { scored: 0, skipped: 24 }
    });
    expect(files(path.join(run, 'scores'))).toEqual(original());
    expect(files(store, f => f.startsWith('tail'))).toEqual(others);
    await goodRunsAnswer();
  });

  it('inside a committed batch is reported, then cut back to the last whole batch: the resumed scores are bit-identical', async () => {
    const run = copyRun('good-a', 'torn');
    const manifest = () =>
      JSON.parse(
        fs.readFileSync(path.join(run, 'scores', 'manifest.json'), 'utf8')
      ) as Manifest;
    const committed = manifest();
    expect(committed.batches).toEqual([4, 8, 12, 16, 20, 24]);
    const data = path.join(run, 'scores', 'scores.f32');
    const size = 10 * committed.record.bytes + 7;
    fs.truncateSync(data, size);
    const others = files(store, f => f.startsWith('torn'));

    expect(await sigma('torn')).toEqual({
      status: 400,
      body: {
        error: {
          code: 'truncated',
          message: `${data}: the score data holds ${size} bytes but the manifest commits ${committed.dataBytes}; score the run again (it resumes) to cut it back to its last whole batch`
        }
      }
    });
    expect(await rescore('torn')).toMatchObject({
      state: 'done',
      result: { scored: 16, skipped: 8 }
    });
    expect(fs.readFileSync(data)).toEqual(original()['scores.f32']);
    const { updated: _resumed, ...resumed } = manifest();
    const { updated: _committed, ...uninterrupted } = committed;
    expect(resumed).toEqual(uninterrupted);
    expect(await sigma('torn')).toEqual(await sigma('good-a'));
    expect(files(store, f => f.startsWith('torn'))).toEqual(others);
    await goodRunsAnswer();
  });
});

describe('request bodies', () => {
  const nested = (depth: number) =>
    `{"type": "score", "run": ${'['.repeat(depth)}${']'.repeat(depth)}}`;

  it('nested too deep, too large or not JSON are a 400 or 413 naming the limit, over HTTP and the socket', async () => {
    const before = files(store);
    const stderr = sidecar.stderr();
    const refused = async (raw: string) =>
      client.request('POST', '/api/jobs', undefined, { raw });
    expect(await refused(nested(400_000))).toEqual({
      status: 400,
      body: {
        error: {
          code: 'bad-request',
          message: `the request body nests arrays and objects deeper than the limit of ${MAX_BODY_DEPTH} levels`
        }
      }
    });
    // At the limit the body is read, and refused for what it says.
    expect(await refused(nested(MAX_BODY_DEPTH - 1))).toMatchObject({
      status: 400,
      body: { error: { message: /^a score job: "run" must be a string/ } }
    });
    // Brackets inside strings are not nesting.
    expect(
      await refused(`{"type": "score", "run": "${'['.repeat(100)}\\""}`)
    ).toMatchObject({
      status: 400,
      body: { error: { message: /^run id .* is not a plain folder name/ } }
    });
    expect(await refused(JSON.stringify({ pad: 'x'.repeat(2 << 20) }))).toEqual(
      {
        status: 413,
        body: {
          error: {
            code: 'too-large',
            message: 'the request body is over the limit of 1048576 bytes'
          }
        }
      }
    );
    expect(await refused('nope\nnope')).toEqual({
      status: 400,
      body: {
        error: {
          code: 'bad-request',
          message: `the request body is not valid JSON (${jsonError('nope\nnope')})`
        }
      }
    });

    // A raw socket: SidecarSocket.send would send the text as a JSON string.
    const ws = new WebSocket(
      `ws://127.0.0.1:${sidecar.ready.port}${EVENTS_PATH}?token=${TOKEN}`
    );
    const replies: ServerMessage[] = [];
    const reply = () =>
      new Promise<ServerMessage>(resolve =>
        ws.once('message', data => {
          replies.push(JSON.parse(data.toString()) as ServerMessage);
          resolve(replies.at(-1) as ServerMessage);
        })
      );
    expect(await reply()).toMatchObject({ type: 'hello' });
    ws.send(`{"type": "request", "body": ${'['.repeat(400_000)}}`);
    expect(await reply()).toEqual({
      type: 'error',
      error: {
        code: 'bad-request',
        message: `a message nests arrays and objects deeper than the limit of ${MAX_BODY_DEPTH} levels`
      }
    });
    ws.send(
      JSON.stringify({
        type: 'request',
        id: 1,
        method: 'GET',
        path: '/api/health'
      })
    );
    expect(await reply()).toMatchObject({
      type: 'response',
      id: 1,
      status: 200
    });
    ws.close();
    expect(sidecar.stderr()).toBe(stderr);
    expect(files(store)).toEqual(before);
  });

  it('that clients abort are not logged, and the sidecar keeps serving', async () => {
    const stderr = sidecar.stderr();
    const { port } = sidecar.ready;
    const head = (length: number) =>
      `POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: token ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`;
    const open = (text: string) =>
      new Promise<net.Socket>((resolve, reject) => {
        const socket = net.connect({ host: '127.0.0.1', port }, () =>
          socket.write(text, () => resolve(socket))
        );
        socket.on('error', reject);
      });
    // 200 bodies cut short, then a whole request whose client leaves before the answer.
    const sockets = await Promise.all(
      Array.from({ length: 200 }, () => open(`${head(1000)}{"type": "sc`))
    );
    const body = JSON.stringify({ sigma: 0.3 });
    sockets.push(
      await open(
        `${head(Buffer.byteLength(body)).replace('/api/jobs', '/api/runs/good-a/sigma')}${body}`
      )
    );
    // The sidecar has read their heads once it answers a request sent after them.
    expect((await client.request('GET', '/api/health')).status).toBe(200);
    await Promise.all(
      sockets.map(
        socket =>
          new Promise(resolve => {
            socket.on('close', resolve);
            socket.destroy();
          })
      )
    );
    expect((await client.request('GET', '/api/health')).status).toBe(200);
    await new Promise(resolve => setTimeout(resolve, 500));
    expect(sidecar.stderr()).toBe(stderr);
    expect(sidecar.child.exitCode).toBeNull();
    await goodRunsAnswer();
  });
});
