/**
 * The committed fixture exports (fixtures/models, made by fixtures/make_fixtures.py) and how to
 * run them: shared by the engine's and the CLI's tests.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Feed, ModelSession } from '../capture/runtime';
import { encodeModel, TensorProto, ValueInfoProto } from '../onnx/proto';

export const FIXTURES = path.resolve(__dirname, '../../../fixtures/models');

export interface FixtureEntry {
  /** The fixture set: its folder under models/ and its reference.json (`llama3`, `gemma3-gqa`). */
  family: string;
  /** The family cusprun must name it: `family` itself, or the family a real-shape set belongs to. */
  archFamily: string;
  style: string;
  path: string;
  modelType: string;
  layers: number;
  hidden: number;
  ffnWidth: number;
  heads: number;
  kvHeads: number;
  headSize: number;
  vocab: number;
  kvCache: boolean;
  externalData: boolean;
  dtype: 'float32' | 'float16';
  tiedEmbeddings: boolean;
  opset: number;
}

/** A module's units and parameters as torch counts them from the Hugging Face modules. */
export interface TorchUnits {
  units: number;
  params: number;
  paramsPerUnit: number;
}

/** What torch computed from the generating model, independently of the ONNX graph. */
export interface TorchReference {
  /** Every parameter of the model, a tied embedding matrix once. */
  totalParams: number;
  prunableParams: number;
  layers: { attention: TorchUnits; ffn: TorchUnits }[];
  /** Which of `sequences` the scores are of. */
  scoredSequence: number;
  /** method.md's relevance of every unit to that sequence, per layer, in float64. */
  scores: { ffn: number[]; attention: number[] }[];
}

export interface Reference {
  sequences: number[][];
  logits: number[][][];
  torch: TorchReference;
}

export function fixtureManifest(): FixtureEntry[] {
  const manifest = JSON.parse(
    fs.readFileSync(path.join(FIXTURES, 'manifest.json'), 'utf8')
  ) as {
    fixtures: FixtureEntry[];
  };
  return manifest.fixtures;
}

export function fixtureFile(entry: FixtureEntry): string {
  return path.join(FIXTURES, entry.path);
}

export function reference(family: string): Reference {
  return JSON.parse(
    fs.readFileSync(path.join(FIXTURES, family, 'reference.json'), 'utf8')
  ) as Reference;
}

/** Feeds for one token sequence (batch 1), with an empty KV cache for KV-cache exports. */
export function feedsFor(
  entry: FixtureEntry,
  tokens: number[]
): Record<string, Feed> {
  const ids = BigInt64Array.from(tokens.map(BigInt));
  const feeds: Record<string, Feed> = {
    input_ids: { type: 'int64', dims: [1, tokens.length], data: ids },
    attention_mask: {
      type: 'int64',
      dims: [1, tokens.length],
      data: new BigInt64Array(tokens.length).fill(1n)
    }
  };
  if (entry.kvCache) {
    feeds.position_ids = {
      type: 'int64',
      dims: [1, tokens.length],
      data: BigInt64Array.from(tokens.map((_, i) => BigInt(i)))
    };
    for (let layer = 0; layer < entry.layers; layer++) {
      for (const kind of ['key', 'value']) {
        feeds[`past_key_values.${layer}.${kind}`] =
          entry.dtype === 'float16'
            ? {
                type: 'float16',
                dims: [1, entry.kvHeads, 0, entry.headSize],
                data: new Uint16Array(0)
              }
            : {
                type: 'float32',
                dims: [1, entry.kvHeads, 0, entry.headSize],
                data: new Float32Array(0)
              };
      }
    }
  }
  return feeds;
}

/** Logits of a model file for each reference sequence, as onnxruntime returns them. */
export async function logitsOf(
  file: string,
  entry: FixtureEntry,
  sequences: number[][]
) {
  const session = await ModelSession.open(file, { threads: 1 });
  try {
    const out = [];
    for (const tokens of sequences) {
      const result = await session.run(feedsFor(entry, tokens), ['logits']);
      out.push(result.logits);
    }
    return out;
  } finally {
    await session.release();
  }
}

export interface TinyNode {
  op: string;
  inputs: string[];
  output: string;
}

/** The bytes of a small hand-made opset-17 model, for tests that need a graph of their own. */
export function tinyModel(
  nodes: TinyNode[],
  values: {
    inputs: string[];
    outputs: string[];
    elemType: number;
    initializer?: TensorProto[];
  }
): Uint8Array {
  const value = (name: string): ValueInfoProto => ({
    name,
    type: {
      tensor_type: {
        elem_type: values.elemType,
        shape: { dim: [{ dim_value: 2n }] }
      }
    }
  });
  return encodeModel({
    ir_version: 8n,
    opset_import: [{ domain: '', version: 17n }],
    metadata_props: [],
    functions: [],
    graph: {
      name: 'tiny',
      node: nodes.map(n => ({
        op_type: n.op,
        input: n.inputs,
        output: [n.output],
        attribute: [],
        metadata_props: []
      })),
      initializer: values.initializer ?? [],
      input: values.inputs.map(value),
      output: values.outputs.map(value),
      value_info: []
    }
  });
}
