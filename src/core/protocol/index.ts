/**
 * The sidecar's protocol, version 1: every request, response, event and run record that crosses
 * HTTP or the WebSocket. The sidecar and the JupyterLab frontend both import this module, so it
 * holds types and pure helpers only (no Node, no DOM); `schema/v1.json` beside it describes the
 * same JSON for clients in other languages (the kernel bridge) and for the tests.
 *
 * Compatibility: within a version, fields are only ever added. A change that renames, removes
 * or retypes a field raises PROTOCOL_VERSION, and a client that speaks another version is told
 * so (HTTP 409, code `protocol-mismatch`).
 */
import type { ModelMap } from '../model/model-map';
import type { VegaLiteSpec } from '../charts/spec';
import type {
  GroupCount,
  RankHistogram,
  RatioPoint,
  RatioSweep
} from '../charts/types';
import type { CusprunErrorCode } from '../errors';
import type { ExpertPlan, PlanTarget } from '../select/expert';
import type { Rule } from '../select/rules';
import type { RankGrid } from '../select/rank-grid';
import type { LogitComparison } from '../model/verification';
import type {
  AblationRecord,
  CompensationRecord,
  AblationRow,
  Method,
  ModelEvaluation,
  StudyAllocation,
  StudyAttention,
  CompensationKind,
  RemovedUnits,
  StudyRecord,
  StudyRow,
  SweepPoint,
  SweepRecord
} from '../experiment';

export * from '../experiment';

export type {
  ExpertPlan,
  GroupCount,
  ModelMap,
  RankHistogram,
  RatioSweep,
  VegaLiteSpec
};

export const PROTOCOL_VERSION = 1;
/** The header (HTTP, WebSocket upgrade) or query parameter (`protocol`) a client states its version in. */
export const PROTOCOL_HEADER = 'X-Cusprun-Protocol';
/** Largest request body (HTTP) or WebSocket message the sidecar reads. */
export const MAX_BODY_BYTES = 1 << 20;
/** Deepest nesting of arrays and objects in a request body or WebSocket message. */
export const MAX_BODY_DEPTH = 64;
/** The WebSocket's path; the token may come as `?token=…` there, since browsers cannot set headers on it. */
export const EVENTS_PATH = '/api/events';
/** Where a live histogram during scoring marks σ; clients re-mark it with their own slider's σ. */
export const PREVIEW_SIGMA = 0.5;

/** The sidecar's state as the Jupyter server extension reports it. */
export type SidecarState =
  'starting' | 'running' | 'restarting' | 'failed' | 'stopped';

/** `GET {baseUrl}cusprun/version`: the server extension's handshake with the frontend. */
export interface VersionAnswer {
  version: string;
  protocol: number;
  /** `store`: the run store in use, while it runs. */
  sidecar: { state: SidecarState; message?: string; store?: string };
}

export interface Versions {
  cusprun: string;
  onnxruntime: string;
  node: string;
}

/** The one line the sidecar prints on stdout once it listens. */
export interface ReadyLine {
  host: '127.0.0.1';
  port: number;
  pid: number;
  protocol: number;
  /** The run store folder (absolute). */
  store: string;
  /** Only when the sidecar generated it (no CUSPRUN_TOKEN in its environment). */
  token?: string;
}

/** `GET /api/health`. */
export interface Health {
  status: 'ok';
  protocol: number;
  versions: Versions;
  pid: number;
  store: string;
  jobs: { running: number; queued: number };
}

export type ErrorCode =
  | CusprunErrorCode
  | 'bad-request'
  | 'unauthorized'
  | 'no-route'
  | 'method-not-allowed'
  | 'protocol-mismatch'
  | 'too-large'
  | 'not-cancellable'
  | 'interrupted'
  | 'internal';

/** Every 4xx/5xx body; `message` is one line, fit to show the user as it is. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string };
}

/** What a client asked for that the sidecar refuses: carries its HTTP status. */
export class RequestError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string
  ) {
    super(message);
    this.name = 'RequestError';
  }
}

export function protocolMismatchMessage(client: string | number): string {
  return `this client speaks cusprun protocol ${client}, but the sidecar speaks protocol ${PROTOCOL_VERSION}: the two come from different cusprun installs. Restart JupyterLab (or the kernel) after upgrading, so that both sides load the same cusprun version`;
}

