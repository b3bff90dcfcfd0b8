/**
 * Removing (gathering the rest) or zeroing indices along the axes of a 1-D or 2-D tensor. The
 * result is a produced tensor: its bytes are made row chunk by row chunk while the model is
 * written, so a prune never holds a whole weight, let alone a whole model.
 */
import { elementBytes } from '../onnx/dtype';
import { producedTensor } from '../onnx/edit';
import { Sink } from '../onnx/encode';
import { OnnxModel } from '../onnx/model';
import { TensorProto } from '../onnx/proto';
import { elementCount, tensorDims } from '../onnx/tensor';
import type { TensorCuts } from './units';

const CHUNK_BYTES = 8 << 20;

export type CutMode = 'gather' | 'zero';

/** Maximal runs [start, end) of 0…size-1 whose indices are in `removed` (or, `!inside`, not). */
function runs(
  size: number,
  removed: Set<number> | undefined,
  inside: boolean
): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < size; i++) {
    if ((removed?.has(i) ?? false) === inside) {
      const last = out[out.length - 1];
      if (last && last[1] === i) {
        last[1] = i + 1;
      } else {
        out.push([i, i + 1]);
      }
    }
  }
  return out;
}

/** One tensor seen as rows × columns (a 1-D tensor is one row), with what is cut of each. */
interface Layout {
  rows: number;
  rowBytes: number;
  rowCuts: Set<number>;
  /** Byte runs of each row that are kept, and that are cut. */
  kept: [number, number][];
  cut: [number, number][];
  outDims: number[];
}

function layout(tensor: TensorProto, cuts: TensorCuts, mode: CutMode): Layout {
  const size = elementBytes(tensor.data_type ?? 0) as number;
  const dims = tensorDims(tensor);
  if (dims.length !== 1 && dims.length !== 2) {
    throw new RangeError(
      `can only cut 1-D and 2-D tensors, not ${dims.length}-D`
    );
  }
  const matrix = dims.length === 2;
  const [rows, cols] = matrix ? dims : [1, dims[0]];
  const rowCuts = (matrix ? cuts.get(0) : undefined) ?? new Set<number>();
  const colCuts = matrix ? cuts.get(1) : cuts.get(0);
  const bytes = (r: [number, number][]) =>
    r.map(([a, b]): [number, number] => [a * size, b * size]);
  const keptCols = cols - (colCuts?.size ?? 0);
  return {
    rows,
    rowBytes: cols * size,
    rowCuts,
    kept: bytes(runs(cols, colCuts, false)),
    cut: bytes(runs(cols, colCuts, true)),
    outDims:
      mode === 'zero'
        ? dims
        : matrix
          ? [rows - rowCuts.size, keptCols]
          : [keptCols]
  };
}

/** Streams the cut tensor: each chunk of source rows becomes one chunk of output. */
function streamCut(
  model: OnnxModel,
  tensor: TensorProto,
  l: Layout,
  mode: CutMode,
  sink: Sink
): void {
  const perChunk = Math.max(1, Math.floor(CHUNK_BYTES / l.rowBytes));
  const outRowBytes = l.kept.reduce((sum, [a, b]) => sum + b - a, 0);
  for (let start = 0; start < l.rows; start += perChunk) {
    const count = Math.min(perChunk, l.rows - start);
    // A fresh copy of the rows: the source's own bytes are never changed.
    const chunk = model.slice(tensor, start * l.rowBytes, count * l.rowBytes);
    if (mode === 'zero') {
      for (let r = 0; r < count; r++) {
        const row = r * l.rowBytes;
        if (l.rowCuts.has(start + r)) {
          chunk.fill(0, row, row + l.rowBytes);
        } else {
          l.cut.forEach(([a, b]) => chunk.fill(0, row + a, row + b));
        }
      }
      sink(chunk);
      continue;
    }
    let keptRows = 0;
    for (let r = 0; r < count; r++) {
      keptRows += l.rowCuts.has(start + r) ? 0 : 1;
    }
    const out = new Uint8Array(keptRows * outRowBytes);
    let at = 0;
    for (let r = 0; r < count; r++) {
      if (!l.rowCuts.has(start + r)) {
        for (const [a, b] of l.kept) {
          out.set(chunk.subarray(r * l.rowBytes + a, r * l.rowBytes + b), at);
          at += b - a;
        }
      }
    }
    sink(out);
  }
}

/**
 * `tensor` with the cut indices removed (`gather`: new, smaller dims) or set to zero (`zero`:
 * same dims), as a tensor produced on demand from the model's bytes.
 */
export function cutTensor(
  model: OnnxModel,
  tensor: TensorProto,
  cuts: TensorCuts,
  mode: CutMode
): TensorProto {
  const l = layout(tensor, cuts, mode);
  const size = elementBytes(tensor.data_type ?? 0) as number;
  return producedTensor(tensor, l.outDims, {
    length: elementCount(l.outDims) * size,
    stream: sink => streamCut(model, tensor, l, mode, sink)
  });
}
