/**
 * The records of an experiment — evaluation metrics, σ sweeps against the baselines, the
 * dimension ablation, a model's evaluation — as the engine computes them, the sidecar keeps them
 * in a run folder and every client (CLI, lab, kernel) reads them. One definition each.
 */
import type { RatioSweep } from './charts/types';
import { CusprunError } from './errors';
import { Rule, RULES } from './select/rules';

/** The expert and the baselines it is compared with at the same per-layer counts. */
export const METHODS = [
  'cus-prun',
  'random',
  'magnitude',
  'general',
  'wanda',
  'flap'
] as const;
export type Method = (typeof METHODS)[number];

/** `cus-prun,random,…` as a command line gives it. */
export function parseMethods(list: string): Method[] {
  const methods = list
    .split(',')
    .map(m => m.trim())
    .filter(Boolean);
  for (const m of methods) {
    if (!(METHODS as readonly string[]).includes(m)) {
      throw new CusprunError(
        'bad-argument',
        `unknown method '${m}': choose from ${METHODS.join(', ')}`,
        'methods'
      );
    }
  }
  if (methods.length === 0) {
    throw new CusprunError('bad-argument', 'no method given', 'methods');
  }
  return methods as Method[];
}

/** One number a model scored on one set. Lower perplexity, higher accuracy is better. */
export interface EvalMetric {
  evalSet: string;
  metric: 'perplexity' | 'accuracy' | 'accuracy_norm';
  value: number;
  /** Predicted tokens (perplexity) or items (accuracy). */
  count: number;
}

export type EvalTask = 'perplexity' | 'multiple-choice';

/** An evaluation set as a record names it: enough to find it again and know it is the same. */
export interface EvalSetRecord {
  name: string;
  task: EvalTask;
  file: string;
  sha256: string;
}

/**
 * The statistics a compensated model was made with: their file's SHA-256 and what they cover
 * (the means of bias compensation, or with `ridge` the fit of regression compensation).
 */
export interface CompensationRecord {
  sha256: string;
  dimensions: string[];
  tokens: number;
  ridge?: number;
}

/** σ values, or target ratios to solve σ for: exactly one of the two. */
export interface SweepGrid {
  sigmas?: number[];
  targetRatios?: number[];
}

export interface SweepPoint {
  method: Method;
  sigma: number;
  /** The same for every method at a grid point: they remove the same counts. */
  ratio: number;
  targetRatio?: number;
  metrics: EvalMetric[];
  /** Greedy texts from the prompts, when the job was given prompts (the study). */
  generation?: GenerationCheck;
  /** Whether the run's evaluation cache answered it. */
  cached: boolean;
}

/** What a sweep was run on, with its result: the file kept in the run folder's `sweeps/`. */
export interface SweepRecord {
  kind: 'sweep';
  at: string;
  dimensions: string[];
  grid: SweepGrid;
  methods: Method[];
  seed: number;
  /** The expert's selection rule; absent in records made before rules had names. */
  rule?: Rule;
  q: number;
  evalSets: EvalSetRecord[];
  truncation: number;
  /**
   * Present when every method was evaluated compensated with these statistics: the means (bias
   * compensation), or with `ridge` the Gram matrices (regression compensation).
   */
  compensation?: CompensationRecord;
  /** The run whose documents calibrated the baselines; absent: the sweep's own run. */
  baselineRun?: string;
  dense: EvalMetric[];
  points: SweepPoint[];
  /** Ratio against σ over the whole σ range, for the chart. */
  ratios: RatioSweep;
}

/** One subset of the dimensions at the ablation's target ratio. */
export interface AblationRow {
  dimensions: string[];
  sigma?: number;
  ratio?: number;
  metrics: EvalMetric[];
  cached: boolean;
  /** Why the subset has no row: its expert cannot reach the target ratio. */
  unreachable?: string;
}

/**
 * How the ablation's general-calibration row is named everywhere (tables, CSV, charts): `{n}`
 * the number of dimensions of the expert whose per-layer counts it removes.
 */
export const ABLATION_GENERAL_LABEL = 'general ({n}D counts)';

