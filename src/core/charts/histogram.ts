import {
  ChartOptions,
  distinct,
  KIND_LABELS,
  nonEmpty,
  SIGMA_COLOR,
  topLevel,
  VegaLiteSpec
} from './spec';
import { formatSigma } from '../format';
import { RankHistogram } from './types';

/**
 * Per-dimension relevance histograms: one panel per dimension (columns) and unit kind (rows),
 * bars over the normalised deciding rank, a rule at x = σ. Bars show the share of the kind's
 * units rather than counts, so FFN channels (thousands) and attention groups (dozens) share one
 * y scale.
 */
export function histogramSpec(
  histogram: RankHistogram,
  options: ChartOptions = {}
): VegaLiteSpec {
  nonEmpty(histogram.series, 'histogram series');
  const { sigma, bins } = histogram;
  const values = histogram.series.flatMap(({ dimension, kind, counts }) => {
    const total = counts.reduce((a, b) => a + b, 0);
    return counts.map((count, i) => ({
      dimension,
      kind: KIND_LABELS[kind],
      x0: i / bins,
      x1: (i + 1) / bins,
      count,
      share: total === 0 ? 0 : count / total,
      sigma
    }));
  });
  return topLevel(
    options,
    `Deciding ranks per dimension (σ = ${formatSigma(sigma)})`,
    'Units left of the red line are irrelevant to that dimension at σ',
    {
      data: { values },
      facet: {
        column: {
          field: 'dimension',
          type: 'nominal',
          title: null,
          sort: distinct(histogram.series, s => s.dimension)
        },
        row: {
          field: 'kind',
          type: 'nominal',
          title: null,
          sort: distinct(histogram.series, s => KIND_LABELS[s.kind])
        }
      },
      spec: {
        width: options.width ?? 180,
        height: options.height ?? 120,
        layer: [
          {
            mark: 'bar',
            encoding: {
              x: {
                field: 'x0',
                type: 'quantitative',
                bin: { binned: true, step: 1 / bins },
                scale: { domain: [0, 1] },
                axis: { values: [0, 0.25, 0.5, 0.75, 1], format: '.2f' },
                title: 'deciding rank / units'
              },
              x2: { field: 'x1' },
              y: {
                field: 'share',
                type: 'quantitative',
                axis: { format: '.0%' },
                title: 'share of units'
              },
              tooltip: [
                { field: 'dimension', type: 'nominal' },
                { field: 'kind', type: 'nominal' },
                {
                  field: 'x0',
                  type: 'quantitative',
                  title: 'from',
                  format: '.3f'
                },
                {
                  field: 'x1',
                  type: 'quantitative',
                  title: 'to',
                  format: '.3f'
                },
                { field: 'count', type: 'quantitative', title: 'units' },
                { field: 'share', type: 'quantitative', format: '.1%' }
              ]
            }
          },
          {
            // One rule per panel: the aggregate groups by the facet fields.
            mark: { type: 'rule', color: SIGMA_COLOR, strokeWidth: 2 },
            encoding: {
              x: { field: 'sigma', type: 'quantitative', aggregate: 'max' },
              description: { value: `σ = ${formatSigma(sigma)}` },
              tooltip: [
                {
                  field: 'sigma',
                  type: 'quantitative',
                  aggregate: 'max',
                  title: 'σ'
                }
              ]
            }
          }
        ]
      }
    }
  );
}
