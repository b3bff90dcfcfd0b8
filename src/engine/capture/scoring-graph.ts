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
 *   `paper`/`code` [batch, G]: Σ_t mask·‖Σ_{h∈group j} A_h·W_o[rows of h, :]‖², computed as
 *   a_j·(W_j·W_jᵀ)·a_jᵀ with the per-group Gram matrix W_j·W_jᵀ ([g·d, g·d], folded into a
 *   constant by onnxruntime at load), which costs g·d/D of an o projection instead of one;
 *   `wanda` [batch, H·d]: Σ_t mask·|A[t,c]| per input channel c.
 * Squares are taken in float32 (Cast first), so fp16 models do not overflow.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LinearRef, ModelMap } from '../arch/types';
import { CusprunError } from '../errors';
import { DataType } from '../onnx/dtype';
import { OnnxModel } from '../onnx/model';
import {
  encodeModel,
  GraphProto,
  ModelProto,
  NodeProto,
  toNumber
} from '../onnx/proto';
import { GraphBuilder, pruneToOutputs, tensorValueInfo } from './graph-builder';

/**
 * Which scores a pass computes: `paper` (method.md's relevance, the default), `code` (PLND's
 * code-form FFN score), or `wanda` (the Wanda-style structured baseline's activation sums).
 */
export type ScoreForm = 'paper' | 'code' | 'wanda';
export type ScoreKind = 'ffn' | 'attention';

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
  /** What the graph sums over real tokens. */
  reduction: 'sum-of-squares' | 'sum-of-abs';
  /** Weight each value by the row norm of the down (FFN) or o (attention) projection. */
  scaleByRowNorms: boolean;
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
  scoreForm: ScoreForm;
}

