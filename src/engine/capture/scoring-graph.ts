/**
 * The scoring graph: the model cut down to what the relevance scores need, with the reductions
 * computed inside the graph, per document (batch row), over real tokens only. It fetches only
 * those reductions, so a scoring pass costs about one forward without the lm_head.
 *
 * Per layer l (method.md's scores, before the JS side combines them, see `ScoringOutput`):
 * - `cusprun.ffn.{l}` [batch, I], with h the down projection's input:
 *   `paper` Σ_t mask·h[t,k]²; `code` (the PLND code form) Σ_t mask·|x·W_up|[t,k];
 *   `wanda` Σ_t mask·|h[t,k]|.
 * - `cusprun.attn.{l}`, with A the o projection's input:
 *   `paper`/`code` [batch, G]: Σ_t mask·‖Σ_{h∈group j} A_h·W_o[rows of h, :]‖², in whichever
 *   form costs less per token (`attentionForm`): the Gram form a_j·(W_j·W_jᵀ)·a_jᵀ with the
 *   per-group Gram matrix ([g·d, g·d], folded into a constant by onnxruntime at load), H·d·g·d
 *   multiply-adds; or the direct form a_j·W_j per group, H·d·D — and none at all for a layer
 *   with a single group, whose contribution is the o projection's own output;
 *   `wanda` [batch, H·d]: Σ_t mask·|A[t,c]| per input channel c.
 * Squares are taken in float32 (Cast first), so fp16 models do not overflow.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  AttentionMap,
  LayerMap,
  LinearRef,
  ModelMap
} from '../../core/model/model-map';
import { CusprunError } from '../../core/errors';
import { DataType } from '../onnx/dtype';
import { OnnxModel } from '../onnx/model';
import { makeTempDir, removeTempDir } from '../output/temp-dir';
import { GraphProto, ModelProto, NodeProto, toNumber } from '../onnx/proto';
import {
  defaultOpset,
  GraphBuilder,
  pruneToOutputs,
  tensorValueInfo
} from './graph-builder';

/**
 * Which scores a pass computes: `paper` (method.md's relevance, the default), `code` (PLND's
 * code-form FFN score), or `wanda` (the Wanda-style structured baseline's activation sums).
 */
export type ScoreForm = 'paper' | 'code' | 'wanda';
/**
 * What a scoring graph reduces: a score form, or statistics of each down (FFN) and o (attention)
 * input channel, which are no unit scores: `flap`, the FLAP-style baseline's moments
 * (baselines/flap.ts), or `gram`, the channels' sums and Gram matrix (prune/regression.ts).
 */
export type GraphForm = ScoreForm | 'flap' | 'gram';
export type ScoreKind = 'ffn' | 'attention';

/**
 * How a layer's attention-group scores are computed (the same numbers up to rounding): `gram`
 * a_j·(W_j·W_jᵀ)·a_jᵀ, `direct` ‖a_j·W_j‖², `output` the o projection's own output (one group).
 */
export type AttentionForm = 'gram' | 'direct' | 'output';

/**
 * One reduction the graph returns, and how the scorer turns it into unit scores: take the
 * square root of a sum of squares, multiply value c by ‖W[c, :]‖₂ of the module's output
 * projection when `scaleByRowNorms`, then add up each unit's `width / units` values.
 */
export interface ScoringOutput {
  /** Graph output name: `cusprun.ffn.{layer}` or `cusprun.attn.{layer}`. */
  name: string;
  layer: number;
  kind: ScoreKind;
  /** Units of the layer's module: FFN channels or attention groups. */
  units: number;
  /** Values per batch row in the graph output (a multiple of `units`). */
  width: number;
  /**
   * What the graph sums over real tokens; `moments`: Σ_t v per channel, then Σ_t v²; `gram`:
   * Σ_t v per channel, then Σ_t v·vᵀ row-major, over the whole batch (one row).
   */
  reduction: 'sum-of-squares' | 'sum-of-abs' | 'moments' | 'gram';
  /** Weight each value by the row norm of the down (FFN) or o (attention) projection. */
  scaleByRowNorms: boolean;
  /** For attention-group scores (`paper`, `code`): the form the graph computes them in. */
  attentionForm?: AttentionForm;
}

/** An input the scoring graph reads and how a batch fills it. */
export interface ScoringInput {
  name: string;
  role: 'input-ids' | 'attention-mask' | 'position-ids' | 'past';
  elemType: number;
  /** For `past`: the shape with the batch axis as -1 and the past-length axis as 0. */
  dims?: number[];
}

