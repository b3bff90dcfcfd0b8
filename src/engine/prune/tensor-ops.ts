/** Gathering and zeroing along the axes of a 1-D or 2-D tensor's little-endian bytes. */
import { TensorCuts } from './units';

function kept(size: number, removed: Set<number> | undefined): number[] {
  return Array.from({ length: size }, (_, i) => i).filter(
    i => !removed?.has(i)
  );
}

/** The tensor without the removed indices; returns the new bytes and dims. */
export function gather(
  bytes: Uint8Array,
  dims: number[],
  elementSize: number,
  cuts: TensorCuts
): { bytes: Uint8Array; dims: number[] } {
  if (dims.length === 1) {
    const keep = kept(dims[0], cuts.get(0));
    const out = new Uint8Array(keep.length * elementSize);
    keep.forEach((i, n) =>
      out.set(
        bytes.subarray(i * elementSize, (i + 1) * elementSize),
        n * elementSize
      )
    );
    return { bytes: out, dims: [keep.length] };
  }
  if (dims.length !== 2) {
    throw new RangeError(
      `can only cut 1-D and 2-D tensors, not ${dims.length}-D`
    );
  }
  const [rows, cols] = dims;
  const keepRows = kept(rows, cuts.get(0));
  const keepCols = kept(cols, cuts.get(1));
  const rowBytes = cols * elementSize;
  const out = new Uint8Array(keepRows.length * keepCols.length * elementSize);
  let at = 0;
  for (const r of keepRows) {
    const row = bytes.subarray(r * rowBytes, (r + 1) * rowBytes);
    if (keepCols.length === cols) {
      out.set(row, at);
      at += rowBytes;
      continue;
    }
    for (const c of keepCols) {
      out.set(row.subarray(c * elementSize, (c + 1) * elementSize), at);
      at += elementSize;
    }
  }
  return { bytes: out, dims: [keepRows.length, keepCols.length] };
}

/** A copy of the tensor with the removed indices set to zero, same shape. */
export function zero(
  bytes: Uint8Array,
  dims: number[],
  elementSize: number,
  cuts: TensorCuts
): Uint8Array {
  const out = new Uint8Array(bytes);
  const cols = dims.length === 2 ? dims[1] : 1;
  const rows = dims[0];
  for (const r of cuts.get(0) ?? []) {
    out.fill(0, r * cols * elementSize, (r + 1) * cols * elementSize);
  }
  for (const c of dims.length === 2 ? (cuts.get(1) ?? []) : []) {
    for (let r = 0; r < rows; r++) {
      const at = (r * cols + c) * elementSize;
      out.fill(0, at, at + elementSize);
    }
  }
  return out;
}
