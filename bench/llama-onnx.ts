/**
 * A Llama-architecture decoder written directly as ONNX, for benchmarks that need a model of
 * realistic size without torch: seeded N(0, 0.02) weights (norm weights 1), laid out as the
 * exporters lay it out (fixtures/GRAPHS.md): weights stored [in, out] and read by MatMul,
 * RMSNorm as Pow/ReduceMean/Add/Sqrt/Reciprocal/Mul/Mul, RoPE with rotate_half, repeat_kv as
 * Unsqueeze → Expand([b, KV, g, s, d]) → Reshape([b, H, s, d]) with b and s from
 * Shape → Gather → Unsqueeze, a causal + padding mask built once and added to every layer's
 * scores, SiLU as x·Sigmoid(x), an untied lm_head (or, `tied`, MatMul by the
 * embedding's Transpose). As in a dynamo export, KV, g, H and d are
 * baked into the repeat_kv shapes (int64 initializers, one per use, so none is shared across
 * layers), and the pruner has to rewrite them.
 *
 * The head size may differ from hidden / heads (Gemma 3: 4 heads of 256 on a hidden size of
 * 640). `writeLlamaModel` keeps the weights inline; `writeLlamaModelExternal` streams them into
 * an external-data file as they are drawn, so a model of any size is made in bounded memory.
 *
 *   inputs  input_ids, attention_mask  int64 [batch, sequence]
 *   output  logits                     float32 [batch, sequence, vocab]
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  GraphBuilder,
  int64Tensor,
  tensorValueInfo
} from '../src/engine/capture/graph-builder';
import {
  AttributeProto,
  AttributeType,
  DataType,
  encodeModel,
  externalTensor,
  inlineTensor,
  ModelProto,
  TensorProto
} from '../src/engine/onnx';

export interface LlamaConfig {
  layers: number;
  hidden: number;
  heads: number;
  kvHeads: number;
  ffn: number;
  vocab: number;
  /** Per head; default hidden / heads. */
  headSize?: number;
  /** Longest sequence the RoPE and causal tables cover. */
  maxPositions: number;
  seed: number;
  ropeTheta: number;
  rmsEps: number;
  /** The lm_head reads the embedding table (MatMul by its Transpose): one set of weights. */
  tied?: boolean;
}

export const DEFAULT_CONFIG: LlamaConfig = {
  layers: 8,
  hidden: 512,
  heads: 8,
  kvHeads: 4,
  ffn: 1408,
  vocab: 8000,
  maxPositions: 1024,
  seed: 1234,
  ropeTheta: 10000,
  rmsEps: 1e-5
};

/** Gemma 3 270M's shapes (its GeGLU, norms and tied embeddings aside): 262,144 tokens. */
export const GEMMA_LIKE_CONFIG: LlamaConfig = {
  ...DEFAULT_CONFIG,
  layers: 18,
  hidden: 640,
  heads: 4,
  kvHeads: 1,
  headSize: 256,
  ffn: 2048,
  vocab: 262_144,
  seed: 270
};

/**
 * Llama-3.2-1B's shapes (its rope scaling aside): 16 layers, hidden 2048, FFN 8192, 32 heads /
 * 8 KV heads of 64, 128,256 tokens, tied embeddings; 1.24B parameters, 4.94 GB in float32.
 */
export const LLAMA32_1B_CONFIG: LlamaConfig = {
  ...DEFAULT_CONFIG,
  layers: 16,
  hidden: 2048,
  heads: 32,
  kvHeads: 8,
  ffn: 8192,
  vocab: 128_256,
  ropeTheta: 500_000,
  tied: true,
  seed: 1236
};

/** Name of the final norm's output (the last hidden state, before the lm_head). */
export const LAST_HIDDEN = 'last_hidden_state';

/** mulberry32, and Box–Muller on top of it: reproducible N(0, σ²) samples. */
function normalSource(seed: number): () => number {
  let state = seed >>> 0;
  const uniform = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const value = spare;
      spare = undefined;
      return value;
    }
    const u = 1 - uniform();
    const v = uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}

function floatTensor(
  name: string,
  dims: number[],
  values: Float32Array
): TensorProto {
  return inlineTensor(
    name,
    DataType.FLOAT,
    dims,
    new Uint8Array(values.buffer, values.byteOffset, values.byteLength)
  );
}

/** Makes a weight tensor from values drawn in order: `fill` fills the next chunk each call. */
export type WeightMaker = (
  name: string,
  dims: number[],
  fill: (chunk: Float32Array) => void
) => TensorProto;

