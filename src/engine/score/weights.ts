/**
 * Weight-side factors of the scores, read from the initializers in bounded chunks so a large
 * projection never has to sit in the JS heap at once.
 */
import { LinearRef } from '../../core/model/model-map';
import { CusprunError } from '../../core/errors';
import { bytesToFloat32, elementBytes } from '../onnx/dtype';
import { OnnxModel } from '../onnx/model';
import { tensorDims } from '../onnx/tensor';

const CHUNK_BYTES = 8 << 20;

/**
 * Σ W² over every input row and every output column of a projection y = x·W, whatever layout
 * the initializer has: stored [in, out] the rows are contiguous; stored [out, in] they are
 * columns. Columns cover the whole initializer (all parts of a fused projection).
 */
function squaredSums(
  model: OnnxModel,
  ref: LinearRef
): { rows: Float64Array; columns: Float64Array } {
  const tensor = model.initializers.get(ref.weight);
  const dataType = tensor?.data_type ?? 0;
  const size = elementBytes(dataType);
  if (!tensor || size === undefined) {
    throw new CusprunError(
      'unmappable',
      `the weight '${ref.weight}' of ${ref.node} is not a float initializer`,
      model.file
    );
  }
  const [stored, cols] = tensorDims(tensor);
  const inOut = ref.layout === 'in-out';
  const rows = new Float64Array(inOut ? stored : cols);
  const columns = new Float64Array(inOut ? cols : stored);
  const rowsPerChunk = Math.max(1, Math.floor(CHUNK_BYTES / (cols * size)));
  for (let start = 0; start < stored; start += rowsPerChunk) {
    const count = Math.min(rowsPerChunk, stored - start);
    const values = bytesToFloat32(
      model.slice(tensor, start * cols * size, count * cols * size),
      dataType
    );
    for (let r = 0; r < count; r++) {
      const base = r * cols;
      for (let c = 0; c < cols; c++) {
        const square = values[base + c] * values[base + c];
        if (inOut) {
          rows[start + r] += square;
          columns[c] += square;
        } else {
          rows[c] += square;
          columns[start + r] += square;
        }
      }
    }
  }
  return { rows, columns };
}

/** ‖W[k, :]‖₂ for every input k of a projection y = x·W (the rows of the [in, out] matrix). */
export function inputRowNorms(model: OnnxModel, ref: LinearRef): Float32Array {
  return Float32Array.from(squaredSums(model, ref).rows, Math.sqrt);
}

/** ‖W[:, c]‖₂² for each of the projection's own output columns (its part of a fused one). */
export function outputColumnSquares(
  model: OnnxModel,
  ref: LinearRef
): Float64Array {
  const { columns } = squaredSums(model, ref);
  return ref.columns ? columns.slice(ref.columns[0], ref.columns[1]) : columns;
}