/** A run's folder name in the store: letters, digits, '.', '_', '-', not starting with '.'. */
export const RUN_ID_PATTERN = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}$/;

/** A run's folder name in the store (RUN_ID_PATTERN; the schema carries the pattern). */
export type RunId = string;

export function checkRunId(id: string): string {
  if (!RUN_ID_PATTERN.test(id)) {
    throw new RequestError(
      400,
      'bad-request',
      `run id ${JSON.stringify(id)} is not a plain folder name: use at most 100 letters, digits, '.', '_' or '-', not starting with '.'`
    );
  }
  return id;
}

// ---- Requests ------------------------------------------------------------------------------

/** `POST /api/models/open`: answered with the model map (as `cusprun inspect --json`). */
export interface OpenModelRequest {
  /** A folder with model.onnx, or a .onnx file; relative paths are the sidecar's working folder's. */
  model: string;
}

/** `POST /api/corpora`: checks a corpus manifest and keeps it under a name. */
export interface RegisterCorpusRequest {
  manifest: string;
  /** Default: the manifest's file name without its extension. */
  name?: string;
}

export interface CorpusInfo {
  name: string;
  manifest: string;
  registered: string;
  truncation: number;
  seed: number;
  documentsPerDimension: number;
  dimensions: {
    dimension: string;
    name: string;
    sources: string[];
    available: number;
    documents: number;
  }[];
}

/** `GET /api/corpora`. */
export type CorpusList = CorpusInfo[];

/** Which expert: the dimensions to intersect (default all the run scored) and its guards. */
export interface ExpertQuery {
  dims?: string[];
  /** The selection rule (default DEFAULT_RULE, rank-mean; with only a q, `q`, or `paper` at q 1). */
  rule?: Rule;
  /** The `q` rule's fraction of a dimension's documents. */
  q?: number;
  minKeep?: number;
  multipleOf?: number;
  /** Never remove an attention group: the ratio comes from the FFNs alone (default false). */
  keepAttention?: boolean;
}

/** `POST /api/runs/RUN/ranks`: the expert's deciding ranks, compactly, for a σ slider. */
export interface RanksQuery extends ExpertQuery {
  /** σ grid steps (default 200: σ = 0, 0.005, …, 1). */
  bins?: number;
}

/** The notebook output JupyterLab's own Vega renderer draws (it bundles vega-lite 5). */
export const VEGALITE_MIME_TYPE = 'application/vnd.vegalite.v5+json';
/** cusprun's σ-sweep output: the kernel writes it, the lab's renderer draws its σ slider. */
export const SWEEP_MIME_TYPE = 'application/vnd.cusprun.sweep+json';

/**
 * The σ-sweep output's payload (kernel-bridge/cusprun/display.py `sweep_payload`): the σ in use,
 * the ratio against σ, the units each layer loses at that σ, and a rank grid per subset of the
 * run's dimensions, so the browser redraws any σ and subset with no kernel.
 */
export interface SweepPayload {
  format: 'cusprun-sweep';
  version: 1;
  run: RunId;
  file: string | null;
  sigma: number;
  prunableParams: number;
  ratios: RatioPoint[];
  layers: GroupCount[];
  subsets: RanksAnswer[];
  /** The dimensions in view when the output was made (the panel's toggles); default all. */
  dimensions?: string[];
}

/** `POST /api/runs/:run/ranks`: an expert's rank grid, for a σ slider. */
export type RanksAnswer = RankGrid;

/** An expert at σ itself or at a target ratio to solve σ for: exactly one of the two. */
export type PlanQuery = ExpertQuery & PlanTarget;

export interface EvalOptions {
  /** `FILE` or `NAME=FILE`, as `cusprun eval --eval`. */
  evalSets: string[];
  truncation?: number;
  batchSize?: number;
  threads?: number;
}

export const JOB_TYPES = [
  'score',
  'plan',
  'prune',
  'verify',
  'eval',
  'sweep',
  'ablate',
  'generate',
  'study'
] as const;
export type JobType = (typeof JOB_TYPES)[number];

/**
 * A job's work spread over a Ray cluster: the sidecar runs a Ray driver, `PYTHON -m
 * cusprun.ray_driver` (PYTHON: $CUSPRUN_PYTHON, else python3), as a child process whose Ray
 * tasks run the `cusprun` CLI on the cluster's nodes (kernel-bridge/cusprun/distributed.py).
 */
