/**
 * "Try the expert" against a real sidecar: the demo model with a KV cache scored and pruned by
 * the CLI, a generate job decoding both models, its tokens streamed over the WebSocket, and the
 * dense text the engine's own greedy decode of the same prompt.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  ErrorBody,
  GenerateResult,
  JobEvent,
  JobInfo,
  ModelGeneration
} from '../../core/protocol';
import { loadTokenizer } from '../../engine/corpus';
import { generate, ModelRunner } from '../../engine/eval';
import { stopIds } from '../jobs/generate';
import { CLI, cusprun } from './cli-process';
import { SidecarProcess, SidecarSocket, spawnSidecar } from './sidecar-client';

jest.setTimeout(120_000);

const ROOT = path.resolve(__dirname, '../../..');
const DEMO = path.join(ROOT, 'demo');
const MODEL = path.join(DEMO, 'model-kv');
const PROMPT = 'Die Datenbank speichert';
const NEW_TOKENS = 12;

let tmp: string;
let store: string;
let sidecar: SidecarProcess;
let socket: SidecarSocket;

/** Scores the demo model into run `name` of the store (4 short documents per dimension). */
function scoreRun(name: string): string {
  const manifest = path.join(tmp, 'expert.yaml');
  const full = fs.readFileSync(
    path.join(DEMO, 'expert-de-computing-qa.yaml'),
    'utf8'
  );
  fs.writeFileSync(
    manifest,
    full
      .replace(/data\/corpora\//g, `${DEMO}/data/corpora/`)
      .replace(/^truncation: \d+$/m, 'truncation: 32')
      .replace(/^documents: \d+$/m, 'documents: 4')
  );
  const run = path.join(store, name);
  const scored = cusprun('score', MODEL, '--corpus', manifest, '--run', run);
  expect(scored.code).toBe(0);
  return run;
}

function submit(body: Record<string, unknown>) {
  return sidecar.client.request<JobInfo | ErrorBody>('POST', '/api/jobs', {
    type: 'generate',
    run: 'demo',
    ...body
  });
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cusprun-generate-'));
  store = path.join(tmp, '.cusprun');
  scoreRun('demo');
  sidecar = await spawnSidecar(CLI, ['--store', store], {
    token: 'generate-test-token',
    cwd: tmp
  });
  socket = await sidecar.client.socket();
});

afterAll(async () => {
  socket?.close();
  sidecar?.child.kill();
  await sidecar?.exited;
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('a generate job', () => {
  it('is refused with one line before the run has a pruned expert', async () => {
    const { status, body } = await submit({ prompt: PROMPT });
    expect(status).toBe(409);
    expect((body as ErrorBody).error.message).toBe(
      "run 'demo' has no pruned expert yet: prune it first (cusprun prune --run demo --target-ratio R --out DIR, or the panel's Prune), or name one with \"expert\""
    );
  });

  it('is refused for an empty prompt or a token count out of range', async () => {
    const message = async (body: Record<string, unknown>) => {
      const answer = await submit(body);
      expect(answer.status).toBe(400);
      return (answer.body as ErrorBody).error.message;
    };
    expect(await message({ prompt: '  ' })).toBe(
      'a generate job: "prompt" is empty: type some text to continue'
    );
    expect(await message({ prompt: PROMPT, maxNewTokens: 0 })).toBe(
      'a generate job: "maxNewTokens" must be a whole number from 1 to 256, got 0'
    );
    expect(await message({ prompt: PROMPT, maxNewTokens: 257 })).toBe(
      'a generate job: "maxNewTokens" must be a whole number from 1 to 256, got 257'
    );
  });

  it("streams the dense model's and the expert's tokens; the dense text is the engine's greedy decode", async () => {
    const expertDir = path.join(tmp, 'expert');
    const pruned = cusprun(
      'prune',
      '--run',
      path.join(store, 'demo'),
      '--target-ratio',
      '0.25',
      '--out',
      expertDir
    );
    expect(pruned.code).toBe(0);

    const { status, body } = await submit({
      prompt: PROMPT,
      maxNewTokens: NEW_TOKENS
    });
    expect(status).toBe(202);
    const job = (body as JobInfo).id;
    const done = await socket.waitForEvent(
      job,
      ['job-done', 'job-failed'],
      100_000
    );
    const info = (done as Extract<JobEvent, { info: JobInfo }>).info;
    expect(info.error).toBeUndefined();
    const result = info.result as GenerateResult;
    expect(result.expert).toBe(path.join(expertDir, 'model.onnx'));
    expect(result.ratio).toBeGreaterThan(0.2);

    const streamed = socket
      .events()
      .flatMap(e =>
        e.job === job && e.type === 'generated' ? [e.generation] : []
      );
    const of = (model: string) =>
      streamed.filter((g: ModelGeneration) => g.model === model);
    for (const model of ['dense', 'expert'] as const) {
      const final = result.generations[model];
      expect(final.usedCache).toBe(true);
      expect(final.tokens).toBeGreaterThan(0);
      expect(final.tokensPerSecond).toBeGreaterThan(0);
      // One event per new token, each text growing to the final one.
      expect(of(model).map(g => g.tokens)).toEqual(
        Array.from({ length: final.tokens }, (_, i) => i + 1)
      );
      expect(of(model).at(-1)?.text).toBe(final.text);
    }
    expect(streamed.length).toBeGreaterThan(1);

    const tokenizer = loadTokenizer(MODEL);
    const runner = await ModelRunner.open(path.join(MODEL, 'model.onnx'));
    try {
      const engine = await generate(runner, [PROMPT], tokenizer, {
        maxNewTokens: NEW_TOKENS,
        stopIds: stopIds(MODEL)
      });
      expect(engine.usedCache).toBe(true);
      const [tokens] = engine.generations.map(g => g.tokens);
      expect(result.generations.dense.tokens).toBe(tokens.length);
      expect(result.generations.dense.text).toBe(tokenizer.decode(tokens));
    } finally {
      await runner.release();
    }
  });

  it('stops after a token when cancelled', async () => {
    const { body } = await submit({ prompt: PROMPT, maxNewTokens: 256 });
    const job = (body as JobInfo).id;
    await socket.waitForEvent(job, 'generated', 100_000);
    const cancelled = await sidecar.client.request(
      'DELETE',
      `/api/jobs/${job}`
    );
    expect(cancelled.status).toBe(200);
    const ended = await socket.waitForEvent(
      job,
      ['job-done', 'job-cancelled', 'job-failed'],
      100_000
    );
    expect(ended.type).toBe('job-cancelled');
  });
});
