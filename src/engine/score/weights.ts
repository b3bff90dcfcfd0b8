/**
 * Weight-side factors of the scores, read from the initializers in bounded chunks so a large
 * projection never has to sit in the JS heap at once.
 */
import { LinearRef } from '../arch/types';
import { CusprunError } from '../errors';
import { bytesToFloat32, elementBytes } from '../onnx/dtype';
import { OnnxModel } from '../onnx/model';
import { tensorDims } from '../onnx/tensor';

const CHUNK_BYTES = 8 << 20;

/**
 * ‖W[k, :]‖₂ for every input k of a projection y = x·W (the rows of the [in, out] matrix),
 * whatever layout the initializer has: stored [in, out] the rows are contiguous; stored
 * [out, in] they are columns.
 */
export function inputRowNorms(model: OnnxModel, ref: LinearRef): Float32Array {
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
  const [rows, cols] = tensorDims(tensor);
  const sums = new Float64Array(ref.in);
  const rowsPerChunk = Math.max(1, Math.floor(CHUNK_BYTES / (cols * size)));
  for (let start = 0; start < rows; start += rowsPerChunk) {
    const count = Math.min(rowsPerChunk, rows - start);
    const values = bytesToFloat32(
      model.slice(tensor, start * cols * size, count * cols * size),
      dataType
    );
    for (let r = 0; r < count; r++) {
      const base = r * cols;
      if (ref.layout === 'in-out') {
        let sum = 0;
        for (let c = 0; c < cols; c++) {
          sum += values[base + c] * values[base + c];
        }
        sums[start + r] += sum;
      } else {
        for (let c = 0; c < cols; c++) {
          sums[c] += values[base + c] * values[base + c];
        }
      }
    }
  }
  return Float32Array.from(sums, Math.sqrt);
}
