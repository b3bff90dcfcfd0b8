/**
 * The evaluation graph: the model with the log-softmax and the gather of the target tokens
 * added, so that onnxruntime returns per-position log-probabilities and greedy choices and never
 * the logits. Only the positions asked for reach the lm_head: where the logits come straight
 * from a MatMul on the last hidden state, that state is gathered at those positions first, so a
 * large vocabulary costs one lm_head row per position read, and memory holds [positions, vocab]
 * logits at most. The log-softmax is taken in float64, as it was when logits came to JS: the
 * numbers are those of the logits themselves, not of float32 sums over a large vocabulary.
 *
 *   inputs   the model's, and
 *            cusprun.positions int64 [N]  flat indices row · T + t of the positions to score
 *            cusprun.targets   int64 [N]  the token whose log-probability to return at each
 *            cusprun.greedy    int64 [M]  flat indices of the positions to decode greedily
 *   outputs  cusprun.logprob float64 [N]  log softmax(logits at the position)[target]
 *            cusprun.argmax   int64 [M]    the highest-scoring token (the lowest id on a tie)
 *            and the model's KV-cache outputs (present.*), when it has them.
 * Both kinds of positions go through one lm_head (onnxruntime prepacks a MatMul's weight per
 * node: two would hold a 262k vocabulary's lm_head twice), then part: onnxruntime runs every
 * node whatever is fetched, so the argmax reads the greedy rows only, and a run asks for one
 * kind with none of the other.
 */
import {
  defaultOpset,
  GraphBuilder,
  intAttr,
  pruneToOutputs,
  tensorValueInfo
} from '../capture/graph-builder';
import { CusprunError } from '../../core/errors';
import { DataType } from '../onnx/dtype';
import {
  GraphProto,
  ModelProto,
  NodeProto,
  toNumber,
  ValueInfoProto
} from '../onnx/proto';

export const LOGITS = 'logits';
export const POSITIONS = 'cusprun.positions';
export const TARGETS = 'cusprun.targets';
export const GREEDY = 'cusprun.greedy';
export const LOGPROB = 'cusprun.logprob';
export const ARGMAX = 'cusprun.argmax';

export interface EvalProto {
  proto: ModelProto;
  /** The model's vocabulary, when the graph says it (logits' last dimension or lm_head). */
  vocab: number | undefined;
}

/** Whether `value` is computed from constants alone (initializers, Constant nodes). */
function constantValue(graph: GraphProto, value: string): boolean {
  const inputs = new Set(graph.input.map(i => i.name));
  const initializers = new Set(graph.initializer.map(t => t.name));
  const producers = new Map<string, NodeProto>();
  graph.node.forEach(n => n.output.forEach(o => producers.set(o, n)));
  const seen = new Set<string>();
  const visit = (name: string): boolean => {
    if (initializers.has(name) || seen.has(name)) {
      return true;
    }
    seen.add(name);
    const node = producers.get(name);
    return (
      !inputs.has(name) &&
      node !== undefined &&
      node.input.filter(Boolean).every(visit)
    );
  };
  return visit(value);
}

/** The number of columns of a 2-D constant weight, when it is an initializer. */
function weightColumns(graph: GraphProto, value: string): number | undefined {
  const tensor = graph.initializer.find(t => t.name === value);
  return tensor?.dims.length === 2 ? toNumber(tensor.dims[1]) : undefined;
}

/**
 * The logits at the positions asked for, [N, vocab]: the lm_head applied to the gathered rows
 * of its input when the logits are a MatMul of the hidden state by a constant weight, else the
 * model's full logits, gathered.
 */
function logitsAtPositions(
  b: GraphBuilder,
  graph: GraphProto,
  positions: string
): { logits: string; vocab: number | undefined } {
  const flatRows = (value: string) =>
    b.op(
      'Gather',
      [b.op('Flatten', [value], [intAttr('axis', -1)]), positions],
      [intAttr('axis', 0)]
    );
  const producer = graph.node.find(n => n.output.includes(LOGITS));
  if (
    producer?.op_type === 'MatMul' &&
    constantValue(graph, producer.input[1])
  ) {
    const rows = flatRows(producer.input[0]);
    return {
      logits: b.op('MatMul', [rows, producer.input[1]]),
      vocab: weightColumns(graph, producer.input[1])
    };
  }
  return { logits: flatRows(LOGITS), vocab: undefined };
}

function declaredVocab(output: ValueInfoProto): number | undefined {
  const dims = output.type?.tensor_type?.shape?.dim ?? [];
  const last = dims[dims.length - 1];
  return last?.dim_value !== undefined ? toNumber(last.dim_value) : undefined;
}

/**
 * The outputs from the logits at the scored positions, then the greedy ones ([N + M, vocab]):
 * log softmax in float64 at each target of the first N, the argmax of the last M.
 */
function appendOutputs(b: GraphBuilder, logitsRows: string): void {
  const scored = b.op('Shape', [POSITIONS]);
  const rows = (value: string, from: string, to: string, output?: string) =>
    b.op('Slice', [value, from, to, b.ints([0])], [], output);
  const logits = b.cast(logitsRows, DataType.DOUBLE);
  const norm = b.reduce('ReduceLogSumExp', logits, [1], true);
  // The greedy rows' targets: 0, to be dropped.
  const targets = b.concat([TARGETS, b.op('Mul', [GREEDY, b.ints([0])])], 0);
  const target = b.op(
    'GatherElements',
    [logits, b.unsqueeze(targets, [1])],
    [intAttr('axis', 1)]
  );
  const logProbs = b.op('Reshape', [b.op('Sub', [target, norm]), b.ints([-1])]);
  rows(logProbs, b.ints([0]), scored, LOGPROB);
  const greedy = rows(logitsRows, scored, b.ints([2 ** 53]));
  b.op(
    'ArgMax',
    [b.cast(greedy, DataType.FLOAT)],
    [intAttr('axis', 1), intAttr('keepdims', 0)],
    ARGMAX
  );
}

/** Builds the evaluation graph from a model's proto; `label` names it in errors. */
export function buildEvalProto(proto: ModelProto, label: string): EvalProto {
  const graph = proto.graph as GraphProto;
  const logitsOutput = graph.output.find(o => o.name === LOGITS);
  if (!logitsOutput) {
    throw new CusprunError(
      'unsupported',
      `the model has no '${LOGITS}' output; evaluation needs next-token logits`,
      label
    );
  }
  const b = new GraphBuilder('cusprun.eval', defaultOpset(proto));
  const found = logitsAtPositions(b, graph, b.concat([POSITIONS, GREEDY], 0));
  appendOutputs(b, found.logits);
  const evalGraph = pruneToOutputs({
    ...graph,
    node: [...graph.node, ...b.nodes],
    initializer: [...graph.initializer, ...b.initializers],
    input: [
      ...graph.input,
      tensorValueInfo(POSITIONS, DataType.INT64, ['positions']),
      tensorValueInfo(TARGETS, DataType.INT64, ['positions']),
      tensorValueInfo(GREEDY, DataType.INT64, ['greedy'])
    ],
    output: [
      tensorValueInfo(LOGPROB, DataType.DOUBLE, ['positions']),
      tensorValueInfo(ARGMAX, DataType.INT64, ['greedy']),
      ...graph.output.filter(o => /present/.test(o.name))
    ]
  });
  return {
    proto: { ...proto, graph: evalGraph },
    vocab: declaredVocab(logitsOutput) ?? found.vocab
  };
}
