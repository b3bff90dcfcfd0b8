/**
 * The sidecar as its clients meet it: a real `cusprun serve` process on loopback (the built
 * CLI), fixture models and corpora, HTTP and WebSocket clients, restarts and kills. Every
 * answer is also checked against the protocol's JSON Schema.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import { FIXTURES } from '../../engine/__tests__/fixtures';
import { ScoreStore } from '../../engine/score';
import {
  JobEvent,
  JobInfo,
  PROTOCOL_VERSION,
  RunDetail,
  RunSummary,
  ServerMessage,
  RanksAnswer,
  SigmaAnswer
} from '../../core/protocol';
import { runPlanJob } from '../jobs/plan';
import { readRun } from '../run-folder';
import { EVENTS_FILE } from '../run-store';
import {
  SidecarClient,
  SidecarProcess,
  SidecarSocket,
  spawnSidecar
} from './sidecar-client';

jest.setTimeout(60_000);

const CLI = path.resolve(__dirname, '../../../dist/sidecar/cli.js');
const MODEL = path.join(FIXTURES, 'qwen2', 'torchscript');
const CORPORA = path.resolve(FIXTURES, '..', 'corpora');
const CORPUS = path.join(CORPORA, 'corpus.yaml');
const MC = path.resolve(FIXTURES, '..', 'eval', 'mc.jsonl');
const TOKEN = 'test-token-0123456789';
/** Documents of the big corpus: at one per batch, long enough to act on mid-scoring. */
const BIG = 120;

const schema = JSON.parse(
  fs.readFileSync(
    path.resolve(__dirname, '../../core/protocol/schema/v1.json'),
    'utf8'
  )
);
const ajv = new Ajv2020({ allErrors: true, strict: false });
ajv.addSchema(schema);

/** Asserts that `value` is valid JSON of the schema's definition `name`; returns it. */
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
let bigCorpus: string;
let sidecar: SidecarProcess;
let client: SidecarClient;
const children: SidecarProcess[] = [];
const sockets: SidecarSocket[] = [];

async function start(args: string[] = []): Promise<SidecarProcess> {
  const started = await spawnSidecar(CLI, ['--store', store, ...args], {
    token: TOKEN,
    cwd: tmp
  });
  children.push(started);
  valid('ReadyLine', started.ready);
  return started;
}

async function socket(
  c: SidecarClient = client,
  options?: Parameters<SidecarClient['socket']>[0]
): Promise<SidecarSocket> {
  const s = await c.socket(options);
  sockets.push(s);
  return s;
}

/** Submits a job over HTTP; the 202 body is its JobInfo. */
async function submit(body: unknown, c = client): Promise<JobInfo> {
  const { status, body: info } = await c.request<JobInfo>(
    'POST',
    '/api/jobs',
    body
  );
  expect({ status, info }).toMatchObject({ status: 202 });
  return valid('JobInfo', info);
}

function info(event: JobEvent): JobInfo {
  if (!('info' in event)) {
    throw new Error(`${event.type} carries no job info`);
  }
  return event.info;
}

/** The run's scores, record by record, keyed by document id. */
function scores(run: string): Map<string, Buffer> {
  const s = ScoreStore.open(path.join(run, 'scores'));
  try {
    return new Map(
      s.documents.map(d => [d.id, Buffer.from(s.record(d.id).buffer)])
    );
  } finally {
    s.close();
  }
}

