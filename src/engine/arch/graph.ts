/**
 * A read-only index over an ONNX graph for structural matching: who produces and who consumes
 * each value, which values are constants, and a small evaluator for the integer shape
 * arithmetic exporters build out of Shape/Gather/Concat/Unsqueeze.
 */
import { OnnxModel } from '../onnx/model';
import {
  AttributeProto,
  GraphProto,
  NodeProto,
  TensorProto,
  toNumber
} from '../onnx/proto';
import { bytesToInts, inlineBytes, tensorDims } from '../onnx/tensor';
import { DataType } from '../onnx/dtype';

export interface Use {
  node: NodeProto;
  index: number;
}

/** A value of a shape computation: a known integer or unknown (a runtime dimension). */
export type ShapeValue = number | undefined;

/** One element of an evaluated shape expression, and the constant element it was copied from. */
export interface ShapeEntry {
  value?: number;
  constant?: string;
  element?: number;
  /** Stands for the last axis of a shape whose rank is unknown. */
  lastAxis?: boolean;
}

/**
 * The element indices a Slice (opset 10+) takes from a 1-D input of `length` elements, when its
 * bounds are constants: starts, ends, axes (only axis 0) and steps.
 */
export function sliceRange(
  node: NodeProto,
  length: number | undefined,
  evaluate: (input: number) => ShapeValue[] | undefined
): number[] | undefined {
  const one = (i: number, fallback: number): number | undefined =>
    node.input[i] ? evaluate(i)?.[0] : fallback;
  const start = one(1, 0);
  const end = one(2, Number.MAX_SAFE_INTEGER);
  const axis = one(3, 0);
  const step = one(4, 1);
  if (
    length === undefined ||
    start === undefined ||
    end === undefined ||
    axis !== 0 ||
    step !== 1
  ) {
    return undefined;
  }
  const clamp = (v: number) =>
    Math.max(0, Math.min(length, v < 0 ? length + v : v));
  const from = clamp(start);
  return Array.from(
    { length: Math.max(0, clamp(end) - from) },
    (_, k) => from + k
  );
}

function arithmetic(op: string, x: number, y: number): number {
  switch (op) {
    case 'Mul':
      return x * y;
    case 'Div':
      return Math.trunc(x / y);
    case 'Add':
      return x + y;
    case 'Equal':
      return x === y ? 1 : 0;
    default:
      return x - y;
  }
}

export function attribute(
  node: NodeProto,
  name: string
): AttributeProto | undefined {
  return node.attribute.find(a => a.name === name);
}

export function intAttribute(
  node: NodeProto,
  name: string,
  fallback: number
): number {
  const a = attribute(node, name);
  return a?.i !== undefined ? toNumber(a.i) : fallback;
}

export function intsAttribute(
  node: NodeProto,
  name: string
): number[] | undefined {
  const a = attribute(node, name);
  return a && a.ints.length ? a.ints.map(v => toNumber(v)) : undefined;
}

/** Ops that read only their input's shape: data flow stops there. */
const SHAPE_READERS = new Set(['Shape', 'Size']);
const VIEW_OPS = new Set(['Reshape', 'Cast', 'Identity']);

export class GraphIndex {
  readonly model: OnnxModel;
  readonly graph: GraphProto;
  readonly producer = new Map<string, NodeProto>();
  readonly consumers = new Map<string, Use[]>();
  readonly nodeIndex = new Map<NodeProto, number>();
  readonly graphInputs: Set<string>;
  readonly graphOutputs: Set<string>;
  private readonly constants = new Map<string, TensorProto>();
  /** Known sizes of the last axis of values (projection outputs), for Gather(Shape(x), -1). */
  readonly lastDims = new Map<string, number>();

  constructor(model: OnnxModel) {
    this.model = model;
    this.graph = model.graph;
    this.graphInputs = new Set(this.graph.input.map(i => i.name));
    this.graphOutputs = new Set(this.graph.output.map(o => o.name));
    for (const tensor of this.graph.initializer) {
      this.constants.set(tensor.name ?? '', tensor);
      this.graphInputs.delete(tensor.name ?? '');
    }
    this.graph.node.forEach((node, i) => {
      this.nodeIndex.set(node, i);
      node.output.forEach(o => this.producer.set(o, node));
      node.input.forEach((name, index) => {
        if (name) {
          const uses = this.consumers.get(name) ?? [];
          uses.push({ node, index });
          this.consumers.set(name, uses);
        }
      });
      if (node.op_type === 'Constant' && (node.domain ?? '') === '') {
        const value = attribute(node, 'value')?.t;
        if (value) {
          this.constants.set(node.output[0], value);
        }
      }
    });
  }