export function ablationGeneralLabel(dimensions: number): string {
  return ABLATION_GENERAL_LABEL.replace('{n}', String(dimensions));
}

/** The 1D/2D/3D ablation: the file kept in the run folder's `ablations/`. */
export interface AblationRecord {
  kind: 'ablation';
  at: string;
  /** The experts' selection rule; absent in records made before rules had names. */
  rule?: Rule;
  q: number;
  targetRatio: number;
  evalSets: EvalSetRecord[];
  truncation: number;
  dense: EvalMetric[];
  rows: AblationRow[];
  /**
   * General calibration (the `general` baseline) at the per-layer counts of the expert on every
   * dimension of `rows` (its `dimensions`, σ and ratio are that expert's): what the expert's own
   * calibration gains on its set, and gives up on the others. Absent in records made before it.
   */
  general?: AblationRow;
  /** Present when every row was evaluated compensated with these statistics (as a sweep's). */
  compensation?: CompensationRecord;
  /** The run whose documents calibrate `general`, when not the ablation's own. */
  baselineRun?: string;
}

/** An ablation row as shown: its label, and whether it is the general-calibration row. */
export interface ShownAblationRow {
  label: string;
  general: boolean;
  row: AblationRow;
}

/** The ablation's rows in the order shown: the subsets (`L+D`, …), then the general row. */
export function shownAblationRows(
  record: Pick<AblationRecord, 'rows' | 'general'>
): ShownAblationRow[] {
  const { general } = record;
  return [
    ...record.rows.map(row => ({
      label: row.dimensions.join('+'),
      general: false,
      row
    })),
    ...(general
      ? [
          {
            label: ablationGeneralLabel(general.dimensions.length),
            general: true,
            row: general
          }
        ]
      : [])
  ];
}

/** Greedy generations from prompts, and how degenerate they are. */
export interface GenerationCheck {
  exactMatch?: number;
  repetitionRate: number;
  samples: { prompt: string; text: string; reference?: string }[];
}

export interface LatencyResult {
  usedCache: boolean;
  promptTokens: number;
  decodeTokens: number;
  repeats: number;
  /** Median time of the prompt's forward, to its first new token. */
  prefillMs: number;
  /** Median over repeats of (decode time ÷ decodeTokens). */
  decodeMsPerToken: number;
}

/** `cusprun eval`: one model (dense or pruned) on the sets asked for. */
export interface ModelEvaluation {
  model: string;
  /** The .onnx file and its external data. */
  bytes: number;
  metrics: EvalMetric[];
  generation?: GenerationCheck;
  latency?: LatencyResult;
}

/**
 * What becomes of a pruned model's removed units: zeroed (`none`), replaced by their means
 * (bias compensation, FLAP) or by their ridge predictions from the kept channels (regression
 * compensation), each folded into the projection that reads them.
 */
export const COMPENSATIONS = ['none', 'bias', 'regression'] as const;
export type CompensationKind = (typeof COMPENSATIONS)[number];
/** What each compensation does with the removed units, as every client says it. */
export const REMOVED_UNITS = {
  none: 'zeroed',
  bias: 'replaced by their means',
  regression: 'replaced by their ridge predictions'
} as const satisfies Record<CompensationKind, string>;
export type RemovedUnits = (typeof REMOVED_UNITS)[CompensationKind];
/**
 * `cusprun prune`'s default: regression compensation was the best training-free, deterministic
 * variant on both real models and both seeds (README, "Regression compensation on the real
 * models"); `none` is the paper's model.
 */
export const DEFAULT_PRUNE_COMPENSATION: CompensationKind = 'regression';
/** A study's default: the paper's plain model against prune's default. */
export const DEFAULT_STUDY_COMPENSATIONS: CompensationKind[] = [
  'none',
  DEFAULT_PRUNE_COMPENSATION
];

/** How a study's expert was made, beside its rule: what its variant's name says. */
export type StudyExpertSettings = Pick<
  StudyRow,
  'q' | 'rule' | 'allocation' | 'attention'
>;

/**
 * What a study row is called: the paper's rule (q = 1), the relaxed rule, another named rule, or
 * a baseline. Without a rule, q says which of the first two.
 */