function scoreJob(run: string) {
  return { type: 'score', run, model: MODEL, corpus: bigCorpus, batchSize: 1 };
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cusprun-server-'));
  store = path.join(tmp, 'store');
  // One dimension of BIG distinct documents made of the fixture's German lines.
  const lines = fs
    .readFileSync(path.join(CORPORA, 'language', 'de.txt'), 'utf8')
    .split('\n')
    .map(l => l.trim())
    .filter(l => l !== '');
  fs.writeFileSync(
    path.join(tmp, 'big.txt'),
    Array.from(
      { length: BIG },
      (_, i) =>
        `${lines[i % lines.length]} ${lines[(7 * i + 3) % lines.length]} ${i}`
    ).join('\n')
  );
  bigCorpus = path.join(tmp, 'big.yaml');
  fs.writeFileSync(
    bigCorpus,
    `dimensions:\n  language:\n    name: de\n    sources: [big.txt]\n    format: lines\ntruncation: 64\nseed: 0\ndocuments: ${BIG}\n`
  );
  // The uninterrupted reference, by the CLI, into the store: a CLI run the sidecar lists.
  const cli = spawnSync(
    process.execPath,
    [
      CLI,
      'score',
      MODEL,
      '--corpus',
      bigCorpus,
      '--run',
      path.join(store, 'cli-ref'),
      '--batch',
      '1'
    ],
    { encoding: 'utf8' }
  );
  expect(cli.status).toBe(0);
  sidecar = await start();
  client = sidecar.client;
});

