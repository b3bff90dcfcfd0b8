/**
 * Staged execution: a graph cut into contiguous slices of its (topologically ordered) nodes,
 * each holding at most a budget of initializer bytes, so that a forward can run slice by slice
 * and onnxruntime only ever holds (or maps) one slice's weights. Pure graph logic: the runner
 * (prune/verify.ts) opens the slices' sessions and carries the boundary tensors between them.
 */
import {
  GraphProto,
  ModelProto,
  NodeProto,
  TensorProto,
  ValueInfoProto
} from './proto';

export interface Stage {
  /** Indices into the graph's nodes, in an order that computes each value before its use. */
  nodes: number[];
  /** Names of the initializers the stage's nodes read. */
  initializers: string[];
  /** Their bytes. */
  bytes: number;
  /** Values the stage reads from graph inputs or earlier stages, in order of first use. */
  inputs: string[];
  /** Values the stage makes that later stages or the fetches read. */
  outputs: string[];
}

export type Staging = { stages: Stage[] } | { refused: string };

/** Names a subgraph reads from the scopes around it (its outer-scope references). */
function outerReferences(graph: GraphProto): Set<string> {
  const defined = new Set<string>([
    ...graph.input.map(i => i.name),
    ...graph.initializer.map(t => t.name ?? ''),
    ...graph.node.flatMap(n => n.output)
  ]);
  const refs = new Set<string>();
  for (const node of graph.node) {
    for (const name of consumed(node)) {
      if (!defined.has(name)) {
        refs.add(name);
      }
    }
  }
  return refs;
}

/** Every value a node reads: its inputs, and what its subgraphs (If, Loop, Scan) read outside. */
export function consumed(node: NodeProto): string[] {
  const names = node.input.filter(name => name !== '');
  for (const attribute of node.attribute) {
    for (const graph of [
      ...(attribute.g ? [attribute.g] : []),
      ...(attribute.graphs ?? [])
    ]) {
      names.push(...outerReferences(graph));
    }
  }
  return [...new Set(names)];
}

/** Indices of the nodes the fetches depend on, in graph order, or why the graph cannot be cut. */
function neededNodes(graph: GraphProto, fetches: string[]): number[] | string {
  const producer = new Map<string, number>();
  graph.node.forEach((node, i) =>
    node.output.forEach(name => producer.set(name, i))
  );
  const needed = new Set<number>();
  const pending = [...fetches];
  while (pending.length) {
    const at = producer.get(pending.pop() as string);
    if (at !== undefined && !needed.has(at)) {
      needed.add(at);
      pending.push(...consumed(graph.node[at]));
    }
  }
  const missing = fetches.find(f => !producer.has(f));
  if (missing !== undefined) {
    return `no node computes '${missing}'`;
  }
  return [...needed].sort((a, b) => a - b);
}

/**
 * Cuts the nodes that `fetches` need into stages of at most `cut` initializer bytes each (a
 * single node whose own initializers pass the budget gets a stage to itself), or, with `cut` a
 * list of node names (stageStarts of another model of the same graph), where those nodes begin.
 * An initializer that nodes of several stages read (a tied embedding) counts in each. Refuses,
 * with the reason, a graph whose nodes are not in topological order, read values nothing
 * defines, or lack a node `cut` names.
 */
export function planStages(
  graph: GraphProto,
  fetches: string[],
  cut: number | string[],
  bytesOf: (tensor: TensorProto) => number
): Staging {
  const nodes = neededNodes(graph, fetches);
  if (typeof nodes === 'string') {
    return { refused: nodes };
  }
  const groups = nodeGroups(graph, nodes);
  if (typeof groups === 'string') {
    return { refused: groups };
  }
  const names = new Set(nodes.map(i => graph.node[i].name ?? ''));
  const missing = typeof cut === 'number' ? [] : cut.filter(n => !names.has(n));
  if (missing.length) {
    return { refused: `the graph has no node '${missing[0]}' to cut at` };
  }
  const starts = new Set(typeof cut === 'number' ? [] : cut);
  const begins = (group: number[], bytes: number, stage: Stage) =>
    typeof cut === 'number'
      ? bytes > 0 && stage.bytes > 0 && stage.bytes + bytes > cut
      : group.some(i => starts.has(graph.node[i].name ?? ''));
  const initializers = new Map(graph.initializer.map(t => [t.name ?? '', t]));
  const stages: Stage[] = [];
  for (const group of groups) {
    const last = stages[stages.length - 1] as Stage | undefined;
    const added = [
      ...new Set(group.flatMap(i => consumed(graph.node[i])))
    ].filter(
      name => initializers.has(name) && !last?.initializers.includes(name)
    );
    const bytes = added.reduce(
      (n, name) => n + bytesOf(initializers.get(name) as TensorProto),
      0
    );
    const stage: Stage =
      last && !begins(group, bytes, last)
        ? last
        : { nodes: [], initializers: [], bytes: 0, inputs: [], outputs: [] };
    if (stage !== last) {
      stages.push(stage);
    }
    stage.nodes.push(...group);
    stage.initializers.push(...added);
    stage.bytes += bytes;
  }
  linkStages(graph, stages, fetches);
  return { stages };
}

