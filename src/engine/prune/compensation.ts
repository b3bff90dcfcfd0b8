/**
 * Bias compensation (FLAP's idea, training-free): a removed unit's mean contribution is folded
 * into a bias after the projection its channels fed, so the model equals the original with each
 * removed unit's activations replaced by their means instead of zero:
 * - FFN channel k: bias_down += mean(h[:, k]) · W_down[k, :];
 * - attention group j: bias_o += Σ over its channels c of mean(A[:, c]) · W_o[c, :].
 * `compensationBiases` computes the vectors; `withProjectionBiases` adds them to a model — the
 * zeroed reference and the pruned model alike, so verification compares the two as before.
 * Regression compensation (regression.ts) also edits the projections' weights.
 */
import { CusprunError } from '../../core/errors';
import { LayerMap, LinearRef, ModelMap } from '../../core/model/model-map';
import { LayerCuts, UnitPlan } from '../../core/model/unit-plan';
import { bytesToFloat32, elementBytes, float32ToBytes } from '../onnx/dtype';
import { inlineTensor, tensorWithData } from '../onnx/edit';
import { OnnxModel } from '../onnx/model';
import { GraphProto, ModelProto, NodeProto, TensorProto } from '../onnx/proto';
import { tensorDims } from '../onnx/tensor';
import { ProjectionMeans } from './means';
import { unitsByLayer } from './units';

const CHUNK_BYTES = 8 << 20;

/** A vector to add to a projection's output ([out]). */
export interface ProjectionBias {
  layer: number;
  kind: 'ffn' | 'attention';
  projection: LinearRef;
  values: Float64Array;
}

/**
 * What compensating a plan changes: vectors added to projections' outputs, and projection
 * weights replaced (by name) before the plan's units are cut from them.
 */
export interface CompensationEdits {
  biases: ProjectionBias[];
  weights: Map<string, TensorProto>;
}

/** The float weight initializer of a projection, with its element size. */
export function weightOf(
  model: OnnxModel,
  ref: LinearRef
): { tensor: TensorProto; size: number } {
  const tensor = model.initializers.get(ref.weight);
  const size = elementBytes(tensor?.data_type ?? 0);
  if (!tensor || size === undefined) {
    throw new CusprunError(
      'unmappable',
      `the weight '${ref.weight}' of ${ref.node} is not a float initializer`,
      model.file
    );
  }
  return { tensor, size };
}

/** Σ_c means[c] · W[c, :] over the input channels c of y = x·W, read in bounded chunks. */
export function foldInputMeans(
  model: OnnxModel,
  ref: LinearRef,
  channels: number[],
  means: ArrayLike<number>
): Float64Array {
  const { tensor, size } = weightOf(model, ref);
  const [stored, cols] = tensorDims(tensor);
  const out = new Float64Array(ref.out);
  if (ref.layout === 'in-out') {
    for (const c of channels) {
      const row = bytesToFloat32(
        model.slice(tensor, c * cols * size, cols * size),
        tensor.data_type as number
      );
      row.forEach((w, j) => (out[j] += means[c] * w));
    }
    return out;
  }
  // Stored [out, in]: each stored row is one output, the channels are its columns.
  const rowsPerChunk = Math.max(1, Math.floor(CHUNK_BYTES / (cols * size)));
  for (let start = 0; start < stored; start += rowsPerChunk) {
    const count = Math.min(rowsPerChunk, stored - start);
    const values = bytesToFloat32(
      model.slice(tensor, start * cols * size, count * cols * size),
      tensor.data_type as number
    );
    for (let r = 0; r < count; r++) {
      for (const c of channels) {
        out[start + r] += means[c] * values[r * cols + c];
      }
    }
  }
  return out;
}

/** The compensation vectors of a plan: one per down/o projection that loses units. */
export function compensationBiases(
  model: OnnxModel,
  map: ModelMap,
  plan: UnitPlan,
  means: ProjectionMeans
): ProjectionBias[] {
  return unitsByLayer(map, plan).flatMap((units, i) => {
    const layer = map.layers[i];
    const layerMeans = means.layers.find(l => l.index === layer.index);
    if (!layerMeans) {
      throw new CusprunError(
        'bad-argument',
        `the means have no layer ${layer.index}; were they computed for another model?`
      );
    }
    return removedChannels(layer, units).map(p => {
      const values = layerMeans[p.kind];
      if (values.length !== p.projection.in) {
        throw new CusprunError(
          'bad-argument',
          `layer ${layer.index}: ${values.length} ${p.kind} means for a projection of ${p.projection.in} inputs; were they computed for another model?`
        );
      }
      return {
        layer: layer.index,
        kind: p.kind,
        projection: p.projection,
        values: foldInputMeans(model, p.projection, p.channels, values)
      };
    });
  });
}