export interface ScoringProto {
  proto: ModelProto;
  outputs: ScoringOutput[];
  inputs: ScoringInput[];
  scoreForm: GraphForm;
}

export interface BuildOptions {
  scoreForm?: GraphForm;
  /** Every layer's attention form; default: the cheapest per layer (`attentionForm`). */
  attentionForm?: AttentionForm;
  /**
   * The layers whose reductions the graph returns (default every layer); the graph stops after
   * the last of them, so a pass over early layers costs less than a whole forward pass.
   */
  layers?: readonly number[];
}

export interface ScoringGraphOptions extends BuildOptions {
  /**
   * Folder under which the graph's own temporary folder is made (default `os.tmpdir()`). On
   * the model's filesystem, external data is hard-linked rather than copied.
   */
  workDir?: string;
  /** Hard-link the source's external data instead of copying it when possible (default true). */
  link?: boolean;
}

export const OUTPUT_PREFIX = 'cusprun.';
const IDS = 'input_ids';
const MASK = 'attention_mask';
const OWN_MASK = 'cusprun.mask';
const POSITION_IDS = 'position_ids';

/** Finds a node by the label the model map uses: its name, or `#N` for the N-th node. */
function nodeByLabel(graph: GraphProto, label: string): NodeProto {
  const byIndex = /^#(\d+)$/.exec(label);
  const node = byIndex
    ? graph.node[Number(byIndex[1])]
    : graph.node.find(n => n.name === label);
  if (!node || (byIndex && node.name)) {
    throw new CusprunError(
      'unmappable',
      `the model map names node '${label}', which the graph does not have (was the map made for another file?)`
    );
  }
  return node;
}

function floatAttr(node: NodeProto, name: string, fallback: number): number {
  const a = node.attribute.find(x => x.name === name);
  return a?.f ?? fallback;
}

/** The values `input` holds in a past/present KV input: batch, then sizes, past length 0. */
function pastDims(
  name: string,
  shape: { dim_value?: bigint; dim_param?: string }[]
): number[] {
  const symbolic = shape
    .map((d, i) => (d.dim_value === undefined || d.dim_param ? i : -1))
    .filter(i => i > 0);
  const past =
    symbolic.length === 1
      ? symbolic[0]
      : symbolic.find(i => /past|seq|len/i.test(shape[i].dim_param ?? ''));
  if (past === undefined) {
    throw new CusprunError(
      'unsupported',
      `cannot tell which axis of the KV-cache input '${name}' is the past length`
    );
  }
  return shape.map((d, i) =>
    i === 0 ? -1 : i === past ? 0 : toNumber(d.dim_value)
  );
}

/**
 * What every reduction is built from. Sums over tokens are products with the mask (a MatMul
 * reads its operand once; masking, then reducing, costs a pass more).
 */
interface Reducer {
  b: GraphBuilder;
  source: GraphProto;
  batchTime: string;
  /** `value` (any layout of [batch·time…, width]) as float32 [B, T, width]. */
  perToken(value: string, width: number): string;
  /** Σ over real tokens of a [B, T, width] value, as [B, width]. */
  tokenSum(value: string, width: number, output?: string): string;
  /** Σ over real tokens of a [B, G, T] value, as [B, G]. */
  groupTokenSum(value: string, groups: number, output?: string): string;
  /** A [B, T, width] value with its padding tokens' rows zeroed. */
  masked(value: string): string;
}

/**
 * The cheapest attention form for a layer, by multiply-adds per token: `output` (none) for a
 * single group whose o projection adds no bias of its own, else `gram` (H·d·g·d) when a group
 * is narrower than the hidden size, else `direct` (H·d·D).
 */
export function cheapestAttentionForm(
  attention: AttentionMap,
  source: GraphProto
): AttentionForm {
  if (attention.kvHeads === 1 && outputFormFits(attention, source)) {
    return 'output';
  }
  return attention.groupSize * attention.headSize < attention.o.out
    ? 'gram'
    : 'direct';
}

/** The o projection's own output is a·W_o exactly: a plain MatMul, or a Gemm with no bias. */
function outputFormFits(attention: AttentionMap, source: GraphProto): boolean {
  const node = nodeByLabel(source, attention.o.node);
  return !attention.o.columns && (node.op_type === 'MatMul' || !node.input[2]);
}

