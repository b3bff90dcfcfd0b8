/**
 * The job queue: jobs run in submission order, at most one at a time per model file and per run
 * folder (a job waits while an earlier one holds either), every other job starts at once. Each
 * state change and each progress step is an event: appended to the run's event log and handed
 * to the server to broadcast. Jobs run in this process: onnxruntime runs its sessions on its own
 * threads, so the event loop stays free for queries while a job scores or evaluates.
 */
import { randomUUID } from 'node:crypto';
import { ScoreProgress } from '../../engine/score';
import {
  ErrorBody,
  FINAL_STATES,
  JobEvent,
  JobInfo,
  JobRequest,
  JobResult,
  Progress,
  RequestError
} from '../../core/protocol';
import { RunStore } from '../run-store';
import { describeError } from './errors';
import { executeInWorker } from './job-worker';
import { EventPayload, PreparedJob, prepareJob } from './runners';

/** Finished jobs kept in memory for GET /api/jobs; older ones live on in their run's log. */
const KEEP_FINISHED = 100;

/** Events sent to clients but kept out of the run's log. */
const UNLOGGED_EVENTS = new Set<JobEvent['type']>(['histogram', 'generated']);

/** Thrown at a job's checkpoint once it is cancelled. */
class Cancelled extends Error {}

interface Job {
  info: JobInfo;
  prepared: PreparedJob;
  controller: AbortController;
  settled?: Promise<void>;
}

export interface EventSink {
  broadcast(event: JobEvent): void;
  listening(run: string | undefined): boolean;
}

function withEta(p: ScoreProgress): Progress {
  const perDocument =
    p.done > p.skipped ? p.elapsedMs / 1000 / (p.done - p.skipped) : undefined;
  return perDocument === undefined
    ? { ...p }
    : { ...p, etaSeconds: (p.total - p.done) * perDocument };
}

export class JobQueue {
  /** This process's queued, running and latest finished jobs, in submission order. */
  private readonly jobs = new Map<string, Job>();
  private readonly busy = new Set<string>();
  private stopping = false;

  constructor(
    private readonly store: RunStore,
    private readonly sink: EventSink
  ) {}

  list(): JobInfo[] {
    return [...this.jobs.values()].map(j => j.info);
  }

  get(id: string): JobInfo {
    return this.job(id).info;
  }

  counts(): { running: number; queued: number } {
    const states = this.list().map(j => j.state);
    return {
      running: states.filter(s => s === 'running').length,
      queued: states.filter(s => s === 'queued').length
    };
  }

  private job(id: string): Job {
    const job = this.jobs.get(id);
    if (!job) {
      throw new RequestError(
        404,
        'not-found',
        `no job '${id}' in this sidecar (a run's past jobs are in GET /api/runs/RUN)`
      );
    }
    return job;
  }

  submit(request: JobRequest): JobInfo {
    if (this.stopping) {
      throw new RequestError(503, 'busy', 'the sidecar is shutting down');
    }
    const prepared = prepareJob(request, this.store);
    const job: Job = {
      info: {
        id: randomUUID(),
        type: request.type,
        ...(request.run !== undefined ? { run: request.run } : {}),
        state: 'queued',
        request,
        submitted: new Date().toISOString(),
        pid: process.pid
      },
      prepared,
      controller: new AbortController()
    };
    this.jobs.set(job.info.id, job);
    this.record(job, 'job-queued');
    this.pump();
    return job.info;
  }

  /** The run's latest interrupted or cancelled job, submitted again: scoring resumes. */
  resume(run: string): JobInfo {
    this.store.existing(run);
    const last = this.store
      .jobs(run)
      .filter(j => j.state === 'interrupted' || j.state === 'cancelled')
      .at(-1);
    if (!last) {
      throw new RequestError(
        409,
        'bad-request',
        `run '${run}' has no interrupted or cancelled job to resume`
      );
    }
    return this.submit(last.request);
  }

  cancel(id: string): JobInfo {
    const job = this.job(id);
    if (job.info.state === 'queued') {
      this.finish(job, 'cancelled', {});
    } else if (job.info.state === 'running') {
      if (!job.prepared.cancellable) {
        throw new RequestError(
          409,
          'not-cancellable',
          `a running ${job.info.type} job cannot stop midway; it ends on its own`
        );
      }
      // It stops at its next checkpoint; 'job-cancelled' follows then.
      job.controller.abort();
    }
    return job.info;
  }