/** The input channels of the down (FFN) and o (attention) projections a layer's cuts remove. */
export function removedChannels(
  layer: LayerMap,
  units: LayerCuts
): { kind: 'ffn' | 'attention'; projection: LinearRef; channels: number[] }[] {
  const { attention } = layer;
  const groupWidth = attention.groupSize * attention.headSize;
  const parts = [
    { kind: 'ffn' as const, projection: layer.ffn.down, channels: units.ffn },
    {
      kind: 'attention' as const,
      projection: attention.o,
      channels: units.attention.flatMap(j =>
        Array.from({ length: groupWidth }, (_, c) => j * groupWidth + c)
      )
    }
  ];
  return parts.filter(p => p.channels.length > 0);
}

/** The node that produces `value` in a graph. */
function producerOf(graph: GraphProto, value: string): number {
  const at = graph.node.findIndex(n => n.output.includes(value));
  if (at < 0) {
    throw new CusprunError(
      'unmappable',
      `no node produces '${value}' (was the model map made for another file?)`
    );
  }
  return at;
}

/** The projection's output value in the source graph (its node by the map's label). */
function projectionOutput(model: OnnxModel, ref: LinearRef): string {
  const byIndex = /^#(\d+)$/.exec(ref.node);
  const node: NodeProto | undefined = byIndex
    ? model.graph.node[Number(byIndex[1])]
    : model.graph.node.find(n => n.name === ref.node);
  if (!node) {
    throw new CusprunError(
      'unmappable',
      `the model map names node '${ref.node}', which the graph does not have`,
      model.file
    );
  }
  return node.output[0];
}

/**
 * `proto` (an edited copy of `model`: zeroed or pruned) with each vector added to its
 * projection's output: into the projection's bias initializer when it has one, else by a new
 * Add node with a new initializer right after the projection.
 */
export function withProjectionBiases(
  model: OnnxModel,
  proto: ModelProto,
  biases: ProjectionBias[]
): ModelProto {
  const graph = proto.graph as GraphProto;
  const replaced = new Map<string, TensorProto>();
  const added: TensorProto[] = [];
  const after = new Map<number, NodeProto>();
  for (const bias of biases) {
    const { projection: ref } = bias;
    const dataType = weightOf(model, ref).tensor.data_type as number;
    if (ref.bias) {
      const tensor = model.initializers.get(ref.bias) as TensorProto;
      const old = bytesToFloat32(
        model.slice(tensor, 0, ref.out * (elementBytes(dataType) as number)),
        tensor.data_type as number
      );
      const sum = Array.from(old, (v, j) => v + bias.values[j]);
      replaced.set(
        ref.bias,
        tensorWithData(tensor, float32ToBytes(sum, tensor.data_type as number))
      );
      continue;
    }
    const name = `cusprun.compensation.${bias.layer}.${bias.kind}`;
    added.push(
      inlineTensor(
        name,
        dataType,
        [ref.out],
        float32ToBytes(bias.values, dataType)
      )
    );
    const output = projectionOutput(model, ref);
    const at = producerOf(graph, output);
    const uncompensated = `${output}.cusprun.uncompensated`;
    after.set(at, {
      name: `${name}.add`,
      op_type: 'Add',
      domain: '',
      input: [uncompensated, name],
      output: [output],
      attribute: [],
      metadata_props: []
    });
  }
  const node = graph.node.flatMap((n, i) => {
    const add = after.get(i);
    if (!add) {
      return [n];
    }
    const rewired = { ...n, output: [add.input[0], ...n.output.slice(1)] };
    return [rewired, add];
  });
  return {
    ...proto,
    graph: {
      ...graph,
      node,
      initializer: [
        ...graph.initializer.map(t => replaced.get(t.name ?? '') ?? t),
        ...added
      ]
    }
  };
}
