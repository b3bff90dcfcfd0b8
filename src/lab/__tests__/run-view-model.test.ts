import type { JobInfo, RunDetail } from '../../core/protocol';
import {
  absoluteTime,
  DEFAULT_SIGMA,
  relativeTime,
  startView
} from '../run-view-model';

/** The σ a run view starts at. */
const startSigma = (d: Pick<RunDetail, 'jobs' | 'record'>) =>
  startView(d).sigma;

function job(
  id: string,
  type: JobInfo['type'],
  finished: string,
  sigma: number,
  extra: Partial<JobInfo> = {},
  rule: { rule?: string; q?: number } = { rule: 'rank-mean', q: 1 }
): JobInfo {
  return {
    id,
    type,
    run: 'r',
    state: 'done',
    request: { type, run: 'r', targetRatio: 0.25 } as JobInfo['request'],
    submitted: finished,
    finished,
    pid: 1,
    result: { plan: { sigma, ...rule } } as JobInfo['result'],
    ...extra
  };
}

function detail(
  jobs: JobInfo[],
  prunes: { at: string; sigma: number; rule?: string; q?: number }[] = []
): Pick<RunDetail, 'jobs' | 'record'> {
  return {
    jobs,
    record: {
      prunes: prunes.map(({ at, ...plan }) => ({ at, plan }))
    } as unknown as RunDetail['record']
  };
}

describe('the σ a run view starts at', () => {
  it('is 0.5 for a run nobody planned or pruned', () => {
    expect(startSigma(detail([]))).toBe(DEFAULT_SIGMA);
    expect(
      startSigma(detail([job('s', 'score', '2026-01-01T00:00:00Z', 0.3)]))
    ).toBe(DEFAULT_SIGMA);
  });

  it("is the latest plan or prune's σ, the solved one for a target ratio", () => {
    const jobs = [
      job('p1', 'plan', '2026-01-01T00:00:00Z', 0.2),
      job('p2', 'prune', '2026-01-01T00:05:00Z', 0.2731),
      job('s', 'sweep', '2026-01-01T00:09:00Z', 0.9)
    ];
    expect(startSigma(detail(jobs))).toBe(0.2731);
  });

  it('skips jobs that did not finish, and counts the prunes the CLI recorded', () => {
    const jobs = [
      job('p1', 'plan', '2026-01-01T00:00:00Z', 0.2),
      job('p2', 'plan', '2026-01-01T00:10:00Z', 0.7, {
        state: 'failed',
        result: undefined
      })
    ];
    expect(startSigma(detail(jobs))).toBe(0.2);
    expect(
      startSigma(detail(jobs, [{ at: '2026-01-01T00:03:00Z', sigma: 0.35 }]))
    ).toBe(0.35);
    expect(
      startSigma(detail(jobs, [{ at: '2025-12-31T00:00:00Z', sigma: 0.35 }]))
    ).toBe(0.2);
  });

  it('takes the σ a plan asked for when its result is missing', () => {
    const planned = job('p', 'plan', '2026-01-01T00:00:00Z', 0.4, {
      request: { type: 'plan', run: 'r', sigma: 0.15 },
      result: undefined
    });
    expect(startSigma(detail([planned]))).toBe(0.15);
  });
});

describe('the rule a run view starts under', () => {
  const at = (minute: number) => `2026-01-01T00:0${minute}:00Z`;

  it('is the default rule for a run nobody planned or pruned', () => {
    expect(startView(detail([])).rule).toEqual({ rule: 'rank-mean', q: 1 });
  });

  it("is the latest plan or prune's, with its σ", () => {
    const jobs = [
      job('p1', 'plan', at(0), 0.2),
      job('p2', 'plan', at(5), 0.92, {}, { rule: 'paper', q: 1 }),
      job('p3', 'plan', at(9), 0.3, { state: 'failed' })
    ];
    expect(startView(detail(jobs))).toEqual({
      sigma: 0.92,
      rule: { rule: 'paper', q: 1 }
    });
    const pruned = [{ at: at(7), sigma: 0.4, rule: 'q', q: 0.75 }];
    expect(startView(detail(jobs, pruned))).toEqual({
      sigma: 0.4,
      rule: { rule: 'q', q: 0.75 }
    });
  });

  it("reads plans made before rules had names as paper's, or q's below q 1", () => {
    expect(
      startView(detail([job('p', 'plan', at(0), 0.5, {}, { q: 1 })])).rule
    ).toEqual({ rule: 'paper', q: 1 });
    expect(
      startView(detail([], [{ at: at(0), sigma: 0.5, q: 0.8 }])).rule
    ).toEqual({ rule: 'q', q: 0.8 });
  });

  it('takes the rule a plan asked for when its result is missing, the default when it named none', () => {
    const asked = (request: Record<string, unknown>) =>
      job('p', 'plan', at(0), 0.4, {
        request: { type: 'plan', run: 'r', sigma: 0.15, ...request },
        result: undefined
      } as Partial<JobInfo>);
    expect(
      startView(detail([asked({ rule: 'pooled-intersect' })])).rule
    ).toEqual({
      rule: 'pooled-intersect',
      q: 1
    });
    expect(startView(detail([asked({})])).rule).toEqual({
      rule: 'rank-mean',
      q: 1
    });
  });
});

describe('times in the run list', () => {
  const now = Date.parse('2026-03-10T12:00:00Z');
  it.each([
    ['2026-03-10T11:59:30Z', 'just now'],
    ['2026-03-10T11:57:00Z', '3 min ago'],
    ['2026-03-10T10:00:00Z', '2 h ago'],
    ['2026-03-09T08:00:00Z', 'yesterday'],
    ['2026-03-05T12:00:00Z', '5 days ago'],
    ['2025-11-02T12:00:00Z', '2025-11-02'],
    ['', ''],
    ['not a time', 'not a time']
  ])('%s reads %s', (iso, text) => {
    expect(relativeTime(iso, now)).toBe(text);
  });

  it('has the absolute time, to the second, as its tooltip', () => {
    expect(absoluteTime('2026-03-10T11:57:00.123Z')).toBe(
      '2026-03-10 11:57:00 UTC'
    );
  });
});
