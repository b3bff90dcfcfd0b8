import { formatPlan } from '../format/plan';
import { runPruneJob } from '../jobs/prune';
import { positionalCount, requiredValue } from './args';
import { defineCommand } from './command';
import { PLAN_OPTIONS, planOptions } from './shared-options';

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
    'compensate-bias': {
      type: 'boolean',
      help: 'fold each removed unit’s mean contribution over the run’s documents (of --dims) into the bias after its projection (FLAP’s bias compensation)'
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
      compensateBias: values['compensate-bias'] ?? false
    });
    return `${formatPlan(plan)}wrote ${written.dir} (${mib(written.bytesAfter)}, was ${mib(written.bytesBefore)}); checked against the original with the units ${verification.removedUnits}: ${verification.description}\n`;
  }
});
