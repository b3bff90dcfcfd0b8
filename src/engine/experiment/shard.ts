/**
 * A slice of an experiment's evaluations (a sweep's, an ablation's), one process's of several
 * (e.g. Ray tasks): each evaluates its own and fills the evaluation cache, and the whole
 * experiment run after them reads every evaluation from the cache. Evaluation 0 is the dense
 * model; each experiment numbers the rest in its own order.
 */

/** Evaluation e goes to shard e mod count. */
export interface EvaluationShard {
  index: number;
  count: number;
}

/** Whether `shard` makes evaluation `evaluation` (every shard does without one). */
export function inShard(
  shard: EvaluationShard | undefined,
  evaluation: number
): boolean {
  return !shard || evaluation % shard.count === shard.index;
}
