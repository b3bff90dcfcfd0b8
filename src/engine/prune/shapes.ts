/**
 * Rewrites the integers a graph bakes in for a layer's widths and head counts (Reshape targets,
 * repeat_kv Expand shapes, Split sizes and Slice bounds of fused projections). A constant can be
 * shared by every layer and reused for unrelated values (dynamo deduplicates small integers
 * across the graph: one `2` may be both a KV-head count and a group size in the same Concat), so
 * nothing is edited in place: each rewritten shape input gets its own copy of the chain
 * (Concat/Unsqueeze/Gather/…) down to fresh constants, rewritten by element position.
 */
import { GraphIndex, sliceRange } from '../arch/graph';
import { nodeLabel } from '../arch/linear';
import { LayerMap, ShapeConstant } from '../../core/model/model-map';
import { DataType } from '../onnx/dtype';
import { tensorWithData } from '../onnx/edit';
import { NodeProto, TensorProto } from '../onnx/proto';
import { tensorDims } from '../onnx/tensor';
import { LayerCuts } from '../../core/model/unit-plan';

/** Ops that keep element order from their first input to their output. */
const VIEW_OPS = new Set([
  'Identity',
  'Cast',
  'Squeeze',
  'Unsqueeze',
  'Reshape'
]);

/** The new value of one baked-in integer once the layer has lost `units`. */
export function rewrittenValue(
  layer: LayerMap,
  units: LayerCuts,
  constant: ShapeConstant
): number {
  const { heads: h, kvHeads: kv, headSize: d, groupSize: g } = layer.attention;
  const h2 = h - units.attention.length * g;
  const kv2 = kv - units.attention.length;
  const i = layer.ffn.width;
  const i2 = i - units.ffn.length;
  // Sizes and bounds of the parts of a fused projection: q | k | v, or gate | up.
  const fused: [number, number][] =
    constant.module === 'attention'
      ? [
          [h * d, h2 * d],
          [kv * d, kv2 * d],
          [(h + kv) * d, (h2 + kv2) * d],
          [(h + 2 * kv) * d, (h2 + 2 * kv2) * d]
        ]
      : [
          [i, i2],
          [2 * i, 2 * i2]
        ];
  switch (constant.quantity) {
    case 'heads':
      return h2;
    case 'kvHeads':
      return kv2;
    case 'qWidth':
      return h2 * d;
    case 'kvWidth':
      return kv2 * d;
    case 'ffnWidth':
      return i2;
    case 'fusedWidth':
    case 'fusedCut':
      return (
        fused.find(([old]) => old === constant.value)?.[1] ?? constant.value
      );
  }
}

function setInt(
  bytes: Uint8Array,
  dataType: number,
  element: number,
  value: number
): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dataType === DataType.INT64) {
    view.setBigInt64(element * 8, BigInt(value), true);
  } else {
    view.setInt32(element * 4, value, true);
  }
}

export interface ShapeEdits {
  /** New nodes to insert right before the node whose input they feed. */
  nodesBefore: Map<NodeProto, NodeProto[]>;
  /** Replacement inputs per node: input position → new value name. */
  inputs: Map<NodeProto, Map<number, string>>;
  initializers: TensorProto[];
}

/** Collects the copies and rewires that give one layer its new shape integers. */
export function rewriteLayerShapes(
  index: GraphIndex,
  layer: LayerMap,
  units: LayerCuts,
  edits: ShapeEdits
): void {
  const changes = new Map<string, Map<number, number>>();
  for (const c of layer.shapeConstants) {
    const value = rewrittenValue(layer, units, c);
    if (value !== c.value) {
      const key = `${c.node}\u0000${c.input}`;
      changes.set(
        key,
        (changes.get(key) ?? new Map<number, number>()).set(c.position, value)
      );
    }
  }
  let serial = 0;
  const fresh = (name: string) => `${name}/cusprun.l${layer.index}.${serial++}`;
  for (const [key, positions] of changes) {
    const [label, input] = key.split('\u0000');
    const node = index.graph.node.find(
      n => nodeLabel(index, n) === label
    ) as NodeProto;
    const copies: NodeProto[] = [];
    const copy = (producer: NodeProto, inputs: string[]): string => {
      const output = fresh(producer.output[0]);
      copies.push({
        ...producer,
        name: fresh(producer.name || producer.op_type),
        input: inputs,
        output: [output]
      });
      return output;
    };
    /** `value` with the integers at `at` (element position → new value) rewritten. */
    const rewrite = (value: string, at: Map<number, number>): string => {
      if (at.size === 0) {
        return value;
      }
      const constant = index.constant(value);
      if (constant) {
        const bytes = new Uint8Array(index.model.bytes(constant));
        at.forEach((v, element) =>
          setInt(bytes, constant.data_type ?? 0, element, v)
        );
        const name = fresh(value);
        edits.initializers.push({
          ...tensorWithData(constant, bytes, tensorDims(constant)),
          name
        });
        return name;
      }
      const producer = index.producer.get(value) as NodeProto;
      if (VIEW_OPS.has(producer.op_type)) {
        return copy(producer, [
          rewrite(producer.input[0], at),
          ...producer.input.slice(1)
        ]);
      }
      if (producer.op_type === 'Concat') {
        let offset = 0;
        const inputs = producer.input.map(part => {
          const length = index.traceInts(part)?.length ?? 0;
          const local = new Map<number, number>();
          at.forEach((v, p) => {
            if (p >= offset && p < offset + length) {
              local.set(p - offset, v);
            }
          });
          offset += length;
          return rewrite(part, local);
        });
        return copy(producer, inputs);
      }
      if (producer.op_type === 'Slice') {
        const length = index.traceInts(producer.input[0])?.length;
        const range =
          sliceRange(producer, length, i =>
            index.evaluateInts(producer.input[i])
          ) ?? [];
        const local = new Map<number, number>();
        at.forEach((v, p) => local.set(range[p], v));
        return copy(producer, [
          rewrite(producer.input[0], local),
          ...producer.input.slice(1)
        ]);
      }
      if (producer.op_type === 'Gather') {
        const length = index.traceInts(producer.input[0])?.length ?? 0;
        const indices = index.evaluateInts(producer.input[1]) ?? [];
        const local = new Map<number, number>();
        at.forEach((v, p) => {
          const i = indices[p] as number;
          local.set(i < 0 ? length + i : i, v);
        });
        return copy(producer, [
          rewrite(producer.input[0], local),
          producer.input[1]
        ]);
      }
      throw new Error(
        `cannot rewrite a shape computed by ${producer.op_type} (${value})`
      );
    };
    const position = Number(input);
    const replaced = rewrite(node.input[position], positions);
    edits.nodesBefore.set(node, [
      ...(edits.nodesBefore.get(node) ?? []),
      ...copies
    ]);
    edits.inputs.set(
      node,
      (edits.inputs.get(node) ?? new Map<number, string>()).set(
        position,
        replaced
      )
    );
  }
}
