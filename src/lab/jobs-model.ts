/**
 * The sidecar's jobs as the frontend follows them: the events WebSocket's messages read into a
 * table of jobs, and the lines the panel and the status bar show for them. Pure (no DOM, no
 * Jupyter imports), so jest covers it without a browser.
 */
import {
  FINAL_STATES,
  JobInfo,
  JobState,
  JobType,
  ModelGeneration,
  Progress,
  VegaLiteSpec
} from '../core/protocol';
import { Translate } from './sweep-model';

/** What the frontend knows of one job: its JobInfo's fields it shows, the error as its line. */
export type JobEntry = Pick<JobInfo, 'id' | 'run' | 'state'> & {
  /** 'job' until an event about the job says its type (its progress came first). */
  type: JobType | 'job';
  progress?: Progress;
  error?: string;
  /** The job's result, as the sidecar reported it when the job ended. */
  result?: unknown;
};

/** One event of the socket, read: a job's new state, or a running job's progress. */
export type JobUpdate =
  | { kind: 'state'; job: JobEntry }
  | { kind: 'progress'; id: string; run?: string; progress: Progress }
  | {
      kind: 'histogram';
      id: string;
      run?: string;
      /** Documents scored so far, over all dimensions. */
      documents: number;
      /** The live relevance histogram's Vega-Lite spec. */
      spec: VegaLiteSpec;
    }
  | {
      kind: 'generated';
      id: string;
      run?: string;
      /** One model's text so far in a generate job. */
      generation: ModelGeneration;
    };

export function isFinished(job: JobEntry): boolean {
  return FINAL_STATES.includes(job.state);
}

/**
 * Reads one WebSocket message (src/protocol `ServerMessage`): job events become updates; the
 * hello, responses, socket errors and anything unreadable are not about jobs (null).
 */
export function readJobMessage(data: unknown): JobUpdate | null {
  let message: unknown;
  try {
    message = typeof data === 'string' ? JSON.parse(data) : data;
  } catch {
    return null;
  }
  const envelope = message as { type?: unknown; event?: unknown };
  if (envelope?.type !== 'event' || typeof envelope.event !== 'object') {
    return null;
  }
  const event = envelope.event as {
    type?: string;
    job?: string;
    run?: string;
    info?: Partial<JobInfo>;
    progress?: Progress;
    documents?: Record<string, number>;
    spec?: VegaLiteSpec;
    generation?: ModelGeneration;
  };
  if (typeof event.job !== 'string') {
    return null;
  }
  if (event.type?.startsWith('job-') && event.info) {
    const { info } = event;
    if (typeof info.type !== 'string' || typeof info.state !== 'string') {
      return null;
    }
    const job: JobEntry = {
      id: event.job,
      type: info.type as JobType,
      state: info.state as JobState
    };
    const run = info.run ?? event.run;
    if (run !== undefined) {
      job.run = run;
    }
    if (info.progress) {
      job.progress = info.progress;
    }
    if (info.error?.message) {
      job.error = info.error.message;
    }
    if (info.result !== undefined) {
      job.result = info.result;
    }
    return { kind: 'state', job };
  }
  if (event.type === 'progress' && event.progress) {
    return {
      kind: 'progress',
      id: event.job,
      run: event.run,
      progress: event.progress
    };
  }
  if (event.type === 'histogram' && event.spec) {
    return {
      kind: 'histogram',
      id: event.job,
      run: event.run,
      documents: Object.values(event.documents ?? {}).reduce(
        (a, b) => a + b,
        0
      ),
      spec: event.spec
    };
  }
  if (event.type === 'generated' && event.generation) {
    return {
      kind: 'generated',
      id: event.job,
      run: event.run,
      generation: event.generation
    };
  }
  return null;
}

/**
 * The jobs after an update, a new map. Progress of a job the table has not seen (its start came
 * before the socket connected) adds it as running. A histogram or a generated text changes no job.
 */
export function applyJobUpdate(
  jobs: ReadonlyMap<string, JobEntry>,
  update: JobUpdate
): Map<string, JobEntry> {
  const next = new Map(jobs);
  if (update.kind === 'state') {
    const before = jobs.get(update.job.id);
    next.set(update.job.id, {
      ...update.job,
      progress: update.job.progress ?? before?.progress
    });
  } else if (update.kind === 'progress') {
    const before = jobs.get(update.id);
    next.set(update.id, {
      id: update.id,
      type: before?.type ?? 'job',
      run: update.run ?? before?.run,
      // a job that ended stays ended; one marked interrupted when the socket closed runs again
      state:
        before && before.state !== 'interrupted' && isFinished(before)
          ? before.state
          : 'running',
      progress: update.progress,
      ...(before?.error ? { error: before.error } : {})
    });
  }
  return next;
}

/** The job the status bar shows: the latest running one, else the latest queued one. */
export function activeJob(
  jobs: ReadonlyMap<string, JobEntry>
): JobEntry | null {
  const all = [...jobs.values()];
  const pick = (state: string) =>
    all.filter(job => job.state === state).pop() ?? null;
  return pick('running') ?? pick('queued');
}

function percent(p: Progress): number {
  return p.total > 0 ? Math.floor((100 * p.done) / p.total) : 0;
}

/** A running job's progress, as the panel's progress line shows it. */
export function progressLine(
  job: { id: string; type: string; run?: string },
  p: Progress,
  trans: Translate
): string {
  const parts = [
    trans.__(
      '%1 %2 on %3: %4/%5 (%6%)',
      job.type,
      job.id,
      job.run ?? '—',
      String(p.done),
      String(p.total),
      String(percent(p))
    ),
    p.unit === 'shards'
      ? trans.__('Ray shards')
      : trans.__('%1 tokens/s', p.tokensPerSecond.toFixed(0))
  ];
  if (p.etaSeconds !== undefined) {
    parts.push(trans.__('%1 s left', String(Math.round(p.etaSeconds))));
  }
  return parts.join(' · ');
}

/** The panel's line for a job in any state. */
export function jobLine(job: JobEntry, trans: Translate): string {
  const run = job.run ?? '—';
  if (job.state === 'running' && job.progress) {
    return progressLine(job, job.progress, trans);
  }
  if (job.state === 'running') {
    return trans.__('%1 %2 on %3: started', job.type, job.id, run);
  }
  if (job.state === 'failed' && job.error) {
    return trans.__(
      '%1 %2 on %3: failed: %4',
      job.type,
      job.id,
      run,
      job.error
    );
  }
  return trans.__('%1 %2 on %3: %4', job.type, job.id, run, job.state);
}

/** The status bar's short text for the active job. */
export function statusText(job: JobEntry, trans: Translate): string {
  if (job.state === 'running' && job.progress) {
    return trans.__(
      'Cus-Prun %1: %2/%3 (%4%)',
      job.type,
      String(job.progress.done),
      String(job.progress.total),
      String(percent(job.progress))
    );
  }
  return trans.__('Cus-Prun %1: %2', job.type, job.state);
}
