/**
 * Finds the integers baked into a layer's graph that encode a width or a head count, so that a
 * structural prune can rewrite them: Reshape targets, Expand shapes (repeat_kv), Split sizes
 * and Slice bounds on fused projections, Tile repeats.
 */
import { NodeProto } from '../onnx/proto';
import { GraphIndex } from './graph';
import { Linear, nodeLabel } from './linear';
import {
  LayerMap,
  ShapeConstant,
  ShapeQuantity
} from '../../core/model/model-map';

/**
 * Inputs that hold a shape, a size or a bound, by op. Split and Slice count only where they cut
 * a fused projection: elsewhere (rotate_half's halves) their bounds are head-size arithmetic
 * that can equal a head count by coincidence.
 */
const SHAPE_INPUTS: Record<string, number[]> = {
  Reshape: [1],
  Expand: [1],
  Split: [1],
  Slice: [1, 2],
  Tile: [1],
  ConstantOfShape: [0]
};

/** Slice ends at or past this mean "to the end" (exporters write INT64_MAX). */
const FAR = 2 ** 31;

/** The nodes on a data path from `from` down to `to` (exclusive). */
function pathNodes(
  index: GraphIndex,
  from: string[],
  to: Set<NodeProto>
): NodeProto[] {
  const nodes: NodeProto[] = [];
  index.search(from, 'down', node => {
    if (to.has(node)) {
      return true;
    }
    nodes.push(node);
    return false;
  });
  return nodes;
}

/**
 * The integer constants a shape expression is computed from, not looking past Shape nodes
 * (those give run-time sizes, which follow the pruned weights by themselves).
 */
function bakedInts(index: GraphIndex, value: string): number[] {
  const values: number[] = [];
  const seen = new Set<string>();
  const queue = [value];
  while (queue.length) {
    const current = queue.pop() as string;
    if (seen.has(current)) {
      continue;
    }
    seen.add(current);
    const ints = index.constantInts(current);
    const node = index.producer.get(current);
    if (ints) {
      values.push(...ints);
    } else if (node && node.op_type !== 'Shape') {
      queue.push(...node.input.filter(Boolean));
    }
  }
  return values;
}

/** The projections of one mapped layer, as graph nodes. */
export interface LayerLinears {
  attentionInputs: Linear[];
  o: Linear;
  ffnInputs: Linear[];
  down: Linear;
}

/**
 * Records each layer's shape constants on it. Returns what blocks pruning: a Reshape or Expand
 * inside a layer whose shape the tracer cannot read, computed from a constant that equals one of
 * the layer's widths or head counts, might bake a width nobody would rewrite.
 */
export function findShapeConstants(
  index: GraphIndex,
  layers: LayerMap[],
  linears: LayerLinears[]
): string[] {
  const unreadable: string[] = [];
  const users = new Map<string, Set<number>>();
  const found: ShapeConstant[][] = layers.map(() => []);
  layers.forEach((layer, i) => {
    const a = layer.attention;
    const f = layer.ffn;
    const own = linears[i];
    const quantities: [number, ShapeQuantity][] = [];
    if (a.kvHeads > 1) {
      quantities.push([a.heads, 'heads'], [a.kvHeads, 'kvHeads']);
    } else if (a.heads > 1) {
      quantities.push([a.heads, 'heads']);
    }
    quantities.push(
      [a.heads * a.headSize, 'qWidth'],
      [a.kvHeads * a.headSize, 'kvWidth']
    );
    if (a.fusedQkv) {
      quantities.push([(a.heads + 2 * a.kvHeads) * a.headSize, 'fusedWidth']);
    }
    quantities.push([f.width, 'ffnWidth']);
    if (f.fusedGateUp) {
      quantities.push([2 * f.width, 'fusedWidth']);
    }
    const fused = new Set<string>([
      ...(a.fusedQkv ? own.attentionInputs.map(l => l.output) : []),
      ...(f.fusedGateUp ? own.ffnInputs.map(l => l.output) : [])
    ]);
    const attentionPath = pathNodes(
      index,
      own.attentionInputs.map(l => l.output),
      new Set([own.o.node])
    );
    const ffnPath = pathNodes(
      index,
      own.ffnInputs.map(l => l.output),
      new Set([own.down.node])
    );
    const isFusedCut = (node: NodeProto) =>
      (node.op_type === 'Split' || node.op_type === 'Slice') &&
      [...fused].some(f => index.isViewOf(node.input[0], f));
    /**
     * What an integer at `position` of a `length`-long shape stands for. Positions settle what
     * values alone cannot: repeat_kv's Expand target is [batch, kvHeads, groupSize, time,
     * headSize], and a trailing head size or a group size never changes when groups go.
     */
    const classify = (
      node: NodeProto,
      position: number,
      length: number,
      value: number
    ): ShapeQuantity | undefined => {
      if (isFusedCut(node)) {
        return value > 0 && value < FAR ? 'fusedCut' : undefined;
      }
      if (node.op_type === 'Expand' && length === 5) {
        return position === 1 && a.kvHeads > 1 ? 'kvHeads' : undefined;
      }
      if (value === a.headSize && position === length - 1) {
        return undefined;
      }
      return quantities.find(([v]) => v === value)?.[1];
    };
    const seen = new Set<string>();
    const candidates = [
      ...attentionPath.map(node => ({ node, module: 'attention' as const })),
      ...ffnPath.map(node => ({ node, module: 'ffn' as const }))
    ].filter(
      ({ node }) =>
        (node.op_type !== 'Split' && node.op_type !== 'Slice') ||
        isFusedCut(node)
    );
    for (const { node, module } of candidates) {
      for (const shapeInput of SHAPE_INPUTS[node.op_type] ?? []) {
        const input = node.input[shapeInput];
        const traced = input ? index.traceInts(input) : undefined;
        if (
          !traced &&
          input &&
          (node.op_type === 'Reshape' || node.op_type === 'Expand') &&
          bakedInts(index, input).some(v => quantities.some(([q]) => q === v))
        ) {
          unreadable.push(
            `layer ${layer.index}: cannot read the shape that ${node.op_type} ${nodeLabel(index, node)} takes from '${input}', so pruning could leave a width in it unchanged`
          );
        }
        const entries = traced ?? [];
        for (const [position, entry] of entries.entries()) {
          if (
            entry.value === undefined ||
            entry.constant === undefined ||
            entry.element === undefined
          ) {
            continue;
          }
          const quantity = classify(
            node,
            position,
            entries.length,
            entry.value
          );
          const key = `${nodeLabel(index, node)}|${shapeInput}|${position}`;
          if (!quantity || seen.has(key)) {
            continue;
          }
          seen.add(key);
          const layerUsers = users.get(entry.constant) ?? new Set<number>();
          layerUsers.add(i);
          users.set(entry.constant, layerUsers);
          found[i].push({
            node: nodeLabel(index, node),
            op: node.op_type,
            input: shapeInput,
            position,
            module,
            constant: entry.constant,
            element: entry.element,
            value: entry.value,
            quantity,
            sharedWithLayers: []
          });
        }
      }
    }
  });
  layers.forEach((layer, i) => {
    layer.shapeConstants = found[i].map(c => ({
      ...c,
      sharedWithLayers: [...(users.get(c.constant) ?? [])]
        .filter(l => l !== i)
        .sort((a, b) => a - b)
    }));
  });
  return unreadable;
}
