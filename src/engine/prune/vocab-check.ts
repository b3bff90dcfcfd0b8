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
import { stagedValues, TakeLogits } from './staged';

const LOGITS = 'logits';
/** Bytes a float logit takes in JS (float16 logits are read as float32). */
const LOGIT_BYTES = 4;

/** Feeds a slice's bytes as a tensor of the head's element type (float32 or float16). */
function sliceFeed(head: VocabHead, bytes: Uint8Array, dims: number[]): Feed {
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

/** One vocabulary slice of the logits from each sequence's hidden state, each to `take`. */
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
  dims[head.axis] = range[1] - range[0];
  const weight = sliceFeed(
    head,
    tensorRange(model, tensor, head.axis, range),
    dims
  );
  const proto = vocabSliceModel(model.proto, head, LOGITS);
  const session = await ModelSession.fromBytes(
    model.encodeReferencing(proto),
    options,
    model.file
  );
  try {
    for (const [i, value] of hidden.entries()) {
      const feeds = { [head.hidden]: value, [head.weight]: weight };
      const out = await session.run(feeds, [LOGITS]);
      take(i, readLogits(out[LOGITS], model.file));
    }
  } finally {
    await session.release();
  }
}

/** Each sequence's hidden state at the lm_head, stage by stage (cut like `starts` if given). */
async function hiddenStates(
  model: OnnxModel,
  head: VocabHead,
  sequences: number[][],
  budget: number,
  options: RuntimeOptions,
  starts?: string[]
): Promise<{ hidden: Feed[]; starts?: string[] } | string> {
  const hidden: Feed[] = [];
  const take = (i: number, value: Parameters<typeof asFeed>[0]) =>
    (hidden[i] = asFeed(value, model.file));
  const run = (cut: number | string[]) =>
    stagedValues(model, sequences, head.hidden, cut, take, options);
  let staged = starts ? await run(starts) : 'not cut like another model';
  if (typeof staged === 'string') {
    staged = await run(budget);
  }
  return typeof staged === 'string' ? staged : { hidden, ...staged };
}

/**
 * The vocabulary slices of `head`, whose weight is `weightBytes`: as few as keep within `budget`
 * bytes each slice's weight (twice for a [vocab, hidden] weight: onnxruntime makes its
 * transpose on each run) and its logits of every sequence.
 */
export function headSlices(
  head: VocabHead,
  weightBytes: number,
  sequences: number[][],
  budget: number
): [number, number][] {
  const tokens = sequences.reduce((n, s) => n + s.length, 0);
  const copies = head.axis === 0 ? 2 : 1;
  const perColumn = (copies * weightBytes) / head.vocab + tokens * LOGIT_BYTES;
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
  const out = await hiddenStates(
    pruned,
    b,
    sequences,
    budget,
    options,
    ref.starts
  );
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
