/**
 * The magnitude baseline: a unit's value is the L2 norm of every weight it would take with it
 * (method.md's units table): an FFN channel's gate and up columns, down row and their bias
 * entries; an attention group's q columns of its query heads, k and v columns of its KV head,
 * o rows of its query heads, and their biases.
 */
import { LayerMap, LinearRef, ModelMap } from '../../core/model/model-map';
import { OnnxModel } from '../onnx/model';
import { inputRowNorms, outputColumnSquares } from '../score/weights';
import { LayerValues, UnitValues } from './plan';

/** Adds block b of `values` (b·width … (b+1)·width) into `units[b]`, for every unit. */
function addBlocks(
  units: Float64Array,
  values: ArrayLike<number>,
  width: number
): void {
  for (let c = 0; c < units.length * width; c++) {
    units[Math.floor(c / width)] += values[c];
  }
}

function biasSquares(
  model: OnnxModel,
  ref: LinearRef
): Float64Array | undefined {
  if (!ref.bias) {
    return undefined;
  }
  const tensor = model.initializers.get(ref.bias);
  if (!tensor) {
    return undefined;
  }
  const all = model.float32(tensor);
  const own = ref.columns ? all.subarray(ref.columns[0], ref.columns[1]) : all;
  return Float64Array.from(own, v => v * v);
}

/** Squares of a projection's own output columns, bias entries included. */
function columnSquares(model: OnnxModel, ref: LinearRef): Float64Array {
  const squares = outputColumnSquares(model, ref);
  biasSquares(model, ref)?.forEach((v, c) => (squares[c] += v));
  return squares;
}

function rowSquares(model: OnnxModel, ref: LinearRef): Float64Array {
  return Float64Array.from(inputRowNorms(model, ref), v => v * v);
}

export function unitMagnitudes(model: OnnxModel, layer: LayerMap): LayerValues {
  const { ffn, attention } = layer;
  const channels = new Float64Array(ffn.units);
  for (const ref of [ffn.gate, ffn.up]) {
    if (ref) {
      addBlocks(channels, columnSquares(model, ref), 1);
    }
  }
  addBlocks(channels, rowSquares(model, ffn.down), 1);

  const groups = new Float64Array(attention.units);
  const groupWidth = attention.groupSize * attention.headSize;
  addBlocks(groups, columnSquares(model, attention.q), groupWidth);
  addBlocks(groups, columnSquares(model, attention.k), attention.headSize);
  addBlocks(groups, columnSquares(model, attention.v), attention.headSize);
  addBlocks(groups, rowSquares(model, attention.o), groupWidth);
  return {
    ffn: channels.map(Math.sqrt),
    attention: groups.map(Math.sqrt)
  };
}

/** Every mapped layer's unit magnitudes: computed once, then ranked for any reference plan. */
export function magnitudeValues(model: OnnxModel, map: ModelMap): UnitValues {
  return { layers: map.layers.map(layer => unitMagnitudes(model, layer)) };
}
