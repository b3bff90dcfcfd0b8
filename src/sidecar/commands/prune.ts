import { formatPlan } from '../format/plan';
import { runPruneJob } from '../jobs/prune';
import { positionalCount, requiredValue, UsageError } from './args';
import { STUDY_ALLOCATIONS, StudyAllocation } from '../../core/experiment';
import { defineCommand } from './command';
import { PLAN_OPTIONS, planOptions } from './shared-options';

function allocationOption(value?: string): StudyAllocation | undefined {
  if (
    value !== undefined &&
    !STUDY_ALLOCATIONS.includes(value as StudyAllocation)
  ) {
    throw new UsageError(
      `--allocate: '${value}' is not one of ${STUDY_ALLOCATIONS.join(', ')}`
    );
  }
  return value as StudyAllocation | undefined;
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(2)} MiB`;

export default defineCommand({
  name: 'prune',
  synopsis:
    'prune --run RUN_DIR (--sigma S | --target-ratio R) --out DIR [options]',
  summary:
    'write the pruned expert model folder, checked against the original with the units zeroed\nbefore it takes its place',
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
    'compensate-bias': {
      type: 'boolean',
      help: 'fold each removed unit’s mean contribution over the run’s documents (of --dims) into the bias after its projection (FLAP’s bias compensation)'
    },
    'compensate-regression': {
      type: 'boolean',
      help: 'replace each removed channel by its ridge prediction from the kept channels, fitted on the run’s documents (of --dims), folded into the projection’s weights and bias'
    },
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
    const { plan, written, verification } = await runPruneJob({
      ...planOptions(values),
      out: requiredValue('out', values.out, 'DIR'),
      overwrite: values.overwrite ?? false,
      compensateBias: values['compensate-bias'] ?? false,
      compensateRegression: values['compensate-regression'] ?? false,
      allocation: allocationOption(values.allocate)
    });
    return `${formatPlan(plan)}wrote ${written.dir} (${mib(written.bytesAfter)}, was ${mib(written.bytesBefore)}); checked against the original with the units ${verification.removedUnits}: ${verification.description}\n`;
  }
});