/** Σ_t over real tokens of ‖a_j·W_j‖² per group j, as [B, G], in the given form. */
function attentionGroupScores(
  r: Reducer,
  layer: LayerMap,
  form: AttentionForm,
  output: string
): void {
  const { b, batchTime } = r;
  const { kvHeads: groups, groupSize, headSize, o } = layer.attention;
  const oNode = nodeByLabel(r.source, o.node);
  if (form === 'output') {
    if (groups !== 1 || !outputFormFits(layer.attention, r.source)) {
      throw new RangeError(
        `layer ${layer.index}: the output form needs one group and an o projection without bias`
      );
    }
    const y = r.perToken(oNode.output[0], o.out);
    r.tokenSum(b.reduce('ReduceSumSquare', y, [2], true), 1, output);
    return;
  }
  const groupWidth = groupSize * headSize;
  // [B, T, G·g·d] → [B, G, T, g·d]: each group's columns of a together.
  const aGroups = b.transpose(
    b.op('Reshape', [
      r.perToken(oNode.input[0], o.in),
      b.concat([batchTime, b.ints([groups, groupWidth])], 0)
    ]),
    [0, 2, 1, 3]
  );
  let w = b.cast(o.weight, DataType.FLOAT);
  if (o.layout === 'out-in') {
    w = b.transpose(w, [1, 0]);
  }
  const wGroups = b.op('Reshape', [w, b.ints([groups, groupWidth, o.out])]);
  if (form === 'direct') {
    const contribution = b.op('MatMul', [aGroups, wGroups]);
    const perToken = b.reduce('ReduceSumSquare', contribution, [3], false);
    r.groupTokenSum(perToken, groups, output);
    return;
  }
  const gram = b.op('MatMul', [wGroups, b.transpose(wGroups, [0, 2, 1])]);
  const aGram = b.op('MatMul', [aGroups, gram]);
  const perToken = b.reduce(
    'ReduceSum',
    b.op('Mul', [aGram, aGroups]),
    [3],
    false
  );
  r.groupTokenSum(perToken, groups, output);
}

/** The FFN reduction of one layer, as `ScoringOutput` describes it for the score form. */
function ffnScores(
  r: Reducer,
  layer: LayerMap,
  scoreForm: GraphForm,
  output: string
): ScoringOutput {
  const { ffn } = layer;
  if (scoreForm === 'flap' || scoreForm === 'gram') {
    return channelStatistics(r, layer, 'ffn', scoreForm, output);
  }
  const value =
    scoreForm === 'code'
      ? upProjection(r, ffn.up)
      : r.perToken(nodeByLabel(r.source, ffn.down.node).input[0], ffn.width);
  const squares = scoreForm === 'paper';
  const summand = squares
    ? r.b.op('Mul', [value, value])
    : r.b.op('Abs', [value]);
  r.tokenSum(summand, ffn.width, output);
  return {
    name: output,
    layer: layer.index,
    kind: 'ffn',
    units: ffn.units,
    width: ffn.units,
    reduction: squares ? 'sum-of-squares' : 'sum-of-abs',
    scaleByRowNorms: scoreForm !== 'code'
  };
}

/**
 * Statistics of the down (FFN) or o (attention) projection's input channels over real tokens:
 * `flap` per document Σ_t h and Σ_t h²; `gram` over the batch Σ_t h and Σ_t h·hᵀ.
 */
function channelStatistics(
  r: Reducer,
  layer: LayerMap,
  kind: ScoreKind,
  form: 'flap' | 'gram',
  output: string
): ScoringOutput {
  const ffn = kind === 'ffn';
  const ref = ffn ? layer.ffn.down : layer.attention.o;
  const n = ref.in;
  const h = r.perToken(nodeByLabel(r.source, ref.node).input[0], n);
  const units = ffn ? layer.ffn.units : layer.attention.units;
  const base = { name: output, layer: layer.index, kind, units };
  if (form === 'flap') {
    const both = r.b.concat([h, r.b.op('Mul', [h, h])], 2);
    r.tokenSum(both, 2 * n, output);
    return {
      ...base,
      width: 2 * n,
      reduction: 'moments',
      scaleByRowNorms: false
    };
  }
  const { b } = r;
  const rows = b.op('Reshape', [r.masked(h), b.ints([-1, n])]);
  const sums = b.reduce('ReduceSum', rows, [0], true);
  const gram = b.op('MatMul', [b.transpose(rows, [1, 0]), rows]);
  const flat = b.op('Reshape', [gram, b.ints([1, -1])]);
  b.op('Identity', [b.concat([sums, flat], 1)], [], output);
  return {
    ...base,
    width: n + n * n,
    reduction: 'gram',
    scaleByRowNorms: false
  };
}

