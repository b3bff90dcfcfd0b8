/**
 * Each job type on the job code the CLI runs (jobs/*.ts): a request is checked when it is
 * submitted (run ids, paths that must exist, evaluation sets), so that a bad one is refused
 * with a 4xx at once rather than failing later in the queue; running it is then a call into the
 * same function `cusprun <command>` calls, with its callbacks turned into events.
 */
import * as path from 'node:path';
import { ScoreProgress } from '../../engine/score';
import { checkGridSize } from '../../core/grid';
import { loadEvalSets } from '../../engine/experiment';
import { resolveModelFile } from '../../engine/onnx/model';
import {
  AblateRequest,
  DEFAULT_GENERATE_TOKENS,
  GenerateRequest,
  JobEvent,
  JobRequest,
  JobResult,
  METHODS,
  RayOptions,
  RayOutcome,
  RequestError,
  ScoreRequest,
  ScoreResult,
  DEFAULT_STUDY_COMPENSATIONS,
  studyQs,
  StudyRequest,
  SweepRequest
} from '../../core/protocol';
import { runAblateJob } from '../jobs/ablate';
import { readPrompts, runEvalJob } from '../jobs/eval';
import { runGenerateJob } from '../jobs/generate';
import { runPlanJob } from '../jobs/plan';
import { runEvaluationsOnRay, runScoreOnRay } from '../jobs/ray';
import { readPrunedFolder, runPruneJob, runVerifyJob } from '../jobs/prune';
import { runScoreJob } from '../jobs/score';
import { runStudyJob, STUDY_DIR } from '../jobs/study';
import { runSweepJob } from '../jobs/sweep';
import { writeStudy } from '../format/study';
import { readRun } from '../run-folder';
import { RunStore } from '../run-store';
import { LiveHistogram } from './live-histogram';

/** An event as a job or the queue makes it, before the queue stamps its time, job and run. */
export type EventPayload<E extends JobEvent = JobEvent> = E extends JobEvent
  ? Omit<E, 'at' | 'job' | 'run'>
  : never;

/** What a job streams while it runs. */
export type StreamedEvent = EventPayload<
  Extract<
    JobEvent,
    {
      type:
        | 'histogram'
        | 'sweep-point'
        | 'ablation-row'
        | 'study-row'
        | 'generated';
    }
  >
>;

export interface JobContext {
  signal: AbortSignal;
  /** Throws once the job is cancelled: called where a job can stop cleanly. */
  checkpoint(): void;
  progress(progress: ScoreProgress): void;
  emit(event: StreamedEvent): void;
  /** Whether any client listens to this job's run: live histograms cost a rank sort. */
  listening(): boolean;
}

export interface PreparedJob {
  /** The model files and the run folder it uses: one job at a time per key. */
  keys: string[];
  /** Whether it stops midway when cancelled (after a batch, a sweep point, an ablation row). */
  cancellable: boolean;
  execute(ctx: JobContext): Promise<JobResult>;
}

/**
 * Where a job writes: inside the working folder, never above it — given relative to it (no
 * `..`), or absolute within it (what a kernel in a subfolder of a server-owned sidecar sends).
 */
export function outputPath(given: string): string {
  const cwd = process.cwd();
  const resolved = path.resolve(given);
  const inside = path.relative(cwd, resolved);
  if (
    given.split(/[\\/]/).includes('..') ||
    inside === '' ||
    inside.startsWith('..') ||
    path.isAbsolute(inside)
  ) {
    throw new RequestError(
      400,
      'bad-request',
      `output path ${JSON.stringify(given)} must lie in the sidecar's working folder (${cwd}): relative to it with no '..', or absolute inside it`
    );
  }
  return resolved;
}

/** An existing run's folder and the model file it was scored with. */
function runOf(store: RunStore, run: string) {
  const dir = store.existing(run);
  return { dir, keys: [readRun(dir).model.file, dir] };
}

/**
 * A generate job's two models: the run's dense model and the expert (the given folder, else the
 * run's latest prune output), with the expert's pruning ratio.
 */
function generatingModels(store: RunStore, request: GenerateRequest) {
  const dir = store.existing(request.run);
  const record = readRun(dir);
  const latest = record.prunes.at(-1)?.out;
  const folder = request.expert ?? latest;
  if (folder === undefined) {
    throw new RequestError(
      409,
      'bad-request',
      `run '${request.run}' has no pruned expert yet: prune it first (cusprun prune --run ${request.run} --target-ratio R --out DIR, or the panel's Prune), or name one with "expert"`
    );
  }
  const { plan } = readPrunedFolder(folder);
  return {
    dir,
    dense: resolveModelFile(record.model.file),
    expert: resolveModelFile(folder),
    ratio: plan.ratio
  };
}

