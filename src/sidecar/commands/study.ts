import * as path from 'node:path';
import {
  METHODS,
  parseMethods,
  STUDY_ALLOCATIONS,
  STUDY_ATTENTIONS,
  DEFAULT_STUDY_COMPENSATIONS,
  COMPENSATIONS,
  STUDY_RULES,
  StudyAllocation,
  StudyAttention,
  CompensationKind,
  studyLabel
} from '../../core/experiment';
import { formatRatio } from '../../core/format';
import type { Rule } from '../../core/select';
import { STUDY_DEFAULT_QS, studyQs } from '../../core/protocol';
import { parseGrid } from '../../core/grid';
import { progressLines, progressPrinter } from '../format/progress';
import { studyTable, writeStudy } from '../format/study';
import { baselineNote } from '../format/experiment';
import {
  DEFAULT_STUDY_NEW_TOKENS,
  runStudyJob,
  STUDY_DIR
} from '../jobs/study';
import { namesValue, numberValue, positionalCount, UsageError } from './args';
import { defineCommand } from './command';
import { wroteLines } from './outputs';
import { BASELINE_OPTIONS, EVAL_OPTIONS, evalOptions } from './shared-options';

const { json: _json, csv: _csv, ...STUDY_EVAL_OPTIONS } = EVAL_OPTIONS;

const DEFAULT_QS = STUDY_DEFAULT_QS.join(',');

/** `1,0.9,…`: each q in (0, 1]. */
function parseQs(list: string): number[] {
  return list.split(',').map(text => {
    const q = Number(text.trim());
    if (text.trim() === '' || !(q > 0 && q <= 1)) {
      throw new UsageError(
        `--q: every value must lie in (0, 1], got '${text}'`
      );
    }
    return q;
  });
}

export default defineCommand({
  name: 'study',
  synopsis:
    'study --run RUN_DIR [--run RUN_DIR …] --target-ratios GRID --eval SET … [options]',
  summary:
    'the grid that answers "is the expert worth it": every q of the relaxed rule (q 1 is the\npaper’s rule), plain and regression-compensated (--compensation), with the baselines at\neach expert’s per-layer counts, on every run given (one per document sample: the seeds), one\nshared evaluation cache; writes TIME.json, .csv, .md and .svg into the first run’s study/\n(each study its own)',
  options: {
    ...STUDY_EVAL_OPTIONS,
    ...BASELINE_OPTIONS,
    run: {
      type: 'string',
      multiple: true,
      value: 'RUN_DIR',
      help: 'a run folder; more than one: the same model and corpora scored from other document samples (--seed in the manifest)'
    },
    dims: {
      type: 'string',
      value: 'a,b',
      help: 'the dimensions to intersect (default: every one the runs scored)'
    },
    'target-ratios': {
      type: 'string',
      value: 'GRID',
      help: 'target ratios, σ solved for each'
    },
    q: {
      type: 'string',
      value: 'LIST',
      help: `the relaxed rule’s q values, q 1 the paper’s rule (default ${DEFAULT_QS}; none when --rules is given)`
    },
    rules: {
      type: 'string',
      value: 'LIST',
      help: `more experts, under the rules ${STUDY_RULES.join(', ')}, beside the q grid’s`
    },
    allocations: {
      type: 'string',
      value: 'LIST',
      help: `of ${STUDY_ALLOCATIONS.join(', ')}: one σ for every layer, or each expert’s per-layer counts by the loss rise a probe measures on the run’s documents (default sigma)`
    },
    attention: {
      type: 'string',
      value: 'LIST',
      help: `of ${STUDY_ATTENTIONS.join(', ')}: each expert may remove attention groups, or keeps them all (--keep-attention; default prune)`
    },
    compensation: {
      type: 'string',
      value: 'LIST',
      help: `of ${COMPENSATIONS.join(', ')}: units zeroed, or replaced by their means or by their ridge predictions from the kept channels (default ${DEFAULT_STUDY_COMPENSATIONS.join(',')})`
    },
    methods: {
      type: 'string',
      value: 'LIST',
      help: `comma-separated, of ${METHODS.join(', ')} (default all but flap)`
    },
    prompts: {
      type: 'string',
      value: 'FILE',
      help: 'every variant also decodes these prompts greedily (.jsonl of {"prompt", "reference"?}); the texts go into the study’s .md and .json'
    },
    'max-new-tokens': {
      type: 'string',
      value: 'N',
      help: `tokens per greedy text (default ${DEFAULT_STUDY_NEW_TOKENS})`
    }
  },
  run: async ({ values, positionals }) => {
    positionalCount(
      'study',
      positionals,
      { min: 0, max: 0 },
      'no positional arguments'
    );
    const [run, ...seedRuns] = values.run ?? [];
    if (run === undefined || values['target-ratios'] === undefined) {
      throw new UsageError('give --run RUN_DIR and --target-ratios GRID');
    }
    const rules =
      values.rules === undefined
        ? []
        : namesValue<Rule>(
            'rules',
            values.rules,
            STUDY_RULES,
            " (the paper's rule and the q rule come from --q)"
          );
    const progress = progressLines(process.stderr);
    const scoring = progressPrinter(process.stderr);
    const record = await runStudyJob({
      ...evalOptions(values),
      run,
      seedRuns,
      baselineRun: values['baseline-run'],
      dims: values.dims?.split(',').map(d => d.trim()),
      targetRatios: parseGrid(values['target-ratios'], '--target-ratios'),
      qs: studyQs(
        values.q === undefined ? undefined : parseQs(values.q),
        rules
      ),
      rules,
      ...(values.allocations === undefined
        ? {}
        : {
            allocations: namesValue<StudyAllocation>(
              'allocations',
              values.allocations,
              STUDY_ALLOCATIONS
            )
          }),
      ...(values.attention === undefined
        ? {}
        : {
            attentions: namesValue<StudyAttention>(
              'attention',
              values.attention,
              STUDY_ATTENTIONS
            )
          }),
      compensations: namesValue<CompensationKind>(
        'compensation',
        values.compensation ?? DEFAULT_STUDY_COMPENSATIONS.join(','),
        COMPENSATIONS
      ),
      methods: parseMethods(
        values.methods ?? METHODS.filter(m => m !== 'flap').join(',')
      ),
      prompts: values.prompts,
      maxNewTokens: numberValue('max-new-tokens', values['max-new-tokens']),
      onScoreProgress: p => scoring.update(p),
      onRow: r =>
        progress(
          `seed ${r.seed}: ${studyLabel(r)}, ${r.compensation}, ratio ${formatRatio(r.ratio)}${r.cached ? ', from cache' : ''}`
        )
    });
    const files = await writeStudy(path.join(run, STUDY_DIR), record);
    return `${studyTable(record)}\n${baselineNote(record)}${wroteLines(files)}`;
  }
});
