import type {
  GenerateRequest,
  GenerateResult,
  JobInfo,
  ModelGeneration,
  RunDetail
} from '../../core/protocol';
import { readJobMessage } from '../jobs-model';
import { TryExpertModel } from '../try-expert-model';

const RUN = 'r1';

function generation(
  model: 'dense' | 'expert',
  text: string,
  tokens: number
): ModelGeneration {
  return { model, text, tokens, tokensPerSecond: 100, usedCache: true };
}

/** The socket's message for an event of job `job`, read as the lab reads it. */
function update(job: string, event: Record<string, unknown>) {
  const read = readJobMessage(
    JSON.stringify({
      type: 'event',
      event: { at: '2026-01-01T00:00:00Z', job, run: RUN, ...event }
    })
  );
  if (!read) {
    throw new Error(`not a job update: ${JSON.stringify(event)}`);
  }
  return read;
}

function info(job: string, state: string, extra: object = {}): JobInfo {
  return {
    id: job,
    type: 'generate',
    run: RUN,
    state,
    request: { type: 'generate', run: RUN, prompt: 'p' },
    submitted: '2026-01-01T00:00:00Z',
    pid: 1,
    ...extra
  } as JobInfo;
}

function modelWith(
  submit: (r: GenerateRequest) => Promise<JobInfo>,
  cancelled: string[] = []
) {
  return new TryExpertModel(RUN, {
    cancel: async job => cancelled.push(job),
    run: async () =>
      ({
        record: { prunes: [{ plan: { ratio: 0.25 } }] }
      }) as unknown as RunDetail,
    submit
  });
}

describe("Try the expert's model", () => {
  it("reads the run's latest prune ratio", async () => {
    const model = modelWith(async () => info('j', 'queued'));
    await model.load();
    expect(model.hasExpert).toBe(true);
    expect(model.ratio).toBe(0.25);
  });

  it('shows each text as it grows, tokens that came before the job id included, then the result', async () => {
    let answer: (i: JobInfo) => void = () => undefined;
    const sent: GenerateRequest[] = [];
    const model = modelWith(request => {
      sent.push(request);
      return new Promise(resolve => (answer = resolve));
    });
    const started = model.generate('Hallo', 8);
    expect(model.phase).toBe('starting');
    model.apply(
      update('j1', {
        type: 'generated',
        generation: generation('dense', ' a', 1)
      })
    );
    answer(info('j1', 'queued'));
    await started;
    expect(sent).toEqual([
      { type: 'generate', run: RUN, prompt: 'Hallo', maxNewTokens: 8 }
    ]);
    expect(model.phase).toBe('generating');
    expect(model.generations.dense?.text).toBe(' a');
    model.apply(
      update('other', {
        type: 'generated',
        generation: generation('expert', 'not ours', 1)
      })
    );
    expect(model.generations.expert).toBeNull();
    model.apply(
      update('j1', {
        type: 'generated',
        generation: generation('expert', ' b', 1)
      })
    );
    expect(model.generations.expert?.text).toBe(' b');
    const result: GenerateResult = {
      prompt: 'Hallo',
      dense: '/m/model.onnx',
      expert: '/e/model.onnx',
      ratio: 0.3,
      generations: {
        dense: generation('dense', ' a c', 2),
        expert: generation('expert', ' b d', 2)
      }
    };
    model.apply(
      update('j1', { type: 'job-done', info: info('j1', 'done', { result }) })
    );
    expect(model.phase).toBe('done');
    expect(model.ratio).toBe(0.3);
    expect(model.generations.expert?.text).toBe(' b d');
  });

  it("shows the sidecar's refusal as its one line", async () => {
    const model = modelWith(async () => {
      throw new Error('"prompt" is empty');
    });
    await model.generate('');
    expect(model.phase).toBe('failed');
    expect(model.error).toBe('"prompt" is empty');
  });

  it("shows a failed job's error", async () => {
    const model = modelWith(async () => info('j2', 'queued'));
    await model.generate('x');
    model.apply(
      update('j2', {
        type: 'job-failed',
        info: info('j2', 'failed', {
          error: { code: 'not-found', message: 'expert: no such folder' }
        })
      })
    );
    expect(model.phase).toBe('failed');
    expect(model.error).toBe('expert: no such folder');
  });

  it('cancels its job when stopped while generating, and nothing after', async () => {
    const cancelled: string[] = [];
    const model = modelWith(async () => info('j3', 'queued'), cancelled);
    await model.generate('x');
    await model.stop();
    expect(cancelled).toEqual(['j3']);
    model.apply(
      update('j3', { type: 'job-cancelled', info: info('j3', 'cancelled') })
    );
    await model.stop();
    expect(cancelled).toEqual(['j3']);
    expect(model.error).toBe('the job was cancelled');
  });
});
