/**
 * The lm_head cut along the vocabulary: where the logits are a MatMul of the final hidden state
 * by a constant weight, slice [start, end) of the logits is the same MatMul by that slice of the
 * weight's vocabulary axis, so a forward can compute the logits a slice at a time and hold only
 * one slice of the weight (a 262k vocabulary's lm_head is 640 MiB on Gemma 3 270M) and one
 * slice of the logits. Graph logic, plus the slices' bytes read from the model's files.
 */
import { DataType, elementBytes } from './dtype';
import { OnnxModel } from './model';
import {
  GraphProto,
  ModelProto,
  TensorProto,
  toNumber,
  ValueInfoProto
} from './proto';
import { tensorDims } from './tensor';

/** Element types a slice can be fed to onnxruntime in. */
const FLOATS = new Set<number | undefined>([DataType.FLOAT, DataType.FLOAT16]);

export interface VocabHead {
  /** The value the lm_head multiplies (the final hidden state). */
  hidden: string;
  /** Its nodes, in order: the weight's Transpose when the graph has one, then the MatMul. */
  nodes: number[];
  /** The initializer holding the weight. */
  weight: string;
  /** The weight's vocabulary axis: 1 when stored [hidden, vocab], 0 when [vocab, hidden]. */
  axis: 0 | 1;
  vocab: number;
  /** The weight's element type (float32 or float16), the hidden state's and the logits'. */
  elemType: number;
}

/**
 * The lm_head that computes `fetch`, when it is `MatMul(hidden, W)` with W a 2-D initializer
 * [hidden, vocab] or the Transpose of one [vocab, hidden] (a tied embedding); else undefined.
 */
export function vocabHead(
  graph: GraphProto,
  fetch: string
): VocabHead | undefined {
  const producer = (value: string) =>
    graph.node.findIndex(n => n.output.includes(value));
  const initializer = (name: string) =>
    graph.initializer.find(
      t => t.name === name && t.dims.length === 2 && FLOATS.has(t.data_type)
    );
  const at = producer(fetch);
  const matmul = graph.node[at] as (typeof graph.node)[number] | undefined;
  if (matmul?.op_type !== 'MatMul' || matmul.input.length !== 2) {
    return undefined;
  }
  const [hidden, b] = matmul.input;
  const direct = initializer(b);
  if (direct) {
    const vocab = tensorDims(direct)[1];
    const elemType = direct.data_type as number;
    return { hidden, nodes: [at], weight: b, axis: 1, vocab, elemType };
  }
  const t = producer(b);
  const transpose = graph.node[t] as (typeof graph.node)[number] | undefined;
  const perm = transpose?.attribute.find(a => a.name === 'perm')?.ints;
  const swaps = !perm || perm.map(toNumber).join() === '1,0';
  const stored = transpose?.op_type === 'Transpose' && swaps;
  const tied = stored ? initializer(transpose.input[0]) : undefined;
  if (!tied) {
    return undefined;
  }
  const vocab = tensorDims(tied)[0];
  const weight = tied.name ?? '';
  const elemType = tied.data_type as number;
  return { hidden, nodes: [t, at], weight, axis: 0, vocab, elemType };
}

/** [start, end) of `vocab` cut into `count` slices as even as can be. */
export function vocabSlices(vocab: number, count: number): [number, number][] {
  const n = Math.max(1, Math.min(vocab, Math.round(count)));
  return Array.from({ length: n }, (_, i): [number, number] => [
    Math.floor((i * vocab) / n),
    Math.floor(((i + 1) * vocab) / n)
  ]);
}

/**
 * The bytes of indices [start, end) of a 2-D tensor's `axis`, read where they lie: one range of
 * rows, or that range of columns row by row.
 */
export function tensorRange(
  model: OnnxModel,
  tensor: TensorProto,
  axis: 0 | 1,
  [start, end]: [number, number]
): Uint8Array {
  const [rows, cols] = tensorDims(tensor);
  const size = elementBytes(tensor.data_type ?? 0) as number;
  if (axis === 0) {
    return model.slice(
      tensor,
      start * cols * size,
      (end - start) * cols * size
    );
  }
  const width = (end - start) * size;
  const out = new Uint8Array(rows * width);
  for (let r = 0; r < rows; r++) {
    out.set(model.slice(tensor, (r * cols + start) * size, width), r * width);
  }
  return out;
}

const typed = (name: string, elemType: number): ValueInfoProto => ({
  name,
  type: { tensor_type: { elem_type: elemType } }
});

/**
 * The lm_head alone as a model whose weight is an input, not an initializer: a slice fed from
 * JS is used where it lies, where an initializer in a model from memory is copied twice while
 * onnxruntime loads it. Inputs the hidden state and the weight's slice (tensorRange), output
 * `fetch`, that slice of the logits.
 */
export function vocabSliceModel(
  proto: ModelProto,
  head: VocabHead,
  fetch: string
): ModelProto {
  const graph = proto.graph as GraphProto;
  return {
    ...proto,
    graph: {
      ...graph,
      node: head.nodes.map(i => graph.node[i]),
      initializer: [],
      sparse_initializer: [],
      input: [
        typed(head.hidden, head.elemType),
        typed(head.weight, head.elemType)
      ],
      output: [typed(fetch, head.elemType)],
      value_info: []
    }
  };
}