/** The run that calibrates a sweep's, study's or ablation's baselines: its Wanda sums are written there. */
function baselineRunOf(store: RunStore, run: string | undefined) {
  const dir = run === undefined ? undefined : store.existing(run);
  return { dir, keys: dir === undefined ? [] : [dir] };
}

/** A score on Ray: a new run, merged from its shards by the Ray driver (jobs/ray.ts). */
function prepareScoreOnRay(
  request: ScoreRequest,
  store: RunStore,
  model: string,
  corpus: string
): PreparedJob {
  if (store.has(request.run)) {
    throw new RequestError(
      409,
      'would-overwrite',
      `run '${request.run}' exists: a score on Ray makes a new run; name a new one, or resume this one without Ray`
    );
  }
  const dir = store.dir(request.run);
  const { batchSize, threads, scoreForm } = request;
  return {
    keys: [model, dir],
    cancellable: true,
    execute: async ctx => {
      const job = {
        model: path.resolve(request.model),
        corpus,
        run: dir,
        ray: request.ray as RayOptions,
        batchSize,
        threads,
        scoreForm
      };
      const result = await runScoreOnRay(job, {
        signal: ctx.signal,
        onProgress: p => ctx.progress(p)
      });
      ctx.checkpoint(); // cancelled: the driver was killed, nothing was merged
      return result as ScoreResult;
    }
  };
}

/** A sweep or ablation on Ray's workers run `cusprun sweep|ablate`, which have no batch size. */
function checkOnRay(request: SweepRequest | AblateRequest): void {
  const { type } = request;
  if (request.ray && request.batchSize !== undefined) {
    throw new RequestError(
      400,
      'bad-request',
      `${type === 'sweep' ? 'a sweep' : 'an ablation'} on Ray: "batchSize" is not passed to its workers' cusprun ${type} (it has no --batch); leave it out, or ${type} without Ray`
    );
  }
}

/**
 * A sweep's or ablation's Ray part (none without `ray`): its evaluations made on Ray into the
 * run's evaluation cache, where the job then finds them; what it did, for the job's result.
 */
async function evaluationsOnRay(
  ctx: JobContext,
  dir: string,
  baselineDir: string | undefined,
  request: SweepRequest | AblateRequest
): Promise<{ ray?: RayOutcome }> {
  const ray =
    request.ray &&
    (await runEvaluationsOnRay(dir, baselineDir, request, {
      signal: ctx.signal,
      onProgress: p => ctx.progress(p)
    }));
  ctx.checkpoint(); // cancelled: the driver was killed, the job stops before its local part
  return ray ? { ray } : {};
}

/** A study on its runs (the first keeps the files), checked before it is queued. */
function prepareStudy(request: StudyRequest, store: RunStore): PreparedJob {
  const { dir, keys } = runOf(store, request.run);
  const seedRuns = (request.seedRuns ?? []).map(id => store.existing(id));
  const baseline = baselineRunOf(store, request.baselineRun);
  const {
    type: _type,
    run: _run,
    seedRuns: _seeds,
    baselineRun: _baseline,
    ...options
  } = request;
  checkGridSize(options.targetRatios.length, 'targetRatios');
  loadEvalSets(options.evalSets);
  if (options.prompts) {
    readPrompts(options.prompts);
  }
  return {
    keys: [...keys, ...seedRuns, ...baseline.keys],
    cancellable: true,
    execute: async ctx => {
      const record = await runStudyJob({
        ...options,
        run: dir,
        seedRuns,
        baselineRun: baseline.dir,
        qs: studyQs(options.qs, options.rules),
        compensations: options.compensations ?? DEFAULT_STUDY_COMPENSATIONS,
        methods: options.methods ?? METHODS.filter(m => m !== 'flap'),
        onScoreProgress: p => {
          ctx.progress(p);
          ctx.checkpoint();
        },
        onRow: row => {
          ctx.emit({ type: 'study-row', row });
          ctx.checkpoint();
        }
      });
      const [json] = await writeStudy(path.join(dir, STUDY_DIR), record);
      return { file: path.relative(dir, json), record };
    }
  };
}