/**
 * The nodes in groups that stay in one stage: each node that depends on a graph input, preceded
 * by the nodes not yet placed that compute its constant inputs (values made from initializers
 * alone), so a constant is made in the stage that reads it rather than passed in from an
 * earlier one: it can be as large as a weight (a tied lm_head's Transpose of the embedding, 1 GB
 * on Llama-3.2-1B), and a boundary value is held once per sequence. A constant that nodes of
 * several stages read is made in the first and passed on (none in the fixture exports). Each
 * group lists its nodes in dependency order.
 */
function nodeGroups(graph: GraphProto, nodes: number[]): number[][] | string {
  const initializers = new Set(graph.initializer.map(t => t.name ?? ''));
  const available = new Set(graph.input.map(i => i.name));
  const constants = new Map<string, number>();
  const placed = new Set<number>();
  const take = (name: string, group: number[]) => {
    const at = constants.get(name);
    if (at !== undefined && !placed.has(at)) {
      placed.add(at);
      consumed(graph.node[at]).forEach(read => take(read, group));
      group.push(at);
    }
  };
  const groups: number[][] = [];
  for (const i of nodes) {
    const reads = consumed(graph.node[i]);
    const known = (name: string) =>
      initializers.has(name) || constants.has(name);
    const unknown = reads.find(name => !available.has(name) && !known(name));
    if (unknown !== undefined) {
      return `node '${graph.node[i].name ?? i}' reads '${unknown}' before anything computes it`;
    }
    if (reads.every(known)) {
      graph.node[i].output.forEach(name => constants.set(name, i));
      continue;
    }
    const group: number[] = [];
    reads.forEach(name => take(name, group));
    groups.push([...group, i]);
    placed.add(i);
    graph.node[i].output.forEach(name => available.add(name));
  }
  const rest = nodes.filter(i => !placed.has(i));
  return rest.length ? [...groups, rest] : groups;
}

/**
 * The names of the nodes that begin each stage after the first, for planStages to cut another
 * model of the same graph (a pruned model and its zeroed reference) at the same places.
 * onnxruntime fuses nodes within a stage only, so the two then round alike; cut at different
 * places, float16 logits differ by more than the check's bound. Undefined when a node that
 * begins a stage has no name (or shares it).
 */
export function stageStarts(
  graph: GraphProto,
  stages: Stage[]
): string[] | undefined {
  const count = new Map<string, number>();
  graph.node.forEach(n =>
    count.set(n.name ?? '', (count.get(n.name ?? '') ?? 0) + 1)
  );
  const starts = stages.slice(1).map(s => graph.node[s.nodes[0]].name ?? '');
  return starts.every(n => n !== '' && count.get(n) === 1) ? starts : undefined;
}

/** Fills each stage's inputs (values from outside it) and outputs (values read after it). */
function linkStages(graph: GraphProto, stages: Stage[], fetches: string[]) {
  const initializers = new Set(graph.initializer.map(t => t.name ?? ''));
  const madeIn = new Map<string, number>();
  stages.forEach((stage, s) => {
    const inputs = new Set<string>();
    for (const i of stage.nodes) {
      for (const name of consumed(graph.node[i])) {
        if (!initializers.has(name) && madeIn.get(name) !== s) {
          inputs.add(name);
        }
      }
      graph.node[i].output.forEach(name => madeIn.set(name, s));
    }
    stage.inputs = [...inputs];
  });
  const read = (name: string, s: number) => {
    const from = madeIn.get(name);
    if (
      from !== undefined &&
      from < s &&
      !stages[from].outputs.includes(name)
    ) {
      stages[from].outputs.push(name);
    }
  };
  stages.forEach((stage, s) => stage.inputs.forEach(name => read(name, s)));
  fetches.forEach(name => read(name, stages.length));
}

/**
 * One stage as a model of its own: the stage's nodes and initializers, its inputs typed from
 * the graph's inputs and value_info or else from `elemTypes` (the element types of the values
 * earlier stages produced), its outputs typed where the graph says (onnxruntime infers the rest).
 */
export function stageModel(
  proto: ModelProto,
  stage: Stage,
  elemTypes: Map<string, number>
): ModelProto {
  const graph = proto.graph as GraphProto;
  const known = new Map<string, ValueInfoProto>(
    [...graph.value_info, ...graph.input, ...graph.output].map(v => [v.name, v])
  );
  const info = (name: string): ValueInfoProto => {
    const elemType = elemTypes.get(name);
    return (
      known.get(name) ??
      (elemType === undefined
        ? { name }
        : { name, type: { tensor_type: { elem_type: elemType } } })
    );
  };
  const kept = new Set(stage.initializers);
  const nodes = stage.nodes.map(i => graph.node[i]);
  const made = new Set(nodes.flatMap(n => n.output));
  return {
    ...proto,
    graph: {
      ...graph,
      node: nodes,
      initializer: graph.initializer.filter(t => kept.has(t.name ?? '')),
      input: stage.inputs.map(info),
      output: stage.outputs.map(info),
      value_info: graph.value_info.filter(
        v => made.has(v.name) && !stage.outputs.includes(v.name)
      )
    }
  };
}
