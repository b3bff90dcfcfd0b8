/**
 * A study's chart: each variant's value on one evaluation set and metric (the expert set's
 * perplexity, by default the first), one panel per target ratio, one point per seed, colour
 * telling plain from bias-compensated; the dense model's value is in the subtitle.
 */
import {
  EvalMetric,
  COMPENSATIONS,
  StudyRecord,
  studyLabel
} from '../experiment';
import { formatMetric } from '../format';
import {
  ChartOptions,
  nonEmpty,
  SERIES_COLORS,
  topLevel,
  VegaLiteSpec
} from './spec';

export function studySpec(
  record: StudyRecord,
  options: ChartOptions = {}
): VegaLiteSpec {
  const first: EvalMetric | undefined = record.dense[0];
  nonEmpty(first ? record.rows : [], 'study rows');
  const { evalSet, metric } = first as EvalMetric;
  const values = record.rows.flatMap(row =>
    row.metrics
      .filter(m => m.evalSet === evalSet && m.metric === metric)
      .map(m => ({
        variant: studyLabel(row),
        ratio: `${Math.round(100 * (row.targetRatio ?? row.ratio))}%`,
        compensation: row.compensation,
        seed: row.seed,
        value: m.value
      }))
  );
  const title = `${evalSet} ${metric}`;
  return topLevel(
    options,
    `Study: ${title} by variant`,
    `dense ${formatMetric(metric, first?.value ?? NaN)}; one point per seed; lower perplexity, higher accuracy is better`,
    {
      data: { values },
      mark: { type: 'point', filled: true, size: 60 },
      encoding: {
        column: { field: 'ratio', type: 'nominal', title: 'target ratio' },
        x: { field: 'variant', type: 'nominal', title: null, sort: null },
        y: {
          field: 'value',
          type: 'quantitative',
          scale: { type: metric === 'perplexity' ? 'log' : 'linear' },
          title
        },
        color: {
          field: 'compensation',
          type: 'nominal',
          scale: { domain: [...COMPENSATIONS], range: SERIES_COLORS }
        },
        tooltip: [
          { field: 'variant', type: 'nominal' },
          { field: 'ratio', type: 'nominal' },
          { field: 'compensation', type: 'nominal' },
          { field: 'seed', type: 'quantitative' },
          { field: 'value', type: 'quantitative', format: '.2f' }
        ]
      },
      width: options.width ?? 320,
      height: options.height ?? 220
    }
  );
}
