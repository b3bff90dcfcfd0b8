/**
 * Finds the integers baked into a layer's graph that encode a width or a head count, so that a
 * structural prune can rewrite them: Reshape targets, Expand shapes (repeat_kv), Split sizes
 * and Slice bounds on fused projections, Tile repeats.
 */
import { NodeProto } from '../onnx/proto';
import { GraphIndex } from './graph';
import { Linear, nodeLabel } from './linear';
import { LayerMap, ShapeConstant, ShapeQuantity } from './types';

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

/** The projections of one mapped layer, as graph nodes. */
export interface LayerLinears {
  attentionInputs: Linear[];
  o: Linear;
  ffnInputs: Linear[];
  down: Linear;
}

export function findShapeConstants(
  index: GraphIndex,
  layers: LayerMap[],
  linears: LayerLinears[]
): void {
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
    const seen = new Set<string>();
    const candidates = [...attentionPath, ...ffnPath].filter(
      n =>
        (n.op_type !== 'Split' && n.op_type !== 'Slice') ||
        [...fused].some(f => index.isViewOf(n.input[0], f))
    );
    for (const node of candidates) {
      for (const position of SHAPE_INPUTS[node.op_type] ?? []) {
        const input = node.input[position];
        const entries = input ? index.traceInts(input) : undefined;
        for (const entry of entries ?? []) {
          if (
            entry.value === undefined ||
            entry.constant === undefined ||
            entry.element === undefined
          ) {
            continue;
          }
          const match = quantities.find(([value]) => value === entry.value);
          const key = `${nodeLabel(index, node)}|${entry.constant}|${entry.element}`;
          if (!match || seen.has(key)) {
            continue;
          }
          seen.add(key);
          const layerUsers = users.get(entry.constant) ?? new Set<number>();
          layerUsers.add(i);
          users.set(entry.constant, layerUsers);
          found[i].push({
            node: nodeLabel(index, node),
            op: node.op_type,
            constant: entry.constant,
            element: entry.element,
            value: entry.value,
            quantity: match[1],
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
}
