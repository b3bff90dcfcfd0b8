/**
 * The model map: what `cusprun inspect --json` prints and what scoring and pruning build on.
 * Its JSON shape is a public contract (documented in docs/model-map.md): add fields, never
 * rename or remove them without raising `schemaVersion`.
 */

export const MODEL_MAP_SCHEMA_VERSION = 1;

/** A weight-bearing projection: MatMul or Gemm with a 2-D initializer as its weight. */
export interface LinearRef {
  /** The MatMul/Gemm node's name (`#N` for an unnamed node, N its position in the graph). */
  node: string;
  op: 'MatMul' | 'Gemm';
  /** The initializer holding the weight. */
  weight: string;
  /** `in-out`: stored [in, out] (y = x·W); `out-in`: stored [out, in] and transposed in the graph. */
  layout: 'in-out' | 'out-in';
  in: number;
  out: number;
  /** The initializer holding the bias, when the projection has one. */
  bias?: string;
  /** For a role inside a fused projection (qkv, gate_up, c_attn): its output columns [start, end). */
  columns?: [number, number];
  dtype: string;
}

export type FfnActivation = 'silu' | 'gelu' | 'gelu-tanh' | 'relu' | 'other';

export interface FfnMap {
  /** `gated`: down(act(gate(x)) ⊙ up(x)); `plain`: down(act(up(x))) as in GPT-2. */
  kind: 'gated' | 'plain';
  activation: FfnActivation;
  /** FFN width I: the number of prunable channels. */
  width: number;
  gate?: LinearRef;
  up: LinearRef;
  down: LinearRef;
  /** gate and up share one fused projection (gate columns first). */
  fusedGateUp: boolean;
  /** Prunable units: FFN channels. */
  units: number;
  /** Parameters removed with one channel: gate/up columns, down row, their bias entries. */
  paramsPerUnit: number;
  /** All parameters of the FFN projections, biases included. */
  params: number;
}

export interface AttentionMap {
  kind: 'mha' | 'gqa' | 'mqa';
  heads: number;
  kvHeads: number;
  headSize: number;
  /** Query heads per KV head (g = heads / kvHeads). */
  groupSize: number;
  q: LinearRef;
  k: LinearRef;
  v: LinearRef;
  o: LinearRef;
  /** q, k and v share one fused projection. */
  fusedQkv: boolean;
  /** Per-head RMSNorm weights on q and k ([headSize], shared by all heads), as in Qwen3. */
  qNorm?: string;
  kNorm?: string;
  /** Prunable units: KV groups (one KV head with its g query heads); for MHA, single heads. */
  units: number;
  paramsPerUnit: number;
  params: number;
}

/**
 * What a baked-in integer stands for; each changes when units are pruned. `fusedCut` is a size
 * or bound of a Split/Slice that cuts a fused projection (qkv, gate_up) into its parts.
 */
export type ShapeQuantity =
  | 'heads'
  | 'kvHeads'
  | 'qWidth'
  | 'kvWidth'
  | 'ffnWidth'
  | 'fusedWidth'
  | 'fusedCut';

/** One integer of a constant tensor that encodes a width or a head count. */
export interface ShapeConstant {
  /** The node whose shape/size input this is (Reshape, Expand, Split, Slice, …). */
  node: string;
  op: string;
  /** Which input of that node reads the shape. */
  input: number;
  /** Which element of that shape input the value is. */
  position: number;
  /** Whether the node belongs to the layer's attention or its FFN. */
  module: 'attention' | 'ffn';
  /** The constant tensor (initializer or Constant node output) that holds the value. */
  constant: string;
  /** Position of the value inside that constant. */
  element: number;
  value: number;
  quantity: ShapeQuantity;
  /** Other layers whose graph reads the same constant: a per-layer edit must clone it. */
  sharedWithLayers: number[];
}

export interface LayerMap {
  index: number;
  attention: AttentionMap;
  ffn: FfnMap;
  shapeConstants: ShapeConstant[];
}

export interface ValueInfo {
  name: string;
  dtype: string;
  shape: (number | string)[];
}

export interface ModelMap {
  schemaVersion: number;
  /** The .onnx file mapped. */
  file: string;
  family: string;
  /** How the family was decided: the folder's config.json `model_type`, or graph structure. */
  familySource: 'config' | 'structure';
  modelType?: string;
  /** Float type of the weights. */
  dtype: string;
  hidden: number;
  vocab: number;
  layers: LayerMap[];
  /** All parameters of the decoder layers' projections (the pruning ratio's denominator). */
  prunableParams: number;
  /** All parameters of the model: every float initializer, a tied lm_head's copy counted once. */
  totalParams: number;
  embedding?: string;
  lmHead?: LinearRef;
  tiedEmbeddings: boolean;
  kvCache: boolean;
  externalData: boolean;
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  opset: number;
  producer: string;
  /** Anything that would stop a structural prune of this export; empty when it can be pruned. */
  blockers: string[];
}
