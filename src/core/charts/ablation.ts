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

/** Each row with its bar's label and its colour key (1D, 2D, … or general calibration). */
function labelled(rows: readonly AblationChartRow[]) {
  const oneSigma = distinct(rows, r => r.sigma).length === 1;
  return rows.map(r => ({
    ...r,
    size: r.general ? GENERAL : `${r.dimensions.length}D`,
    // The general row's ratio and σ are its expert's: the tooltip has them.
    label: r.general
      ? ablationGeneralLabel(r.dimensions.length)
      : oneSigma
        ? `${r.dimensions.join('+')} (${formatRatio(r.ratio)})`
        : `${r.dimensions.join('+')} (σ ${formatSigma(r.sigma)}, ${formatRatio(r.ratio)})`
  }));
}

/** The colour keys in legend order: 1D, 2D, …, then general calibration when it has a row. */
function colourKeys(rows: readonly AblationChartRow[]): string[] {
  const subsets = rows.filter(r => !r.general);
  return [
    ...distinct(subsets, r => r.dimensions.length)
      .sort((a, b) => a - b)
      .map(n => `${n}D`),
    ...(subsets.length < rows.length ? [GENERAL] : [])
  ];
}

/** How to read the chart: σ (or each subset's), and what the general row removes. */
function subtitle(rows: readonly AblationChartRow[]): string {
  const sigma =
    distinct(rows, r => r.sigma).length === 1
      ? `σ = ${formatSigma(rows[0].sigma)}; each subset's pruning ratio in brackets`
      : "Each subset's σ and pruning ratio in brackets";
  return rows.some(r => r.general)
    ? `${sigma}; general calibration removes the all-dimension expert's per-layer counts`
    : sigma;
}

/** The bars' values, one per row and metric, as the panels and tooltips read them. */
function barValues(rows: readonly AblationChartRow[]) {
  return labelled(rows).flatMap(r =>
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
}

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
  const order = labelled(rows).map(r => r.label);
  const sizes = colourKeys(rows);
  const values = barValues(rows);
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
  return topLevel(options, 'Ablation over dimension subsets', subtitle(rows), {
    concat: panels,
    columns: Math.min(panels.length, 3),
    resolve: { scale: { color: 'shared' } }
  });
}
