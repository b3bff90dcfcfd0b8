/** Shared by the evaluation tests: the torch references and a bigram model with known odds. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadTokenizer } from '../../corpus/tokenizer';
import { DataType, float32ToBytes } from '../../onnx/dtype';
import { inlineTensor } from '../../onnx/edit';
import { encodeModel, ValueInfoProto } from '../../onnx/proto';
import {
  FIXTURES,
  fixtureFile,
  fixtureManifest
} from '../../__tests__/fixtures';

export interface EvalReference {
  truncation: number;
  texts: string[];
  prompts: string[];
  maxNewTokens: number;
  families: Record<
    string,
    { nll: number; tokens: number; perplexity: number; generations: number[][] }
  >;
}

/** fixtures/models/eval-reference.json, made by fixtures/make_eval_reference.py with torch. */
export function evalReference(): EvalReference {
  return JSON.parse(
    fs.readFileSync(path.join(FIXTURES, 'eval-reference.json'), 'utf8')
  ) as EvalReference;
}

const manifest = fixtureManifest();

export function fixture(family: string, style: string): string {
  const entry = manifest.find(f => f.family === family && f.style === style);
  if (!entry) {
    throw new Error(`no fixture ${family}/${style}`);
  }
  return fixtureFile(entry);
}

/** The byte-level fixture tokenizer: 256 tokens, id = UTF-8 byte, no BOS. */
export const byteTokenizer = () =>
  loadTokenizer(path.join(FIXTURES, '..', 'tokenizer'));

/** The logit of a bigram's successor; every other logit of the row is 0. */
export const HIT = 8;
const VOCAB = 256;

/** The bigram model's successor of a byte: the next letter a→…→z, and the cycle 1→2→3→1. */
export function successor(byte: number): number | undefined {
  const c = String.fromCharCode(byte);
  if (c >= 'a' && c < 'z') {
    return byte + 1;
  }
  const cycle: Record<string, string> = { '1': '2', '2': '3', '3': '1' };
  return cycle[c]?.charCodeAt(0);
}

/** log p(next | previous) under the bigram model, worked out by hand. */
export function bigramLogProb(previous: number, next: number): number {
  const hit = successor(previous);
  if (hit === undefined) {
    return -Math.log(VOCAB);
  }
  return (next === hit ? HIT : 0) - Math.log(Math.exp(HIT) + VOCAB - 1);
}

/**
 * A one-node model, logits = Gather(table, input_ids): row `previous` of the table gives the
 * odds of the next byte (logit `hit` for the successor, 0 elsewhere), so every log-likelihood
 * can be worked out by hand.
 */
export function writeBigramModel(file: string, hit = HIT): void {
  const table = new Float32Array(VOCAB * VOCAB);
  for (let a = 0; a < VOCAB; a++) {
    const next = successor(a);
    if (next !== undefined) {
      table[a * VOCAB + next] = hit;
    }
  }
  const value = (
    name: string,
    elemType: number,
    dims: (string | number)[]
  ): ValueInfoProto => ({
    name,
    type: {
      tensor_type: {
        elem_type: elemType,
        shape: {
          dim: dims.map(d =>
            typeof d === 'string' ? { dim_param: d } : { dim_value: BigInt(d) }
          )
        }
      }
    }
  });
  const bytes = encodeModel({
    ir_version: 8n,
    opset_import: [{ domain: '', version: 17n }],
    metadata_props: [],
    functions: [],
    graph: {
      name: 'bigram',
      node: [
        {
          op_type: 'Gather',
          input: ['table', 'input_ids'],
          output: ['logits'],
          attribute: [],
          metadata_props: []
        }
      ],
      initializer: [
        inlineTensor(
          'table',
          DataType.FLOAT,
          [VOCAB, VOCAB],
          float32ToBytes(table, DataType.FLOAT)
        )
      ],
      input: [value('input_ids', DataType.INT64, ['batch', 'sequence'])],
      output: [value('logits', DataType.FLOAT, ['batch', 'sequence', VOCAB])],
      value_info: []
    }
  });
  fs.writeFileSync(file, bytes);
}
