/**
 * `--points I/N` (sweep, ablate): one shard of an experiment's evaluations into the run's
 * evaluation cache and no record, as a Ray task runs it (kernel-bridge/cusprun/distributed.py);
 * the whole experiment run after its shards reads every evaluation from the cache.
 */
import type { EvaluationShard } from '../../engine/experiment';
import type { ShardOutcome } from '../jobs/experiment';
import { OptionSpecs, shardValue, UsageError } from './args';

/** The option, for `command`'s evaluations numbered as `order` says. */
export function pointsOption(command: string, order: string) {
  return {
    points: {
      type: 'string',
      value: 'I/N',
      help: `evaluate shard I of N of the ${command}'s evaluations only (evaluation e goes to shard e mod N: ${order}) into the run's evaluation cache, and keep no record; the whole ${command} run after the shards reads them from the cache`
    }
  } as const satisfies OptionSpecs;
}

/** The shard asked for (undefined: the whole experiment); no record goes with it. */
export function pointsShard(
  command: string,
  values: { points?: string; json?: string; csv?: string; charts?: string }
): EvaluationShard | undefined {
  const shard = shardValue(values.points, 'points');
  if (shard && (values.json || values.csv || values.charts)) {
    throw new UsageError(
      `--points keeps no record: --json, --csv and --charts go with the whole ${command}`
    );
  }
  return shard;
}

/** What a shard prints: its evaluations, and where they are. */
export function shardLine(
  command: string,
  shard: EvaluationShard,
  { evaluations, cache }: ShardOutcome
): string {
  return `${command} evaluations ${shard.index}/${shard.count}: ${evaluations} in ${cache}\n`;
}
