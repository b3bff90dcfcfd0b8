import { formatRatio, formatSigma } from '../../core/format';
import { sweepCharts } from '../../core/charts';
import { METHODS, parseMethods } from '../../core/experiment';
import { parseGrid } from '../../core/grid';
import { progressLines, progressPrinter } from '../format/progress';
import {
  baselineNote,
  compensationNote,
  sweepCsv,
  sweepTable,
  writeCharts
} from '../format/experiment';
import { runSweepJob, runSweepShard, SweepJob } from '../jobs/sweep';
import { numberValue, positionalCount, UsageError } from './args';
import { defineCommand } from './command';
import { checkRequested, writeRequested, wroteLines } from './outputs';
import { pointsOption, pointsShard, shardLine } from './points';
import {
  BASELINE_OPTIONS,
  compensationOption,
  compensationValue,
  EVAL_OPTIONS,
  evalOptions,
  PLAN_OPTIONS,
  expertOptions
} from './shared-options';

const { 'target-ratio': _single, ...SWEEP_PLAN_OPTIONS } = PLAN_OPTIONS;

export default defineCommand({
  name: 'sweep',
  synopsis:
    'sweep --run RUN_DIR (--sigma GRID | --target-ratios GRID) --eval SET ... [options]',
  summary:
    'build the expert and the baselines in memory at every grid point and evaluate them; the\nresult is kept in the run folder (sweeps/). GRID is START:STOP:STEP or v1,v2,…',
  options: {
    ...SWEEP_PLAN_OPTIONS,
    ...EVAL_OPTIONS,
    ...BASELINE_OPTIONS,
    sigma: {
      type: 'string',
      value: 'GRID',
      help: 'a σ grid, each value in (0, 1)'
    },
    'target-ratios': {
      type: 'string',
      value: 'GRID',
      help: 'a grid of target ratios, σ solved for each'
    },
    methods: {
      type: 'string',
      value: 'LIST',
      help: `comma-separated, of ${METHODS.join(', ')} (default: all)`
    },
    seed: { type: 'string', value: 'N', help: 'seed of the random baseline' },
    ...compensationOption('none'),
    charts: {
      type: 'string',
      value: 'DIR',
      help: 'write its charts there (Vega-Lite + SVG)'
    },
    ...pointsOption(
      'sweep',
      "e = 0 the dense model, then each grid value's methods in order"
    )
  },
  hints: {
    'target-ratio':
      'sweep takes a grid: --target-ratios R1,R2,… (or --sigma GRID)'
  },
  run: async ({ values, positionals }) => {
    positionalCount(
      'sweep',
      positionals,
      { min: 0, max: 0 },
      'no positional arguments'
    );
    checkRequested(values);
    const { sigma, 'target-ratios': ratios } = values;
    if ((sigma === undefined) === (ratios === undefined)) {
      throw new UsageError(
        'give a σ grid (--sigma GRID) or a target-ratio grid (--target-ratios GRID), one of the two'
      );
    }
    const grid =
      sigma !== undefined
        ? { sigmas: parseGrid(sigma, '--sigma') }
        : { targetRatios: parseGrid(ratios as string, '--target-ratios') };
    const progress = progressLines(process.stderr);
    const scoring = progressPrinter(process.stderr);
    const job: SweepJob = {
      // σ here is a grid, read above; the plan options are the rest.
      ...expertOptions(values),
      ...evalOptions(values),
      grid,
      methods: parseMethods(values.methods ?? METHODS.join(',')),
      seed: numberValue('seed', values.seed),
      compensation: compensationValue(values.compensation),
      baselineRun: values['baseline-run'],
      onScoreProgress: p => scoring.update(p),
      onPoint: p =>
        progress(
          `${p.method} at σ ${formatSigma(p.sigma)} (ratio ${formatRatio(p.ratio)})${p.cached ? ', from cache' : ''}`
        )
    };
    const shard = pointsShard('sweep', values);
    if (shard) {
      return shardLine('sweep', shard, await runSweepShard(job, shard));
    }
    const { record, file } = await runSweepJob(job);
    const charts = values.charts
      ? await writeCharts(values.charts, sweepCharts(record))
      : [];
    return `${sweepTable(record)}\n${compensationNote(record)}${baselineNote(record)}kept in ${file}\n${wroteLines(charts)}${writeRequested(values, record, () => sweepCsv(record))}`;
  }
});
