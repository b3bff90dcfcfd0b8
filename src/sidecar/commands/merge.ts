import { runMergeJob } from '../jobs/merge';
import { positionalCount, requiredValue } from './args';
import { defineCommand } from './command';

export default defineCommand({
  name: 'merge',
  synopsis: 'merge --run RUN_DIR SHARD_DIR…',
  summary:
    "join the run folders of 'cusprun score --shard I/N' (every shard once, same model, corpus\nand settings) into a new run folder, the run one 'cusprun score' would have written",
  options: {
    run: {
      type: 'string',
      value: 'RUN_DIR',
      help: 'the merged run folder: new or empty'
    }
  },
  run: async ({ values, positionals }) => {
    positionalCount(
      'merge',
      positionals,
      { min: 1, max: Number.MAX_SAFE_INTEGER },
      'the shard run folders'
    );
    const run = requiredValue('run', values.run, 'RUN_DIR');
    const record = await runMergeJob({ run, shards: positionals });
    const documents = record.corpus.dimensions.reduce(
      (sum, d) => sum + d.documents.length,
      0
    );
    return `merged ${positionals.length} shards (${documents} documents) into ${run}\n`;
  }
});
