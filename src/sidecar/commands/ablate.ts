import { formatRatio, formatSigma } from '../../core/format';
import { ablationCharts } from '../../core/charts';
import {
  ablationCsv,
  ablationTable,
  baselineNote,
  compensationNote,
  writeCharts
} from '../format/experiment';
import { progressLines } from '../format/progress';
import { AblateJob, runAblateJob, runAblateShard } from '../jobs/ablate';
import { numberValue, positionalCount, requiredValue } from './args';
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

const { sigma: _sigma, ...ABLATE_PLAN_OPTIONS } = PLAN_OPTIONS;

export default defineCommand({
  name: 'ablate',
  synopsis: 'ablate --run RUN_DIR --target-ratio R --eval SET ... [options]',
  summary:
    "an expert on each non-empty subset of the dimensions (7 for three) at the same ratio, σ\nsolved per subset, and general calibration at the all-dimension expert's per-layer counts,\nevaluated side by side; kept in the run folder (ablations/)",
  options: {
    ...ABLATE_PLAN_OPTIONS,
    ...EVAL_OPTIONS,
    ...BASELINE_OPTIONS,
    ...compensationOption('none'),
    charts: {
      type: 'string',
      value: 'DIR',
      help: 'write its charts there (Vega-Lite + SVG)'
    },
    ...pointsOption(
      'ablation',
      'e = 0 the dense model, then each subset of the dimensions, smallest first, then general calibration'
    )
  },
  hints: {
    sigma: 'ablate solves σ per subset: give --target-ratio, not --sigma'
  },
  run: async ({ values, positionals }) => {
    positionalCount(
      'ablate',
      positionals,
      { min: 0, max: 0 },
      'no positional arguments'
    );
    checkRequested(values);
    const progress = progressLines(process.stderr);
    const job: AblateJob = {
      ...expertOptions(values),
      ...evalOptions(values),
      targetRatio: numberValue(
        'target-ratio',
        requiredValue('target-ratio', values['target-ratio'], 'R')
      ) as number,
      baselineRun: values['baseline-run'],
      compensation: compensationValue(values.compensation),
      onRow: r =>
        progress(
          `${r.dimensions.join('+')}: ${r.unreachable ? 'unreachable' : `σ ${formatSigma(r.sigma)}, ratio ${formatRatio(r.ratio)}`}${r.cached ? ', from cache' : ''}`
        )
    };
    const shard = pointsShard('ablation', values);
    if (shard) {
      return shardLine('ablation', shard, await runAblateShard(job, shard));
    }
    const { record, file } = await runAblateJob(job);
    const charts = values.charts
      ? await writeCharts(values.charts, ablationCharts(record))
      : [];
    return `${ablationTable(record)}\n${compensationNote(record)}${baselineNote(record)}kept in ${file}\n${wroteLines(charts)}${writeRequested(values, record, () => ablationCsv(record))}`;
  }
});