export function studyVariant(
  method: Method,
  { q, rule, allocation, attention }: StudyExpertSettings
): string {
  const suffix =
    (allocation === 'sensitivity' ? ' +sensitivity' : '') +
    (attention === 'keep' ? ' +keep-attention' : '');
  if (method !== 'cus-prun') {
    return method;
  }
  if (rule !== undefined && rule !== 'paper' && rule !== 'q') {
    return `cus-prun ${rule}${suffix}`;
  }
  return `${q === 1 ? 'paper' : `cus-prun q${q}`}${suffix}`;
}

/** The named rules a study runs experts under beside its q grid's (which gives `paper` and `q`). */
export const STUDY_RULES: readonly Rule[] = RULES.filter(
  r => r !== 'paper' && r !== 'q'
);

/** How a study's expert sets its per-layer counts: one σ, or by the probe's sensitivities. */
export const STUDY_ALLOCATIONS = ['sigma', 'sensitivity'] as const;
export type StudyAllocation = (typeof STUDY_ALLOCATIONS)[number];

/** Whether a study's expert may remove attention groups, or keeps them all (`--keep-attention`). */
export const STUDY_ATTENTIONS = ['prune', 'keep'] as const;
export type StudyAttention = (typeof STUDY_ATTENTIONS)[number];

/** One evaluated model of a study: a method at a run's per-layer counts for q and a ratio. */
export interface StudyRow extends SweepPoint {
  /** The run folder it was planned on: one document sample of the corpora. */
  run: string;
  /** The run's document-sampling seed (also the random baseline's seed). */
  seed: number;
  /** The relaxed rule's q whose expert set the per-layer counts every method removes. */
  q: number;
  /** That expert's rule; absent in studies made before rules had names (`paper` or `q`). */
  rule?: Rule;
  /** Absent or `sigma`: one σ for every layer; `sensitivity`: counts allocated by the probe. */
  allocation?: StudyAllocation;
  /** Absent or `prune`: attention groups may go; `keep`: the expert kept every one. */
  attention?: StudyAttention;
  compensation: CompensationKind;
  variant: string;
  /**
   * An expert's change on the study's first set and metric (its `dense[0]`) against each
   * baseline the study has at the same counts, run and compensation: −0.05 is 5% lower.
   */
  versus?: Partial<Record<StudyCompared, number>>;
}

/** The baselines a study compares each expert with (`StudyRow.versus`). */
export const STUDY_COMPARED = [
  'general',
  'wanda'
] as const satisfies readonly Method[];
export type StudyCompared = (typeof STUDY_COMPARED)[number];

/** `cusprun study`: the grid of variants and baselines, kept in the first run's `study/`. */
export interface StudyRecord {
  kind: 'study';
  at: string;
  /** Wall time of the whole study, evaluation cache hits included. */
  seconds: number;
  dimensions: string[];
  runs: { run: string; seed: number }[];
  targetRatios: number[];
  qs: number[];
  /** Experts under other named rules than the q grid's (`paper` and `q`). */
  rules?: Rule[];
  /** Absent: `sigma` only. */
  allocations?: StudyAllocation[];
  /** Absent: `prune` only. */
  attentions?: StudyAttention[];
  compensations: CompensationKind[];
  /** The ridge ρ of regression compensation, when the study has it. */
  ridge?: number;
  methods: Method[];
  /** The run whose documents calibrated the baselines; absent: each row's own run. */
  baselineRun?: string;
  evalSets: EvalSetRecord[];
  truncation: number;
  /** The prompts every row decoded greedily from, when the study was given them. */
  prompts?: { file: string; sha256: string; maxNewTokens: number };
  dense: EvalMetric[];
  denseGeneration?: GenerationCheck;
  rows: StudyRow[];
}

/** A row's label in tables and charts: a baseline says whose per-layer counts it removes. */
export function studyLabel(
  row: StudyExpertSettings & Pick<StudyRow, 'method' | 'variant'>
): string {
  return row.method === 'cus-prun'
    ? row.variant
    : `${row.variant} @ ${studyVariant('cus-prun', row)}`;
}
