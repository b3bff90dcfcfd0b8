import { formatPlan } from '../format/plan';
import { progressPrinter } from '../format/progress';
import { runPruneJob } from '../jobs/prune';
import { nameValue, positionalCount, requiredValue } from './args';
import {
  DEFAULT_PRUNE_COMPENSATION,
  STUDY_ALLOCATIONS
} from '../../core/experiment';
import { defineCommand } from './command';
import {
  compensationOption,
  compensationValue,
  PLAN_OPTIONS,
  planOptions
} from './shared-options';

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(2)} MiB`;

export default defineCommand({
  name: 'prune',
  synopsis:
    'prune --run RUN_DIR (--sigma S | --target-ratio R) --out DIR [options]',
  summary:
    'write the pruned expert model folder, checked against the original with the same units\nzeroed (or compensated) before it takes its place',
  options: {
    ...PLAN_OPTIONS,
    out: {
      type: 'string',
      value: 'DIR',
      help: 'the folder to write (new, or an earlier prune)'
    },
    allocate: {
      type: 'string',
      value: 'HOW',
      help: `${STUDY_ALLOCATIONS.join(' or ')}: one σ for every layer (default), or per-layer counts by the loss rise a probe measures on the run’s documents (needs --target-ratio)`
    },
    ...compensationOption(DEFAULT_PRUNE_COMPENSATION),
    overwrite: {
      type: 'boolean',
      help: 'replace an earlier output of cusprun prune (never anything else)'
    }
  },
  run: async ({ values, positionals }) => {
    positionalCount(
      'prune',
      positionals,
      { min: 0, max: 0 },
      'no positional arguments'
    );
    const scoring = progressPrinter(process.stderr);
    const { plan, written, verification } = await runPruneJob({
      ...planOptions(values),
      out: requiredValue('out', values.out, 'DIR'),
      overwrite: values.overwrite ?? false,
      compensation: compensationValue(values.compensation),
      allocation: nameValue('allocate', values.allocate, STUDY_ALLOCATIONS),
      onScoreProgress: p => scoring.update(p)
    });
    scoring.end();
    return `${formatPlan(plan)}wrote ${written.dir} (${mib(written.bytesAfter)}, was ${mib(written.bytesBefore)}); checked against the original with the units ${verification.removedUnits}: ${verification.description}\n`;
  }
});
