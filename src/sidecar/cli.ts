/**
 * The `cusprun` command line. A mistake in the user's input prints one line and exits 1; a
 * usage mistake exits 2; only a bug shows a stack trace.
 */
import { parseArgs, ParseArgsConfig } from 'node:util';
import { isCusprunError } from '../engine/errors';
import { inspect } from './commands/inspect';
import { formatPlan } from './commands/plan';
import { progressLines, progressPrinter } from './commands/progress';
import { runPlanJob } from './jobs/plan';
import { runPruneJob, runVerifyJob } from './jobs/prune';
import { runScoreJob } from './jobs/score';
import { runAblateJob } from './jobs/ablate';
import { runEvalJob } from './jobs/eval';
import { runSweepJob } from './jobs/sweep';
import { writeFileAtomic } from './atomic';
import { METHODS, parseGrid, parseMethods } from '../engine/experiment';
import {
  ablationCharts,
  ablationCsv,
  ablationTable,
  evalCsv,
  evalTable,
  planCharts,
  sweepCharts,
  sweepCsv,
  sweepTable,
  writeCharts
} from './commands/experiment';
import { cusprunVersion } from './run-folder';
import { serve } from './server/server';

const USAGE = `usage: cusprun <command> [options]

commands:
  inspect MODEL [--json]
      map an ONNX decoder export (a folder with model.onnx, or a .onnx file): family, layers,
      prunable units and parameters, blockers
  score MODEL --corpus MANIFEST --run RUN_DIR [--batch N] [--threads N] [--score-form paper|code]
      score every unit on the corpus manifest's documents into the run folder (resumes)
  plan --run RUN_DIR (--sigma S | --target-ratio R) [--dims language,domain,task] [--q Q]
       [--min-keep N] [--multiple-of M] [--json] [--charts DIR]
      the units an expert on the requested dimensions loses
  prune --run RUN_DIR (--sigma S | --target-ratio R) --out DIR [plan options] [--overwrite]
      write the pruned expert model, and check it against the original with the units zeroed
  verify PRUNED_DIR --run RUN_DIR
      check a pruned model against the run's original with the same units zeroed
  eval MODEL [MODEL ...] --eval SET [--eval SET ...] [--prompts FILE [--max-new-tokens N]]
       [--latency] [eval options]
      perplexity and multiple-choice accuracy of model files (dense or pruned), side by side
  sweep --run RUN_DIR (--sigma GRID | --target-ratios GRID) --eval SET ... [--methods LIST]
        [--seed N] [plan options] [eval options] [--charts DIR]
      build the expert and the baselines in memory at every grid point and evaluate them;
      GRID is START:STOP:STEP or a comma-separated list; methods: cus-prun, random,
      magnitude, general, wanda (default: all)
  ablate --run RUN_DIR --target-ratio R --eval SET ... [plan options] [eval options]
         [--charts DIR]
      an expert on each non-empty subset of the dimensions (7 for three), σ solved per subset
  serve [--store DIR] [--port N] [--ignore-stdin]
      the sidecar service for JupyterLab and notebooks: HTTP + WebSocket on 127.0.0.1 (a free
      port unless --port), runs kept in the run store (--store, else CUSPRUN_STORE, else
      .cusprun); prints one JSON line with its port (and its token, unless CUSPRUN_TOKEN set it)
      when ready; stops on SIGTERM or when stdin closes (--ignore-stdin: not then)
eval options:
  --eval SET         an evaluation set: FILE or NAME=FILE (.jsonl of {"text"} for perplexity,
                     of {"question", "choices", "answer"} for multiple choice; .txt blocks)
  --truncation N     tokens per document or question + choice (default 128)
  --threads N        onnxruntime intra-op threads
  --json FILE, --csv FILE   also write the results there
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

const EVAL_OPTIONS = {
  eval: { type: 'string', multiple: true },
  truncation: { type: 'string' },
  threads: { type: 'string' },
  json: { type: 'string' },
  csv: { type: 'string' }
} as const;

function evalOptions(values: {
  eval?: string[];
  truncation?: string;
  threads?: string;
}) {
  if (!values.eval?.length) {
    throw new UsageError(
      '--eval SET is required (at least one evaluation set)'
    );
  }
  return {
    evalSets: values.eval,
    truncation: number('truncation', values.truncation),
    threads: number('threads', values.threads)
  };
}

/** Writes the JSON and CSV files asked for; returns the lines that say so. */
function writeRequested(
  values: { json?: string; csv?: string },
  json: unknown,
  csv: () => string
): string {
  const lines: string[] = [];
  if (values.json) {
    writeFileAtomic(values.json, `${JSON.stringify(json, null, 1)}\n`);
    lines.push(`wrote ${values.json}`);
  }
  if (values.csv) {
    writeFileAtomic(values.csv, csv());
    lines.push(`wrote ${values.csv}`);
  }
  return lines.map(l => `${l}\n`).join('');
}

function noPositionals(command: string, positionals: string[]): void {
  if (positionals.length) {
    throw new UsageError(
      `${command} takes no positional arguments, got '${positionals[0]}'`
    );
  }
}

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
        json: { type: 'boolean' },
        charts: { type: 'string' }
      });
      noPositionals('plan', positionals);
      const view = runPlanJob(planOptions(values));
      const charts = values.charts
        ? await writeCharts(values.charts, planCharts(view))
        : [];
      // --json keeps stdout pure JSON for scripts; the chart files are listed on stderr.
      charts.forEach(c => process.stderr.write(`wrote ${c}\n`));
      return {
        stdout: values.json
          ? `${JSON.stringify(view.plan, null, 2)}\n`
          : formatPlan(view.plan),
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
    case 'eval': {
      const { values, positionals } = parse(rest, {
        ...EVAL_OPTIONS,
        prompts: { type: 'string' },
        'max-new-tokens': { type: 'string' },
        latency: { type: 'boolean' }
      });
      if (positionals.length === 0) {
        throw new UsageError(
          'eval takes one MODEL or more (folders or .onnx files)'
        );
      }
      const results = await runEvalJob({
        models: positionals,
        ...evalOptions(values),
        prompts: values.prompts,
        maxNewTokens: number('max-new-tokens', values['max-new-tokens']),
        latency: values.latency ?? false
      });
      return {
        stdout: `${evalTable(results)}\n${writeRequested(values, results, () => evalCsv(results))}`,
        code: 0
      };
    }
    case 'sweep': {
      const { values, positionals } = parse(rest, {
        ...PLAN_OPTIONS,
        ...EVAL_OPTIONS,
        'target-ratios': { type: 'string' },
        methods: { type: 'string' },
        seed: { type: 'string' },
        charts: { type: 'string' }
      });
      noPositionals('sweep', positionals);
      if (values['target-ratio'] !== undefined) {
        throw new UsageError(
          'sweep takes a grid: --target-ratios R1,R2,… (or --sigma)'
        );
      }
      const sigma = values.sigma;
      const ratios = values['target-ratios'];
      if ((sigma === undefined) === (ratios === undefined)) {
        throw new UsageError(
          'give a σ grid (--sigma) or a target-ratio grid (--target-ratios)'
        );
      }
      const progress = progressLines(process.stderr);
      const scoring = progressPrinter(process.stderr);
      const { record, file } = await runSweepJob({
        // σ here is a grid, read below; the plan options are the rest.
        ...planOptions({ ...values, sigma: undefined }),
        ...evalOptions(values),
        grid:
          sigma !== undefined
            ? { sigmas: parseGrid(sigma, '--sigma') }
            : { targetRatios: parseGrid(ratios as string, '--target-ratios') },
        methods: parseMethods(values.methods ?? METHODS.join(',')),
        seed: number('seed', values.seed),
        onScoreProgress: p => scoring.update(p),
        onPoint: p =>
          progress(
            `${p.method} at σ ${p.sigma.toFixed(4)} (ratio ${(100 * p.ratio).toFixed(2)}%)${p.cached ? ', from cache' : ''}`
          )
      });
      const charts = values.charts
        ? await writeCharts(values.charts, sweepCharts(record))
        : [];
      return {
        stdout: `${sweepTable(record)}\nkept in ${file}\n${charts.map(c => `wrote ${c}\n`).join('')}${writeRequested(values, record, () => sweepCsv(record))}`,
        code: 0
      };
    }
    case 'ablate': {
      const { values, positionals } = parse(rest, {
        ...PLAN_OPTIONS,
        ...EVAL_OPTIONS,
        charts: { type: 'string' }
      });
      noPositionals('ablate', positionals);
      if (values.sigma !== undefined) {
        throw new UsageError(
          'ablate solves σ per subset: give --target-ratio, not --sigma'
        );
      }
      const progress = progressLines(process.stderr);
      const options = planOptions(values);
      const { record, file } = await runAblateJob({
        ...options,
        ...evalOptions(values),
        targetRatio: number(
          'target-ratio',
          required('target-ratio', values['target-ratio'])
        ) as number,
        onRow: r =>
          progress(
            `${r.dimensions.join('+')}: ${r.unreachable ? 'unreachable' : `σ ${r.sigma?.toFixed(4)}, ratio ${(100 * (r.ratio ?? 0)).toFixed(2)}%`}${r.cached ? ', from cache' : ''}`
          )
      });
      const charts = values.charts
        ? await writeCharts(values.charts, ablationCharts(record))
        : [];
      return {
        stdout: `${ablationTable(record)}\nkept in ${file}\n${charts.map(c => `wrote ${c}\n`).join('')}${writeRequested(values, record, () => ablationCsv(record))}`,
        code: 0
      };
    }
    case 'serve': {
      const { values, positionals } = parse(rest, {
        store: { type: 'string' },
        port: { type: 'string' },
        'ignore-stdin': { type: 'boolean' }
      });
      noPositionals('serve', positionals);
      const port = number('port', values.port);
      if (
        port !== undefined &&
        !(Number.isInteger(port) && port >= 0 && port < 65536)
      ) {
        throw new UsageError(
          `--port takes a port number (0-65535), got '${values.port}'`
        );
      }
      // The ready line goes out as soon as the server listens, not at the end.
      await serve({
        store: values.store,
        port,
        watchStdin: !values['ignore-stdin']
      });
      return { stdout: '', code: 0 };
    }
    default:
      throw new UsageError(`unknown command '${command}'`);
  }
}

/** Runs the command line in process.argv: the entry of `node cli.js` and of the bin shim. */
export async function main(): Promise<void> {
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
