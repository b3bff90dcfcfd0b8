import {
  ChartOptions,
  distinct,
  nonEmpty,
  topLevel,
  VegaLiteSpec
} from './spec';
import { ablationGeneralLabel } from '../experiment';
import { formatRatio, formatSigma } from '../format';
import { AblationChartRow } from './types';

/** The general row's colour key, after the subsets' 1D, 2D, …: its legend entry. */
const GENERAL = 'general calibration';

/**
 * The dimension ablation: one bar per dimension subset (L, D, T, L+D, …) in the order given, one
 * panel per eval set and metric, bars coloured by how many dimensions the subset intersects, and
 * general calibration at the all-dimension expert's counts in a colour of its own: on the
 * expert's set it shows what the expert gains, on the other sets what it gives up.
 * Each subset's label carries its pruning ratio (and its σ when the rows differ in σ), since
 * at one σ fewer dimensions prune more and the bars are only comparable with that in view.
 */
export function ablationSpec(
  rows: readonly AblationChartRow[],
  options: ChartOptions = {}
): VegaLiteSpec {
  nonEmpty(rows, 'ablation rows');
  const oneSigma = distinct(rows, r => r.sigma).length === 1;
  const labelled = rows.map(r => ({
    ...r,
    size: r.general ? GENERAL : `${r.dimensions.length}D`,
    // The general row's ratio and σ are its expert's: the tooltip has them.
    label: r.general
      ? ablationGeneralLabel(r.dimensions.length)
      : oneSigma
        ? `${r.dimensions.join('+')} (${formatRatio(r.ratio)})`
        : `${r.dimensions.join('+')} (σ ${formatSigma(r.sigma)}, ${formatRatio(r.ratio)})`
  }));
  const order = labelled.map(r => r.label);
  const sizes = [
    ...distinct(
      rows.filter(r => !r.general),
      r => r.dimensions.length
    )
      .sort((a, b) => a - b)
      .map(n => `${n}D`),
    ...(rows.some(r => r.general) ? [GENERAL] : [])
  ];
  const values = labelled.flatMap(r =>
    r.metrics.map(m => ({
      subset: r.label,
      dimensions: r.general
        ? `general calibration at the counts of ${r.dimensions.join(' + ')}`
        : r.dimensions.join(' + '),
      size: r.size,
      sigma: r.sigma,
      ratio: r.ratio,
      evalSet: m.evalSet,
      metric: m.metric,
      value: m.value
    }))
  );
  const panels = distinct(values, v =>
    JSON.stringify([v.evalSet, v.metric])
  ).map(key => {
    const [evalSet, metric] = JSON.parse(key) as [string, string];
    return {
      title: `${evalSet} · ${metric}`,
      width: options.width ?? { step: 34 },
      height: options.height ?? 200,
      data: {
        values: values.filter(v => v.evalSet === evalSet && v.metric === metric)
      },
      mark: 'bar',
      encoding: {
        x: {
          field: 'subset',
          type: 'nominal',
          sort: order,
          axis: { labelAngle: -45 },
          title: 'dimensions (pruning ratio)'
        },
        y: { field: 'value', type: 'quantitative', title: metric },
        color: {
          field: 'size',
          type: 'nominal',
          scale: { domain: sizes },
          title: 'calibration'
        },
        tooltip: [
          { field: 'dimensions', type: 'nominal' },
          { field: 'sigma', type: 'quantitative', title: 'σ', format: '.3f' },
          { field: 'ratio', type: 'quantitative', format: '.2%' },
          { field: 'value', type: 'quantitative', title: metric, format: '.4' }
        ]
      }
    };
  });
  return topLevel(
    options,
    'Ablation over dimension subsets',
    `${
      oneSigma
        ? `σ = ${formatSigma(rows[0].sigma)}; each subset's pruning ratio in brackets`
        : "Each subset's σ and pruning ratio in brackets"
    }${rows.some(r => r.general) ? "; general calibration removes the all-dimension expert's per-layer counts" : ''}`,
    {
      concat: panels,
      columns: Math.min(panels.length, 3),
      resolve: { scale: { color: 'shared' } }
    }
  );
}
