/**
 * The check with the lm_head cut along the vocabulary into several slices still fails where the
 * model is wrong: one unit too many in the body, or one vocabulary entry of the pruned model's
 * lm_head changed in the first, a middle or the last slice (so every slice is compared) — with
 * the lm_head stored [hidden, vocab] (columns), as a Transpose of a [vocab, hidden] weight
 * (rows, a tied embedding's layout), and behind a node that is not the MatMul (the whole-logits
 * check instead).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { inspectModel } from '../../arch';
import { intsAttr } from '../../capture/graph-builder';
import { ModelMap } from '../../../core/model/model-map';
import { tensorWithData, withInitializers } from '../../onnx/edit';
import { OnnxModel } from '../../onnx/model';
import {
  GraphProto,
  ModelProto,
  NodeProto,
  TensorProto
} from '../../onnx/proto';
import { tensorDims } from '../../onnx/tensor';
import { VocabHead, vocabHead } from '../../onnx/vocab-slices';
import {
  FixtureEntry,
  fixtureFile,
  fixtureManifest,
  reference
} from '../../__tests__/fixtures';
import {
  compareLogits,
  Logits,
  UnitPlan,
  verifyPruned,
  writePrunedModel
} from '..';
import { SlicedComparison } from '../logit-bound';
import { headSlices } from '../vocab-check';

const entry = fixtureManifest().find(
  f => f.family === 'llama' && f.style === 'torchscript'
) as FixtureEntry;
const { sequences } = reference('llama');
let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cusprun-vocab-check-test-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Every third FFN channel of each layer; with `extra`, one more in layer 1. */
function planFor(map: ModelMap, extra = false): UnitPlan {
  return {
    layers: map.layers.map(layer => {
      const ffn = [...Array(layer.ffn.width).keys()].filter(k => k % 3 === 0);
      const more = extra && layer.index === 1 ? [1] : [];
      return { index: layer.index, ffn: [...ffn, ...more], attention: [] };
    })
  };
}

/** `proto` saved as `name`/model.onnx beside the fixture's config.json. */
function saveVariant(model: OnnxModel, proto: ModelProto, name: string) {
  const dir = path.join(tmp, name);
  model.save(path.join(dir, 'model.onnx'), {}, proto);
  fs.copyFileSync(
    path.join(path.dirname(model.file), 'config.json'),
    path.join(dir, 'config.json')
  );
  return path.join(dir, 'model.onnx');
}

/** The graph with its nodes replaced. */
function withNodes(proto: ModelProto, node: NodeProto[]): ModelProto {
  return { ...proto, graph: { ...(proto.graph as GraphProto), node } };
}

/** The fixture with its lm_head weight W [hidden, vocab] stored as Wᵀ and transposed in the graph. */
function transposedHead(model: OnnxModel): ModelProto {
  const graph = model.graph;
  const head = vocabHead(graph, 'logits');
  const weight = model.initializers.get(head?.weight ?? '');
  if (!head || !weight) {
    throw new Error('the fixture has no MatMul lm_head');
  }
  const [rows, cols] = tensorDims(weight);
  const values = model.float32(weight);
  const stored = new Float32Array(rows * cols);
  values.forEach(
    (v, i) => (stored[(i % cols) * rows + Math.floor(i / cols)] = v)
  );
  const bytes = new Uint8Array(stored.buffer);
  const transposed = tensorWithData(weight, bytes, [cols, rows]);
  const node = graph.node.flatMap((n, i) => {
    if (i !== head.nodes[0]) {
      return [n];
    }
    const transpose: NodeProto = {
      ...n,
      name: 'cusprun.test.transpose',
      op_type: 'Transpose',
      input: [head.weight],
      output: ['cusprun.test.head'],
      attribute: [intsAttr('perm', [1, 0])]
    };
    return [transpose, { ...n, input: [head.hidden, 'cusprun.test.head'] }];
  });
  const edited = withInitializers(
    model.proto,
    new Map([[head.weight, transposed]])
  );
  return withNodes(edited, node);
}

