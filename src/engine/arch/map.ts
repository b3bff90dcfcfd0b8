/**
 * Maps a decoder LLM export to its layers and prunable units from the graph's structure alone.
 *
 * Anchors, in order: each attention's Softmax; the activation×activation MatMuls on either
 * side of it (scores and context); the projections reached from their operands (q, k, v) and
 * from the context (o); the FFN projections reached from o's residual stream that belong to no
 * attention (gate/up or fc), and the one projection they all feed (down). Names are never read:
 * TorchScript anonymises weights and dynamo's names carry no meaning.
 */
import { CusprunError } from '../../core/errors';
import { dataTypeLabel, isFloatType } from '../onnx/dtype';
import { OnnxModel } from '../onnx/model';
import { NodeProto, toNumber } from '../onnx/proto';
import { elementCount, tensorDims } from '../onnx/tensor';
import { detectFamily, ModelConfig } from './families';
import { GraphIndex, ShapeValue } from './graph';
import { findLinears, Linear, linearParams, nodeLabel } from './linear';
import {
  onnxruntimeFusionBlocker,
  REEXPORT_ADVICE,
  savedByOnnxruntime
} from './onnxruntime-graph';
import { findShapeConstants, LayerLinears } from './shapes';
import {
  AttentionMap,
  FfnActivation,
  FfnMap,
  LayerMap,
  LinearRef,
  MODEL_MAP_SCHEMA_VERSION,
  ModelMap,
  ValueInfo
} from '../../core/model/model-map';

/**
 * The op that marks an FFN activation: x·sigmoid(x) is SiLU; Erf is exact GELU; a Tanh among
 * Pow/Mul is GELU's tanh approximation (gelu_new, gelu_pytorch_tanh).
 */
const NONLINEAR_OPS: Record<string, FfnActivation> = {
  Sigmoid: 'silu',
  Erf: 'gelu',
  Gelu: 'gelu',
  FastGelu: 'gelu-tanh',
  Tanh: 'gelu-tanh',
  Relu: 'relu'
};

interface Context {
  index: GraphIndex;
  linears: Map<NodeProto, Linear>;
  file: string;
  /** onnxruntime saved the graph: its rewrites are the likely reason a search fails. */
  savedByOnnxruntime: boolean;
}

function fail(ctx: Context, message: string): never {
  const advice = ctx.savedByOnnxruntime
    ? `; onnxruntime saved this graph after rewriting it, so ${REEXPORT_ADVICE}`
    : '';
  throw new CusprunError('unmappable', `${message}${advice}`, ctx.file);
}

const isActivationMatMul = (ctx: Context) => (node: NodeProto) =>
  node.op_type === 'MatMul' &&
  !ctx.linears.has(node) &&
  node.input.every(i => !ctx.index.constant(i));

const isLinear = (ctx: Context) => (node: NodeProto) => ctx.linears.has(node);

/** The single node a search must find, or a clear error naming where it looked. */
function single(
  ctx: Context,
  found: NodeProto[],
  what: string,
  where: string
): NodeProto {
  if (found.length !== 1) {
    fail(ctx, `${where}: expected one ${what}, found ${found.length}`);
  }
  return found[0];
}

/** Ops between `from` (exclusive) and the first node matching `stop`, walking down. */
function opsBetween(
  ctx: Context,
  from: string,
  stop: (n: NodeProto) => boolean
): Set<string> {
  const ops = new Set<string>();
  ctx.index.search([from], 'down', node => {
    if (stop(node)) {
      return true;
    }
    ops.add(node.op_type);
    return false;
  });
  return ops;
}

function activationOf(ops: Set<string>): FfnActivation | undefined {
  for (const [op, activation] of Object.entries(NONLINEAR_OPS)) {
    if (ops.has(op)) {
      return activation;
    }
  }
  return undefined;
}

const isCut = (node: NodeProto) =>
  node.op_type === 'Split' || node.op_type === 'Slice';

