/** Option groups several commands share (planning an expert, evaluating models), and readers. */
import {
  DEFAULT_RULE,
  planTarget,
  RULES,
  RuleSettings,
  ruleSettings
} from '../../core/select';
import { COMPENSATIONS, CompensationKind } from '../../core/experiment';
import { ExpertJob, PlanJob } from '../jobs/plan';
import {
  nameValue,
  numberValue,
  OptionSpecs,
  requiredValue,
  UsageError,
  Values
} from './args';

export const PLAN_OPTIONS = {
  run: {
    type: 'string',
    value: 'RUN_DIR',
    help: "the run folder ('cusprun score' made it)"
  },
  sigma: {
    type: 'string',
    value: 'S',
    help: 'σ in (0, 1): the fraction of units irrelevant to each document'
  },
  'target-ratio': {
    type: 'string',
    value: 'R',
    help: 'solve σ for this pruning ratio in (0, 1) instead'
  },
  dims: {
    type: 'string',
    value: 'a,b',
    help: 'the dimensions to intersect (default: every one the run scored)'
  },
  rule: {
    type: 'string',
    value: 'RULE',
    help: `how documents and dimensions decide, of ${RULES.join(', ')} (default ${DEFAULT_RULE}: each unit's mean rank over every document; paper: irrelevant to every document)`
  },
  q: {
    type: 'string',
    value: 'Q',
    help: 'the q rule: irrelevant to at least this fraction of each dimension’s documents (alone: --rule q, or paper at 1)'
  },
  'min-keep': {
    type: 'string',
    value: 'N',
    help: 'units each layer’s module keeps at least (default 1)'
  },
  'multiple-of': {
    type: 'string',
    value: 'M',
    help: 'round each kept width up to a multiple of M (default 1)'
  },
  'keep-attention': {
    type: 'boolean',
    help: 'never remove an attention (key-value) group: the ratio comes from the FFN channels alone'
  }
} as const satisfies OptionSpecs;

export const EVAL_OPTIONS = {
  eval: {
    type: 'string',
    multiple: true,
    value: 'SET',
    help: 'an evaluation set: FILE or NAME=FILE (.jsonl of {"text"} for perplexity, of {"question", "choices", "answer"} for multiple choice; .txt blocks)'
  },
  truncation: {
    type: 'string',
    value: 'N',
    help: 'tokens per document or question + choice (default 128)'
  },
  threads: { type: 'string', value: 'N', help: 'onnxruntime intra-op threads' },
  json: {
    type: 'string',
    value: 'FILE',
    help: 'also write the results there as JSON'
  },
  csv: {
    type: 'string',
    value: 'FILE',
    help: 'also write the results there as tidy CSV'
  }
} as const satisfies OptionSpecs;

/** Where the baselines' calibration documents come from (sweep, study). */
export const BASELINE_OPTIONS = {
  'baseline-run': {
    type: 'string',
    value: 'RUN_DIR',
    help: "calibrate the baselines (general, wanda, flap) on this run's documents instead of the expert's own: a run of the same model scored on a general corpus, as general pruning is calibrated"
  }
} as const satisfies OptionSpecs;

/** `--compensation HOW`: what becomes of a pruned model's removed units (prune, sweep, ablate). */
export function compensationOption(defaultKind: CompensationKind) {
  return {
    compensation: {
      type: 'string',
      value: 'HOW',
      help: `what becomes of the removed units: ${COMPENSATIONS.join(', ')} — zeroed (the paper's model), replaced by their means (FLAP's bias compensation) or by their ridge predictions from the kept channels, fitted on the run's documents of --dims and folded into the projection after them (default ${defaultKind})`
    }
  } as const satisfies OptionSpecs;
}

/** `--compensation`'s value, checked; undefined when absent (the command's default). */
export function compensationValue(
  value?: string
): CompensationKind | undefined {
  return nameValue('compensation', value, COMPENSATIONS);
}

/** --rule and --q, checked together: a mistake in them is one of the command line. */
export function ruleOptions(rule?: string, q?: string): RuleSettings {
  try {
    return ruleSettings({ rule, q: numberValue('q', q) });
  } catch (error) {
    if (error instanceof UsageError) {
      throw error;
    }
    throw new UsageError((error as Error).message);
  }
}

/** The expert a command works on: its run, dimensions and settings (σ aside). */
export function expertOptions(
  values: Omit<Values<typeof PLAN_OPTIONS>, 'sigma' | 'target-ratio'>
): ExpertJob {
  return {
    run: requiredValue('run', values.run, 'RUN_DIR'),
    dims: values.dims?.split(',').map(d => d.trim()),
    ...ruleOptions(values.rule, values.q),
    minKeep: numberValue('min-keep', values['min-keep']),
    multipleOf: numberValue('multiple-of', values['multiple-of']),
    ...(values['keep-attention'] ? { keepAttention: true } : {})
  };
}

/** The expert and its σ (or target ratio): checked here, before any scores are read. */
export function planOptions(values: Values<typeof PLAN_OPTIONS>): PlanJob {
  return {
    ...expertOptions(values),
    ...planTarget({
      sigma: numberValue('sigma', values.sigma),
      targetRatio: numberValue('target-ratio', values['target-ratio'])
    })
  };
}

export function evalOptions(values: Values<typeof EVAL_OPTIONS>) {
  if (!values.eval?.length) {
    throw new UsageError(
      '--eval SET is required (at least one evaluation set)'
    );
  }
  return {
    evalSets: values.eval,
    truncation: numberValue('truncation', values.truncation),
    threads: numberValue('threads', values.threads)
  };
}