export function prepareJob(request: JobRequest, store: RunStore): PreparedJob {
  switch (request.type) {
    case 'score': {
      const dir = store.dir(request.run);
      const model = resolveModelFile(request.model);
      const corpus = store.corpusManifest(request.corpus);
      if (request.ray) {
        return prepareScoreOnRay(request, store, model, corpus);
      }
      return {
        keys: [model, dir],
        cancellable: true,
        execute: async ctx => {
          const live = new LiveHistogram(dir);
          const histogram = (force: boolean) => {
            const payload = ctx.listening() ? live.update(force) : undefined;
            if (payload) {
              ctx.emit({ type: 'histogram', ...payload });
            }
          };
          const { summary } = await runScoreJob({
            model,
            corpus,
            run: dir,
            batchSize: request.batchSize,
            threads: request.threads,
            scoreForm: request.scoreForm,
            signal: ctx.signal,
            onProgress: p => {
              ctx.progress(p);
              histogram(false);
            }
          });
          histogram(true);
          return summary;
        }
      };
    }
    case 'plan': {
      const { dir, keys } = runOf(store, request.run);
      const { type: _type, run: _run, ...query } = request;
      return {
        keys,
        cancellable: false,
        execute: async () => runPlanJob({ ...query, run: dir })
      };
    }
    case 'prune': {
      const { dir, keys } = runOf(store, request.run);
      const { type: _type, run: _run, out, ...options } = request;
      // Checked here; the job gets the path as given, so that its messages name it so.
      outputPath(out);
      return {
        keys,
        cancellable: false,
        execute: async ctx => {
          const result = await runPruneJob({
            ...options,
            out,
            run: dir,
            protect: [{ path: store.root, what: 'the run store' }],
            onScoreProgress: p => ctx.progress(p)
          });
          const { layers: _layers, ...plan } = result.plan;
          return {
            plan,
            out: result.written.dir,
            bytesBefore: result.written.bytesBefore,
            bytesAfter: result.written.bytesAfter,
            maxAbsDiff: result.verification.maxAbsDiff,
            verification: result.verification
          };
        }
      };
    }
    case 'verify': {
      const pruned = path.resolve(request.pruned);
      const model = request.model && resolveModelFile(request.model);
      return {
        keys: [pruned, ...(model ? [model] : [])],
        cancellable: false,
        execute: () => runVerifyJob({ pruned, model })
      };
    }
    case 'eval': {
      const { type: _type, run, ...options } = request;
      const models = options.models.map(resolveModelFile);
      loadEvalSets(options.evalSets);
      if (options.prompts) {
        readPrompts(options.prompts);
      }
      return {
        keys: run === undefined ? models : [...models, store.existing(run)],
        cancellable: false,
        execute: async () => ({ models: await runEvalJob(options) })
      };
    }
    case 'sweep': {
      checkOnRay(request);
      const { dir, keys } = runOf(store, request.run);
      const baseline = baselineRunOf(store, request.baselineRun);
      const {
        type: _type,
        run: _run,
        sigmas,
        targetRatios,
        baselineRun: _baseline,
        ...options
      } = request;
      checkGridSize(
        (sigmas ?? targetRatios ?? []).length,
        sigmas ? 'sigmas' : 'targetRatios'
      );
      loadEvalSets(options.evalSets);
      return {
        keys: [...keys, ...baseline.keys],
        cancellable: true,
        execute: async ctx => {
          const ray = await evaluationsOnRay(ctx, dir, baseline.dir, request);
          const { record, file } = await runSweepJob({
            ...options,
            run: dir,
            baselineRun: baseline.dir,
            grid: sigmas ? { sigmas } : { targetRatios },
            methods: options.methods ?? [...METHODS],
            onScoreProgress: p => {
              ctx.progress(p);
              ctx.checkpoint();
            },
            onPoint: point => {
              ctx.emit({ type: 'sweep-point', point });
              ctx.checkpoint();
            }
          });
          return { file: path.relative(dir, file), record, ...ray };
        }
      };
    }
    case 'ablate': {
      checkOnRay(request);
      const { dir, keys } = runOf(store, request.run);
      const baseline = baselineRunOf(store, request.baselineRun);
      const {
        type: _type,
        run: _run,
        ray: _ray,
        baselineRun: _baseline,
        ...options
      } = request;
      loadEvalSets(options.evalSets);
      return {
        keys: [...keys, ...baseline.keys],
        cancellable: true,
        execute: async ctx => {
          const ray = await evaluationsOnRay(ctx, dir, baseline.dir, request);
          const { record, file } = await runAblateJob({
            ...options,
            run: dir,
            baselineRun: baseline.dir,
            onRow: row => {
              ctx.emit({ type: 'ablation-row', row });
              ctx.checkpoint();
            }
          });
          return { file: path.relative(dir, file), record, ...ray };
        }
      };
    }
    case 'study':
      return prepareStudy(request, store);
    case 'generate': {
      const { dense, expert, ratio } = generatingModels(store, request);
      return {
        keys: [dense, expert],
        cancellable: true,
        execute: async ctx => ({
          prompt: request.prompt,
          dense,
          expert,
          ratio,
          generations: await runGenerateJob({
            dense,
            expert,
            prompt: request.prompt,
            maxNewTokens: request.maxNewTokens ?? DEFAULT_GENERATE_TOKENS,
            onToken: generation => {
              ctx.emit({ type: 'generated', generation });
              ctx.checkpoint();
            }
          })
        })
      };
    }
  }
}
