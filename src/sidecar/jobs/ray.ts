/**
 * The Ray part of a job (`ray` in a score, sweep or ablate request): the Ray driver of the kernel bridge,
 * `PYTHON -m cusprun.ray_driver` (PYTHON: $CUSPRUN_PYTHON, which the kernel bridge sets to its
 * own Python when it starts the sidecar, else python3), run as a child process in a process group
 * of its own. It prints one JSON object a line: progress, then its result or a refusal.
 * Cancelling kills the group: Ray ends a job's tasks with its driver. The driver also stops when
 * its standard input closes, so that it never outlives the sidecar.
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { CusprunError } from '../../core/errors';
import {
  AblateRequest,
  RayOptions,
  RayOutcome,
  RUN_FILE,
  ScoreResult,
  SweepRequest
} from '../../core/protocol';
import { removeStaleStaging, stagingName } from '../../engine/output/staging';
import { ScoreProgress } from '../../engine/score';

export const PYTHON_ENV = 'CUSPRUN_PYTHON';

/** How long a driver has to stop after SIGTERM before it is killed. */
const KILL_AFTER_MS = 5000;

/** The driver's lines that are not its outcome: the last few, for a driver that died. */
const STDERR_LINES = 5;

type DriverLine =
  | { type: 'progress'; progress: ScoreProgress }
  | { type: 'result'; result: unknown }
  | { type: 'error'; message: string; code: string };

export interface DriverRun {
  signal: AbortSignal;
  onProgress(progress: ScoreProgress): void;
}

function python(): string {
  return process.env[PYTHON_ENV] || 'python3';
}

/** The driver's flags for the request's `ray`. */
export function rayFlags(ray: RayOptions): string[] {
  const flags = ['--address', ray.address];
  if (ray.shards !== undefined) {
    flags.push('--shards', String(ray.shards));
  }
  if (ray.shipLimit !== undefined) {
    flags.push('--ship-limit', String(ray.shipLimit));
  }
  return flags;
}

/** Kills the driver's process group: SIGTERM, then SIGKILL if it lingers. */
function stop(child: ChildProcess): void {
  if (child.pid === undefined) {
    return; // it never started
  }
  const kill = (signal: NodeJS.Signals) => {
    try {
      process.kill(-(child.pid as number), signal);
    } catch {
      // The group is gone already.
    }
  };
  kill('SIGTERM');
  setTimeout(() => kill('SIGKILL'), KILL_AFTER_MS).unref();
}

function parseLine(line: string): DriverLine | undefined {
  try {
    return JSON.parse(line) as DriverLine;
  } catch {
    return undefined; // not the driver's: it keeps its events apart from what else prints
  }
}

/** A driver that ended without a result: its refusal, else why it died. */
function failure(
  refusal: Extract<DriverLine, { type: 'error' }> | undefined,
  stderr: string[],
  exit: string
): CusprunError {
  if (refusal) {
    return new CusprunError(
      refusal.code === 'ray-missing' ? 'unsupported' : 'bad-argument',
      refusal.message
    );
  }
  const last = stderr.at(-1) ?? exit;
  return new CusprunError(
    'unsupported',
    `the Ray driver (${python()} -m cusprun.ray_driver) failed: ${last}; set ${PYTHON_ENV} to a Python with 'cusprun[ray]' installed`
  );
}

/**
 * Runs `python -m cusprun.ray_driver ARGS`; resolves to its result, or to undefined when `signal`
 * cancelled it.
 */
