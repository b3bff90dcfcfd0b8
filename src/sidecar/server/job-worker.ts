/**
 * Jobs run in a worker thread. onnxruntime-node's `session.run` blocks its thread for a whole
 * forward pass (measured: the event loop stalls for the full 0.4 s of a batch), so a job on the
 * sidecar's main thread would hold every σ query, chart request and socket message until the
 * batch ends. In a worker the same job code (`prepareJob(...).execute`) runs unchanged, and the
 * main thread only relays its callbacks.
 */
import {
  isMainThread,
  parentPort,
  Worker,
  workerData
} from 'node:worker_threads';
import { CusprunError, CusprunErrorCode } from '../../core/errors';
import { userError } from '../../engine/fs-errors';
import { ScoreProgress } from '../../engine/score';
import { JobRequest, JobResult, RequestError } from '../../core/protocol';
import { RunStore } from '../run-store';
import { JobContext, prepareJob, StreamedEvent } from './runners';

interface JobData {
  cusprunJob: { request: JobRequest; store: string };
}

/** A worker's error as plain data: a user's mistake keeps its type and message, a bug its stack. */
type ErrorData =
  | { kind: 'cusprun'; code: CusprunErrorCode; message: string }
  | { kind: 'request'; status: number; code: string; message: string }
  | { kind: 'bug'; message: string; stack?: string };

type FromWorker =
  | { kind: 'progress'; progress: ScoreProgress }
  | { kind: 'emit'; event: StreamedEvent }
  | { kind: 'done'; result: JobResult }
  | { kind: 'cancelled' }
  | { kind: 'failed'; error: ErrorData };

type ToWorker = { kind: 'cancel' } | { kind: 'listening'; value: boolean };

/** Thrown in the worker at a checkpoint once cancelled; the main thread throws its own. */
class WorkerCancelled extends Error {}

function errorData(error: unknown): ErrorData {
  const mistake = userError(error);
  if (mistake) {
    return { kind: 'cusprun', code: mistake.code, message: mistake.message };
  }
  if (error instanceof RequestError) {
    return {
      kind: 'request',
      status: error.status,
      code: error.code,
      message: error.message
    };
  }
  const e = error instanceof Error ? error : new Error(String(error));
  return { kind: 'bug', message: e.message, stack: e.stack };
}

function errorOf(data: ErrorData): Error {
  switch (data.kind) {
    case 'cusprun':
      // The message already names its subject.
      return new CusprunError(data.code, data.message);
    case 'request':
      return new RequestError(data.status, data.code as never, data.message);
    case 'bug':
      return Object.assign(new Error(data.message), { stack: data.stack });
  }
}

/** How often the worker learns whether anyone listens (live histograms cost a rank sort). */
const LISTENING_EVERY_MS = 250;

/**
 * Runs `request` in a fresh worker thread with `ctx`'s callbacks; cancelling `ctx.signal`
 * reaches the job's own checkpoints there. Rejects with `cancelled()` when the job stopped at one.
 */
export function executeInWorker(
  request: JobRequest,
  store: string,
  ctx: Omit<JobContext, 'checkpoint'>,
  cancelled: () => Error
): Promise<JobResult> {
  const data: JobData = { cusprunJob: { request, store } };
  const worker = new Worker(__filename, { workerData: data });
  const send = (message: ToWorker) => worker.postMessage(message);
  const listening = setInterval(
    () => send({ kind: 'listening', value: ctx.listening() }),
    LISTENING_EVERY_MS
  );
  send({ kind: 'listening', value: ctx.listening() });
  const cancel = () => send({ kind: 'cancel' });
  ctx.signal.addEventListener('abort', cancel);
  return new Promise<JobResult>((resolve, reject) => {
    worker.on('message', (message: FromWorker) => {
      switch (message.kind) {
        case 'progress':
          ctx.progress(message.progress);
          break;
        case 'emit':
          ctx.emit(message.event);
          break;
        case 'done':
          resolve(message.result);
          break;
        case 'cancelled':
          reject(cancelled());
          break;
        case 'failed':
          reject(errorOf(message.error));
          break;
      }
    });
    worker.on('error', reject);
    worker.on('exit', code =>
      reject(
        new Error(`the job's worker thread exited (${code}) before it answered`)
      )
    );
  }).finally(() => {
    clearInterval(listening);
    ctx.signal.removeEventListener('abort', cancel);
    void worker.terminate();
  });
}

/** The worker's side: the job's own code, its callbacks posted to the main thread. */
async function runJob({
  request,
  store
}: JobData['cusprunJob']): Promise<void> {
  const port = parentPort as NonNullable<typeof parentPort>;
  const post = (message: FromWorker) => port.postMessage(message);
  const controller = new AbortController();
  let listening = false;
  port.on('message', (message: ToWorker) => {
    if (message.kind === 'cancel') {
      controller.abort();
    } else {
      listening = message.value;
    }
  });
  try {
    const result = await prepareJob(request, new RunStore(store)).execute({
      signal: controller.signal,
      checkpoint: () => {
        if (controller.signal.aborted) {
          throw new WorkerCancelled();
        }
      },
      progress: progress => post({ kind: 'progress', progress }),
      emit: event => post({ kind: 'emit', event }),
      listening: () => listening
    });
    post({ kind: 'done', result });
  } catch (error) {
    post(
      error instanceof WorkerCancelled
        ? { kind: 'cancelled' }
        : { kind: 'failed', error: errorData(error) }
    );
  } finally {
    port.close();
  }
}

if (!isMainThread && (workerData as Partial<JobData> | null)?.cusprunJob) {
  void runJob((workerData as JobData).cusprunJob);
}
