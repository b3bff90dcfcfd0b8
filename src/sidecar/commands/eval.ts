import { evalCsv, evalTable } from '../format/experiment';
import { runEvalJob } from '../jobs/eval';
import { numberValue, positionalCount } from './args';
import { defineCommand } from './command';
import { checkRequested, writeRequested } from './outputs';
import { EVAL_OPTIONS, evalOptions } from './shared-options';

export default defineCommand({
  name: 'eval',
  synopsis: 'eval MODEL [MODEL ...] --eval SET [--eval SET ...] [options]',
  summary:
    'perplexity and multiple-choice accuracy of model folders or files (dense or pruned), side\nby side; optionally greedy generations and latency',
  options: {
    ...EVAL_OPTIONS,
    prompts: {
      type: 'string',
      value: 'FILE',
      help: 'greedy generations from these prompts (.jsonl of {"prompt", "reference"?})'
    },
    'max-new-tokens': {
      type: 'string',
      value: 'N',
      help: 'tokens per generation'
    },
    latency: { type: 'boolean', help: 'measure prefill and decode latency' }
  },
  run: async ({ values, positionals }) => {
    positionalCount(
      'eval',
      positionals,
      { min: 1, max: Infinity },
      'one MODEL or more'
    );
    checkRequested(values);
    const results = await runEvalJob({
      models: positionals,
      ...evalOptions(values),
      prompts: values.prompts,
      maxNewTokens: numberValue('max-new-tokens', values['max-new-tokens']),
      latency: values.latency ?? false
    });
    return `${evalTable(results)}\n${writeRequested(values, results, () => evalCsv(results))}`;
  }
});
