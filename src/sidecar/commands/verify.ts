import { runVerifyJob } from '../jobs/prune';
import { positionalCount } from './args';
import { defineCommand } from './command';

export default defineCommand({
  name: 'verify',
  synopsis: 'verify PRUNED_DIR [--model MODEL]',
  summary:
    'check a folder cusprun prune wrote against the model it was pruned from, with the same\nunits zeroed (or replaced by their stored means), on the documents prune checked it on',
  options: {
    model: {
      type: 'string',
      value: 'MODEL',
      help: 'the original model, if it moved since (default: where it was pruned from)'
    }
  },
  run: async ({ values, positionals }) => {
    positionalCount(
      'verify',
      positionals,
      { min: 1, max: 1 },
      'one PRUNED_DIR'
    );
    const verification = await runVerifyJob({
      pruned: positionals[0],
      model: values.model
    });
    return `ok: the same logits as the original with the units ${verification.removedUnits}: ${verification.description}\n`;
  }
});