/** The columns [start, end) of a fused projection that one output of a Split or Slice holds. */
function cutColumns(
  ctx: Context,
  linear: Linear,
  cut: NodeProto,
  output: string
): [number, number] | undefined {
  const width = linear.ref.out;
  if (cut.op_type === 'Split') {
    const outputIndex = cut.output.indexOf(output);
    const sizes: ShapeValue[] | undefined = cut.input[1]
      ? ctx.index.evaluateInts(cut.input[1])
      : new Array<number>(cut.output.length).fill(width / cut.output.length);
    if (!sizes || sizes.some(size => size === undefined)) {
      return undefined;
    }
    const known = sizes as number[];
    const start = known.slice(0, outputIndex).reduce((a, b) => a + b, 0);
    return [start, start + known[outputIndex]];
  }
  const starts = ctx.index.evaluateInts(cut.input[1]);
  const ends = ctx.index.evaluateInts(cut.input[2]);
  if (starts?.[0] === undefined || ends?.[0] === undefined) {
    return undefined;
  }
  const clamp = (v: number) => (v < 0 ? width + v : Math.min(v, width));
  return [clamp(starts[0]), clamp(ends[0])];
}

/** The Split/Slice outputs that cut a fused projection, each with its columns. */
function fusedParts(
  ctx: Context,
  linear: Linear
): { output: string; columns: [number, number] }[] {
  // Exporters that compute a chunk size read it from Shape(fused output)[-1].
  ctx.index.lastDims.set(linear.node.output[0], linear.ref.out);
  ctx.index.lastDims.set(linear.output, linear.ref.out);
  const cuts = ctx.index
    .search([linear.output], 'down', n => isCut(n) || ctx.linears.has(n))
    .filter(n => isCut(n) && ctx.index.isViewOf(n.input[0], linear.output));
  return cuts.flatMap(cut =>
    (cut.op_type === 'Split' ? cut.output : [cut.output[0]]).flatMap(output => {
      const columns = cutColumns(ctx, linear, cut, output);
      return columns ? [{ output, columns }] : [];
    })
  );
}

/**
 * A role's projection and where its own values start: the linear itself, or, when it is fused,
 * the columns (and the Split/Slice output) that reach `operand`.
 */
function role(
  ctx: Context,
  linear: Linear,
  operand: string,
  fused: boolean,
  where: string
): { ref: LinearRef; start: string } {
  if (!fused) {
    return { ref: linear.ref, start: linear.output };
  }
  const part = fusedParts(ctx, linear).find(p =>
    ctx.index.dependsOn(operand, p.output)
  );
  if (!part) {
    fail(
      ctx,
      `${where}: could not read which columns of the fused projection ${linear.ref.node} each part uses`
    );
  }
  return { ref: { ...linear.ref, columns: part.columns }, start: part.output };
}

function roleWidth(ref: LinearRef): number {
  return ref.columns ? ref.columns[1] - ref.columns[0] : ref.out;
}

/** Head size from the Reshape that splits a projection's output into heads. */
function headSizeAfter(ctx: Context, start: string): number | undefined {
  const reshapes = ctx.index
    .search(
      [start],
      'down',
      n =>
        n.op_type === 'Reshape' || ctx.linears.has(n) || n.op_type === 'MatMul'
    )
    .filter(n => n.op_type === 'Reshape');
  for (const reshape of reshapes) {
    // [batch, sequence, heads, headSize]: the last entry is the head size.
    const target = ctx.index.evaluateInts(reshape.input[1]);
    const last = target?.[target.length - 1];
    if (target && target.length >= 4 && last !== undefined && last > 0) {
      return last;
    }
  }
  return undefined;
}

/** A per-head RMSNorm weight of size d between a projection and the scores (Qwen3's q/k norm). */
function headNormWeight(
  ctx: Context,
  from: string,
  scores: NodeProto,
  headSize: number
): string | undefined {
  let weight: string | undefined;
  ctx.index.search([from], 'down', node => {
    if (
      node === scores ||
      ctx.linears.has(node) ||
      node.op_type === 'Softmax'
    ) {
      return true;
    }
    if (node.op_type === 'Mul') {
      for (const input of node.input) {
        const dims = ctx.index.isInitializer(input)
          ? ctx.index.constantDims(input)
          : undefined;
        if (dims && dims.length === 1 && dims[0] === headSize) {
          weight = input;
        }
      }
    }
    return false;
  });
  return weight;
}