export interface ScoringGraphOptions {
  scoreForm?: ScoreForm;
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

function defaultOpset(proto: ModelProto): number {
  return toNumber(
    proto.opset_import.find(o => !o.domain || o.domain === 'ai.onnx')?.version
  );
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
 * Builds the scoring graph in memory: the model's graph plus the reductions, with the graph
 * outputs replaced by the reductions and every node they do not need removed.
 */
export function buildScoringProto(
  model: OnnxModel,
  map: ModelMap,
  options: { scoreForm?: ScoreForm } = {}
): ScoringProto {
  const scoreForm = options.scoreForm ?? 'paper';
  const source = model.graph;
  const opset = defaultOpset(model.proto);
  const b = new GraphBuilder('cusprun', opset);
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
  const maskBT1 = b.unsqueeze(maskF, [2]);
  const maskB1T = b.unsqueeze(maskF, [1]);
  /** `value` (any layout of [batch·time…, width]) as float32 [B, T, width]. */
  const perToken = (value: string, width: number) =>
    b.op('Reshape', [
      b.cast(value, DataType.FLOAT),
      b.concat([batchTime, b.ints([width])], 0)
    ]);
  const sumOverTokens = (perTokenValue: string, output: string) =>
    b.reduceSum(b.op('Mul', [perTokenValue, maskBT1]), [1], false, output);

  const outputs: ScoringOutput[] = [];
  for (const layer of map.layers) {
    const { ffn, attention } = layer;
    const ffnName = `${OUTPUT_PREFIX}ffn.${layer.index}`;
    if (scoreForm === 'code') {
      sumOverTokens(
        b.op('Abs', [upProjection(b, source, ffn.up, perToken)]),
        ffnName
      );
    } else {
      const h = perToken(
        nodeByLabel(source, ffn.down.node).input[0],
        ffn.width
      );
      sumOverTokens(
        scoreForm === 'paper' ? b.op('Mul', [h, h]) : b.op('Abs', [h]),
        ffnName
      );
    }
    outputs.push({
      name: ffnName,
      layer: layer.index,
      kind: 'ffn',
      units: ffn.units,
      width: ffn.units,
      reduction: scoreForm === 'paper' ? 'sum-of-squares' : 'sum-of-abs',
      scaleByRowNorms: scoreForm !== 'code'
    });

    const { kvHeads: groups, groupSize, headSize } = attention;
    const groupWidth = groupSize * headSize;
    const o = attention.o;
    if (o.in !== groups * groupWidth) {
      throw new CusprunError(
        'unmappable',
        `layer ${layer.index}: the o projection reads ${o.in} values, not heads × head size = ${groups * groupWidth}`,
        model.file
      );
    }
    const a = perToken(nodeByLabel(source, o.node).input[0], o.in);
    const attnName = `${OUTPUT_PREFIX}attn.${layer.index}`;
    if (scoreForm === 'wanda') {
      sumOverTokens(b.op('Abs', [a]), attnName);
    } else {
      // [B, T, G, g·d] → [B, G, T, g·d] @ Gram [G, g·d, g·d], times a, summed over g·d.
      const aGroups = b.transpose(
        b.op('Reshape', [
          a,
          b.concat([batchTime, b.ints([groups, groupWidth])], 0)
        ]),
        [0, 2, 1, 3]
      );
      let w = b.cast(o.weight, DataType.FLOAT);
      if (o.layout === 'out-in') {
        w = b.transpose(w, [1, 0]);
      }
      const wGroups = b.op('Reshape', [w, b.ints([groups, groupWidth, o.out])]);
      const gram = b.op('MatMul', [wGroups, b.transpose(wGroups, [0, 2, 1])]);
      const aGram = b.op('MatMul', [aGroups, gram]);
      const perTokenSq = b.reduceSum(b.op('Mul', [aGram, aGroups]), [3], false);
      b.reduceSum(b.op('Mul', [perTokenSq, maskB1T]), [2], false, attnName);
    }
    outputs.push({
      name: attnName,
      layer: layer.index,
      kind: 'attention',
      units: attention.units,
      width: scoreForm === 'wanda' ? o.in : attention.units,
      reduction: scoreForm === 'wanda' ? 'sum-of-abs' : 'sum-of-squares',
      scaleByRowNorms: scoreForm === 'wanda'
    });
  }

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
function upProjection(
  b: GraphBuilder,
  source: GraphProto,
  up: LinearRef,
  perToken: (value: string, width: number) => string
): string {
  const node = nodeByLabel(source, up.node);
  let value = node.output[0];
  if (node.op_type === 'Gemm' && node.input[2]) {
    // Gemm adds its bias itself: take it off again (alpha = beta = 1 in every export seen).
    if (floatAttr(node, 'alpha', 1) !== 1 || floatAttr(node, 'beta', 1) !== 1) {
      throw new CusprunError(
        'unsupported',
        `the up projection ${up.node} is a Gemm with alpha/beta ≠ 1; the code-form FFN score does not support it`
      );
    }
    value = b.op('Sub', [value, node.input[2]]);
  }
  const all = perToken(value, up.out);
  return up.columns ? b.sliceLast(all, up.columns[0], up.columns[1]) : all;
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
    readonly scoreForm: ScoreForm,
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
    const parent = options.workDir ?? os.tmpdir();
    fs.mkdirSync(parent, { recursive: true });
    const dir = fs.mkdtempSync(path.join(parent, 'cusprun-scoring-'));
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
        // Tensors keep pointing at the same locations, now hard links beside the graph.
        fs.writeFileSync(file, encodeModel(built.proto));
      } else {
        // Weights always go to a data file: onnxruntime then loads them tensor by tensor
        // instead of parsing one model-sized buffer beside this process's own copy.
        model.save(file, { externalData: true }, built.proto);
      }
    } catch (error) {
      fs.rmSync(dir, { recursive: true, force: true });
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
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Hard-links every external-data file of the model into `dir` under its own location. */
function linkExternalData(model: OnnxModel, dir: string): boolean {
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