/** The attention reduction of one layer: group scores, or Wanda's per-channel sums. */
function attentionScores(
  r: Reducer,
  layer: LayerMap,
  options: BuildOptions,
  output: string
): ScoringOutput {
  const { attention } = layer;
  const { kvHeads: groups, groupSize, headSize, o } = attention;
  if (o.in !== groups * groupSize * headSize) {
    throw new CusprunError(
      'unmappable',
      `layer ${layer.index}: the o projection reads ${o.in} values, not heads × head size = ${groups * groupSize * headSize}`
    );
  }
  const base = {
    name: output,
    layer: layer.index,
    kind: 'attention' as const,
    units: attention.units
  };
  if (options.scoreForm === 'flap' || options.scoreForm === 'gram') {
    return channelStatistics(r, layer, 'attention', options.scoreForm, output);
  }
  if (options.scoreForm === 'wanda') {
    const a = r.perToken(nodeByLabel(r.source, o.node).input[0], o.in);
    r.tokenSum(r.b.op('Abs', [a]), o.in, output);
    return {
      ...base,
      width: o.in,
      reduction: 'sum-of-abs',
      scaleByRowNorms: true
    };
  }
  const form =
    options.attentionForm ?? cheapestAttentionForm(attention, r.source);
  attentionGroupScores(r, layer, form, output);
  return {
    ...base,
    width: attention.units,
    reduction: 'sum-of-squares',
    scaleByRowNorms: false,
    attentionForm: form
  };
}

/**
 * Builds the scoring graph in memory: the model's graph plus the reductions, with the graph
 * outputs replaced by the reductions and every node they do not need removed.
 */
export function buildScoringProto(
  model: OnnxModel,
  map: ModelMap,
  options: BuildOptions = {}
): ScoringProto {
  const scoreForm = options.scoreForm ?? 'paper';
  const source = model.graph;
  const b = new GraphBuilder('cusprun', defaultOpset(model.proto));
  const inputNames = new Set(source.input.map(i => i.name));
  if (!inputNames.has(IDS)) {
    throw new CusprunError(
      'unsupported',
      `the model has no '${IDS}' input; scoring needs token ids`,
      model.file
    );
  }
  const extraInputs = [];
  let mask = MASK;
  if (!inputNames.has(MASK)) {
    mask = OWN_MASK;
    extraInputs.push(
      tensorValueInfo(OWN_MASK, DataType.INT64, ['batch', 'sequence'])
    );
  }
  const batchTime = b.op('Shape', [IDS]);
  const maskF = b.cast(mask, DataType.FLOAT);
  const maskB1T = b.unsqueeze(maskF, [1]);
  const maskBT1 = b.unsqueeze(maskF, [2]);
  const rows = (value: string, width: number, output?: string) =>
    b.op('Reshape', [value, b.ints([-1, width])], [], output);
  const r: Reducer = {
    b,
    source,
    batchTime,
    perToken: (value, width) =>
      b.op('Reshape', [
        b.cast(value, DataType.FLOAT),
        b.concat([batchTime, b.ints([width])], 0)
      ]),
    tokenSum: (value, width, output) =>
      rows(b.op('MatMul', [maskB1T, value]), width, output),
    groupTokenSum: (value, groups, output) =>
      rows(b.op('MatMul', [value, maskBT1]), groups, output),
    masked: value => b.op('Mul', [value, maskBT1])
  };
  const all = { ...options, scoreForm };
  const outputs = map.layers
    .filter(layer => !options.layers || options.layers.includes(layer.index))
    .flatMap(layer => [
      ffnScores(r, layer, scoreForm, `${OUTPUT_PREFIX}ffn.${layer.index}`),
      attentionScores(r, layer, all, `${OUTPUT_PREFIX}attn.${layer.index}`)
    ]);
  const graph = pruneToOutputs({
    ...source,
    node: [...source.node, ...b.nodes],
    initializer: [...source.initializer, ...b.initializers],
    input: [...source.input, ...extraInputs],
    output: outputs.map(o =>
      tensorValueInfo(o.name, DataType.FLOAT, ['batch', o.width])
    )
  });
  return {
    proto: { ...model.proto, graph },
    outputs,
    inputs: modelInputs(graph, model.file),
    scoreForm
  };
}

