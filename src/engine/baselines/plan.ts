/**
 * A baseline removes as many units per layer and kind as the Cus-Prun plan it is compared
 * with, so both reach the same ratio; only which units differs.
 */
import { LayerMap, ModelMap } from '../../core/model/model-map';
import { CusprunError } from '../../core/errors';
import { LayerCuts, UnitPlan } from '../../core/model/unit-plan';

/** Per-unit values of one layer: lower means removed first. */
export interface LayerValues {
  ffn: ArrayLike<number>;
  attention: ArrayLike<number>;
}

/** The indices of the `count` lowest values, ties by index, ascending. */
export function lowest(values: ArrayLike<number>, count: number): number[] {
  const order = Array.from({ length: values.length }, (_, i) => i);
  order.sort((a, b) => values[a] - values[b] || a - b);
  return order.slice(0, count).sort((a, b) => a - b);
}

/** A value per unit of every mapped layer, in the map's layer order. */
export interface UnitValues {
  layers: LayerValues[];
}

/** A plan removing, in each layer and kind, the reference plan's count of lowest units. */
export function planLike(
  reference: UnitPlan,
  valuesOf: (layer: LayerCuts) => LayerValues
): UnitPlan {
  return {
    layers: reference.layers.map(layer => {
      const values = valuesOf(layer);
      return {
        index: layer.index,
        ffn: lowest(values.ffn, layer.ffn.length),
        attention: lowest(values.attention, layer.attention.length)
      };
    })
  };
}

export function mappedLayer(map: ModelMap, index: number): LayerMap {
  const layer = map.layers.find(l => l.index === index);
  if (!layer) {
    throw new CusprunError(
      'bad-argument',
      `the plan names layer ${index}, which the model does not have`
    );
  }
  return layer;
}

/** The reference plan's counts, filled with the units of lowest value. */
export function rankedPlan(
  map: ModelMap,
  values: UnitValues,
  reference: UnitPlan
): UnitPlan {
  return planLike(
    reference,
    layer => values.layers[map.layers.indexOf(mappedLayer(map, layer.index))]
  );
}
