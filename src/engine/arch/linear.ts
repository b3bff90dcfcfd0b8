/**
 * Finds every weight-bearing projection of a graph, whatever form the exporter chose:
 * MatMul(x, W) with W stored [in, out]; MatMul(x, Transpose(W)) with W stored [out, in];
 * Gemm with transB; a bias from Gemm's C or from an Add right after the MatMul; and Casts
 * between the initializer and the MatMul (mixed-precision exports).
 */
import { dataTypeLabel } from '../onnx/dtype';
import { NodeProto } from '../onnx/proto';
import { tensorDims } from '../onnx/tensor';
import { GraphIndex, intAttribute, intsAttribute } from './graph';
import { LinearRef } from '../../core/model/model-map';

export interface Linear {
  node: NodeProto;
  ref: LinearRef;
  /** The activation the projection reads. */
  input: string;
  /** The projection's result, after its bias Add when there is one. */
  output: string;
}

export function nodeLabel(index: GraphIndex, node: NodeProto): string {
  return node.name || `#${index.nodeIndex.get(node)}`;
}

/** Follows Cast/Identity back to an initializer; returns its name. */
function initializerBehind(
  index: GraphIndex,
  value: string
): string | undefined {
  let current = value;
  for (let hops = 0; hops < 4; hops++) {
    if (index.isInitializer(current)) {
      return current;
    }
    const producer = index.producer.get(current);
    if (!producer || !['Cast', 'Identity'].includes(producer.op_type)) {
      return undefined;
    }
    current = producer.input[0];
  }
  return undefined;
}

function weightOf(
  index: GraphIndex,
  value: string
): { weight: string; layout: LinearRef['layout'] } | undefined {
  const direct = initializerBehind(index, value);
  if (direct) {
    return { weight: direct, layout: 'in-out' };
  }
  const producer = index.producer.get(value);
  if (producer?.op_type === 'Transpose') {
    const perm = intsAttribute(producer, 'perm');
    const weight = initializerBehind(index, producer.input[0]);
    if (weight && (!perm || (perm[0] === 1 && perm[1] === 0))) {
      return { weight, layout: 'out-in' };
    }
  }
  return undefined;
}

function biasAfter(
  index: GraphIndex,
  output: string,
  width: number
): { bias: string; output: string } | undefined {
  const uses = index.uses(output);
  if (uses.length !== 1 || uses[0].node.op_type !== 'Add') {
    return undefined;
  }
  const add = uses[0].node;
  const other = add.input[1 - uses[0].index];
  const bias = initializerBehind(index, other);
  const dims = bias
    ? tensorDims(index.model.initializers.get(bias)!)
    : undefined;
  return bias && dims && dims.length === 1 && dims[0] === width
    ? { bias, output: add.output[0] }
    : undefined;
}

export function findLinears(index: GraphIndex): Map<NodeProto, Linear> {
  const linears = new Map<NodeProto, Linear>();
  for (const node of index.graph.node) {
    if (node.op_type !== 'MatMul' && node.op_type !== 'Gemm') {
      continue;
    }
    const found = weightOf(index, node.input[1]);
    if (!found) {
      continue;
    }
    const tensor = index.model.initializers.get(found.weight)!;
    const dims = tensorDims(tensor);
    if (dims.length !== 2) {
      continue;
    }
    let layout = found.layout;
    if (node.op_type === 'Gemm') {
      if (intAttribute(node, 'transA', 0) !== 0) {
        continue;
      }
      const transB = intAttribute(node, 'transB', 0) === 1;
      layout = transB === (layout === 'in-out') ? 'out-in' : 'in-out';
    }
    const [inDim, outDim] = layout === 'in-out' ? dims : [dims[1], dims[0]];
    const ref: LinearRef = {
      node: nodeLabel(index, node),
      op: node.op_type,
      weight: found.weight,
      layout,
      in: inDim,
      out: outDim,
      dtype: dataTypeLabel(tensor.data_type ?? 0)
    };
    let output = node.output[0];
    const gemmBias =
      node.op_type === 'Gemm' && node.input[2]
        ? initializerBehind(index, node.input[2])
        : undefined;
    if (gemmBias) {
      ref.bias = gemmBias;
    } else {
      const after = biasAfter(index, output, outDim);
      if (after) {
        ref.bias = after.bias;
        output = after.output;
      }
    }
    linears.set(node, { node, ref, input: node.input[0], output });
  }
  return linears;
}

/** Parameters of a projection: weight plus bias. */
export function linearParams(ref: LinearRef): number {
  return ref.in * ref.out + (ref.bias ? ref.out : 0);
}