interface MappedAttention {
  map: AttentionMap;
  /** The projections that read the layer's input: q, k, v, or the fused qkv. */
  inputs: Linear[];
  o: Linear;
}

function mapAttention(
  ctx: Context,
  softmax: NodeProto,
  layer: number
): MappedAttention {
  const { index } = ctx;
  const where = `layer ${layer} (Softmax ${nodeLabel(index, softmax)})`;
  const scores = single(
    ctx,
    index.search([softmax.input[0]], 'up', isActivationMatMul(ctx)),
    'attention-scores MatMul (q·kᵀ) before the Softmax',
    where
  );
  const context = single(
    ctx,
    index.search([softmax.output[0]], 'down', isActivationMatMul(ctx)),
    'context MatMul (softmax·v) after the Softmax',
    where
  );
  const vOperand = context.input.find(
    i => index.search([i], 'up', n => n === softmax).length === 0
  );
  if (vOperand === undefined) {
    fail(
      ctx,
      `${where}: both operands of the context MatMul come from the Softmax`
    );
  }
  const up = (value: string, what: string) =>
    single(
      ctx,
      index.search([value], 'up', isLinear(ctx)),
      `${what} projection`,
      where
    );
  const qNode = up(scores.input[0], 'query');
  const kNode = up(scores.input[1], 'key');
  const vNode = up(vOperand, 'value');
  const oNode = single(
    ctx,
    index.search([context.output[0]], 'down', isLinear(ctx)),
    'output projection',
    where
  );
  const [q, k, v, o] = [qNode, kNode, vNode, oNode].map(
    n => ctx.linears.get(n) as Linear
  );
  const fusedQkv = q === k && k === v;
  if (!fusedQkv && (q === k || k === v || q === v)) {
    fail(
      ctx,
      `${where}: two of q, k, v share a projection but the third does not; this layout is not supported`
    );
  }
  const qRole = role(ctx, q, scores.input[0], fusedQkv, where);
  const kRole = role(ctx, k, scores.input[1], fusedQkv, where);
  const vRole = role(ctx, v, vOperand, fusedQkv, where);
  const [qRef, kRef, vRef] = [qRole.ref, kRole.ref, vRole.ref];
  const headSize =
    headSizeAfter(ctx, qRole.start) ?? headSizeAfter(ctx, kRole.start);
  if (!headSize) {
    fail(
      ctx,
      `${where}: found no Reshape that splits the query projection into heads, so the head size is unknown`
    );
  }
  const qWidth = roleWidth(qRef);
  const kvWidth = roleWidth(kRef);
  if (qWidth % headSize || kvWidth % headSize || roleWidth(vRef) !== kvWidth) {
    fail(
      ctx,
      `${where}: projection widths q=${qWidth}, k=${kvWidth}, v=${roleWidth(vRef)} do not divide into heads of size ${headSize}`
    );
  }
  const heads = qWidth / headSize;
  const kvHeads = kvWidth / headSize;
  if (heads % kvHeads) {
    fail(
      ctx,
      `${where}: ${heads} query heads do not split evenly over ${kvHeads} KV heads`
    );
  }
  const qNorm = headNormWeight(ctx, qRole.start, scores, headSize);
  const kNorm = headNormWeight(ctx, kRole.start, scores, headSize);
  const groupSize = heads / kvHeads;
  const hidden = o.ref.out;
  const qkvBias = [qRef, kRef, vRef].some(r => r.bias);
  const inputs = fusedQkv ? [q] : [q, k, v];
  return {
    map: {
      kind: kvHeads === heads ? 'mha' : kvHeads === 1 ? 'mqa' : 'gqa',
      heads,
      kvHeads,
      headSize,
      groupSize,
      q: qRef,
      k: kRef,
      v: vRef,
      o: o.ref,
      fusedQkv,
      ...(qNorm ? { qNorm } : {}),
      ...(kNorm ? { kNorm } : {}),
      units: kvHeads,
      // q columns, k and v columns, o rows of one group, and their bias entries.
      paramsPerUnit:
        hidden * headSize * (2 * groupSize + 2) +
        (qkvBias ? headSize * (groupSize + 2) : 0),
      params: [...inputs, o].reduce((sum, l) => sum + linearParams(l.ref), 0)
    },
    inputs,
    o
  };
}

