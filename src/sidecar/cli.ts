/**
 * The `cusprun` command line. A mistake in the user's input prints one line and exits 1; a
 * usage mistake exits 2; only a bug shows a stack trace.
 */
import { parseArgs, ParseArgsConfig } from 'node:util';
import { isCusprunError } from '../engine/errors';
import { inspect } from './commands/inspect';
import { formatPlan } from './commands/plan';
import { progressPrinter } from './commands/progress';
import { runPlanJob } from './jobs/plan';
import { runPruneJob, runVerifyJob } from './jobs/prune';
import { runScoreJob } from './jobs/score';
import { cusprunVersion } from './run-folder';

const USAGE = `usage: cusprun <command> [options]

commands:
  inspect MODEL [--json]
      map an ONNX decoder export (a folder with model.onnx, or a .onnx file): family, layers,
      prunable units and parameters, blockers
  score MODEL --corpus MANIFEST --run RUN_DIR [--batch N] [--threads N] [--score-form paper|code]
      score every unit on the corpus manifest's documents into the run folder (resumes)
  plan --run RUN_DIR (--sigma S | --target-ratio R) [--dims language,domain,task] [--q Q]
       [--min-keep N] [--multiple-of M] [--json]
      the units an expert on the requested dimensions loses
  prune --run RUN_DIR (--sigma S | --target-ratio R) --out DIR [plan options] [--overwrite]
      write the pruned expert model, and check it against the original with the units zeroed
  verify PRUNED_DIR --run RUN_DIR
      check a pruned model against the run's original with the same units zeroed
options:
  -h, --help     show this help
  -v, --version  show the version`;

class UsageError extends Error {}

const PLAN_OPTIONS = {
  run: { type: 'string' },
  sigma: { type: 'string' },
  'target-ratio': { type: 'string' },
  dims: { type: 'string' },
  q: { type: 'string' },
  'min-keep': { type: 'string' },
  'multiple-of': { type: 'string' }
} as const;

function parse<T extends NonNullable<ParseArgsConfig['options']>>(
  args: string[],
  options: T
) {
  try {
    return parseArgs({ args, allowPositionals: true, options, strict: true });
  } catch (error) {
    throw new UsageError(
      error instanceof Error ? error.message : String(error)
    );
  }
}

function number(name: string, value: string | undefined): number | undefined {
  if (value === undefined) {
    return undefined;
  }
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) {
    throw new UsageError(`--${name} takes a number, got '${value}'`);
  }
  return n;
}

function required(name: string, value: string | undefined): string {
  if (value === undefined) {
    throw new UsageError(`--${name} is required`);
  }
  return value;
}

function planOptions(
  values: Partial<Record<keyof typeof PLAN_OPTIONS, string | undefined>>
) {
  return {
    run: required('run', values.run),
    sigma: number('sigma', values.sigma),
    targetRatio: number('target-ratio', values['target-ratio']),
    dims: values.dims?.split(',').map(d => d.trim()),
    q: number('q', values.q),
    minKeep: number('min-keep', values['min-keep']),
    multipleOf: number('multiple-of', values['multiple-of'])
  };
}

