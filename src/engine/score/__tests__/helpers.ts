/** Test helpers for the scoring suites: temp folders, edited fixture copies, extra outputs. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LinearRef } from '../../../core/model/model-map';
import { DataType, elementBytes, float16BitsToFloat32 } from '../../onnx/dtype';
import { tensorWithData, withInitializers } from '../../onnx/edit';
import { OnnxModel } from '../../onnx/model';
import { GraphProto, ModelProto, TensorProto } from '../../onnx/proto';
import { tensorDims } from '../../onnx/tensor';

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `cusprun-test-${prefix}-`));
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/** A copy of the model whose graph also outputs the given values (any float type). */
export function withExtraOutputs(
  proto: ModelProto,
  outputs: { name: string; elemType: number }[]
): ModelProto {
  const graph = proto.graph as GraphProto;
  return {
    ...proto,
    graph: {
      ...graph,
      output: [
        ...graph.output,
        ...outputs.map(o => ({
          name: o.name,
          type: { tensor_type: { elem_type: o.elemType } }
        }))
      ]
    }
  };
}

export function elemTypeOf(dtype: string): number {
  return dtype === 'float16' ? DataType.FLOAT16 : DataType.FLOAT;
}

/** Collects zeroed elements per initializer, then builds an edited proto. */
export class Zeroer {
  private readonly edits = new Map<string, Uint8Array>();

  constructor(private readonly model: OnnxModel) {}

  private bytes(name: string): { tensor: TensorProto; bytes: Uint8Array } {
    const tensor = this.model.initializers.get(name);
    if (!tensor) {
      throw new Error(`no initializer ${name}`);
    }
    let bytes = this.edits.get(name);
    if (!bytes) {
      bytes = this.model.bytes(tensor);
      this.edits.set(name, bytes);
    }
    return { tensor, bytes };
  }

  /** Zeroes element(s) along one axis of a 1-D or 2-D initializer. */
  private zeroAxis(name: string, axis: number, index: number): void {
    const { tensor, bytes } = this.bytes(name);
    const size = elementBytes(tensor.data_type ?? 0) as number;
    const dims = tensorDims(tensor);
    if (dims.length === 1) {
      bytes.fill(0, index * size, (index + 1) * size);
      return;
    }
    const [rows, cols] = dims;
    if (axis === 0) {
      bytes.fill(0, index * cols * size, (index + 1) * cols * size);
    } else {
      for (let r = 0; r < rows; r++) {
        bytes.fill(0, (r * cols + index) * size, (r * cols + index + 1) * size);
      }
    }
  }

  /** Output column `k` of a projection's own part (y = x·W) and its bias entry. */
  output(ref: LinearRef, k: number): this {
    const column = (ref.columns?.[0] ?? 0) + k;
    this.zeroAxis(ref.weight, ref.layout === 'in-out' ? 1 : 0, column);
    if (ref.bias) {
      this.zeroAxis(ref.bias, 0, column);
    }
    return this;
  }

  /** Input row `k` of a projection (y = x·W). */
  input(ref: LinearRef, k: number): this {
    this.zeroAxis(ref.weight, ref.layout === 'in-out' ? 0 : 1, k);
    return this;
  }

  proto(base: ModelProto = this.model.proto): ModelProto {
    const replacements = new Map<string, TensorProto>();
    for (const [name, bytes] of this.edits) {
      replacements.set(
        name,
        tensorWithData(this.model.initializers.get(name)!, bytes)
      );
    }
    return withInitializers(base, replacements);
  }
}

/** ‖a − b‖₂ over all elements, and ‖a‖₂, in float64. */
export function diffNorm(
  a: ArrayLike<number>,
  b: ArrayLike<number>
): { diff: number; a: number; b: number } {
  let diff = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    diff += (a[i] - b[i]) ** 2;
    na += a[i] ** 2;
    nb += b[i] ** 2;
  }
  return { diff: Math.sqrt(diff), a: Math.sqrt(na), b: Math.sqrt(nb) };
}

/** A fetched float tensor (float32 or float16) as float32 values. */
export function floats(data: ArrayLike<number>, type: string): Float32Array {
  if (type === 'float16') {
    return Float32Array.from(data, float16BitsToFloat32);
  }
  return Float32Array.from(data);
}
