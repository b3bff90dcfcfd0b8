import {
  jsonLine,
  jsonProgressPrinter,
  progressPrinter
} from '../format/progress';
import { runScoreJob } from '../jobs/score';
import {
  numberValue,
  positionalCount,
  requiredValue,
  shardValue,
  UsageError
} from './args';
import { defineCommand } from './command';

export default defineCommand({
  name: 'score',
  synopsis: 'score MODEL --corpus MANIFEST --run RUN_DIR [options]',
  summary:
    "score every unit on the corpus manifest's documents into the run folder; scoring the same\nrun folder again resumes where it stopped",
  options: {
    corpus: {
      type: 'string',
      value: 'MANIFEST',
      help: 'the corpus manifest (YAML or JSON)'
    },
    run: {
      type: 'string',
      value: 'RUN_DIR',
      help: 'the run folder: new, empty, or a run to resume'
    },
    batch: {
      type: 'string',
      value: 'N',
      help: 'documents per onnxruntime batch (default 8)'
    },
    threads: {
      type: 'string',
      value: 'N',
      help: 'onnxruntime intra-op threads'
    },
    'score-form': {
      type: 'string',
      value: 'paper|code',
      help: "the FFN score: 'paper' (default) or 'code' (PLND's code)"
    },
    shard: {
      type: 'string',
      value: 'I/N',
      help: "score shard I of N only (batch b of the run's batches, longest documents first, goes to shard b mod N) into its own run folder; join them with 'cusprun merge'"
    },
    progress: {
      type: 'string',
      value: 'text|json',
      help: '\'text\' (default): a progress bar on stderr; \'json\': for a driver program, one JSON line on stdout per batch ({"type": "progress", "progress"}) and one at the end ({"type": "scored", "summary"}) instead of the text'
    }
  },
  run: async ({ values, positionals }) => {
    positionalCount('score', positionals, { min: 1, max: 1 }, 'one MODEL');
    const scoreForm = values['score-form'] ?? 'paper';
    if (scoreForm !== 'paper' && scoreForm !== 'code') {
      throw new UsageError(
        `--score-form: is 'paper' or 'code', got '${scoreForm}'`
      );
    }
    const format = values.progress ?? 'text';
    if (format !== 'text' && format !== 'json') {
      throw new UsageError(`--progress: is 'text' or 'json', got '${format}'`);
    }
    const progress =
      format === 'json'
        ? jsonProgressPrinter(process.stdout)
        : progressPrinter(process.stderr);
    const { summary, record } = await runScoreJob({
      model: positionals[0],
      corpus: requiredValue('corpus', values.corpus, 'MANIFEST'),
      run: requiredValue('run', values.run, 'RUN_DIR'),
      batchSize: numberValue('batch', values.batch),
      threads: numberValue('threads', values.threads),
      scoreForm,
      shard: shardValue(values.shard),
      onProgress: p => progress.update(p)
    });
    progress.end();
    if (format === 'json') {
      return jsonLine({ type: 'scored', summary });
    }
    const truncated = record.corpus.dimensions
      .filter(d => d.truncated > 0)
      .map(
        d =>
          `${d.truncated} ${d.dimension} documents were cut to ${record.corpus.truncation} tokens\n`
      );
    return `scored ${summary.scored} documents (${summary.tokens.toLocaleString('en-US')} tokens) in ${summary.seconds.toFixed(1)} s; ${summary.skipped} were already scored\n${truncated.join('')}`;
  }
});