  uses(value: string): Use[] {
    return this.consumers.get(value) ?? [];
  }

  /** An initializer or Constant-node tensor by value name. */
  constant(value: string): TensorProto | undefined {
    return this.constants.get(value);
  }

  /** True for initializers only (weights), not Constant nodes. */
  isInitializer(value: string): boolean {
    return this.model.initializers.has(value);
  }

  constantDims(value: string): number[] | undefined {
    const t = this.constant(value);
    return t ? tensorDims(t) : undefined;
  }

  /** Integer contents of a constant, or undefined when the value is not an integer constant. */
  constantInts(value: string): number[] | undefined {
    const t = this.constant(value);
    if (
      !t ||
      (t.data_type !== DataType.INT64 && t.data_type !== DataType.INT32)
    ) {
      return undefined;
    }
    return bytesToInts(
      t.data_location === 1 ? this.model.bytes(t) : inlineBytes(t),
      t.data_type
    );
  }

  /**
   * Evaluates an integer shape expression as far as constants allow: Concat, Unsqueeze,
   * Squeeze, Gather, Cast, Reshape, Identity, ConstantOfShape, Where and elementwise
   * Mul/Div/Add/Sub/Equal over constants.
   * Runtime dimensions (from Shape) come back as entries without a value. Each entry copied
   * from a constant says which constant and which element, so an edit knows what to rewrite.
   */
  traceInts(value: string, depth = 0): ShapeEntry[] | undefined {
    const known = this.constantInts(value);
    if (known) {
      return known.map((v, element) => ({
        value: v,
        constant: value,
        element
      }));
    }
    const node = this.producer.get(value);
    if (!node || depth > 24) {
      return undefined;
    }
    const input = (i: number): ShapeEntry[] | undefined =>
      node.input[i] ? this.traceInts(node.input[i], depth + 1) : undefined;
    switch (node.op_type) {
      case 'Identity':
      case 'Cast':
      case 'Squeeze':
      case 'Unsqueeze':
      case 'Reshape':
        return input(0);
      case 'Slice': {
        const data = input(0);
        const range = sliceRange(node, data?.length, i =>
          this.evaluateInts(node.input[i])
        );
        return data && range ? range.map(i => data[i]) : undefined;
      }
      case 'Concat': {
        const parts = node.input.map((_, i) => input(i));
        return parts.every(p => p !== undefined)
          ? (parts as ShapeEntry[][]).flat()
          : undefined;
      }
      case 'Shape': {
        // The last axis of a projection's output is its width, whatever the rank. Shape's
        // start/end attributes (opset 15) take a part of the shape.
        const rank = this.rank(node.input[0]);
        const shapeOfShape =
          rank === 1 || rank === undefined ? input(0) : undefined;
        // onnxruntime writes start=0 when it saves a graph: that is still the whole shape.
        const whole =
          intAttribute(node, 'start', 0) === 0 && !attribute(node, 'end');
        if (shapeOfShape && whole) {
          // The shape of a traced 1-D integer tensor is its length (torch's Where/Expand dance).
          return [{ value: shapeOfShape.length }];
        }
        const lastDim = this.lastDims.get(node.input[0]);
        if (rank === undefined) {
          if (!whole) {
            const from = intAttribute(node, 'start', 0);
            const to = intAttribute(node, 'end', 0);
            // Without the rank only a slice between two non-negative bounds has a known length.
            return from >= 0 && to > from
              ? Array.from({ length: to - from }, () => ({}))
              : undefined;
          }
          return lastDim === undefined
            ? undefined
            : [{ value: lastDim, lastAxis: true }];
        }
        const full: ShapeEntry[] = Array.from({ length: rank }, (_, i) =>
          i === rank - 1 && lastDim !== undefined ? { value: lastDim } : {}
        );
        const clamp = (v: number) =>
          Math.max(0, Math.min(rank, v < 0 ? rank + v : v));
        return full.slice(
          clamp(intAttribute(node, 'start', 0)),
          clamp(intAttribute(node, 'end', rank))
        );
      }
      case 'Gather': {
        const data = input(0);
        const indices = input(1);
        if (!indices) {
          return undefined;
        }
        if (!data) {
          // Gathering from a shape of unknown rank still yields one entry per index.
          return indices.map(() => ({}));
        }
        const rankKnown = !data.some(e => e.lastAxis);
        return indices.map(i => {
          if (i.value === undefined) {
            return {};
          }
          if (!rankKnown) {
            return i.value === -1 ? { value: data[0].value } : {};
          }
          return data[i.value < 0 ? data.length + i.value : i.value] ?? {};
        });
      }
      case 'ConstantOfShape': {
        const dims = input(0)?.map(e => e.value);
        const fill = attribute(node, 'value')?.t;
        if (!dims || dims.some(d => d === undefined) || dims.length > 1) {
          return undefined;
        }
        const filled = fill
          ? bytesToInts(inlineBytes(fill), fill.data_type ?? 0)
          : [0];
        return Array.from({ length: dims[0] ?? 1 }, () => ({
          value: filled[0]
        }));
      }
      case 'Where': {
        // Elementwise, broadcasting length-1 operands; an unknown condition yields an unknown.
        const [cond, x, y] = [input(0), input(1), input(2)];
        if (!cond || !x || !y) {
          return undefined;
        }
        const at = (v: ShapeEntry[], i: number) => v[v.length === 1 ? 0 : i];
        return Array.from(
          { length: Math.max(cond.length, x.length, y.length) },
          (_, i) => {
            const c = at(cond, i).value;
            return c === undefined ? {} : at(c ? x : y, i);
          }
        );
      }
      case 'Mul':
      case 'Div':
      case 'Add':
      case 'Sub':
      case 'Equal': {
        const a = input(0);
        const b = input(1);
        if (!a || !b) {
          return undefined;
        }
        const at = (v: ShapeEntry[], i: number): number | undefined =>
          v[v.length === 1 ? 0 : i].value;
        return Array.from({ length: Math.max(a.length, b.length) }, (_, i) => {
          const x = at(a, i);
          const y = at(b, i);
          return x === undefined || y === undefined
            ? {}
            : { value: arithmetic(node.op_type, x, y) };
        });
      }
      default:
        return undefined;
    }
  }