/** The fixture with its logits behind an Identity: no MatMul lm_head for the sliced check. */
function identityLogits(model: OnnxModel): ModelProto {
  const node = model.graph.node.flatMap(n => {
    if (!n.output.includes('logits')) {
      return [n];
    }
    const output = n.output.map(o => (o === 'logits' ? 'cusprun.test.pre' : o));
    const identity: NodeProto = {
      ...n,
      name: 'cusprun.test.identity',
      op_type: 'Identity',
      input: ['cusprun.test.pre'],
      output: ['logits'],
      attribute: []
    };
    return [{ ...n, output }, identity];
  });
  return withNodes(model.proto, node);
}

const VARIANTS = {
  columns: (model: OnnxModel) => model.proto,
  rows: transposedHead,
  whole: identityLogits
};
type Variant = keyof typeof VARIANTS;

/** The variant of the fixture as a model file (made once). */
function source(variant: Variant): string {
  const file = path.join(tmp, `${variant} source`, 'model.onnx');
  if (!fs.existsSync(file)) {
    const model = OnnxModel.load(fixtureFile(entry));
    try {
      const proto = VARIANTS[variant](model);
      // Only the whole variant leaves the sliced check no lm_head to cut.
      const head = vocabHead(proto.graph as GraphProto, 'logits');
      expect(head === undefined).toBe(variant === 'whole');
      saveVariant(model, proto, `${variant} source`);
    } finally {
      model.close();
    }
  }
  return file;
}

/** The variant's lm_head (before the Identity of the whole variant) and its weight. */
function lmHead(model: OnnxModel): { head: VocabHead; weight: TensorProto } {
  const head =
    vocabHead(model.graph, 'logits') ??
    vocabHead(model.graph, 'cusprun.test.pre');
  const weight = model.initializers.get(head?.weight ?? '');
  if (!head || !weight) {
    throw new Error(`${model.file}: no MatMul lm_head`);
  }
  return { head, weight };
}

/** The pruned model with vocabulary entry `vocab` of its lm_head doubled. */
function wrongEntry(file: string, vocab: number): string {
  const model = OnnxModel.load(file);
  try {
    const { head, weight } = lmHead(model);
    const [rows, cols] = tensorDims(weight);
    const values = model.float32(weight);
    const [count, at] = head.axis === 1 ? [rows, cols] : [cols, 1];
    for (let i = 0; i < count; i++) {
      const k = head.axis === 1 ? i * at + vocab : vocab * cols + i;
      values[k] *= 2;
    }
    const edited = tensorWithData(weight, new Uint8Array(values.buffer));
    const name = `${path.basename(path.dirname(file))} wrong ${vocab}`;
    const proto = withInitializers(
      model.proto,
      new Map([[weight.name ?? '', edited]])
    );
    return saveVariant(model, proto, name);
  } finally {
    model.close();
  }
}

/**
 * A stage budget that cuts the variant's lm_head (256 entries) into four slices: its weight
 * (twice when stored transposed) and both models' logits of every sequence, a quarter.
 */
function fourSlices(file: string): number {
  const model = OnnxModel.load(file);
  try {
    const { head, weight } = lmHead(model);
    const bytes = model.byteLength(weight) * (head.axis === 0 ? 2 : 1);
    const tokens = sequences.reduce((n, s) => n + s.length, 0);
    const budget = Math.ceil((bytes + 2 * entry.vocab * tokens * 4) / 4);
    expect(
      headSlices(head, model.byteLength(weight), sequences, budget)
    ).toHaveLength(4);
    return budget;
  } finally {
    model.close();
  }
}

