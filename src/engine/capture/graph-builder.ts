/**
 * Small helpers to add nodes to an edited copy of a graph: fresh names, int64 constants, and the
 * ops whose form changed across opsets (axes as an attribute before opset 13, as an input after),
 * plus pruning a graph to the ancestors of its outputs.
 */
import { DataType } from '../onnx/dtype';
import { inlineTensor } from '../onnx/edit';
import {
  AttributeProto,
  AttributeType,
  GraphProto,
  ModelProto,
  NodeProto,
  TensorProto,
  toNumber,
  ValueInfoProto
} from '../onnx/proto';

export function intsAttr(name: string, values: number[]): AttributeProto {
  return {
    name,
    type: AttributeType.INTS,
    floats: [],
    ints: values.map(BigInt),
    strings: [],
    tensors: [],
    graphs: []
  };
}

export function intAttr(name: string, value: number): AttributeProto {
  return {
    name,
    type: AttributeType.INT,
    i: BigInt(value),
    floats: [],
    ints: [],
    strings: [],
    tensors: [],
    graphs: []
  };
}

/** The version of the default (ai.onnx) opset a model imports. */
export function defaultOpset(proto: ModelProto): number {
  return toNumber(
    proto.opset_import.find(o => !o.domain || o.domain === 'ai.onnx')?.version
  );
}

/** An inline int64 tensor. */
export function int64Tensor(
  name: string,
  values: number[],
  dims: number[] = [values.length]
): TensorProto {
  const bytes = new Uint8Array(values.length * 8);
  const view = new DataView(bytes.buffer);
  values.forEach((v, i) => view.setBigInt64(i * 8, BigInt(v), true));
  return inlineTensor(name, DataType.INT64, dims, bytes);
}

/** A float tensor value-info with the given shape (symbolic dims as strings). */
export function tensorValueInfo(
  name: string,
  elemType: number,
  shape: (number | string)[]
): ValueInfoProto {
  return {
    name,
    type: {
      tensor_type: {
        elem_type: elemType,
        shape: {
          dim: shape.map(d =>
            typeof d === 'number' ? { dim_value: BigInt(d) } : { dim_param: d }
          )
        }
      }
    }
  };
}

export type ReduceOp = 'ReduceSum' | 'ReduceSumSquare' | 'ReduceLogSumExp';

/** Appends nodes and initializers with names under one prefix, opset-aware. */
export class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private counter = 0;
  private readonly constants = new Map<string, string>();

  constructor(
    private readonly prefix: string,
    private readonly opset: number
  ) {}

  fresh(hint: string): string {
    return `${this.prefix}/${hint}_${this.counter++}`;
  }

  /** A shared int64 constant (1-D unless dims are given). */
  ints(values: number[], dims?: number[]): string {
    const key = `${values.join(',')}|${dims?.join(',') ?? ''}`;
    const known = this.constants.get(key);
    if (known) {
      return known;
    }
    const name = this.fresh('const');
    this.initializers.push(int64Tensor(name, values, dims));
    this.constants.set(key, name);
    return name;
  }

  op(
    opType: string,
    inputs: string[],
    attributes: AttributeProto[] = [],
    output?: string
  ): string {
    const out = output ?? this.fresh(opType.toLowerCase());
    this.nodes.push({
      name: this.fresh(opType),
      op_type: opType,
      domain: '',
      input: inputs,
      output: [out],
      attribute: attributes,
      metadata_props: []
    });
    return out;
  }

  cast(input: string, to: DataType): string {
    return this.op('Cast', [input], [intAttr('to', to)]);
  }

  transpose(input: string, perm: number[]): string {
    return this.op('Transpose', [input], [intsAttr('perm', perm)]);
  }

  concat(inputs: string[], axis: number): string {
    return this.op('Concat', inputs, [intAttr('axis', axis)]);
  }

  unsqueeze(input: string, axes: number[]): string {
    return this.opset >= 13
      ? this.op('Unsqueeze', [input, this.ints(axes)])
      : this.op('Unsqueeze', [input], [intsAttr('axes', axes)]);
  }

  /** A Reduce* op; axes became an input in opset 13 for ReduceSum, in opset 18 for the rest. */
  reduce(
    opType: ReduceOp,
    input: string,
    axes: number[],
    keepdims: boolean,
    output?: string
  ): string {
    const keep = intAttr('keepdims', keepdims ? 1 : 0);
    const axesAsInput = this.opset >= (opType === 'ReduceSum' ? 13 : 18);
    return axesAsInput
      ? this.op(opType, [input, this.ints(axes)], [keep], output)
      : this.op(opType, [input], [intsAttr('axes', axes), keep], output);
  }

  /** Slice of the last axis [start, end). */
  sliceLast(input: string, start: number, end: number): string {
    return this.op('Slice', [
      input,
      this.ints([start]),
      this.ints([end]),
      this.ints([-1])
    ]);
  }
}

/** Every value a node reads, including outer-scope values its subgraphs read. */
function nodeReads(node: NodeProto): string[] {
  const reads = node.input.filter(Boolean);
  for (const attribute of node.attribute) {
    for (const sub of [
      ...(attribute.g ? [attribute.g] : []),
      ...attribute.graphs
    ]) {
      reads.push(...graphReads(sub));
    }
  }
  return reads;
}

/** Values a subgraph reads (its own definitions included; extra names are harmless). */
function graphReads(graph: GraphProto): string[] {
  return [...graph.node.flatMap(nodeReads), ...graph.output.map(o => o.name)];
}

/**
 * The graph reduced to the ancestors of its outputs: nodes, initializers, inputs and value infos
 * nothing downstream reads are dropped. Relies on the graph's topological node order, which
 * ONNX requires.
 */
export function pruneToOutputs(graph: GraphProto): GraphProto {
  const needed = new Set(graph.output.map(o => o.name));
  const kept: NodeProto[] = [];
  for (let i = graph.node.length - 1; i >= 0; i--) {
    const node = graph.node[i];
    if (node.output.some(o => needed.has(o))) {
      kept.push(node);
      nodeReads(node).forEach(v => needed.add(v));
    }
  }
  kept.reverse();
  return {
    ...graph,
    node: kept,
    initializer: graph.initializer.filter(t => needed.has(t.name ?? '')),
    input: graph.input.filter(i => needed.has(i.name)),
    value_info: graph.value_info.filter(v => needed.has(v.name))
  };
}