export interface RayOptions {
  /** 'auto' (the cluster started on the sidecar's machine) or the head's HOST:PORT. */
  address: string;
  /**
   * Ray tasks (≥ 1); default one per CPU of the cluster (score), one per evaluation (sweep,
   * ablate).
   */
  shards?: number;
  /** Inputs of at most this many bytes in all are shipped through Ray's object store (0: never). */
  shipLimit?: number;
}

/** What a job's Ray part did: its tasks, how often one was started again, the bytes shipped. */
export interface RayOutcome {
  shards: number;
  retries: number;
  /** 0: the inputs were read in place on every node. */
  shipped: number;
  /** A sweep's or ablation's evaluations made on Ray. */
  evaluations?: number;
}

export interface ScoreRequest {
  type: 'score';
  /** The run's id in the store; a new id makes a new run, an existing one resumes it. */
  run: RunId;
  model: string;
  /** A registered corpus's name, or a manifest path. */
  corpus: string;
  batchSize?: number;
  threads?: number;
  scoreForm?: 'paper' | 'code';
  /** Score in shards on a Ray cluster, merged into the run (a new run only). */
  ray?: RayOptions;
}

export type PlanRequest = PlanQuery & {
  type: 'plan';
  run: RunId;
};

export type PruneRequest = PlanQuery & {
  type: 'prune';
  run: RunId;
  /** A relative path without '..', under the sidecar's working folder. */
  out: string;
  overwrite?: boolean;
  /** What becomes of the removed units (COMPENSATIONS); default DEFAULT_PRUNE_COMPENSATION. */
  compensation?: CompensationKind;
};

/** Checks a folder prune wrote against the model it was pruned from (`cusprun verify`). */
export interface VerifyRequest {
  type: 'verify';
  /** When given, the job's events go to this run's log. */
  run?: RunId;
  /** The pruned folder: relative to the sidecar's working folder, or absolute. */
  pruned: string;
  /** The original model, if it moved since it was pruned. */
  model?: string;
}

export interface EvalRequest extends EvalOptions {
  type: 'eval';
  /** When given, the job's events go to this run's log. */
  run?: RunId;
  models: string[];
  /** JSON Lines of `{prompt, reference?}` to decode greedily from. */
  prompts?: string;
  maxNewTokens?: number;
  latency?: boolean;
}

/**
 * A run folder's layout, as far as the kernel bridge reads it: a sweep or ablation on Ray ships these to its
 * workers, and appends the lines their evaluations add to the evaluation cache (JSON Lines,
 * `{"key", "metrics"}`) here.
 */
export const RUN_FILE = 'run.json';
export const SCORES_DIR = 'scores';
export const EVAL_CACHE_FILE = 'evaluations.jsonl';
export const BASELINE_SCORES_DIR = 'baseline-scores';
/** The run's event log (JSON Lines of JobEvent): the sidecar's jobs. */
export const EVENTS_FILE = 'events.jsonl';
/**
 * Set to 1 in the environment of a CLI a Ray task starts: the CLI exits (as on SIGTERM, taking
 * its temporary folders with it) once the process that started it is gone, so a worker killed
 * mid-task leaves no CLI scoring for nobody.
 */
export const EXIT_WITH_PARENT_ENV = 'CUSPRUN_EXIT_WITH_PARENT';
/**
 * What a sweep (or an ablation) reads of a run folder: with a copy of these, it runs elsewhere.
 */
export const SWEEP_INPUTS = [
  RUN_FILE,
  SCORES_DIR,
  EVAL_CACHE_FILE,
  BASELINE_SCORES_DIR
] as const;

export interface SweepRequest extends EvalOptions, ExpertQuery {
  type: 'sweep';
  run: RunId;
  /** A σ grid or a target-ratio grid: exactly one of the two. */
  sigmas?: number[];
  targetRatios?: number[];
  /** Default: all of METHODS. */
  methods?: Method[];
  seed?: number;
  /** Evaluate every method with its removed units compensated so; default `none`. */
  compensation?: CompensationKind;
  /** The run whose documents calibrate the baselines (same model); default `run`. */
  baselineRun?: RunId;
  /** Make the sweep's evaluations on a Ray cluster first, into the run's evaluation cache. */
  ray?: RayOptions;
}