/** x·W_up for the code form, as float32 [B, T, I]: the up projection's own columns, no bias. */
function upProjection(r: Reducer, up: LinearRef): string {
  const node = nodeByLabel(r.source, up.node);
  let value = node.output[0];
  if (node.op_type === 'Gemm' && node.input[2]) {
    // Gemm adds its bias itself: take it off again (alpha = beta = 1 in every export seen).
    if (floatAttr(node, 'alpha', 1) !== 1 || floatAttr(node, 'beta', 1) !== 1) {
      throw new CusprunError(
        'unsupported',
        `the up projection ${up.node} is a Gemm with alpha/beta ≠ 1; the code-form FFN score does not support it`
      );
    }
    value = r.b.op('Sub', [value, node.input[2]]);
  }
  const all = r.perToken(value, up.out);
  return up.columns ? r.b.sliceLast(all, up.columns[0], up.columns[1]) : all;
}

/**
 * How a batch fills each input of a graph (initializers listed as inputs excluded): token ids,
 * attention mask, position ids, empty KV cache. Any other input is refused with a clear error.
 */
export function modelInputs(graph: GraphProto, file: string): ScoringInput[] {
  const initializers = new Set(graph.initializer.map(t => t.name));
  return graph.input
    .filter(i => !initializers.has(i.name))
    .map(i => describeInput(i, file));
}

function describeInput(
  info: GraphProto['input'][number],
  file: string
): ScoringInput {
  const elemType = info.type?.tensor_type?.elem_type ?? 0;
  if (info.name === IDS) {
    return { name: info.name, role: 'input-ids', elemType };
  }
  if (info.name === MASK || info.name === OWN_MASK) {
    return { name: info.name, role: 'attention-mask', elemType };
  }
  if (info.name === POSITION_IDS) {
    return { name: info.name, role: 'position-ids', elemType };
  }
  if (/past/i.test(info.name)) {
    return {
      name: info.name,
      role: 'past',
      elemType,
      dims: pastDims(info.name, info.type?.tensor_type?.shape?.dim ?? [])
    };
  }
  throw new CusprunError(
    'unsupported',
    `the model needs an input cusprun does not know how to fill: '${info.name}'`,
    file
  );
}

/** A scoring graph saved in a temporary folder of its own. */
export class ScoringGraph {
  private constructor(
    /** The .onnx file to open. */
    readonly file: string,
    /** The temporary folder that holds it; removed by `dispose()`. */
    readonly dir: string,
    readonly outputs: ScoringOutput[],
    readonly inputs: ScoringInput[],
    readonly scoreForm: GraphForm,
    readonly nodeCount: number,
    /**
     * How the weights reached the folder: hard links to the source's data file, a copy of it,
     * or (a source without external data) written out from the model file.
     */
    readonly externalData: 'linked' | 'copied' | 'written'
  ) {}

  /** Builds the scoring graph and saves it with its weights in external data. */
  static write(
    model: OnnxModel,
    map: ModelMap,
    options: ScoringGraphOptions = {}
  ): ScoringGraph {
    const built = buildScoringProto(model, map, options);
    const dir = makeTempDir('cusprun-scoring-', options.workDir);
    const file = path.join(dir, 'model.onnx');
    let externalData: ScoringGraph['externalData'] = 'written';
    try {
      if (model.hasExternalData()) {
        externalData =
          options.link !== false && linkExternalData(model, dir)
            ? 'linked'
            : 'copied';
      }
      if (externalData === 'linked') {
        // Side-file tensors keep pointing at the same locations, now hard links beside the
        // graph; the rest (large inline weights of a mixed model, new tensors) get a data file.
        model.save(
          file,
          { externalData: true, keepExternal: true },
          built.proto
        );
      } else {
        // Weights always go to a data file: onnxruntime then loads them tensor by tensor
        // instead of parsing one model-sized buffer beside this process's own copy.
        model.save(file, { externalData: true }, built.proto);
      }
    } catch (error) {
      removeTempDir(dir);
      throw error;
    }
    return new ScoringGraph(
      file,
      dir,
      built.outputs,
      built.inputs,
      built.scoreForm,
      (built.proto.graph as GraphProto).node.length,
      externalData
    );
  }

  dispose(): void {
    removeTempDir(this.dir);
  }
}

/** Hard-links every external-data file of the model into `dir` under its own location. */
export function linkExternalData(model: OnnxModel, dir: string): boolean {
  const links: string[] = [];
  try {
    for (const source of model.externalDataFiles()) {
      const target = path.join(dir, path.relative(model.dir, source));
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.linkSync(source, target);
      links.push(target);
    }
    return true;
  } catch {
    links.forEach(l => fs.rmSync(l, { force: true }));
    return false;
  }
}
