/**
 * σ queries through the sidecar while a scoring job runs, against the same queries when it is
 * idle, in one run: a real `cusprun serve` process on loopback, the embedded default model.
 *
 *   node dist-bench/bench/sidecar.js   (after npm run build:node)
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  SidecarClient,
  spawnSidecar
} from '../src/sidecar/__tests__/sidecar-client';

const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(ROOT, 'dist', 'sidecar', 'cli.js');
const MODEL = path.join(ROOT, 'demo', 'model');
const QUERIES = 200;

/** The quick start's manifest with its paths made absolute and `documents` set. */
function manifest(dir: string, documents: number): string {
  const file = path.join(dir, `corpus-${documents}.yaml`);
  const text = fs
    .readFileSync(
      path.join(ROOT, 'demo', 'expert-de-computing-qa.yaml'),
      'utf8'
    )
    .replace(/data\/corpora\//g, `${path.join(ROOT, 'demo')}/data/corpora/`)
    .replace(/^documents: \d+$/m, `documents: ${documents}`);
  fs.writeFileSync(file, text);
  return file;
}

async function job(client: SidecarClient, body: object): Promise<string> {
  const { status, body: info } = await client.request<{ id: string }>(
    'POST',
    '/api/jobs',
    body
  );
  if (status !== 202) {
    throw new Error(`job refused (${status}): ${JSON.stringify(info)}`);
  }
  return info.id;
}

async function state(client: SidecarClient, id: string): Promise<string> {
  return (await client.request<{ state: string }>('GET', `/api/jobs/${id}`))
    .body.state;
}

async function until(
  client: SidecarClient,
  id: string,
  wanted: string[]
): Promise<string> {
  for (;;) {
    const now = await state(client, id);
    if (wanted.includes(now)) {
      return now;
    }
    await new Promise(resolve => setTimeout(resolve, 20));
  }
}

/** σ spread over (0, 1), in a fixed order. */
const sigmaAt = (i: number) => 0.05 + (0.9 * ((i * 37) % 200)) / 200;

/** Latency (ms) of one σ query on `run`. */
async function query(
  client: SidecarClient,
  run: string,
  i: number
): Promise<number> {
  const start = performance.now();
  const { status } = await client.request('POST', `/api/runs/${run}/sigma`, {
    sigma: sigmaAt(i)
  });
  if (status !== 200) {
    throw new Error(`σ query answered ${status}`);
  }
  return performance.now() - start;
}

const quantile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
};

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cusprun-bench-sidecar-'));
  const sidecar = await spawnSidecar(
    CLI,
    ['--store', path.join(dir, 'store')],
    {
      token: 'bench'
    }
  );
  const { client } = sidecar;
  try {
    const scored = await job(client, {
      type: 'score',
      run: 'queried',
      model: MODEL,
      corpus: manifest(dir, 32),
      threads: 1
    });
    if ((await until(client, scored, ['done', 'failed'])) !== 'done') {
      throw new Error('the first scoring job failed');
    }
    await query(client, 'queried', 0);
    const idle: number[] = [];
    for (let i = 0; i < QUERIES; i++) {
      idle.push(await query(client, 'queried', i));
    }

    const busy = await job(client, {
      type: 'score',
      run: 'busy',
      model: MODEL,
      corpus: manifest(dir, 200),
      threads: 1
    });
    await until(client, busy, ['running']);
    const started = performance.now();
    // Only answers that came back while the job was still running count.
    const loaded: number[] = [];
    for (let i = 0; ; i++) {
      const latency = await query(client, 'queried', i);
      if ((await state(client, busy)) !== 'running') {
        break;
      }
      loaded.push(latency);
    }
    await until(client, busy, ['done', 'failed']);
    const seconds = (performance.now() - started) / 1000;

    const row = (label: string, a: number, b: number) =>
      `  ${label.padEnd(34)}${a.toFixed(2)} ms / ${b.toFixed(2)} ms  = ${(b / a).toFixed(2)}`;
    console.log(
      `σ queries through the sidecar (HTTP, demo model): ${idle.length} idle / ${loaded.length} while a scoring job ran`
    );
    console.log(row('p50', quantile(idle, 0.5), quantile(loaded, 0.5)));
    console.log(row('p99', quantile(idle, 0.99), quantile(loaded, 0.99)));
    console.log(
      `  the scoring job (600 documents, 1 onnxruntime thread) ran ${seconds.toFixed(1)} s`
    );
  } finally {
    sidecar.child.kill('SIGTERM');
    await sidecar.exited;
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

void main();
