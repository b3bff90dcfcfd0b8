import {
  ChartOptions,
  distinct,
  KIND_LABELS,
  nonEmpty,
  SERIES_COLORS,
  SIGMA_COLOR,
  topLevel,
  VegaLiteSpec
} from './spec';
import { formatSigma } from '../format';
import { MetricPoint, RatioSweep } from './types';

const OVERALL = 'overall';

/** Ratio against σ: overall, within FFN channels and within attention groups. */
export function ratioSweepSpec(
  sweep: RatioSweep,
  options: ChartOptions = {}
): VegaLiteSpec {
  nonEmpty(sweep.points, 'σ sweep points');
  const series = [KIND_LABELS.ffn, KIND_LABELS.attention, OVERALL];
  const values = sweep.points.flatMap(p => [
    { sigma: p.sigma, series: OVERALL, ratio: p.ratio },
    { sigma: p.sigma, series: KIND_LABELS.ffn, ratio: p.ffnRatio },
    { sigma: p.sigma, series: KIND_LABELS.attention, ratio: p.attentionRatio }
  ]);
  const encoding = {
    x: {
      field: 'sigma',
      type: 'quantitative',
      scale: { domain: [0, 1] },
      title: 'σ'
    },
    y: {
      field: 'ratio',
      type: 'quantitative',
      axis: { format: '.0%' },
      title: 'parameters removed'
    },
    color: {
      field: 'series',
      type: 'nominal',
      scale: { domain: series, range: SERIES_COLORS },
      title: null
    },
    tooltip: [
      { field: 'series', type: 'nominal', title: 'of' },
      { field: 'sigma', type: 'quantitative', title: 'σ', format: '.3f' },
      { field: 'ratio', type: 'quantitative', format: '.2%' }
    ]
  };
  const layer: Record<string, unknown>[] = [
    { mark: 'line', encoding },
    { mark: { type: 'point', filled: true }, encoding }
  ];
  if (sweep.sigma !== undefined) {
    layer.push({
      data: { values: [{ sigma: sweep.sigma }] },
      mark: { type: 'rule', color: SIGMA_COLOR, strokeWidth: 2 },
      encoding: {
        x: { field: 'sigma', type: 'quantitative' },
        description: { value: `σ = ${formatSigma(sweep.sigma)}` },
        tooltip: [{ field: 'sigma', type: 'quantitative', title: 'σ in use' }]
      }
    });
  }
  return topLevel(
    options,
    'Pruning ratio against σ',
    sweep.sigma === undefined
      ? 'Share of parameters removed, overall and within each unit kind'
      : `Share of parameters removed, overall and within each unit kind; the red line is σ = ${sweep.sigma}`,
    {
      width: options.width ?? 360,
      height: options.height ?? 220,
      data: { values },
      layer
    }
  );
}

/** Perplexity spans orders of magnitude between methods: it reads best on a log scale. */
function logScaled(metric: string): boolean {
  return /perplexity|^ppl$/i.test(metric);
}

/**
 * Log-axis ticks at 1, 2 and 5 times powers of ten within the data. A nice log domain jumps to
 * whole decades (perplexities of 20–150 get an axis of 10–1000), and without it Vega's own
 * ticks crowd and drop the labels near the top. Undefined, leaving it to Vega, when fewer
 * than two such ticks fall inside.
 */
function logTicks(values: readonly number[]): number[] | undefined {
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const ticks: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.log10(hi); e++) {
    for (const m of [1, 2, 5]) {
      const tick = Number((m * 10 ** e).toPrecision(1));
      if (tick >= lo && tick <= hi) {
        ticks.push(tick);
      }
    }
  }
  return ticks.length >= 2 ? ticks : undefined;
}

function yScale(metric: string, values: number[]): Record<string, unknown> {
  if (!logScaled(metric)) {
    return { scale: { zero: false } };
  }
  const ticks = logTicks(values);
  return {
    scale: { type: 'log', nice: false, padding: 8 },
    ...(ticks ? { axis: { values: ticks } } : {})
  };
}

/**
 * Metric against pruning ratio, one line per method and one panel per eval set and metric.
 * Panels are concatenated, not faceted, because a facet cannot give one panel a log scale and
 * another a linear one; an explicit colour domain keeps each method's colour across panels.
 */
export function metricSweepSpec(
  points: readonly MetricPoint[],
  options: ChartOptions = {}
): VegaLiteSpec {
  nonEmpty(points, 'metric points');
  const methods = distinct(points, p => p.method);
  const panels = distinct(points, p =>
    JSON.stringify([p.evalSet, p.metric])
  ).map(key => {
    const [evalSet, metric] = JSON.parse(key) as [string, string];
    const values = points
      .filter(p => p.evalSet === evalSet && p.metric === metric)
      .map(p => ({
        method: p.method,
        // Only some methods have a σ: a text field shows a dash for the others.
        sigma: p.sigma === undefined ? '–' : String(p.sigma),
        ratio: p.ratio,
        value: p.value
      }));
    const encoding = {
      x: {
        field: 'ratio',
        type: 'quantitative',
        axis: { format: '.0%' },
        title: 'pruning ratio'
      },
      y: {
        field: 'value',
        type: 'quantitative',
        ...yScale(
          metric,
          values.map(v => v.value)
        ),
        title: metric
      },
      color: {
        field: 'method',
        type: 'nominal',
        scale: { domain: methods },
        title: 'method'
      },
      tooltip: [
        { field: 'method', type: 'nominal' },
        { field: 'ratio', type: 'quantitative', format: '.2%' },
        { field: 'sigma', type: 'nominal', title: 'σ' },
        { field: 'value', type: 'quantitative', title: metric, format: '.4' }
      ]
    };
    return {
      title: `${evalSet} · ${metric}`,
      width: options.width ?? 260,
      height: options.height ?? 200,
      data: { values },
      layer: [
        { mark: 'line', encoding },
        { mark: { type: 'point', filled: true }, encoding }
      ]
    };
  });
  return topLevel(
    options,
    'Quality against pruning ratio',
    'One line per method; perplexity on a log scale',
    {
      concat: panels,
      columns: Math.min(panels.length, 3),
      resolve: { scale: { color: 'shared' } }
    }
  );
}