/**
 * The FFN of a layer reads the residual stream after the layer's attention output. Walking down
 * from o reaches the FFN inputs of this and every later layer (the residual stream has no
 * projection on it), so this layer's are those that the next layer's o does not reach.
 */
function mapFfn(
  ctx: Context,
  reached: Linear[],
  layer: number
): FfnMap & { linears: Linear[] } {
  const where = `layer ${layer} FFN`;
  if (reached.length < 1 || reached.length > 2) {
    fail(
      ctx,
      `${where}: expected the FFN's input projections (gate and up, gate_up, or fc) after the attention output, found ${reached.length}`
    );
  }
  const down = ctx.linears.get(
    single(
      ctx,
      ctx.index.search(
        reached.map(l => l.output),
        'down',
        isLinear(ctx)
      ),
      'down projection',
      where
    )
  ) as Linear;
  const width = down.ref.in;
  const stopAtDown = (n: NodeProto) => n === down.node;
  if (reached.length === 2) {
    const activations = reached.map(l =>
      activationOf(opsBetween(ctx, l.output, stopAtDown))
    );
    const gateIndex = activations.findIndex(a => a !== undefined);
    if (gateIndex < 0 || activations[1 - gateIndex] !== undefined) {
      fail(
        ctx,
        `${where}: could not tell the gate projection from the up projection (no single activation path)`
      );
    }
    const gate = reached[gateIndex];
    const up = reached[1 - gateIndex];
    if (gate.ref.out !== width || up.ref.out !== width) {
      fail(
        ctx,
        `${where}: gate (${gate.ref.out}), up (${up.ref.out}) and down (${width}) widths disagree`
      );
    }
    const biases = (gate.ref.bias ? 1 : 0) + (up.ref.bias ? 1 : 0);
    return {
      kind: 'gated',
      activation: activations[gateIndex] as FfnActivation,
      width,
      gate: gate.ref,
      up: up.ref,
      down: down.ref,
      fusedGateUp: false,
      units: width,
      paramsPerUnit: 3 * down.ref.out + biases,
      params:
        linearParams(gate.ref) + linearParams(up.ref) + linearParams(down.ref),
      linears: [gate, up, down]
    };
  }
  const input = reached[0];
  const activation =
    activationOf(opsBetween(ctx, input.output, stopAtDown)) ?? 'other';
  const paramsPerUnit =
    (input.ref.out / width) * (down.ref.out + (input.ref.bias ? 1 : 0)) +
    down.ref.out;
  const params = linearParams(input.ref) + linearParams(down.ref);
  if (input.ref.out === width) {
    return {
      kind: 'plain',
      activation,
      width,
      up: input.ref,
      down: down.ref,
      fusedGateUp: false,
      units: width,
      paramsPerUnit,
      params,
      linears: [input, down]
    };
  }
  if (input.ref.out !== 2 * width) {
    fail(
      ctx,
      `${where}: the input projection is ${input.ref.out} wide but the down projection reads ${width}`
    );
  }
  // A fused gate_up: the half that goes through the activation is the gate.
  const parts = fusedParts(ctx, input).map(p => ({
    columns: p.columns,
    activated: activationOf(opsBetween(ctx, p.output, stopAtDown)) !== undefined
  }));
  const gatePart = parts.find(p => p.activated);
  const upPart = parts.find(p => !p.activated);
  if (!gatePart || !upPart) {
    fail(
      ctx,
      `${where}: could not read the gate and up halves of the fused gate_up projection ${input.ref.node}`
    );
  }
  return {
    kind: 'gated',
    activation,
    width,
    gate: { ...input.ref, columns: gatePart.columns },
    up: { ...input.ref, columns: upPart.columns },
    down: down.ref,
    fusedGateUp: true,
    units: width,
    paramsPerUnit,
    params,
    linears: [input, down]
  };
}

