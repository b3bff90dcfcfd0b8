import {
  ChartOptions,
  KIND_LABELS,
  nonEmpty,
  SERIES_COLORS,
  topLevel,
  VegaLiteSpec
} from './spec';
import { GroupCount } from './types';

/** The share of each layer's units a plan removes, FFN channels and attention groups side by side. */
export function layersSpec(
  layers: readonly GroupCount[],
  options: ChartOptions = {}
): VegaLiteSpec {
  nonEmpty(layers, 'layers');
  const kinds = [KIND_LABELS.ffn, KIND_LABELS.attention];
  const values = layers.map(l => ({
    layer: l.layer,
    kind: KIND_LABELS[l.kind],
    units: l.units,
    pruned: l.pruned,
    share: l.units === 0 ? 0 : l.pruned / l.units
  }));
  return topLevel(
    options,
    'Pruned units per layer',
    'Share of each layer’s units removed, per unit kind',
    {
      // Without a width, each layer gets a fixed step, so deep models widen the chart rather
      // than squeeze their bars.
      width: options.width ?? { step: 28 },
      height: options.height ?? 200,
      data: { values },
      mark: 'bar',
      encoding: {
        x: {
          field: 'layer',
          type: 'ordinal',
          axis: { labelAngle: 0 },
          title: 'layer'
        },
        xOffset: { field: 'kind', type: 'nominal', sort: kinds },
        y: {
          field: 'share',
          type: 'quantitative',
          // A fixed 0–100% keeps the axis still while the panel's σ slider moves the bars.
          scale: { domain: [0, 1] },
          axis: { format: '.0%' },
          title: 'units removed'
        },
        color: {
          field: 'kind',
          type: 'nominal',
          scale: { domain: kinds, range: SERIES_COLORS },
          title: null
        },
        tooltip: [
          { field: 'layer', type: 'ordinal' },
          { field: 'kind', type: 'nominal' },
          { field: 'pruned', type: 'quantitative', title: 'removed' },
          { field: 'units', type: 'quantitative', title: 'of' },
          { field: 'share', type: 'quantitative', format: '.1%' }
        ]
      }
    }
  );
}
