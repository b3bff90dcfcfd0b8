/**
 * The check with the lm_head cut along the vocabulary (onnx/vocab-slices.ts): a large
 * vocabulary's lm_head is one weight no cut between nodes can split (640 MiB on Gemma 3 270M),
 * and the logits it makes are as large again for a few sequences. Both models run stage by
 * stage up to the hidden state their lm_head reads, kept per sequence ([1, T, hidden]: small);
 * then, slice by slice of the vocabulary, the reference's logits of that slice on every
 * sequence, then the pruned model's, each compared as it comes and let go (SlicedComparison
 * keeps per row only its maxima). Every logit is still compared, with the same bound.
 */
import { asFeed, Feed, ModelSession, RuntimeOptions } from '../capture/runtime';
import { DataType } from '../onnx/dtype';
import { OnnxModel } from '../onnx/model';
import { TensorProto } from '../onnx/proto';
import { tensorDims } from '../onnx/tensor';
import {
  tensorRange,
  VocabHead,
  vocabHead,
  vocabSliceModel,
  vocabSlices
} from '../onnx/vocab-slices';
import { Logits, readLogits, SlicedComparison } from './logit-bound';
import { StagedRun, stagedValuesLike, TakeLogits } from './staged';

const LOGITS = 'logits';
/** Bytes a float logit takes in JS (float16 logits are read as float32). */
const LOGIT_BYTES = 4;

/** Feeds `bytes` as a tensor of the head's element type (float32 or float16). */
function floatFeed(head: VocabHead, bytes: Uint8Array, dims: number[]): Feed {
  const { buffer, byteOffset, byteLength } = bytes;
  return head.elemType === DataType.FLOAT16
    ? {
        type: 'float16',
        dims,
        data: new Uint16Array(buffer, byteOffset, byteLength / 2)
      }
    : {
        type: 'float32',
        dims,
        data: new Float32Array(buffer, byteOffset, byteLength / 4)
      };
}

/** Bytes of one element of the head's type. */
const elementSize = (head: VocabHead) =>
  head.elemType === DataType.FLOAT16 ? 2 : 4;

/**
 * Every sequence's hidden state as the rows of one [rows, hidden] matrix: the lm_head acts row
 * by row, and one run per slice packs the slice's weight once instead of once per sequence.
 */
function joinedRows(head: VocabHead, hidden: Feed[]): Feed {
  const out = new Uint8Array(hidden.reduce((n, h) => n + h.data.byteLength, 0));
  let at = 0;
  for (const { data } of hidden) {
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), at);
    at += data.byteLength;
  }
  const width = hidden[0].dims[hidden[0].dims.length - 1];
  const rows = out.byteLength / (elementSize(head) * width);
  return floatFeed(head, out, [rows, width]);
}

/**
 * One vocabulary slice of the logits from every sequence's hidden state, in one run; each
 * sequence's rows to `take`, shaped as its hidden state with the slice's width.
 */
async function headLogits(
  model: OnnxModel,
  head: VocabHead,
  range: [number, number],
  hidden: Feed[],
  options: RuntimeOptions,
  take: TakeLogits
): Promise<void> {
  const tensor = model.initializers.get(head.weight) as TensorProto;
  const dims = tensorDims(tensor);
  const width = range[1] - range[0];
  dims[head.axis] = width;
  const bytes = tensorRange(model, tensor, head.axis, range);
  const feeds = {
    [head.hidden]: joinedRows(head, hidden),
    [head.weight]: floatFeed(head, bytes, dims)
  };
  const proto = vocabSliceModel(model.proto, head, LOGITS);
  const session = await ModelSession.fromBytes(
    model.encodeReferencing(proto),
    options,
    model.file
  );
  let logits: Logits;
  try {
    logits = readLogits(
      (await session.run(feeds, [LOGITS]))[LOGITS],
      model.file
    );
  } finally {
    await session.release();
  }
  let row = 0;
  for (const [i, h] of hidden.entries()) {
    const shape = [...h.dims.slice(0, -1), width];
    const rows = shape.slice(0, -1).reduce((n, d) => n * d, 1);
    const values = logits.values.subarray(row * width, (row + rows) * width);
    take(i, { type: logits.type, dims: shape, values });
    row += rows;
  }
}

/** Each sequence's hidden state at the lm_head, stage by stage (cut like `like` if given). */
async function hiddenStates(
  model: OnnxModel,
  head: VocabHead,
  sequences: number[][],
  budget: number,
  options: RuntimeOptions,
  like?: StagedRun
): Promise<{ hidden: Feed[]; starts?: string[] } | string> {
  const hidden: Feed[] = [];
  const take = (i: number, value: Parameters<typeof asFeed>[0]) =>
    (hidden[i] = asFeed(value, model.file));
  const staged = await stagedValuesLike(
    model,
    sequences,
    head.hidden,
    budget,
    like,
    take,
    options
  );
  return typeof staged === 'string' ? staged : { hidden, ...staged };
}

/**
 * The vocabulary slices of `head`, whose weight is `weightBytes`: as few as keep within `budget`
 * bytes each slice's weight (twice for a [vocab, hidden] weight: onnxruntime makes its
 * transpose on each run) and its logits of every sequence, the reference's and the pruned
 * model's.
 */
export function headSlices(
  head: VocabHead,
  weightBytes: number,
  sequences: number[][],
  budget: number
): [number, number][] {
  const tokens = sequences.reduce((n, s) => n + s.length, 0);
  const copies = head.axis === 0 ? 2 : 1;
  const perColumn =
    (copies * weightBytes) / head.vocab + 2 * tokens * LOGIT_BYTES;
  return vocabSlices(head.vocab, Math.ceil((head.vocab * perColumn) / budget));
}

/**
 * Compares the pruned model's logits with the reference's into `comparison`, the lm_head a
 * vocabulary slice at a time, each slice's weight and its logits of every sequence within
 * `budget` bytes. Returns why not instead (before comparing anything) when either lm_head is
 * not a MatMul by a constant weight, the two differ, or a graph cannot be cut.
 */
export async function vocabSlicedCheck(
  reference: OnnxModel,
  pruned: OnnxModel,
  sequences: number[][],
  budget: number,
  options: RuntimeOptions,
  comparison: SlicedComparison
): Promise<string | undefined> {
  const a = vocabHead(reference.graph, LOGITS);
  const b = vocabHead(pruned.graph, LOGITS);
  const same = a && b && a.hidden === b.hidden && a.axis === b.axis;
  if (!a || !b || !same || a.vocab !== b.vocab) {
    return 'the lm_head is not a MatMul by a constant weight in both models';
  }
  const ref = await hiddenStates(reference, a, sequences, budget, options);
  if (typeof ref === 'string' || !sequences.length) {
    return typeof ref === 'string' ? ref : undefined;
  }
  const out = await hiddenStates(pruned, b, sequences, budget, options, ref);
  if (typeof out === 'string') {
    return out;
  }
  const weight = reference.initializers.get(a.weight) as TensorProto;
  const bytes = reference.byteLength(weight);
  for (const range of headSlices(a, bytes, sequences, budget)) {
    const slices: (Logits | undefined)[] = [];
    await headLogits(reference, a, range, ref.hidden, options, (i, l) => {
      slices[i] = l;
    });
    await headLogits(pruned, b, range, out.hidden, options, (i, l) => {
      comparison.add(i, slices[i] as Logits, l, range[0]);
      slices[i] = undefined;
    });
  }
  return undefined;
}