function valueInfos(index: GraphIndex, names: Iterable<string>): ValueInfo[] {
  const all = [...index.graph.input, ...index.graph.output];
  return [...names].map(name => {
    const info = all.find(v => v.name === name);
    const tensor = info?.type?.tensor_type;
    return {
      name,
      dtype: dataTypeLabel(tensor?.elem_type ?? 0),
      shape: (tensor?.shape?.dim ?? []).map(d =>
        d.dim_param ? d.dim_param : toNumber(d.dim_value)
      )
    };
  });
}

const TIE_SAMPLES = 64;

/**
 * Whether the lm_head reads the embedding matrix: the same initializer, or (TorchScript keeps
 * two copies of tied weights) an equal copy. Copies are compared on a fixed sample of elements
 * read by byte range, so a multi-GB vocabulary is never loaded to decide it.
 */
function sameWeights(
  model: OnnxModel,
  embedding: string,
  lmHead: LinearRef
): boolean {
  if (lmHead.weight === embedding) {
    return true;
  }
  const e = model.initializers.get(embedding);
  const w = model.initializers.get(lmHead.weight);
  if (!e || !w || e.data_type !== w.data_type) {
    return false;
  }
  const [vocab, hidden] = tensorDims(e);
  if (lmHead.out !== vocab || lmHead.in !== hidden) {
    return false;
  }
  const size = model.byteLength(e) / (vocab * hidden);
  let state = 12345;
  for (let n = 0; n < TIE_SAMPLES; n++) {
    state = (state * 1103515245 + 12345) % 2147483648;
    const i = n === 0 ? 0 : n === 1 ? vocab - 1 : state % vocab;
    const j =
      n === 0 ? 0 : n === 1 ? hidden - 1 : Math.floor(state / vocab) % hidden;
    // The lm_head weight is [vocab, hidden] when stored out-in, [hidden, vocab] when in-out.
    const offset = lmHead.layout === 'out-in' ? i * hidden + j : j * vocab + i;
    const a = model.slice(e, (i * hidden + j) * size, size);
    const b = model.slice(w, offset * size, size);
    if (Buffer.compare(a, b) !== 0) {
      return false;
    }
  }
  return true;
}

export interface MapOptions {
  /** The folder's config.json, when there is one: names the family; never overrides structure. */
  config?: ModelConfig;
}

