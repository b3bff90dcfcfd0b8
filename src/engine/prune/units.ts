/**
 * Which elements of which tensors a unit plan removes: FFN channel k is gate/up output k (in a
 * fused gate_up, outputs k and I+k), down input k and their bias entries; attention group j is
 * the q outputs of its g heads, the k and v outputs of its KV head, the o inputs of its heads and
 * their bias entries. Pruning gathers the rest; verification zeroes exactly these.
 */
import { LayerMap, LinearRef, ModelMap } from '../../core/model/model-map';
import { CusprunError } from '../../core/errors';
import { OnnxModel } from '../onnx/model';
import { TensorProto } from '../onnx/proto';
import { LayerCuts, UnitPlan } from '../../core/model/unit-plan';
import { CutMode, cutTensor } from './tensor-ops';

/** Removed indices along each axis of one tensor. */
export type TensorCuts = Map<number, Set<number>>;

function add(
  cuts: Map<string, TensorCuts>,
  tensor: string,
  axis: number,
  indices: Iterable<number>
) {
  const byAxis = cuts.get(tensor) ?? new Map<number, Set<number>>();
  const set = byAxis.get(axis) ?? new Set<number>();
  for (const i of indices) {
    set.add(i);
  }
  byAxis.set(axis, set);
  cuts.set(tensor, byAxis);
}

const range = (start: number, length: number) =>
  Array.from({ length }, (_, i) => start + i);

/** Removes outputs (columns of y = x·W) of a projection, and the matching bias entries. */
function cutOutputs(
  cuts: Map<string, TensorCuts>,
  ref: LinearRef,
  outputs: number[]
) {
  const offset = ref.columns?.[0] ?? 0;
  const absolute = outputs.map(o => offset + o);
  add(cuts, ref.weight, ref.layout === 'in-out' ? 1 : 0, absolute);
  if (ref.bias) {
    add(cuts, ref.bias, 0, absolute);
  }
}

/** Removes inputs (rows of W in y = x·W) of a projection. */
function cutInputs(
  cuts: Map<string, TensorCuts>,
  ref: LinearRef,
  inputs: number[]
) {
  add(cuts, ref.weight, ref.layout === 'in-out' ? 0 : 1, inputs);
}

function checkIndices(
  indices: number[],
  units: number,
  what: string,
  layer: number
) {
  const seen = new Set<number>();
  for (const i of indices) {
    if (!Number.isInteger(i) || i < 0 || i >= units) {
      throw new CusprunError(
        'bad-argument',
        `layer ${layer}: ${what} ${i} does not exist (the layer has ${units})`
      );
    }
    if (seen.has(i)) {
      throw new CusprunError(
        'bad-argument',
        `layer ${layer}: ${what} ${i} is listed twice`
      );
    }
    seen.add(i);
  }
  if (seen.size >= units) {
    throw new CusprunError(
      'bad-argument',
      `layer ${layer}: the plan removes every ${what}; at least one must stay`
    );
  }
}

/** The plan's entry for each layer of the map (empty where the plan names none). */
export function unitsByLayer(map: ModelMap, plan: UnitPlan): LayerCuts[] {
  const byIndex = new Map(plan.layers.map(l => [l.index, l]));
  for (const index of byIndex.keys()) {
    if (!map.layers[index]) {
      throw new CusprunError(
        'bad-argument',
        `the plan names layer ${index}, but the model has ${map.layers.length} layers`
      );
    }
  }
  return map.layers.map(
    l => byIndex.get(l.index) ?? { index: l.index, ffn: [], attention: [] }
  );
}

export function layerCuts(
  layer: LayerMap,
  units: LayerCuts,
  cuts: Map<string, TensorCuts>
): void {
  const { ffn, attention } = layer;
  checkIndices(units.ffn, ffn.units, 'FFN channel', layer.index);
  checkIndices(
    units.attention,
    attention.units,
    'attention group',
    layer.index
  );
  if (units.ffn.length) {
    if (ffn.gate) {
      cutOutputs(cuts, ffn.gate, units.ffn);
    }
    cutOutputs(cuts, ffn.up, units.ffn);
    cutInputs(cuts, ffn.down, units.ffn);
  }
  const { headSize: d, groupSize: g } = attention;
  for (const j of units.attention) {
    cutOutputs(cuts, attention.q, range(j * g * d, g * d));
    cutOutputs(cuts, attention.k, range(j * d, d));
    cutOutputs(cuts, attention.v, range(j * d, d));
    cutInputs(cuts, attention.o, range(j * g * d, g * d));
  }
}

/** Every tensor the plan touches, with the indices removed along each axis. */
export function planCuts(
  map: ModelMap,
  plan: UnitPlan
): Map<string, TensorCuts> {
  const cuts = new Map<string, TensorCuts>();
  unitsByLayer(map, plan).forEach((units, i) =>
    layerCuts(map.layers[i], units, cuts)
  );
  return cuts;
}

/** Parameters the plan removes, by method.md's count per unit. */
export function removedParams(map: ModelMap, plan: UnitPlan): number {
  return unitsByLayer(map, plan).reduce(
    (sum, units, i) =>
      sum +
      units.ffn.length * map.layers[i].ffn.paramsPerUnit +
      units.attention.length * map.layers[i].attention.paramsPerUnit,
    0
  );
}

/**
 * A replacement for every tensor the plan touches: without the cut indices (`gather`, the
 * pruned model) or with them zeroed (`zero`, its reference), produced while the model is
 * written (tensor-ops.ts); cut from `edited`'s tensor where it has one by that name.
 */
export function cutTensors(
  model: OnnxModel,
  map: ModelMap,
  plan: UnitPlan,
  mode: CutMode,
  edited: Map<string, TensorProto> = new Map()
): Map<string, TensorProto> {
  const replacements = new Map<string, TensorProto>();
  for (const [name, cuts] of planCuts(map, plan)) {
    const tensor =
      edited.get(name) ?? (model.initializers.get(name) as TensorProto);
    replacements.set(name, cutTensor(model, tensor, cuts, mode));
  }
  return replacements;
}