export interface AblateRequest extends EvalOptions, ExpertQuery {
  type: 'ablate';
  run: RunId;
  targetRatio: number;
  /** Evaluate every row with its removed units compensated so; default `none`. */
  compensation?: CompensationKind;
  /** The run whose documents calibrate the general row (same model); default `run`. */
  baselineRun?: RunId;
  /** Make the ablation's evaluations on a Ray cluster first, into the run's evaluation cache. */
  ray?: RayOptions;
}

/**
 * `cusprun study`: the relaxed rule's q values (q 1: the paper's rule), plain and
 * compensated, with the baselines at each expert's per-layer counts, on `run` and the
 * `seedRuns` (the same model and corpora scored from other document samples), one evaluation
 * cache; kept in `run`'s `study/`.
 */
export interface StudyRequest extends EvalOptions {
  type: 'study';
  run: RunId;
  seedRuns?: RunId[];
  /** The run whose documents calibrate the baselines (same model); default each run's own. */
  baselineRun?: RunId;
  dims?: string[];
  targetRatios: number[];
  /** Each in (0, 1]; default STUDY_DEFAULT_QS, or none when `rules` names some (studyQs). */
  qs?: number[];
  /** Experts under these rules (of STUDY_RULES) beside the q grid's; default none. */
  rules?: Rule[];
  /** One σ for every layer and/or counts allocated by sensitivity; default `sigma` only. */
  allocations?: StudyAllocation[];
  /** Experts that may remove attention groups and/or keep them all; default `prune` only. */
  attentions?: StudyAttention[];
  /** Default DEFAULT_STUDY_COMPENSATIONS: `none` and prune's default. */
  compensations?: CompensationKind[];
  /** Default all of METHODS but flap. */
  methods?: Method[];
  /** JSON Lines of `{prompt, reference?}` every variant decodes greedily. */
  prompts?: string;
  maxNewTokens?: number;
}

/** The q values a study tries when the request names neither q values nor rules. */
export const STUDY_DEFAULT_QS = [1, 0.9, 0.75, 0.5];

/**
 * A study's q grid: the one given, else none when other rules are named (a study of those rules
 * alone, without the paper's rule's costs), else STUDY_DEFAULT_QS.
 */
export function studyQs(qs?: number[], rules?: readonly Rule[]): number[] {
  return qs ?? ((rules?.length ?? 0) > 0 ? [] : STUDY_DEFAULT_QS);
}

/** Most new tokens a generate job decodes per model. */
export const MAX_GENERATE_TOKENS = 256;
/** New tokens per model when a generate job does not say. */
export const DEFAULT_GENERATE_TOKENS = 32;

/**
 * "Try the expert": one prompt decoded greedily by the run's dense model and by a pruned expert,
 * step by step in turn, each new token streamed as a `generated` event.
 */
export interface GenerateRequest {
  type: 'generate';
  run: RunId;
  prompt: string;
  /** 1 to MAX_GENERATE_TOKENS (default DEFAULT_GENERATE_TOKENS). */
  maxNewTokens?: number;
  /** The expert's folder (relative to the sidecar's working folder, or absolute); default the run's latest prune output. */
  expert?: string;
}

export type JobRequest =
  | ScoreRequest
  | PlanRequest
  | PruneRequest
  | VerifyRequest
  | EvalRequest
  | SweepRequest
  | AblateRequest
  | GenerateRequest
  | StudyRequest;

interface ChartsOptions {
  /** Also render each chart to a standalone SVG (about 100 ms a chart). */
  svg?: boolean;
  /** Only these of the source's charts (default all); `['relevance-histogram']` of a plan at σ needs no plan. */
  names?: string[];
}

/**
 * `POST /api/runs/:run/charts`: a plan's charts, or the run's latest (or named) sweep or
 * ablation's, or its study's.
 */
export type ChartsRequest = ChartsOptions &
  (
    | (PlanQuery & { source: 'plan' })
    | {
        source: 'sweep' | 'ablation' | 'study';
        /** A file of the run's `sweeps/`, `ablations/` or `study/`; default the latest. */
        file?: string;
      }
  );

// ---- Results -------------------------------------------------------------------------------

/** A plan without its per-unit lists: what a run record keeps of a prune. */
export type PlanSummary = Omit<ExpertPlan, 'layers'>;

