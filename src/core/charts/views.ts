/**
 * The charts of each view a user looks at — a plan, a σ sweep, an ablation, a study — by name, built from
 * the same records everywhere: the CLI's --charts files, the sidecar's chart answers, the
 * notebook outputs and the panel.
 */
import {
  shownAblationRows,
  type AblationRecord,
  type EvalMetric,
  type StudyRecord,
  type SweepRecord
} from '../experiment';
import type { PlanView } from '../plan-view';
import { ablationSpec } from './ablation';
import { histogramSpec } from './histogram';
import { layersSpec } from './layers';
import type { VegaLiteSpec } from './spec';
import { studySpec } from './study';
import { metricSweepSpec, ratioSweepSpec } from './sweep';
import type { AblationChartRow, MetricPoint } from './types';

/** Every method starts from the dense model at ratio 0. */
export function sweepMetricPoints(record: SweepRecord): MetricPoint[] {
  const point = (
    method: string,
    sigma: number,
    ratio: number,
    m: EvalMetric
  ) => ({
    method,
    sigma,
    ratio,
    evalSet: m.evalSet,
    metric: m.metric,
    value: m.value
  });
  return [
    ...record.methods.flatMap(method =>
      record.dense.map(m => point(method, 0, 0, m))
    ),
    ...record.points.flatMap(p =>
      p.metrics.map(m => point(p.method, p.sigma, p.ratio, m))
    )
  ];
}

export function ablationChartRows(record: AblationRecord): AblationChartRow[] {
  return shownAblationRows(record)
    .filter(({ row }) => !row.unreachable)
    .map(({ row: r, general }) => ({
      dimensions: r.dimensions,
      ...(general ? { general } : {}),
      sigma: r.sigma as number,
      ratio: r.ratio as number,
      metrics: r.metrics.map(({ evalSet, metric, value }) => ({
        evalSet,
        metric,
        value
      }))
    }));
}

export function sweepCharts(record: SweepRecord): Record<string, VegaLiteSpec> {
  return {
    'ratio-vs-sigma': ratioSweepSpec(record.ratios),
    'metrics-vs-ratio': metricSweepSpec(sweepMetricPoints(record))
  };
}

/** The plan's chart of the dimensions' deciding ranks, σ marked. */
export const HISTOGRAM_CHART = 'relevance-histogram';

export function planCharts(view: PlanView): Record<string, VegaLiteSpec> {
  return {
    [HISTOGRAM_CHART]: histogramSpec(view.histogram),
    'ratio-vs-sigma': ratioSweepSpec(view.ratios),
    'pruned-per-layer': layersSpec(view.layers)
  };
}

export function ablationCharts(
  record: AblationRecord
): Record<string, VegaLiteSpec> {
  return { ablation: ablationSpec(ablationChartRows(record)) };
}

export function studyCharts(record: StudyRecord): Record<string, VegaLiteSpec> {
  return { study: studySpec(record) };
}