afterAll(async () => {
  sockets.forEach(s => s.close());
  for (const c of children) {
    if (c.child.exitCode === null && c.child.signalCode === null) {
      c.child.kill('SIGKILL');
      await c.exited;
    }
  }
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Whether anything accepts a TCP connection there. */
function connectable(host: string, port: number): Promise<boolean> {
  return new Promise(resolve => {
    const s = net.connect({ host, port });
    s.setTimeout(1000, () => {
      s.destroy();
      resolve(false);
    });
    s.on('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

describe('cusprun serve', () => {
  it('prints its ready line and listens on 127.0.0.1 only', async () => {
    const { port } = sidecar.ready;
    expect(sidecar.ready).toMatchObject({
      host: '127.0.0.1',
      pid: sidecar.child.pid,
      protocol: PROTOCOL_VERSION,
      store
    });
    // CUSPRUN_TOKEN set it, so the line does not repeat it.
    expect(sidecar.ready.token).toBeUndefined();
    expect(await connectable('127.0.0.1', port)).toBe(true);
    const elsewhere = [
      '127.0.0.2',
      ...Object.values(os.networkInterfaces())
        .flat()
        .filter(a => a && a.family === 'IPv4' && !a.internal)
        .map(a => (a as os.NetworkInterfaceInfo).address)
    ];
    for (const host of elsewhere) {
      expect({ host, open: await connectable(host, port) }).toEqual({
        host,
        open: false
      });
    }
    const health = await client.request('GET', '/api/health');
    expect(health.status).toBe(200);
    expect(valid('Health', health.body)).toMatchObject({
      protocol: PROTOCOL_VERSION,
      versions: { onnxruntime: '1.30.0', node: process.version }
    });
  });

  it('refuses HTTP requests and sockets without the token or with a wrong one', async () => {
    const anonymous = { Authorization: '' };
    for (const headers of [
      anonymous,
      { Authorization: 'token wrong' },
      { Authorization: `Bearer ${TOKEN}` }
    ]) {
      const { status, body } = await client.request(
        'GET',
        '/api/runs',
        undefined,
        { headers }
      );
      expect(status).toBe(401);
      expect(valid('ErrorBody', body)).toMatchObject({
        error: { code: 'unauthorized', message: /Authorization: token/ }
      });
    }
    await expect(socket(client, { headers: {} })).rejects.toThrow(/401/);
    await expect(
      socket(client, { headers: {}, query: { token: 'wrong' } })
    ).rejects.toThrow(/401/);
    // Browsers cannot set headers on a WebSocket: the token may come in the query.
    const s = await socket(client, { headers: {}, query: { token: TOKEN } });
    expect(valid('ServerMessage', s.messages[0])).toMatchObject({
      type: 'hello',
      protocol: PROTOCOL_VERSION
    });
  });

  it('tells a client that speaks another protocol version what to do', async () => {
    const { status, body } = await client.request(
      'GET',
      '/api/runs',
      undefined,
      { headers: { 'X-Cusprun-Protocol': '99' } }
    );
    expect(status).toBe(409);
    expect(valid('ErrorBody', body)).toMatchObject({
      error: {
        code: 'protocol-mismatch',
        message: expect.stringMatching(
          /client speaks cusprun protocol 99, but the sidecar speaks protocol 1.*Restart JupyterLab/
        )
      }
    });
    const s = await socket(client, {
      headers: { Authorization: `token ${TOKEN}` },
      query: { protocol: '99' }
    });
    expect(valid('ServerMessage', s.messages[0])).toMatchObject({
      type: 'error',
      error: { code: 'protocol-mismatch' }
    });
    await s.waitFor(() => false).catch(() => undefined);
    expect(s.closed?.code).toBe(4409);
  });

  it('opens a model, registers a corpus, and streams a score job: queued, started, progress, live histograms, done; the run is listed', async () => {
    const map = await client.request('POST', '/api/models/open', {
      model: MODEL
    });
    expect(map.status).toBe(200);
    expect(valid('ModelMap', map.body)).toMatchObject({ family: 'qwen2' });
    const corpus = await client.request('POST', '/api/corpora', {
      manifest: CORPUS,
      name: 'fixture'
    });
    expect(corpus.status).toBe(200);
    expect(valid('CorpusInfo', corpus.body)).toMatchObject({
      name: 'fixture',
      manifest: CORPUS,
      dimensions: [
        { dimension: 'language', documents: 8 },
        { dimension: 'domain', documents: 8 },
        { dimension: 'task', documents: 8 }
      ]
    });
    const corpora = await client.request('GET', '/api/corpora');
    expect(valid('CorpusList', corpora.body)).toHaveLength(1);

    const s = await socket();
    const job = await submit({
      type: 'score',
      run: 'small',
      model: MODEL,
      corpus: 'fixture',
      batchSize: 4
    });
    expect(job.state).toMatch(/queued|running/);
    const done = info(await s.waitForEvent(job.id, 'job-done'));
    const events = s.events().filter(e => e.job === job.id);
    events.forEach(e => valid('JobEvent', e));
    expect(events.map(e => e.type).slice(0, 2)).toEqual([
      'job-queued',
      'job-started'
    ]);
    const progress = events.flatMap(e =>
      e.type === 'progress' ? [e.progress] : []
    );
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(progress.at(-1)).toMatchObject({
      done: 24,
      total: 24,
      etaSeconds: 0
    });
    expect(progress[0].tokensPerSecond).toBeGreaterThan(0);
    const histograms = events.flatMap(e => (e.type === 'histogram' ? [e] : []));
    expect(histograms.length).toBeGreaterThanOrEqual(1);
    // The first one covers the first batch only: a partial histogram.
    const first = histograms[0];
    const covered = Object.values(first.documents).reduce((a, b) => a + b);
    expect(covered).toBeLessThan(24);
    expect(first.histogram.series.length).toBeGreaterThan(0);
    expect(
      Object.values(histograms.at(-1)?.documents ?? {}).reduce((a, b) => a + b)
    ).toBe(24);
    expect(done.result).toMatchObject({ scored: 24, complete: true });

    const runs = await client.request<RunSummary[]>('GET', '/api/runs');
    expect(valid('RunList', runs.body).map(r => r.id)).toEqual([
      'cli-ref',
      'small'
    ]);
    const small = await client.request<RunDetail>('GET', '/api/runs/small');
    expect(valid('RunDetail', small.body)).toMatchObject({
      scored: 24,
      documents: 24,
      lastJob: { id: job.id, state: 'done' },
      jobs: [{ id: job.id, state: 'done' }]
    });
  });

  it('answers a σ query as the plan job computes it', async () => {
    for (const query of [
      { sigma: 0.3 },
      { targetRatio: 0.1, dims: ['task'] }
    ]) {
      const { status, body } = await client.request<SigmaAnswer>(
        'POST',
        '/api/runs/small/sigma',
        query
      );
      expect(status).toBe(200);
      const { plan, ...view } = runPlanJob({
        run: path.join(store, 'small'),
        ...query
      });
      const { layers: _units, ...summary } = plan;
      expect(valid('SigmaAnswer', body)).toEqual({ plan: summary, ...view });
    }
  });

  it("gives each layer's deciding ranks on a σ grid, as the plan job counts them", async () => {
    const { status, body } = await client.request<RanksAnswer>(
      'POST',
      '/api/runs/small/ranks',
      { bins: 20 }
    );
    expect(status).toBe(200);
    valid('RanksAnswer', body);
    expect(body.bins).toBe(20);
    expect(body.dimensions).toEqual(['language', 'domain', 'task']);
    for (const b of [4, 10, 17]) {
      // min_keep 0 and no rounding: the plan's counts are the raw cumulative counts.
      const { plan } = runPlanJob({
        run: path.join(store, 'small'),
        sigma: b / 20,
        minKeep: 0
      });
      const counted = body.groups.map(g => g.cumulative[b]);
      expect(counted).toEqual(
        plan.layers.flatMap(l => [
          l.ffn.pruned.length,
          l.attention.prunedGroups.length
        ])
      );
    }
    for (const group of body.groups) {
      expect(group.cumulative[0]).toBe(0);
      expect(group.cumulative[20]).toBe(group.units);
    }
    const bad = await client.request<{ error: { message: string } }>(
      'POST',
      '/api/runs/small/ranks',
      { bins: 0 }
    );
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toBe(
      'a ranks query: "bins" must be a whole number from 1 to 1000, got 0'
    );
    // the same set of dimensions, named in another order or not at all: the same answer
    const reordered = await client.request<RanksAnswer>(
      'POST',
      '/api/runs/small/ranks',
      { bins: 20, dims: ['task', 'language', 'domain'] }
    );
    expect(reordered.body).toEqual(body);
  });

  it('draws only the charts named; the histogram at a σ as in the whole plan', async () => {
    const chartsOf = async (request: object) => {
      const answer = await client.request<{
        charts: { name: string; spec: unknown }[];
      }>('POST', '/api/runs/small/charts', request);
      expect(answer.status).toBe(200);
      return valid('ChartsAnswer', answer.body).charts;
    };
    const whole = await chartsOf({ source: 'plan', sigma: 0.35 });
    const histogram = await chartsOf({
      source: 'plan',
      sigma: 0.35,
      names: ['relevance-histogram']
    });
    expect(histogram).toEqual(
      whole.filter(c => c.name === 'relevance-histogram')
    );
    const two = await chartsOf({
      source: 'plan',
      targetRatio: 0.1,
      names: ['pruned-per-layer', 'ratio-vs-sigma']
    });
    expect(two.map(c => c.name)).toEqual([
      'ratio-vs-sigma',
      'pruned-per-layer'
    ]);
  });

  it('runs plan, prune, eval, sweep and ablate jobs one at a time per model, and draws their charts', async () => {
    const s = await socket();
    const sweep = await submit({
      type: 'sweep',
      run: 'small',
      sigmas: [0.2, 0.4],
      methods: ['cus-prun', 'random'],
      evalSets: [MC],
      truncation: 32
    });
    const ablate = await submit({
      type: 'ablate',
      run: 'small',
      targetRatio: 0.1,
      evalSets: [MC],
      truncation: 32
    });
    // The sweep holds the model: the ablation waits its turn, visibly.
    expect(ablate.state).toBe('queued');
    const queued = await client.request<JobInfo[]>('GET', '/api/jobs');
    expect(
      valid('JobList', queued.body).find(j => j.id === ablate.id)?.state
    ).toMatch(/queued|running|done/);
    const prune = await submit({
      type: 'prune',
      run: 'small',
      targetRatio: 0.15,
      out: 'experts/small-15'
    });
    const plan = await submit({ type: 'plan', run: 'small', sigma: 0.3 });
    const ended = [];
    for (const job of [sweep, ablate, prune, plan]) {
      ended.push(
        info(await s.waitForEvent(job.id, ['job-done', 'job-failed']))
      );
    }
    ended.forEach(j =>
      expect({ id: j.id, error: j.error }).toEqual({
        id: j.id,
        error: undefined
      })
    );
    const [swept, ablated, pruned] = ended;
    // Jobs of one model ran one after another, in submission order.
    for (let i = 1; i < ended.length; i++) {
      expect(ended[i].started! >= ended[i - 1].finished!).toBe(true);
    }
    const points = s
      .events()
      .filter(e => e.job === sweep.id && e.type === 'sweep-point');
    expect(points).toHaveLength(4);
    const rows = s
      .events()
      .filter(e => e.job === ablate.id && e.type === 'ablation-row');
    expect(rows).toHaveLength(7);
    expect(swept.result).toMatchObject({
      file: expect.stringMatching(/^sweeps\//)
    });
    expect(ablated.result).toMatchObject({
      file: expect.stringMatching(/^ablations\//),
      // General calibration at the all-dimension expert's counts: in the record, not streamed.
      record: { general: { metrics: [expect.anything(), expect.anything()] } }
    });
    expect(pruned.result).toMatchObject({
      out: path.join(fs.realpathSync(tmp), 'experts', 'small-15')
    });

    const evaluated = await submit({
      type: 'eval',
      run: 'small',
      models: [MODEL, path.join(tmp, 'experts', 'small-15')],
      evalSets: [MC],
      truncation: 32
    });
    const evalDone = info(
      await s.waitForEvent(evaluated.id, ['job-done', 'job-failed'])
    );
    expect(evalDone.state).toBe('done');
    expect((evalDone.result as { models: unknown[] }).models).toHaveLength(2);
    s.events().forEach(e => valid('JobEvent', e));

    const detail = await client.request<RunDetail>('GET', '/api/runs/small');
    expect(valid('RunDetail', detail.body)).toMatchObject({
      sweeps: [path.basename((swept.result as { file: string }).file)],
      ablations: [path.basename((ablated.result as { file: string }).file)]
    });
    const record = await client.request(
      'GET',
      `/api/runs/small/${(swept.result as { file: string }).file}`
    );
    valid('SweepRecord', record.body);

    for (const [request, names] of [
      [
        { source: 'plan', sigma: 0.3 },
        ['relevance-histogram', 'ratio-vs-sigma', 'pruned-per-layer']
      ],
      [{ source: 'sweep' }, ['ratio-vs-sigma', 'metrics-vs-ratio']],
      [{ source: 'ablation', svg: true }, ['ablation']]
    ] as const) {
      const charts = await client.request<{
        charts: { name: string; svg?: string }[];
      }>('POST', '/api/runs/small/charts', request);
      expect(charts.status).toBe(200);
      expect(
        valid('ChartsAnswer', charts.body).charts.map(c => c.name)
      ).toEqual(names);
      if ('svg' in request) {
        expect(charts.body.charts[0].svg).toMatch(/^<svg/);
      }
    }
  });

  it('refuses bad requests with a 4xx and a clear message, and keeps serving', async () => {
    const cases: [string, string, unknown, number, RegExp, string?][] = [
      [
        'POST',
        '/api/jobs',
        { type: 'bogus', run: 'x' },
        400,
        /unknown job type "bogus": a job's "type" is one of score, plan/
      ],
      [
        'POST',
        '/api/jobs',
        undefined,
        400,
        /not valid JSON/,
        '{"type": "score", '
      ],
      [
        'POST',
        '/api/jobs',
        { ...scoreJob('../escape') },
        400,
        /run id "\.\.\/escape" is not a plain folder name/
      ],
      [
        'GET',
        '/api/runs/..%2F..%2Fetc',
        undefined,
        400,
        /not a plain folder name/
      ],
      [
        'POST',
        '/api/runs/..%2Fsmall/sigma',
        { sigma: 0.3 },
        400,
        /not a plain folder name/
      ],
      [
        'POST',
        '/api/jobs',
        { type: 'prune', run: 'small', sigma: 0.3, out: '../outside' },
        400,
        /output path "\.\.\/outside" must lie in the sidecar's working folder .* no '\.\.'/
      ],
      [
        'POST',
        '/api/jobs',
        {
          type: 'prune',
          run: 'small',
          sigma: 0.3,
          out: 'experts/small',
          compensation: 'ridge'
        },
        400,
        /^a prune job: "compensation" must be one of none, bias, regression, got "ridge"$/
      ],
      [
        'POST',
        '/api/jobs',
        {
          type: 'prune',
          run: 'small',
          sigma: 0.3,
          out: path.join(path.dirname(tmp), 'outside')
        },
        400,
        /must lie in the sidecar's working folder/
      ],
      [
        'POST',
        '/api/jobs',
        { ...scoreJob('nomodel'), model: path.join(tmp, 'no-such-model') },
        404,
        /no-such-model: no such file or folder/
      ],
      [
        'POST',
        '/api/models/open',
        { model: path.join(tmp, 'no-such-model') },
        404,
        /no such file or folder/
      ],
      [
        'POST',
        '/api/jobs',
        { ...scoreJob('x'), sigma: 0.3 },
        400,
        /a score job: unknown field "sigma"/
      ],
      [
        'POST',
        '/api/jobs',
        { type: 'plan', run: 'small' },
        400,
        /give "sigma" or "targetRatio"/
      ],
      [
        'POST',
        '/api/jobs',
        { ...scoreJob('small'), ray: { address: 'auto' } },
        409,
        /^run 'small' exists: a score on Ray makes a new run; name a new one, or resume this one without Ray$/
      ],
      [
        'POST',
        '/api/jobs',
        {
          type: 'sweep',
          run: 'small',
          sigmas: [0.5],
          evalSets: [path.join(tmp, 'no-such-set.jsonl')],
          batchSize: 4,
          ray: { address: 'auto' }
        },
        400,
        /^a sweep on Ray: "batchSize" is not passed to its workers' cusprun sweep \(it has no --batch\); leave it out, or sweep without Ray$/
      ],
      [
        'POST',
        '/api/jobs',
        {
          type: 'ablate',
          run: 'small',
          targetRatio: 0.2,
          evalSets: [path.join(tmp, 'no-such-set.jsonl')],
          batchSize: 4,
          ray: { address: 'auto' }
        },
        400,
        /^an ablation on Ray: "batchSize" is not passed to its workers' cusprun ablate \(it has no --batch\); leave it out, or ablate without Ray$/
      ],
      [
        'POST',
        '/api/jobs',
        { type: 'plan', run: 'nowhere', sigma: 0.3 },
        404,
        /no run 'nowhere' in the run store/
      ],
      [
        'POST',
        '/api/runs/small/sigma',
        { sigma: 1.5 },
        400,
        /σ must lie strictly between 0 and 1/
      ],
      [
        'POST',
        '/api/runs/small/sigma',
        { sigma: 0.3, dims: ['style'] },
        400,
        /unknown dimension 'style'/
      ],
      [
        'POST',
        '/api/runs/small/charts',
        { source: 'plan' },
        400,
        /give "sigma" or "targetRatio"/
      ],
      [
        'POST',
        '/api/runs/small/charts',
        { source: 'plan', sigma: 0.3, names: ['relevance-histogram', 'pie'] },
        400,
        /names: no chart 'pie' in a plan's charts \(relevance-histogram, ratio-vs-sigma, pruned-per-layer\)/
      ],
      [
        'POST',
        '/api/runs/cli-ref/charts',
        { source: 'sweep' },
        404,
        /run 'cli-ref' has no sweeps yet/
      ],
      [
        'POST',
        '/api/jobs',
        undefined,
        413,
        /over the limit of 1048576 bytes/,
        JSON.stringify({ type: 'score', pad: 'x'.repeat(2 << 20) })
      ],
      [
        'DELETE',
        '/api/jobs/no-such-job',
        undefined,
        404,
        /no job 'no-such-job'/
      ],
      ['GET', '/api/nothing', undefined, 404, /no such endpoint/],
      ['PUT', '/api/runs', undefined, 405, /takes GET, not PUT/]
    ];
    for (const [method, route, body, status, message, raw] of cases) {
      const answer = await client.request(
        method,
        route,
        body,
        raw === undefined ? {} : { raw }
      );
      expect({ method, route, status: answer.status }).toEqual({
        method,
        route,
        status
      });
      expect(valid('ErrorBody', answer.body)).toMatchObject({
        error: { message: expect.stringMatching(message) }
      });
    }
    // Nothing was made where the refused paths pointed.
    expect(fs.existsSync(path.join(tmp, 'escape'))).toBe(false);
    expect(fs.existsSync(path.join(tmp, 'outside'))).toBe(false);
    expect(fs.existsSync(path.join(tmp, 'abs'))).toBe(false);
    expect((await client.request('GET', '/api/health')).status).toBe(200);
    // Over the socket, a message it cannot read is answered, and the socket stays open.
    const s = await socket();
    s.send('not json');
    await s.waitFor(m => m.type === 'error');
    expect((await s.request('GET', '/api/health')).status).toBe(200);
  });

  it('answers 8 clients σ queries while a job scores, each answer as when idle, the job unchanged', async () => {
    const sigmas = Array.from({ length: 19 }, (_, i) => (i + 1) / 20);
    const idle = new Map<number, unknown>();
    for (const sigma of sigmas) {
      idle.set(
        sigma,
        (await client.request('POST', '/api/runs/small/sigma', { sigma })).body
      );
    }
    const s = await socket();
    // A socket that follows one run hears nothing of the others.
    const quiet = await socket();
    quiet.send({ type: 'subscribe', runs: ['small'] });
    await quiet.request('GET', '/api/health');
    const job = await submit(scoreJob('big-a'));
    await s.waitForEvent(job.id, 'progress');
    let scoring = true;
    void s.waitForEvent(job.id, ['job-done', 'job-failed']).then(() => {
      scoring = false;
    });
    const clients: Pick<SidecarSocket, 'request'>[] = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        i % 2
          ? socket()
          : Promise.resolve(new SidecarClient(sidecar.ready.port, TOKEN))
      )
    );
    // Each client goes through the σ grid until the job ends (at least once).
    const answers = await Promise.all(
      clients.map(async (c, i) => {
        const got: { sigma: number; body: unknown; whileScoring: boolean }[] =
          [];
        do {
          for (const sigma of sigmas) {
            const reply = await c.request('POST', '/api/runs/small/sigma', {
              sigma
            });
            expect({ client: i, status: reply.status }).toEqual({
              client: i,
              status: 200
            });
            got.push({ sigma, body: reply.body, whileScoring: scoring });
          }
        } while (scoring);
        return got;
      })
    );
    for (const got of answers) {
      expect(got.filter(a => a.whileScoring).length).toBeGreaterThan(0);
      for (const { sigma, body } of got) {
        expect(body).toEqual(idle.get(sigma));
      }
    }
    const done = info(await s.waitForEvent(job.id, ['job-done', 'job-failed']));
    expect(done.result).toMatchObject({ scored: BIG, complete: true });
    expect(quiet.events()).toEqual([]);
    expect(scores(path.join(store, 'big-a'))).toEqual(
      scores(path.join(store, 'cli-ref'))
    );
  });

  it('survives kill -9 mid-scoring: runs listed after a restart, the job resumes to the same scores', async () => {
    const s = await socket();
    const job = await submit(scoreJob('big-b'));
    await s.waitForEvent(job.id, 'progress');
    sidecar.child.kill('SIGKILL');
    await sidecar.exited;
    const dir = path.join(store, 'big-b');
    // Nothing is left corrupt: the record reads, the store opens at a commit, the log parses.
    expect(readRun(dir).corpus.dimensions[0].documents).toHaveLength(BIG);
    const committed = scores(dir).size;
    expect(committed).toBeGreaterThan(0);
    expect(committed).toBeLessThan(BIG);

    sidecar = await start();
    client = sidecar.client;
    const runs = await client.request<RunSummary[]>('GET', '/api/runs');
    expect(
      valid('RunList', runs.body).map(r => [
        r.id,
        r.scored,
        r.lastJob?.state,
        r.lastJob?.origin
      ])
    ).toEqual([
      ['big-a', BIG, 'done', 'sidecar'],
      ['big-b', committed, 'interrupted', 'sidecar'],
      // the CLI's scoring is its last job: it leaves no event, only the run folder
      ['cli-ref', BIG, 'done', 'cli'],
      ['small', 24, 'done', 'sidecar']
    ]);
    const detail = await client.request<RunDetail>('GET', '/api/runs/big-b');
    expect(valid('RunDetail', detail.body).jobs.at(-1)?.error?.message).toMatch(
      /stopped while this job was running; resume it with POST \/api\/runs\/big-b\/resume/
    );

    const s2 = await socket();
    const resumed = await client.request<JobInfo>(
      'POST',
      '/api/runs/big-b/resume'
    );
    expect(resumed.status).toBe(202);
    const done = info(
      await s2.waitForEvent(resumed.body.id, ['job-done', 'job-failed'])
    );
    expect(done.result).toMatchObject({
      skipped: committed,
      scored: BIG - committed
    });
    expect(scores(dir)).toEqual(scores(path.join(store, 'cli-ref')));
    const log = fs
      .readFileSync(path.join(dir, EVENTS_FILE), 'utf8')
      .split('\n');
    expect(log.at(-1)).toBe('');
    log.slice(0, -1).forEach(line => valid('JobEvent', JSON.parse(line)));
  });

  it('cancels a queued job at once and a running score job after its batch', async () => {
    const s = await socket();
    const scoring = await submit(scoreJob('big-c'));
    const waiting = await submit({ type: 'plan', run: 'small', sigma: 0.3 });
    expect(waiting.state).toBe('queued');
    const dropped = await client.request<JobInfo>(
      'DELETE',
      `/api/jobs/${waiting.id}`
    );
    expect(valid('JobInfo', dropped.body).state).toBe('cancelled');
    await s.waitForEvent(scoring.id, 'progress');
    expect(
      (await client.request('DELETE', `/api/jobs/${scoring.id}`)).status
    ).toBe(200);
    const cancelled = info(
      await s.waitForEvent(scoring.id, ['job-cancelled', 'job-done'])
    );
    expect(cancelled).toMatchObject({
      state: 'cancelled',
      result: { complete: false }
    });
    expect(scores(path.join(store, 'big-c')).size).toBeLessThan(BIG);
    expect(
      fs.existsSync(path.join(store, 'big-c', 'scores', 'writer.lock'))
    ).toBe(false);
  });

  it('stops on SIGTERM after the batch in flight, and when its stdin closes', async () => {
    const s = await socket();
    const job = await submit({ ...scoreJob('big-c') });
    await s.waitForEvent(job.id, 'progress');
    sidecar.child.kill('SIGTERM');
    expect(await sidecar.exited).toEqual({ code: 0, signal: null });
    const last = info(
      s
        .events()
        .filter(e => e.job === job.id)
        .at(-1) as JobEvent
    );
    expect(last).toMatchObject({
      state: 'interrupted',
      result: { complete: false }
    });
    const dir = path.join(store, 'big-c');
    expect(scores(dir).size).toBeLessThan(BIG);
    expect(fs.existsSync(path.join(dir, 'scores', 'writer.lock'))).toBe(false);

    const again = await start();
    again.child.stdin?.end();
    expect(await again.exited).toEqual({ code: 0, signal: null });
    expect(again.stderr()).toMatch(/stopping \(stdin closed\)/);
  });

  it('validates every message its sockets received against the schema', () => {
    const messages: ServerMessage[] = sockets.flatMap(s => s.messages);
    expect(messages.length).toBeGreaterThan(100);
    messages.forEach(m => valid('ServerMessage', m));
  });
});