/** Weights inside the model. */
const inlineWeights: WeightMaker = (name, dims, fill) => {
  const values = new Float32Array(dims.reduce((a, c) => a * c, 1));
  fill(values);
  return floatTensor(name, dims, values);
};

const CHUNK_VALUES = 1 << 20;

/** Weights appended to an open external-data file (`location` in the model's folder). */
function externalWeights(fd: number, location: string): WeightMaker {
  let offset = 0;
  return (name, dims, fill) => {
    const count = dims.reduce((a, c) => a * c, 1);
    const start = offset;
    const chunk = new Float32Array(Math.min(CHUNK_VALUES, count));
    for (let done = 0; done < count; done += chunk.length) {
      const part = chunk.subarray(0, Math.min(chunk.length, count - done));
      fill(part);
      fs.writeSync(fd, new Uint8Array(part.buffer, 0, part.byteLength));
    }
    offset += count * 4;
    return externalTensor(name, DataType.FLOAT, dims, {
      location,
      offset: start,
      length: count * 4
    });
  };
}

function attr(
  name: string,
  value: { i?: number; f?: number; ints?: number[] }
): AttributeProto {
  const base = {
    name,
    floats: [],
    ints: [] as bigint[],
    strings: [],
    tensors: [],
    graphs: []
  };
  if (value.ints) {
    return { ...base, type: AttributeType.INTS, ints: value.ints.map(BigInt) };
  }
  if (value.f !== undefined) {
    return { ...base, type: AttributeType.FLOAT, f: value.f };
  }
  return { ...base, type: AttributeType.INT, i: BigInt(value.i ?? 0) };
}