  /** The values of `traceInts`, undefined where only the run time knows. */
  evaluateInts(value: string): ShapeValue[] | undefined {
    return this.traceInts(value)?.map(e => e.value);
  }

  /**
   * Whether `value` is `source` seen through ops that keep its elements in order (Reshape,
   * Cast, Identity): how a fused projection's output reaches the Split/Slice that cuts it.
   */
  isViewOf(value: string, source: string): boolean {
    let current = value;
    for (let hops = 0; hops < 4; hops++) {
      if (current === source) {
        return true;
      }
      const producer = this.producer.get(current);
      if (!producer || !VIEW_OPS.has(producer.op_type)) {
        return false;
      }
      current = producer.input[0];
    }
    return false;
  }

  /** Whether `value` is computed from `source` by data flow (shape arithmetic excluded). */
  dependsOn(value: string, source: string): boolean {
    const seen = new Set<string>();
    const queue = [value];
    while (queue.length) {
      const current = queue.pop() as string;
      if (current === source) {
        return true;
      }
      if (seen.has(current)) {
        continue;
      }
      seen.add(current);
      const producer = this.producer.get(current);
      if (producer && !SHAPE_READERS.has(producer.op_type)) {
        queue.push(...this.activationInputs(producer));
      }
    }
    return false;
  }

  /** The rank of a value from the graph's declared types, when known. */
  rank(value: string): number | undefined {
    const info = [
      ...this.graph.input,
      ...this.graph.value_info,
      ...this.graph.output
    ].find(v => v.name === value);
    return info?.type?.tensor_type?.shape?.dim.length;
  }

  /** Data inputs of a node: every non-empty input except those that are constants. */
  activationInputs(node: NodeProto): string[] {
    return node.input.filter(name => name && !this.constant(name));
  }

  /**
   * Walks the data flow from `start` (backwards to producers, or forwards to consumers) and
   * returns the first nodes for which `stop` holds on each path. Shape readers end a path:
   * shape arithmetic is not data flow.
   */
  search(
    start: string[],
    direction: 'up' | 'down',
    stop: (node: NodeProto) => boolean
  ): NodeProto[] {
    const found = new Set<NodeProto>();
    const seen = new Set<string>();
    const queue = [...start];
    while (queue.length) {
      const value = queue.shift() as string;
      if (seen.has(value)) {
        continue;
      }
      seen.add(value);
      const next: NodeProto[] =
        direction === 'up'
          ? [this.producer.get(value)].filter(
              (n): n is NodeProto => n !== undefined
            )
          : this.uses(value).map(u => u.node);
      for (const node of next) {
        if (stop(node)) {
          found.add(node);
        } else if (!SHAPE_READERS.has(node.op_type)) {
          queue.push(
            ...(direction === 'up' ? this.activationInputs(node) : node.output)
          );
        }
      }
    }
    return [...found].sort(
      (a, b) => (this.nodeIndex.get(a) ?? 0) - (this.nodeIndex.get(b) ?? 0)
    );
  }
}
