/**
 * Structural pruning: a smaller, valid ONNX model without the plan's units. Weights and biases
 * are gathered, baked-in widths and head counts are rewritten per layer, and the KV-cache inputs
 * and outputs of layers that lose KV heads get their new head count. The result equals the
 * original with the same units zeroed (see zero.ts); the source model is never modified. With
 * statistics, the removed units are compensated (compensate.ts).
 */
import { GraphIndex } from '../arch/graph';
import { CusprunError } from '../../core/errors';
import { ModelMap } from '../../core/model/model-map';
import { withInitializers } from '../onnx/edit';
import { OnnxModel } from '../onnx/model';
import {
  GraphProto,
  ModelProto,
  NodeProto,
  ValueInfoProto
} from '../onnx/proto';
import { UnitPlan } from '../../core/model/unit-plan';
import {
  CompensationStatistics,
  compensationEdits,
  withCompensation
} from './compensate';
import { CompensationEdits } from './compensation';
import { rewriteLayerShapes, ShapeEdits } from './shapes';
import { cutTensors, unitsByLayer } from './units';

/** Optimum's names for a layer's cache tensors. */
const CACHE_NAME = /^(?:past_key_values|present)\.(\d+)\.(?:key|value)$/;

function withKvHeads(
  info: ValueInfoProto,
  kvHeadsByLayer: Map<number, number>
): ValueInfoProto {
  const layer = CACHE_NAME.exec(info.name)?.[1];
  const kvHeads =
    layer === undefined ? undefined : kvHeadsByLayer.get(Number(layer));
  const shape = info.type?.tensor_type?.shape;
  if (
    kvHeads === undefined ||
    !shape ||
    shape.dim.length !== 4 ||
    shape.dim[1].dim_value === undefined
  ) {
    return info;
  }
  const dim = shape.dim.map((d, i) =>
    i === 1 ? { ...d, dim_value: BigInt(kvHeads) } : d
  );
  return {
    ...info,
    type: {
      ...info.type,
      tensor_type: { ...info.type?.tensor_type, shape: { ...shape, dim } }
    }
  };
}

/** Every value the nodes (and their subgraphs) read, and the graph's outputs. */
function valueNames(
  nodes: NodeProto[],
  outputs: ValueInfoProto[]
): Set<string> {
  const names = new Set(outputs.map(o => o.name));
  const visit = (list: NodeProto[]) => {
    for (const n of list) {
      n.input.forEach(i => names.add(i));
      for (const a of n.attribute) {
        [a.g, ...(a.graphs ?? [])].forEach(g => g && visit(g.node));
      }
    }
  };
  visit(nodes);
  return names;
}

export function pruneModel(
  model: OnnxModel,
  map: ModelMap,
  plan: UnitPlan,
  statistics?: CompensationStatistics
): ModelProto {
  const edits = compensationEdits(model, map, plan, statistics);
  return withCompensation(model, sliceUnits(model, map, plan, edits), edits);
}

function sliceUnits(
  model: OnnxModel,
  map: ModelMap,
  plan: UnitPlan,
  compensation: CompensationEdits
): ModelProto {
  if (map.blockers.length) {
    throw new CusprunError(
      'unsupported',
      `cannot prune this model safely: ${map.blockers.join('; ')}`,
      model.file
    );
  }
  const replacements = cutTensors(
    model,
    map,
    plan,
    'gather',
    compensation.weights
  );
  const index = new GraphIndex(model);
  const edits: ShapeEdits = {
    nodesBefore: new Map(),
    inputs: new Map(),
    initializers: []
  };
  const kvHeadsByLayer = new Map<number, number>();
  unitsByLayer(map, plan).forEach((units, i) => {
    const layer = map.layers[i];
    rewriteLayerShapes(index, layer, units, edits);
    if (units.attention.length) {
      kvHeadsByLayer.set(
        layer.index,
        layer.attention.kvHeads - units.attention.length
      );
    }
  });
  const sliced = withInitializers(model.proto, replacements);
  const graph = sliced.graph as GraphProto;
  const node = graph.node.flatMap(n => {
    const inputs = edits.inputs.get(n);
    const rewired = inputs
      ? { ...n, input: n.input.map((v, k) => inputs.get(k) ?? v) }
      : n;
    return [...(edits.nodesBefore.get(n) ?? []), rewired];
  });
  // A shape constant cloned for one layer can leave the shared original without a consumer.
  const before = valueNames(graph.node, graph.output);
  const after = valueNames(node, graph.output);
  const initializer = [...graph.initializer, ...edits.initializers].filter(
    t => after.has(t.name as string) || !before.has(t.name as string)
  );
  return {
    ...sliced,
    graph: {
      ...graph,
      node,
      initializer,
      input: graph.input.map(i => withKvHeads(i, kvHeadsByLayer)),
      output: graph.output.map(o => withKvHeads(o, kvHeadsByLayer)),
      // Intermediate shapes changed; onnxruntime infers them again.
      value_info: []
    }
  };
}