/** Prunes the variant (one unit too many with `extra`), optionally breaks it, and verifies. */
async function check(
  variant: Variant,
  name: string,
  options: { extra?: boolean; vocab?: number }
) {
  const file = source(variant);
  const map = inspectModel(file);
  const model = OnnxModel.load(file);
  try {
    const plan = planFor(map);
    const written = planFor(map, options.extra);
    const out = await writePrunedModel(model, written, path.join(tmp, name));
    const pruned =
      options.vocab === undefined
        ? out.file
        : wrongEntry(out.file, options.vocab);
    return await verifyPruned(model, map, plan, pruned, sequences, {
      threads: 1,
      stageBytes: fourSlices(file)
    });
  } finally {
    model.close();
  }
}

describe('the check with the lm_head in four vocabulary slices', () => {
  const variants: Variant[] = ['columns', 'rows', 'whole'];

  it.each(variants)('%s: the correct prune passes', async variant => {
    const result = await check(variant, `${variant} correct`, {});
    expect(result.ok).toBe(true);
    expect(result.worst.scale).toBeGreaterThan(0);
  });

  it.each(variants)('%s: one FFN channel too many fails', async variant => {
    const result = await check(variant, `${variant} extra`, { extra: true });
    expect(result.ok).toBe(false);
    expect(result.worst.ulps).toBeGreaterThan(2 * result.boundUlps);
  });

  // Entries in the first, a middle and the last of the four slices [0, 64) … [192, 256).
  const entries = variants.flatMap(v =>
    [0, 130, 255].map(vocab => [v, vocab] as const)
  );
  it.each(entries)(
    '%s: lm_head entry %i of the pruned model changed fails, found there',
    async (variant, vocab) => {
      const result = await check(variant, `${variant} entry ${vocab}`, {
        vocab
      });
      expect(result.ok).toBe(false);
      expect(result.worst.vocab).toBe(vocab);
      expect(result.worst.ulps).toBeGreaterThan(2 * result.boundUlps);
    }
  );
});

describe('comparing logits a vocabulary slice at a time', () => {
  const logits = (values: number[], width: number): Logits => ({
    type: 'float32',
    dims: [1, values.length / width, width],
    values: Float32Array.from(values)
  });
  /** Columns [start, end) of every row. */
  const columns = (l: Logits, [start, end]: [number, number]): Logits => {
    const width = l.dims[2];
    const rows = l.values.length / width;
    const values = [...Array(rows).keys()].flatMap(r => [
      ...l.values.subarray(r * width + start, r * width + end)
    ]);
    return logits(values, end - start);
  };

  it('finds what comparing whole rows finds, in any order of the slices', () => {
    let seed = 7;
    const next = () => ((seed = (seed * 48271) % 2147483647) / 2147483647) * 8;
    const width = 10;
    const a = [0, 1].map(() => logits([...Array(30)].map(next), width));
    // Small differences everywhere, a tie in row 1 of sequence 0, a NaN in sequence 1.
    const b = a.map(l =>
      logits(
        [...l.values].map(v => v + next() * 1e-5),
        width
      )
    );
    [2, 8].forEach((j, k) => {
      a[0].values[width + j] = k + 1;
      b[0].values[width + j] = k + 1.5;
    });
    b[1].values[25] = NaN;
    const whole = compareLogits(a, b, 'm.onnx');
    const sliced = new SlicedComparison('m.onnx');
    const ranges: [number, number][] = [
      [7, 10],
      [0, 3],
      [3, 7]
    ];
    for (const range of ranges) {
      a.forEach((l, i) =>
        sliced.add(i, columns(l, range), columns(b[i], range), range[0])
      );
    }
    expect(sliced.result()).toEqual(whole);
    expect(whole.worst).toMatchObject({ sequence: 1, token: 2, vocab: 5 });
    const first = new SlicedComparison('m.onnx');
    for (const range of ranges) {
      first.add(0, columns(a[0], range), columns(b[0], range), range[0]);
    }
    expect(first.result().worst).toMatchObject({ token: 1, vocab: 2 });
  });
});