/**
 * `POST /api/runs/:run/sigma`: what the σ slider shows, from the run's cached expert — the
 * ratio, units per layer, the dimensions' histograms with σ marked and ratio against σ.
 */
export interface SigmaAnswer {
  plan: PlanSummary;
  layers: GroupCount[];
  histogram: RankHistogram;
  ratios: RatioSweep;
}

export interface ChartsAnswer {
  source: ChartsRequest['source'];
  /** The sweep or ablation file the charts show (relative to the run folder). */
  file?: string;
  charts: { name: string; spec: VegaLiteSpec; svg?: string }[];
}

export interface ScoreResult {
  scored: number;
  skipped: number;
  tokens: number;
  seconds: number;
  /** False when the job was cancelled or interrupted after a batch. */
  complete: boolean;
  /** A score on Ray: its shards. */
  ray?: RayOutcome;
}

export interface PlanResult extends SigmaAnswer {
  /** The whole plan, with the units each layer loses. */
  plan: ExpertPlan;
}

export interface PruneResult {
  plan: PlanSummary;
  out: string;
  bytesBefore: number;
  bytesAfter: number;
  maxAbsDiff: number;
  verification: Verification;
}

/**
 * A pruned model's logits against the original's with its units zeroed: the largest difference
 * and where it is, in ulps of the logits' type at their row's largest |logit| (the bound), and
 * the one line every client shows for it.
 */
export interface Verification extends LogitComparison {
  description: string;
  /** What the reference did with the removed units: what every client says it was checked against. */
  removedUnits: RemovedUnits;
}

/** Which side of a generate job: the run's dense model or the pruned expert. */
export type GeneratingModel = 'dense' | 'expert';

/** One model's generation so far (a `generated` event) or in the end (the job's result). */
export interface ModelGeneration {
  model: GeneratingModel;
  /** The new tokens' text (special tokens left out). */
  text: string;
  tokens: number;
  /** New tokens ÷ the seconds this model's own forward passes took (prompt included). */
  tokensPerSecond: number;
  /** Whether it decoded with the export's KV cache. */
  usedCache: boolean;
}

export interface GenerateResult {
  prompt: string;
  /** The model files (absolute). */
  dense: string;
  expert: string;
  /** The expert's pruning ratio (its prune's plan). */
  ratio: number;
  generations: Record<GeneratingModel, ModelGeneration>;
}

export interface RecordResult<T> {
  /** Where the record is kept, relative to the run folder. */
  file: string;
  record: T;
}

/** A sweep's or ablation's result; `ray` when its evaluations were made on Ray. */
export interface ExperimentResult<T> extends RecordResult<T> {
  ray?: RayOutcome;
}

export type SweepResult = ExperimentResult<SweepRecord>;

export type JobResult =
  | ScoreResult
  | PlanResult
  | PruneResult
  | Verification
  | { models: ModelEvaluation[] }
  | SweepResult
  | ExperimentResult<AblationRecord>
  | GenerateResult
  | RecordResult<StudyRecord>;

// ---- Jobs and events -----------------------------------------------------------------------

export type JobState =
  'queued' | 'running' | 'done' | 'failed' | 'cancelled' | 'interrupted';

export const FINAL_STATES: readonly JobState[] = [
  'done',
  'failed',
  'cancelled',
  'interrupted'
];

/** Scoring progress (the score job, and the Wanda pass of a sweep). */
export interface Progress {
  done: number;
  total: number;
  skipped: number;
  tokens: number;
  tokensPerSecond: number;
  elapsedMs: number;
  /** Seconds left at this run's pace; absent until a document is scored. */
  etaSeconds?: number;
  /** What `done` and `total` count when not documents: a sweep on Ray counts its shards. */
  unit?: 'shards';
}

export interface JobInfo {
  id: string;
  type: JobType;
  run?: string;
  state: JobState;
  request: JobRequest;
  submitted: string;
  started?: string;
  finished?: string;
  /** The sidecar process that ran it. */
  pid: number;
  progress?: Progress;
  result?: JobResult;
  error?: ErrorBody['error'];
}

/** `GET /api/jobs`. */
export type JobList = JobInfo[];

interface EventBase {
  at: string;
  job: string;
  run?: string;
}