export function runRayDriver<T>(
  args: string[],
  run: DriverRun
): Promise<T | undefined> {
  return new Promise<T | undefined>((resolve, reject) => {
    const child = spawn(python(), ['-m', 'cusprun.ray_driver', ...args], {
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe']
    });
    const cancel = () => stop(child);
    run.signal.addEventListener('abort', cancel);
    const stderr: string[] = [];
    let outcome: DriverLine | undefined;
    readline.createInterface({ input: child.stderr }).on('line', line => {
      stderr.push(line);
      stderr.splice(0, stderr.length - STDERR_LINES);
    });
    readline.createInterface({ input: child.stdout }).on('line', line => {
      const message = parseLine(line);
      if (message === undefined) {
        stderr.push(line);
      } else if (message.type === 'progress') {
        run.onProgress(message.progress);
      } else {
        outcome = message;
      }
    });
    child.on('error', error => {
      run.signal.removeEventListener('abort', cancel);
      reject(
        new CusprunError(
          'not-found',
          `${python()}: cannot run it (${(error as NodeJS.ErrnoException).code}): a job on Ray runs its Ray driver in Python; set ${PYTHON_ENV} to a Python with 'cusprun[ray]' installed`
        )
      );
    });
    child.on('close', (code, signal) => {
      run.signal.removeEventListener('abort', cancel);
      if (run.signal.aborted) {
        resolve(undefined);
      } else if (outcome?.type === 'result' && code === 0) {
        resolve(outcome.result as T);
      } else {
        const exit = signal ? `killed by ${signal}` : `exit ${code}`;
        reject(
          failure(outcome?.type === 'error' ? outcome : undefined, stderr, exit)
        );
      }
    });
  });
}

export interface ScoreOnRayJob {
  /** The model as given (a folder's files are shipped whole) and the corpus manifest. */
  model: string;
  corpus: string;
  /** The run folder: new, but for the job's event log. */
  run: string;
  ray: RayOptions;
  batchSize?: number;
  threads?: number;
  scoreForm?: string;
}

/** The driver's flags for the score's settings. */
function scoreFlags(job: ScoreOnRayJob): string[] {
  const flags = ['--model', job.model, '--corpus', job.corpus];
  for (const [flag, value] of [
    ['--batch-size', job.batchSize],
    ['--threads', job.threads],
    ['--score-form', job.scoreForm]
  ] as const) {
    if (value !== undefined) {
      flags.push(flag, String(value));
    }
  }
  return flags;
}

/** Where in the run folder the driver merges the shards (a hidden name's staging folders). */
const MERGE_TARGET = '.ray-merge';

/**
 * Scores on Ray into `job.run`; undefined when cancelled. The run folder holds the job's event
 * log already, which `cusprun merge` would not write into: the driver merges the shards into a
 * staging folder inside it (engine/output/staging.ts), whose files then move in, the run record
 * last. A staging folder a sidecar that died mid-job left there goes first.
 */
export async function runScoreOnRay(
  job: ScoreOnRayJob,
  run: DriverRun
): Promise<ScoreResult | undefined> {
  fs.mkdirSync(job.run, { recursive: true });
  const target = path.join(job.run, MERGE_TARGET);
  removeStaleStaging(target);
  const staging = stagingName(target, 'staging');
  fs.mkdirSync(staging);
  try {
    const merged = path.join(staging, 'run');
    const args = [
      'score',
      '--run',
      merged,
      ...scoreFlags(job),
      ...rayFlags(job.ray)
    ];
    const result = await runRayDriver<ScoreResult>(args, run);
    if (result !== undefined) {
      const names = fs.readdirSync(merged).filter(n => n !== RUN_FILE);
      for (const name of [...names, RUN_FILE]) {
        fs.renameSync(path.join(merged, name), path.join(job.run, name));
      }
    }
    return result;
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
}

/**
 * A sweep's or ablation's evaluations made on Ray into the run folder `run`'s evaluation cache
 * (and the baseline score stores the run calibrating its baselines, `baselineRun` else
 * `run`, lacks), for the job to read from there; undefined when cancelled. The driver reads the
 * request's settings as the command's flags (ray_driver.py).
 */
export function runEvaluationsOnRay(
  run: string,
  baselineRun: string | undefined,
  request: SweepRequest | AblateRequest,
  driver: DriverRun
): Promise<RayOutcome | undefined> {
  const { ray, ...settings } = request;
  const args = [
    request.type,
    '--run',
    run,
    '--request',
    JSON.stringify(settings)
  ];
  if (baselineRun !== undefined) {
    args.push('--baseline-run', baselineRun);
  }
  return runRayDriver<RayOutcome>(
    [...args, ...rayFlags(ray as RayOptions)],
    driver
  );
}