export async function run(
  argv: string[]
): Promise<{ stdout: string; code: number }> {
  const [command, ...rest] = argv;
  if (
    command === undefined ||
    command === '-h' ||
    command === '--help' ||
    command === 'help'
  ) {
    return { stdout: `${USAGE}\n`, code: command === undefined ? 2 : 0 };
  }
  if (command === '-v' || command === '--version') {
    return { stdout: `cusprun ${cusprunVersion()}\n`, code: 0 };
  }
  switch (command) {
    case 'inspect': {
      const { values, positionals } = parse(rest, {
        json: { type: 'boolean' }
      });
      if (positionals.length !== 1) {
        throw new UsageError(
          'inspect takes one MODEL (a folder with model.onnx, or a .onnx file)'
        );
      }
      return {
        stdout: inspect(positionals[0], { json: values.json ?? false }),
        code: 0
      };
    }
    case 'score': {
      const { values, positionals } = parse(rest, {
        corpus: { type: 'string' },
        run: { type: 'string' },
        batch: { type: 'string' },
        threads: { type: 'string' },
        'score-form': { type: 'string' }
      });
      if (positionals.length !== 1) {
        throw new UsageError(
          'score takes one MODEL (a folder with model.onnx, or a .onnx file)'
        );
      }
      const scoreForm = values['score-form'] ?? 'paper';
      if (scoreForm !== 'paper' && scoreForm !== 'code') {
        throw new UsageError(
          `--score-form is 'paper' or 'code', got '${scoreForm}'`
        );
      }
      const progress = progressPrinter(process.stderr);
      const { summary, record } = await runScoreJob({
        model: positionals[0],
        corpus: required('corpus', values.corpus),
        run: required('run', values.run),
        batchSize: number('batch', values.batch),
        threads: number('threads', values.threads),
        scoreForm,
        onProgress: p => progress.update(p)
      });
      progress.end();
      const truncated = record.corpus.dimensions
        .filter(d => d.truncated > 0)
        .map(
          d =>
            `${d.truncated} ${d.dimension} documents were cut to ${record.corpus.truncation} tokens\n`
        );
      return {
        stdout: `scored ${summary.scored} documents (${summary.tokens.toLocaleString('en-US')} tokens) in ${summary.seconds.toFixed(1)} s; ${summary.skipped} were already scored\n${truncated.join('')}`,
        code: 0
      };
    }
    case 'plan': {
      const { values, positionals } = parse(rest, {
        ...PLAN_OPTIONS,
        json: { type: 'boolean' }
      });
      if (positionals.length) {
        throw new UsageError(
          `plan takes no positional arguments, got '${positionals[0]}'`
        );
      }
      const plan = runPlanJob(planOptions(values));
      return {
        stdout: values.json
          ? `${JSON.stringify(plan, null, 2)}\n`
          : formatPlan(plan),
        code: 0
      };
    }
    case 'prune': {
      const { values, positionals } = parse(rest, {
        ...PLAN_OPTIONS,
        out: { type: 'string' },
        overwrite: { type: 'boolean' }
      });
      if (positionals.length) {
        throw new UsageError(
          `prune takes no positional arguments, got '${positionals[0]}'`
        );
      }
      const result = await runPruneJob({
        ...planOptions(values),
        out: required('out', values.out),
        overwrite: values.overwrite ?? false
      });
      return {
        stdout: `${formatPlan(result.plan)}wrote ${result.written.dir} (${(result.written.bytesAfter / 2 ** 20).toFixed(2)} MiB, was ${(result.written.bytesBefore / 2 ** 20).toFixed(2)} MiB); max |logit difference| to the original with the units zeroed: ${result.maxAbsDiff.toExponential(2)}\n`,
        code: 0
      };
    }
    case 'verify': {
      const { values, positionals } = parse(rest, { run: { type: 'string' } });
      if (positionals.length !== 1) {
        throw new UsageError(
          'verify takes one PRUNED_DIR (a folder written by cusprun prune)'
        );
      }
      const { maxAbsDiff, tolerance } = await runVerifyJob({
        pruned: positionals[0],
        run: required('run', values.run)
      });
      return {
        stdout: `ok: max |logit difference| to the original with the units zeroed is ${maxAbsDiff.toExponential(2)} (tolerance ${tolerance})\n`,
        code: 0
      };
    }
    default:
      throw new UsageError(`unknown command '${command}'`);
  }
}

async function main(): Promise<void> {
  try {
    const { stdout, code } = await run(process.argv.slice(2));
    process.stdout.write(stdout);
    process.exitCode = code;
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`cusprun: ${error.message}\n${USAGE}\n`);
      process.exitCode = 2;
    } else if (isCusprunError(error)) {
      process.stderr.write(`cusprun: ${error.message}\n`);
      process.exitCode = 1;
    } else {
      throw error;
    }
  }
}

if (require.main === module) {
  void main();
}