export type JobEvent =
  | (EventBase & {
      type:
        | 'job-queued'
        | 'job-started'
        | 'job-done'
        | 'job-failed'
        | 'job-cancelled'
        | 'job-interrupted';
      info: JobInfo;
    })
  | (EventBase & { type: 'progress'; progress: Progress })
  | (EventBase & {
      type: 'histogram';
      /** Documents scored so far per dimension; the histogram covers these. */
      documents: Record<string, number>;
      histogram: RankHistogram;
      /** Its chart, so that clients draw it as the panel and the CLI do (`charts/`). */
      spec: VegaLiteSpec;
    })
  | (EventBase & { type: 'sweep-point'; point: SweepPoint })
  | (EventBase & { type: 'ablation-row'; row: AblationRow })
  | (EventBase & { type: 'study-row'; row: StudyRow })
  | (EventBase & { type: 'generated'; generation: ModelGeneration });

// ---- Runs ----------------------------------------------------------------------------------

/** `run.json`: what a scoring run is (the CLI and the sidecar write the same file). */
export interface RunRecord {
  format: 'cusprun-run';
  version: 1;
  created: string;
  updated: string;
  model: { file: string; sha256: string; family: string };
  corpus: {
    manifest: string;
    sha256: string;
    truncation: number;
    seed: number;
    documentsPerDimension: number;
    tokenizerSha256: string;
    dimensions: {
      dimension: string;
      name: string;
      available: number;
      truncated: number;
      documents: {
        id: string;
        sha256: string;
        source: { file: string; line: number };
        tokens: number;
        truncated: boolean;
      }[];
    }[];
  };
  scoring: {
    scoreForm: string;
    batchSize: number;
    threads: number;
    /** A shard run (`cusprun score --shard I/N`) holds the batches b with b mod count = index. */
    shard?: { index: number; count: number };
  };
  versions: Versions;
  prunes: {
    out: string;
    at: string;
    plan: PlanSummary;
    bytesBefore: number;
    bytesAfter: number;
    maxAbsDiff?: number;
    /** Present when the units were bias-compensated. */
    compensation?: CompensationRecord;
  }[];
}

/** `GET /api/runs`: one entry per folder of the store that holds a run.json. */
export interface RunSummary {
  id: string;
  created: string;
  updated: string;
  model: RunRecord['model'];
  corpus: { manifest: string; sha256: string; dimensions: string[] };
  /** Documents in the score store, and the documents the corpus has. */
  scored: number;
  documents: number;
  /**
   * Its latest job, whoever ran it: a sidecar's job (with its id) or what the CLI left in the
   * run folder (its scoring, prunes, sweeps and ablations: no id). `at`: when it ended (else
   * started, else was submitted).
   */
  lastJob?: {
    id?: string;
    type: JobType;
    state: JobState;
    at: string;
    origin: 'sidecar' | 'cli';
  };
  /**
   * Set when the run's run.json cannot be read (half written, hand edited): the one-line
   * reason, which `GET /api/runs/:run` answers too. Its record's fields are then empty (model
   * and corpus strings '', no dimensions, 0 documents) and created/updated are run.json's time
   * of change; `scored` and `lastJob` still come from its score store and event log.
   */
  damaged?: string;
}

/** `GET /api/runs`. */
export type RunList = RunSummary[];

/** `GET /api/runs/:run`. */
export interface RunDetail extends RunSummary {
  record: RunRecord;
  /** Files in the run's `sweeps/` and `ablations/`, oldest first. */
  sweeps: string[];
  ablations: string[];
  /** Every job the run's event log knows, in submission order, in its latest state. */
  jobs: JobInfo[];
}

// ---- WebSocket -----------------------------------------------------------------------------

/** Client → sidecar. */
export type ClientMessage =
  /** Any HTTP route, answered with a `response` of the same id. */
  | {
      type: 'request';
      id: string | number;
      method: 'GET' | 'POST' | 'DELETE';
      path: string;
      body?: unknown;
    }
  /** Events of these runs only (null: every event, the default). */
  | { type: 'subscribe'; runs: string[] | null };

/** Sidecar → client. */
export type ServerMessage =
  | { type: 'hello'; protocol: number; versions: Versions }
  | { type: 'event'; event: JobEvent }
  | {
      type: 'response';
      id: string | number;
      status: number;
      body: unknown;
    }
  /** About the socket itself (a message it could not read, a protocol mismatch). */
  | { type: 'error'; error: ErrorBody['error'] };
