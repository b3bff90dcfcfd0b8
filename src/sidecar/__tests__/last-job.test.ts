import type { JobInfo } from '../../core/protocol';
import { stampName } from '../run-folder';
import { lastJob, stampTime } from '../run-store';

function job(id: string, finished: string): JobInfo {
  return {
    id,
    type: 'plan',
    run: 'r',
    state: 'done',
    request: { type: 'plan', run: 'r', sigma: 0.3 },
    submitted: finished,
    finished,
    pid: 1
  };
}

describe("a run's last job, whoever ran it", () => {
  const cli = [
    {
      type: 'score' as const,
      state: 'done' as const,
      at: '2026-01-01T00:00:00.000Z',
      origin: 'cli' as const
    },
    {
      type: 'prune' as const,
      state: 'done' as const,
      at: '2026-01-03T00:00:00.000Z',
      origin: 'cli' as const
    }
  ];

  it("is the CLI's when it came last", () => {
    expect(lastJob([job('j1', '2026-01-02T00:00:00.000Z')], cli)).toEqual(
      cli[1]
    );
  });

  it("is the sidecar's when it came last, or at the same time as its traces", () => {
    expect(lastJob([job('j1', '2026-01-03T00:00:00.000Z')], cli)).toEqual({
      id: 'j1',
      type: 'plan',
      state: 'done',
      at: '2026-01-03T00:00:00.000Z',
      origin: 'sidecar'
    });
  });

  it('is none for a run without any', () => {
    expect(lastJob([], [])).toBeUndefined();
  });

  it('reads the time back from a sweep or ablation file name', () => {
    const at = '2026-05-06T07:08:09.123Z';
    expect(stampTime(stampName(at))).toBe(at);
    expect(stampTime('notes.json')).toBeUndefined();
  });
});