  /**
   * Stops taking jobs; queued ones are interrupted, running ones stop at their next checkpoint
   * (a score job after the batch in flight, whose scores are committed). Jobs that cannot stop
   * midway get `graceMs` to finish, and are logged as interrupted if they do not.
   */
  async shutdown(graceMs: number): Promise<void> {
    this.stopping = true;
    const running: Promise<void>[] = [];
    for (const job of this.jobs.values()) {
      if (job.info.state === 'queued') {
        this.finish(job, 'interrupted', { error: this.interruption(job) });
      } else if (job.info.state === 'running') {
        job.controller.abort();
        running.push(job.settled as Promise<void>);
      }
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(running),
      new Promise(resolve => {
        timer = setTimeout(resolve, graceMs);
      })
    ]);
    clearTimeout(timer);
    for (const job of this.jobs.values()) {
      if (job.info.state === 'running') {
        this.finish(job, 'interrupted', { error: this.interruption(job) });
      }
    }
  }

  private interruption(job: Job): ErrorBody['error'] {
    return {
      code: 'interrupted',
      message: `the sidecar stopped while this job was ${job.info.state}${job.info.run ? `; resume it with POST /api/runs/${job.info.run}/resume` : ''}`
    };
  }

  /** Starts every queued job whose keys are free of running and of earlier queued jobs. */
  private pump(): void {
    const reserved = new Set<string>();
    for (const job of this.jobs.values()) {
      if (job.info.state !== 'queued') {
        continue;
      }
      const keys = job.prepared.keys;
      if (keys.some(k => this.busy.has(k) || reserved.has(k))) {
        keys.forEach(k => reserved.add(k));
      } else {
        this.start(job);
      }
    }
  }

  private start(job: Job): void {
    job.prepared.keys.forEach(k => this.busy.add(k));
    job.info = {
      ...job.info,
      state: 'running',
      started: new Date().toISOString()
    };
    this.record(job, 'job-started');
    const { signal } = job.controller;
    job.settled = executeInWorker(
      job.info.request,
      this.store.root,
      {
        signal,
        progress: p => {
          job.info = { ...job.info, progress: withEta(p) };
          this.publish(job, {
            type: 'progress',
            progress: job.info.progress as Progress
          });
        },
        emit: event => this.publish(job, event),
        listening: () => this.sink.listening(job.info.run)
      },
      () => new Cancelled()
    )
      .then(
        result => this.ended(job, { result }),
        error =>
          this.ended(
            job,
            error instanceof Cancelled
              ? {}
              : { error: describeError(error, `a ${job.info.type} job`).error }
          )
      )
      .finally(() => {
        job.prepared.keys.forEach(k => this.busy.delete(k));
        this.pump();
      });
  }

  private ended(
    job: Job,
    outcome: { result?: JobResult; error?: ErrorBody['error'] }
  ): void {
    if (FINAL_STATES.includes(job.info.state)) {
      // Logged as interrupted by a shutdown that stopped waiting for it.
      return;
    }
    // Stopped early: cancelled at a checkpoint, or a score job that ended after a batch.
    const { result } = outcome;
    const stopped =
      job.controller.signal.aborted &&
      !outcome.error &&
      (result === undefined || ('complete' in result && !result.complete));
    if (outcome.error) {
      this.finish(job, 'failed', outcome);
    } else if (!stopped) {
      this.finish(job, 'done', outcome);
    } else if (this.stopping) {
      this.finish(job, 'interrupted', {
        ...outcome,
        error: this.interruption(job)
      });
    } else {
      this.finish(job, 'cancelled', outcome);
    }
  }

  private finish(
    job: Job,
    state: 'done' | 'failed' | 'cancelled' | 'interrupted',
    outcome: { result?: JobResult; error?: ErrorBody['error'] }
  ): void {
    job.info = {
      ...job.info,
      state,
      finished: new Date().toISOString(),
      ...outcome
    };
    this.record(job, `job-${state}`);
    const finished = [...this.jobs.values()].filter(j =>
      FINAL_STATES.includes(j.info.state)
    );
    finished.slice(0, -KEEP_FINISHED).forEach(j => this.jobs.delete(j.info.id));
  }

  private record(job: Job, type: Extract<JobEvent, { info: JobInfo }>['type']) {
    this.publish(job, { type, info: job.info });
  }

  /**
   * Stamps an event, logs it to the job's run (not the bulky live histograms nor a generation's
   * token by token texts) and sends it.
   */
  private publish(job: Job, { type, ...payload }: EventPayload): void {
    const { run } = job.info;
    // Type, time, job and run first: what a reader of the log scans for.
    const event = {
      type,
      at: new Date().toISOString(),
      job: job.info.id,
      ...(run !== undefined ? { run } : {}),
      ...payload
    } as JobEvent;
    if (run !== undefined && !UNLOGGED_EVENTS.has(type)) {
      this.store.appendEvent(run, event);
    }
    this.sink.broadcast(event);
  }
}