/** Builds the model in memory, its weights made by `weights` (default: inline). */
export function buildLlamaProto(
  config: LlamaConfig,
  weights: WeightMaker = inlineWeights
): ModelProto {
  const { layers, hidden, heads, kvHeads, ffn, vocab, maxPositions } = config;
  const headSize = config.headSize ?? hidden / heads;
  const groupSize = heads / kvHeads;
  const opset = 17;
  const b = new GraphBuilder('', opset);
  const normal = normalSource(config.seed);
  const initializers: TensorProto[] = [];
  const weight = (name: string, dims: number[], std = 0.02): string => {
    initializers.push(
      weights(name, dims, values => {
        for (let i = 0; i < values.length; i++) {
          values[i] = normal() * std;
        }
      })
    );
    return name;
  };
  const constant = (name: string, dims: number[], values: number[]) => {
    initializers.push(floatTensor(name, dims, Float32Array.from(values)));
    return name;
  };
  const ones = (name: string, n: number) =>
    constant(name, [n], new Array<number>(n).fill(1));
  const scalar = (name: string, value: number) => constant(name, [], [value]);
  const named = (scope: string) => {
    let n = 0;
    return (
      opType: string,
      inputs: string[],
      attributes: AttributeProto[] = []
    ): string => {
      const node = `${scope}/${opType}_${n++}`;
      const output = `${node}_output_0`;
      b.nodes.push({
        name: node,
        op_type: opType,
        domain: '',
        input: inputs,
        output: [output],
        attribute: attributes,
        metadata_props: []
      });
      return output;
    };
  };

  // Shape plumbing and masks, built once (as exporters do before layer 0).
  const top = named('/model');
  const shape = top('Shape', ['input_ids']);
  // Shape → Gather(scalar) → Unsqueeze, as TorchScript writes it (the engine traces this form).
  const dim = (axis: number) => {
    const index = `shape.axis${axis}`;
    b.initializers.push(int64Tensor(index, [axis], []));
    return top('Unsqueeze', [
      top('Gather', [shape, index], [attr('axis', { i: 0 })]),
      b.ints([0])
    ]);
  };
  const batch = dim(0);
  const time = dim(1);
  // RoPE tables [maxPositions, headSize] (cos, sin of θ repeated for both halves).
  const cosValues = new Float32Array(maxPositions * headSize);
  const sinValues = new Float32Array(maxPositions * headSize);
  for (let p = 0; p < maxPositions; p++) {
    for (let i = 0; i < headSize / 2; i++) {
      const angle = p / config.ropeTheta ** ((2 * i) / headSize);
      for (const j of [i, i + headSize / 2]) {
        cosValues[p * headSize + j] = Math.cos(angle);
        sinValues[p * headSize + j] = Math.sin(angle);
      }
    }
  }
  initializers.push(
    floatTensor('rope.cos', [maxPositions, headSize], cosValues),
    floatTensor('rope.sin', [maxPositions, headSize], sinValues)
  );
  const cos = top('Slice', ['rope.cos', b.ints([0]), time, b.ints([0])]);
  const sin = top('Slice', ['rope.sin', b.ints([0]), time, b.ints([0])]);
  // Causal table: 0 on and below the diagonal, a large negative above.
  const NEG = -1e9;
  const causalValues = new Float32Array(maxPositions * maxPositions);
  for (let r = 0; r < maxPositions; r++) {
    for (let c = r + 1; c < maxPositions; c++) {
      causalValues[r * maxPositions + c] = NEG;
    }
  }
  initializers.push(
    floatTensor('mask.causal', [maxPositions, maxPositions], causalValues)
  );
  const timeTime = top('Concat', [time, time], [attr('axis', { i: 0 })]);
  const causal = top('Slice', ['mask.causal', b.ints([0, 0]), timeTime]);
  const padding = top('Mul', [
    top('Sub', [
      scalar('mask.one', 1),
      top('Cast', ['attention_mask'], [attr('to', { i: DataType.FLOAT })])
    ]),
    scalar('mask.negative', NEG)
  ]);
  // [T, T] + [B, 1, 1, T] → [B, 1, T, T]
  const mask = top('Add', [
    causal,
    top('Unsqueeze', [padding, b.ints([1, 2])])
  ]);

  const rmsNorm = (
    op: ReturnType<typeof named>,
    x: string,
    weightName: string
  ) => {
    const variance = op(
      'ReduceMean',
      [op('Pow', [x, scalar(`${weightName}.two`, 2)])],
      [attr('axes', { ints: [-1] }), attr('keepdims', { i: 1 })]
    );
    const inv = op('Reciprocal', [
      op('Sqrt', [
        op('Add', [variance, scalar(`${weightName}.eps`, config.rmsEps)])
      ])
    ]);
    return op('Mul', [ones(weightName, hidden), op('Mul', [x, inv])]);
  };
  const rope = (op: ReturnType<typeof named>, x: string) => {
    const half = headSize / 2;
    const first = op('Slice', [x, b.ints([0]), b.ints([half]), b.ints([-1])]);
    const second = op('Slice', [
      x,
      b.ints([half]),
      b.ints([headSize]),
      b.ints([-1])
    ]);
    const rotated = op(
      'Concat',
      [op('Neg', [second]), first],
      [attr('axis', { i: -1 })]
    );
    return op('Add', [op('Mul', [x, cos]), op('Mul', [rotated, sin])]);
  };
  // Each Reshape/Expand target constant is its own (cross-layer sharing is not exercised here).
  let own = 0;
  const ints = (values: number[]) => {
    const name = `shape.${own++}`;
    b.initializers.push(int64Tensor(name, values));
    return name;
  };

  const embedding = weight('model.embed_tokens.weight', [vocab, hidden]);
  let x = top('Gather', [embedding, 'input_ids']);
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}`;
    const attn = named(`/model/layers.${l}/self_attn`);
    const mlp = named(`/model/layers.${l}/mlp`);
    const normed = rmsNorm(
      named(`/model/layers.${l}/input_layernorm`),
      x,
      `${p}.input_layernorm.weight`
    );
    const heads4 = (projection: string) =>
      attn(
        'Transpose',
        [attn('Reshape', [projection, ints([0, 0, -1, headSize])])],
        [attr('perm', { ints: [0, 2, 1, 3] })]
      );
    const q = rope(
      attn,
      heads4(
        attn('MatMul', [
          normed,
          weight(`${p}.q_proj`, [hidden, heads * headSize])
        ])
      )
    );
    const k = rope(
      attn,
      heads4(
        attn('MatMul', [
          normed,
          weight(`${p}.k_proj`, [hidden, kvHeads * headSize])
        ])
      )
    );
    const v = heads4(
      attn('MatMul', [
        normed,
        weight(`${p}.v_proj`, [hidden, kvHeads * headSize])
      ])
    );
    const repeatKv = (value: string) =>
      attn('Reshape', [
        attn('Expand', [
          attn('Unsqueeze', [value, ints([2])]),
          attn(
            'Concat',
            [batch, ints([kvHeads, groupSize]), time, ints([headSize])],
            [attr('axis', { i: 0 })]
          )
        ]),
        attn(
          'Concat',
          [batch, ints([heads]), time, ints([headSize])],
          [attr('axis', { i: 0 })]
        )
      ]);
    const scores = attn('Add', [
      attn('Mul', [
        attn('MatMul', [
          q,
          attn(
            'Transpose',
            [repeatKv(k)],
            [attr('perm', { ints: [0, 1, 3, 2] })]
          )
        ]),
        scalar(`${p}.self_attn.scale`, 1 / Math.sqrt(headSize))
      ]),
      mask
    ]);
    const probs = attn('Softmax', [scores], [attr('axis', { i: -1 })]);
    const context = attn('Reshape', [
      attn(
        'Transpose',
        [attn('MatMul', [probs, repeatKv(v)])],
        [attr('perm', { ints: [0, 2, 1, 3] })]
      ),
      ints([0, 0, -1])
    ]);
    x = attn('Add', [
      x,
      attn('MatMul', [
        context,
        weight(`${p}.o_proj`, [heads * headSize, hidden])
      ])
    ]);
    const normed2 = rmsNorm(
      named(`/model/layers.${l}/post_attention_layernorm`),
      x,
      `${p}.post_attention_layernorm.weight`
    );
    const gate = mlp('MatMul', [
      normed2,
      weight(`${p}.gate_proj`, [hidden, ffn])
    ]);
    const up = mlp('MatMul', [normed2, weight(`${p}.up_proj`, [hidden, ffn])]);
    const h = mlp('Mul', [mlp('Mul', [gate, mlp('Sigmoid', [gate])]), up]);
    x = mlp('Add', [
      x,
      mlp('MatMul', [h, weight(`${p}.down_proj`, [ffn, hidden])])
    ]);
  }
  const final = named('/model/norm');
  const last = rmsNorm(final, x, 'model.norm.weight');
  const lastHidden = b.op('Identity', [last], [], LAST_HIDDEN);
  b.op(
    'MatMul',
    [
      lastHidden,
      config.tied
        ? named('/lm_head')(
            'Transpose',
            [embedding],
            [attr('perm', { ints: [1, 0] })]
          )
        : weight('lm_head', [hidden, vocab])
    ],
    [],
    'logits'
  );

  return {
    ir_version: 8n,
    opset_import: [{ domain: '', version: BigInt(opset) }],
    producer_name: 'cusprun-bench',
    producer_version: '0',
    graph: {
      name: 'llama',
      node: b.nodes,
      initializer: [...initializers, ...b.initializers],
      input: [
        tensorValueInfo('input_ids', DataType.INT64, ['batch', 'sequence']),
        tensorValueInfo('attention_mask', DataType.INT64, ['batch', 'sequence'])
      ],
      output: [
        tensorValueInfo('logits', DataType.FLOAT, ['batch', 'sequence', vocab])
      ],
      value_info: []
    },
    metadata_props: [],
    functions: []
  };
}

/** The Hugging Face config.json that goes beside the model. */
export function hfConfig(config: LlamaConfig): Record<string, unknown> {
  return {
    head_dim: config.headSize ?? config.hidden / config.heads,
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: config.hidden,
    intermediate_size: config.ffn,
    num_hidden_layers: config.layers,
    num_attention_heads: config.heads,
    num_key_value_heads: config.kvHeads,
    vocab_size: config.vocab,
    max_position_embeddings: config.maxPositions,
    rms_norm_eps: config.rmsEps,
    rope_theta: config.ropeTheta,
    hidden_act: 'silu',
    tie_word_embeddings: config.tied ?? false,
    torch_dtype: 'float32'
  };
}

function writeConfig(dir: string, config: LlamaConfig): void {
  fs.writeFileSync(
    path.join(dir, 'config.json'),
    `${JSON.stringify(hfConfig(config), null, 2)}\n`
  );
}

/**
 * Writes model.onnx, its weights streamed into model.onnx_data as they are drawn, and
 * config.json into `dir`; returns the model file.
 */
export function writeLlamaModelExternal(
  dir: string,
  config: LlamaConfig
): string {
  fs.mkdirSync(dir, { recursive: true });
  const data = 'model.onnx_data';
  const fd = fs.openSync(path.join(dir, data), 'w');
  let proto: ModelProto;
  try {
    proto = buildLlamaProto(config, externalWeights(fd, data));
  } finally {
    fs.closeSync(fd);
  }
  const file = path.join(dir, 'model.onnx');
  fs.writeFileSync(file, encodeModel(proto));
  writeConfig(dir, config);
  return file;
}

/** Writes model.onnx (weights inline) and config.json into `dir`; returns the model file. */
export function writeLlamaModel(
  dir: string,
  config: LlamaConfig = DEFAULT_CONFIG,
  proto: ModelProto = buildLlamaProto(config)
): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'model.onnx');
  fs.writeFileSync(file, encodeModel(proto));
  writeConfig(dir, config);
  return file;
}