export function mapModel(model: OnnxModel, options: MapOptions = {}): ModelMap {
  const fused = onnxruntimeFusionBlocker(model.proto);
  if (fused) {
    throw new CusprunError('unmappable', fused, model.file);
  }
  const index = new GraphIndex(model);
  const ctx: Context = {
    index,
    linears: findLinears(index),
    file: model.file,
    savedByOnnxruntime: savedByOnnxruntime(model.proto)
  };
  const softmaxes = index.graph.node.filter(n => n.op_type === 'Softmax');
  if (softmaxes.length === 0) {
    const fusedOps = [
      ...new Set(
        index.graph.node
          .filter(n => n.domain && n.domain !== 'ai.onnx')
          .map(n => `${n.domain}.${n.op_type}`)
      )
    ];
    fail(
      ctx,
      fusedOps.length
        ? `no decoder layers found: the graph has no Softmax attention, and uses fused operators (${fusedOps.slice(0, 4).join(', ')}) that cusprun does not map; export without graph fusion`
        : 'no decoder layers found: the graph has no attention (no Softmax)'
    );
  }
  const logits =
    index.graph.output.find(o => o.name === 'logits') ?? index.graph.output[0];
  const lmHeadNode = index.search([logits.name], 'up', isLinear(ctx))[0];
  const lmHead = lmHeadNode ? ctx.linears.get(lmHeadNode) : undefined;

  const attentions = softmaxes.map((s, i) => mapAttention(ctx, s, i));
  const attentionInputs = new Set(attentions.flatMap(a => a.inputs));
  const used = new Set<Linear>(attentionInputs);
  const afterAttention = attentions.map(
    a =>
      new Set(
        index
          .search([a.o.output], 'down', isLinear(ctx))
          .map(n => ctx.linears.get(n) as Linear)
      )
  );
  const layerLinears: LayerLinears[] = [];
  const layers: LayerMap[] = attentions.map((attention, i) => {
    const later = afterAttention[i + 1] ?? new Set<Linear>();
    const ffnInputs = [...afterAttention[i]].filter(
      l => !later.has(l) && !attentionInputs.has(l) && l !== lmHead
    );
    const { linears, ...ffn } = mapFfn(ctx, ffnInputs, i);
    [attention.o, ...linears].forEach(l => used.add(l));
    layerLinears.push({
      attentionInputs: attention.inputs,
      o: attention.o,
      ffnInputs: linears.slice(0, -1),
      down: linears[linears.length - 1]
    });
    return { index: i, attention: attention.map, ffn, shapeConstants: [] };
  });
  const blockers = findShapeConstants(index, layers, layerLinears);
  const leftover = [...ctx.linears.values()].filter(
    l => !used.has(l) && l !== lmHead
  );
  if (leftover.length) {
    blockers.push(
      `projections outside any mapped decoder layer: ${leftover.map(l => l.ref.node).join(', ')}`
    );
  }
  const embeddingNode = index.graph.node.find(
    n =>
      n.op_type === 'Gather' &&
      index.isInitializer(n.input[0]) &&
      (index.constantDims(n.input[0])?.length ?? 0) === 2 &&
      !index.constant(n.input[1])
  );
  const embedding = embeddingNode?.input[0];
  const embeddingDims = embedding ? index.constantDims(embedding) : undefined;
  const floatInitializers = index.graph.initializer.filter(t =>
    isFloatType(t.data_type ?? 0)
  );
  const tiedEmbeddings =
    embedding !== undefined &&
    lmHead !== undefined &&
    sameWeights(model, embedding, lmHead.ref);
  // TorchScript writes a tied lm_head as a second copy of the embedding: one set of parameters.
  const tiedCopy =
    tiedEmbeddings && lmHead.ref.weight !== embedding
      ? lmHead.ref.in * lmHead.ref.out
      : 0;
  const dtype = layers[0].ffn.down.dtype;
  const kvCache =
    index.graph.input.some(i => /past/i.test(i.name)) ||
    index.graph.output.some(o => /present/i.test(o.name));
  const family = detectFamily(layers, options.config);
  return {
    schemaVersion: MODEL_MAP_SCHEMA_VERSION,
    file: model.file,
    family: family.name,
    familySource: family.source,
    ...(options.config?.model_type
      ? { modelType: options.config.model_type }
      : {}),
    dtype,
    hidden: layers[0].attention.o.out,
    vocab: embeddingDims?.[0] ?? lmHead?.ref.out ?? 0,
    layers,
    prunableParams: layers.reduce(
      (sum, l) => sum + l.attention.params + l.ffn.params,
      0
    ),
    totalParams:
      floatInitializers.reduce(
        (sum, t) => sum + elementCount(tensorDims(t)),
        0
      ) - tiedCopy,
    ...(embedding ? { embedding } : {}),
    ...(lmHead ? { lmHead: lmHead.ref } : {}),
    tiedEmbeddings,
    kvCache,
    externalData: model.hasExternalData(),
    inputs: valueInfos(index, index.graphInputs),
    outputs: valueInfos(
      index,
      index.graph.output.map(o => o.name)
    ),
    opset: toNumber(
      model.proto.opset_import.find(o => !o.domain || o.domain === 'ai.onnx')
        ?.version
    ),
    producer: [model.proto.producer_name, model.proto.producer_version]
      .filter(Boolean)
      .join(' '),
    blockers
  };
}
