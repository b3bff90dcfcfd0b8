import Ajv2020 from 'ajv/dist/2020';
import * as fs from 'fs';
import * as path from 'path';
import {
  activeJob,
  applyJobUpdate,
  JobEntry,
  jobLine,
  progressLine,
  readJobMessage,
  statusText
} from '../jobs-model';
import { untranslated } from '../sweep-model';

const trans = untranslated;

// Every message below must be one the sidecar may send: the protocol's schema checks them.
const schema = JSON.parse(
  fs.readFileSync(
    path.join(__dirname, '..', '..', 'core', 'protocol', 'schema', 'v1.json'),
    'utf8'
  )
);
const ajv = new Ajv2020({ allErrors: true, strict: false });
ajv.addSchema(schema);
const serverMessage = ajv.getSchema(`${schema.$id}#/$defs/ServerMessage`)!;

function message(value: object): string {
  if (!serverMessage(value)) {
    throw new Error(JSON.stringify(serverMessage.errors));
  }
  return JSON.stringify(value);
}

const request = {
  type: 'score',
  run: 'r1',
  model: 'model.onnx',
  corpus: 'corpus.yaml'
};
function info(state: string, extra: object = {}) {
  return {
    id: 'j1',
    type: 'score',
    run: 'r1',
    state,
    request,
    submitted: '2026-11-29T12:00:00.000Z',
    pid: 42,
    ...extra
  };
}
function jobEvent(type: string, state: string, extra: object = {}) {
  return message({
    type: 'event',
    event: {
      type,
      at: '2026-11-29T12:00:01.000Z',
      job: 'j1',
      run: 'r1',
      info: info(state, extra)
    }
  });
}
const progress = {
  done: 3,
  total: 24,
  skipped: 0,
  tokens: 900,
  tokensPerSecond: 812.4,
  elapsedMs: 1100,
  etaSeconds: 9.6
};
const progressEvent = message({
  type: 'event',
  event: {
    type: 'progress',
    at: '2026-11-29T12:00:02.000Z',
    job: 'j1',
    run: 'r1',
    progress
  }
});

function table(...messages: string[]): Map<string, JobEntry> {
  let jobs = new Map<string, JobEntry>();
  for (const m of messages) {
    const update = readJobMessage(m);
    if (update) {
      jobs = applyJobUpdate(jobs, update);
    }
  }
  return jobs;
}

describe('the jobs the socket reports', () => {
  it('follows a job from queued through progress to done', () => {
    const queued = table(jobEvent('job-queued', 'queued'));
    expect(activeJob(queued)?.state).toBe('queued');
    const running = table(
      jobEvent('job-queued', 'queued'),
      jobEvent('job-started', 'running'),
      progressEvent
    );
    const job = activeJob(running)!;
    expect(jobLine(job, trans)).toBe(
      'score j1 on r1: 3/24 (12%) · 812 tokens/s · 10 s left'
    );
    expect(statusText(job, trans)).toBe('Cus-Prun score: 3/24 (12%)');
    const done = table(
      jobEvent('job-started', 'running'),
      progressEvent,
      jobEvent('job-done', 'done', {
        started: '2026-11-29T12:00:01.000Z',
        finished: '2026-11-29T12:00:04.000Z',
        result: {
          scored: 24,
          skipped: 0,
          tokens: 7200,
          seconds: 3.1,
          complete: true
        }
      })
    );
    expect(activeJob(done)).toBeNull();
    expect(jobLine(done.get('j1')!, trans)).toBe('score j1 on r1: done');
    // the progress seen before stays with the job
    expect(done.get('j1')!.progress?.done).toBe(3);
  });

  it('takes in progress of a job that started before the socket connected', () => {
    const jobs = table(progressEvent);
    expect(jobs.get('j1')).toMatchObject({ state: 'running', run: 'r1' });
  });

  it('says why a job failed', () => {
    const jobs = table(
      jobEvent('job-failed', 'failed', {
        error: { code: 'bad-argument', message: 'corpus.yaml: no dimensions' },
        finished: '2026-11-29T12:00:01.000Z'
      })
    );
    expect(jobLine(jobs.get('j1')!, trans)).toBe(
      'score j1 on r1: failed: corpus.yaml: no dimensions'
    );
  });

  it('reads a live histogram: how many documents it covers and its chart', () => {
    const spec = {
      $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
      mark: 'bar'
    };
    const update = readJobMessage(
      message({
        type: 'event',
        event: {
          type: 'histogram',
          at: '2026-11-29T12:00:02.000Z',
          job: 'j1',
          run: 'r1',
          documents: { language: 3, domain: 2, task: 0 },
          histogram: {
            sigma: 0.5,
            bins: 2,
            series: [{ dimension: 'language', kind: 'ffn', counts: [3, 1] }]
          },
          spec
        }
      })
    );
    expect(update).toEqual({
      kind: 'histogram',
      id: 'j1',
      run: 'r1',
      documents: 5,
      spec
    });
    // a histogram changes no job
    const jobs = table(jobEvent('job-started', 'running'));
    expect(applyJobUpdate(jobs, update!)).toEqual(jobs);
  });

  it('ignores what is not a job event', () => {
    expect(
      readJobMessage(
        message({
          type: 'hello',
          protocol: 1,
          versions: { cusprun: '0.1.0', onnxruntime: '1.30.0', node: 'v20' }
        })
      )
    ).toBeNull();
    expect(readJobMessage('not json')).toBeNull();
    expect(readJobMessage(JSON.stringify({ type: 'event' }))).toBeNull();
  });
});

describe('the progress line', () => {
  it('shows done/total, the rate and the time left', () => {
    expect(
      progressLine(
        { id: 'j1', type: 'score', run: 'r' },
        {
          done: 3,
          total: 24,
          skipped: 0,
          tokens: 300,
          tokensPerSecond: 812.4,
          elapsedMs: 2000,
          etaSeconds: 9.6
        },
        trans
      )
    ).toBe('score j1 on r: 3/24 (12%) · 812 tokens/s · 10 s left');
  });

  it("counts a sweep on Ray's shards, not tokens", () => {
    expect(
      progressLine(
        { id: 'j2', type: 'sweep', run: 'r' },
        {
          done: 2,
          total: 7,
          skipped: 0,
          tokens: 0,
          tokensPerSecond: 0,
          elapsedMs: 4000,
          unit: 'shards'
        },
        trans
      )
    ).toBe('sweep j2 on r: 2/7 (28%) · Ray shards');
  });
});
