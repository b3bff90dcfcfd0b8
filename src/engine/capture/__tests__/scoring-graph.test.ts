/** The scoring graph: what it keeps, what it outputs, how it is fed, on every fixture export. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { mapModel } from '../../arch/map';
import { fixtureFile, fixtureManifest } from '../../__tests__/fixtures';
import { DataType } from '../../onnx/dtype';
import { OnnxModel } from '../../onnx/model';
import { GraphProto, NodeProto } from '../../onnx/proto';
import {
  AttentionForm,
  batchFeeds,
  buildScoringProto,
  modelInputs,
  ScoringGraph,
  ScoringInput,
  ScoringSession
} from '..';

const fixtures = fixtureManifest();

/** A node of the source graph by the model map's label (name, or `#N`). */
function nodeOf(model: OnnxModel, label: string): NodeProto {
  const byIndex = /^#(\d+)$/.exec(label);
  const node = byIndex
    ? model.graph.node[Number(byIndex[1])]
    : model.graph.node.find(n => n.name === label);
  expect(node).toBeDefined();
  return node!;
}
const pick = (family: string, style: string) =>
  fixtures.find(f => f.family === family && f.style === style)!;

describe('the scoring graph of every fixture export', () => {
  it.each(fixtures.map(f => [`${f.family}/${f.style}`, f] as const))(
    '%s keeps only what the reductions need',
    (_name, entry) => {
      const model = OnnxModel.load(fixtureFile(entry));
      try {
        const map = mapModel(model);
        for (const scoreForm of ['paper', 'code'] as const) {
          const built = buildScoringProto(model, map, { scoreForm });
          const graph = built.proto.graph as GraphProto;
          // Outputs: the reductions and nothing else (no logits, no present.*).
          const names = map.layers.flatMap(l => [
            `cusprun.ffn.${l.index}`,
            `cusprun.attn.${l.index}`
          ]);
          expect(graph.output.map(o => o.name)).toEqual(names);
          expect(built.outputs.map(o => [o.name, o.units])).toEqual(
            map.layers.flatMap(l => [
              [`cusprun.ffn.${l.index}`, l.ffn.units],
              [`cusprun.attn.${l.index}`, l.attention.units]
            ])
          );
          // No lm_head: neither its node nor (unless it is the embedding) its weight.
          const kept = new Set(graph.node);
          const lmHead = map.lmHead!;
          expect(kept.has(nodeOf(model, lmHead.node))).toBe(false);
          const weights = new Set(graph.initializer.map(t => t.name));
          if (lmHead.weight !== map.embedding) {
            expect(weights.has(lmHead.weight)).toBe(false);
          }
          expect(graph.node.some(n => n.output.includes('logits'))).toBe(false);
          // The last layer's down projection feeds only the final norm and lm_head: gone too.
          const last = map.layers[map.layers.length - 1];
          expect(kept.has(nodeOf(model, last.ffn.down.node))).toBe(false);
          expect(kept.has(nodeOf(model, last.attention.o.node))).toBe(true);
          // KV-cache exports: past inputs stay (fed empty), present outputs go.
          expect(built.inputs.map(i => i.role).sort()).toEqual(
            [
              'attention-mask',
              'input-ids',
              ...(entry.kvCache
                ? ['position-ids', ...Array(2 * entry.layers).fill('past')]
                : [])
            ].sort()
          );
          for (const input of built.inputs.filter(i => i.role === 'past')) {
            expect(input.dims).toEqual([-1, entry.kvHeads, 0, entry.headSize]);
          }
          // Fewer nodes than the model plus what scoring adds.
          const added = graph.node.filter(n =>
            n.name?.startsWith('cusprun/')
          ).length;
          expect(graph.node.length - added).toBeLessThan(
            model.graph.node.length
          );
        }
      } finally {
        model.close();
      }
    }
  );
});

describe('running a scoring graph', () => {
  it.each(
    [pick('qwen3', 'kv'), pick('gpt2', 'fp16'), pick('mistral', 'dynamo')].map(
      e => [`${e.family}/${e.style}`, e] as const
    )
  )(
    '%s fetches only the reductions, finite and non-negative',
    async (_name, entry) => {
      const model = OnnxModel.load(fixtureFile(entry));
      const graph = ScoringGraph.write(model, mapModel(model));
      try {
        expect(graph.externalData).toBe('written');
        const session = await ScoringSession.open(graph, { threads: 1 });
        expect([...session.outputNames]).toEqual(
          graph.outputs.map(o => o.name)
        );
        const result = await session.run([
          [1, 2, 3, 4, 5],
          [6, 7]
        ]);
        await session.release();
        expect(result.map(r => r.data.length)).toEqual(
          graph.outputs.map(o => 2 * o.units)
        );
        for (const { data } of result) {
          expect(data.every(v => Number.isFinite(v) && v >= 0)).toBe(true);
          expect(data.some(v => v > 0)).toBe(true);
        }
      } finally {
        graph.dispose();
        model.close();
      }
      expect(fs.existsSync(graph.dir)).toBe(false);
    }
  );

  it('brings external data along, hard-linked when it can and copied when told', async () => {
    const entry = pick('llama', 'external');
    const model = OnnxModel.load(fixtureFile(entry));
    const map = mapModel(model);
    const source = model.externalDataFiles()[0];
    const linked = ScoringGraph.write(model, map);
    const copied = ScoringGraph.write(model, map, { link: false });
    try {
      expect(copied.externalData).toBe('copied');
      expect(['linked', 'copied']).toContain(linked.externalData);
      const data = (g: ScoringGraph) =>
        path.join(
          g.dir,
          fs.readdirSync(g.dir).find(f => f !== 'model.onnx')!
        );
      if (linked.externalData === 'linked') {
        expect(fs.statSync(data(linked)).ino).toBe(fs.statSync(source).ino);
      }
      // The copy holds only the weights the scoring graph reads: no lm_head.
      expect(fs.statSync(data(copied)).size).toBeLessThan(
        fs.statSync(source).size
      );
      const results = [];
      for (const g of [linked, copied]) {
        const session = await ScoringSession.open(g, { threads: 1 });
        results.push(await session.run([[3, 1, 4, 1, 5, 9, 2, 6]]));
        await session.release();
      }
      expect(results[0]).toEqual(results[1]);
    } finally {
      linked.dispose();
      copied.dispose();
      model.close();
    }
    // The source is untouched by the links going away.
    expect(fs.existsSync(source)).toBe(true);
  });

  it('makes its temporary folder under workDir, never beside the model', () => {
    const entry = pick('gemma', 'torchscript');
    const model = OnnxModel.load(fixtureFile(entry));
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'cusprun-work-'));
    const before = fs.readdirSync(model.dir);
    const graph = ScoringGraph.write(model, mapModel(model), {
      workDir: work
    });
    try {
      expect(path.dirname(graph.dir)).toBe(work);
      expect(fs.readdirSync(model.dir)).toEqual(before);
    } finally {
      graph.dispose();
      model.close();
      fs.rmSync(work, { recursive: true, force: true });
    }
  });
});

describe('attention forms', () => {
  /** The attention reductions of a two-document batch (one of them padded) in one form. */
  async function attentionSums(
    model: OnnxModel,
    attentionForm?: AttentionForm
  ): Promise<{ form?: AttentionForm; data: Float32Array }[]> {
    const graph = ScoringGraph.write(model, mapModel(model), {
      attentionForm
    });
    try {
      const session = await ScoringSession.open(graph, { threads: 1 });
      const result = await session.run([
        [5, 3, 8, 1, 9, 2, 7],
        [4, 6]
      ]);
      await session.release();
      return result
        .filter(r => r.output.kind === 'attention')
        .map(r => ({ form: r.output.attentionForm, data: r.data }));
    } finally {
      graph.dispose();
    }
  }

  it.each(fixtures.map(f => [`${f.family}/${f.style}`, f] as const))(
    '%s: the Gram, direct and chosen forms give the same group scores',
    async (_name, entry) => {
      const model = OnnxModel.load(fixtureFile(entry));
      try {
        const map = mapModel(model);
        const chosen = await attentionSums(model);
        // The cheapest per token: no product for one group, Gram while g·d < D, else direct.
        const expected = map.layers.map(l => {
          const a = l.attention;
          if (a.kvHeads === 1) {
            return 'output';
          }
          return a.groupSize * a.headSize < a.o.out ? 'gram' : 'direct';
        });
        expect(chosen.map(c => c.form)).toEqual(expected);
        const tolerance = entry.dtype === 'float16' ? 2e-3 : 1e-5;
        for (const form of ['gram', 'direct'] as const) {
          const forced = await attentionSums(model, form);
          forced.forEach((layer, i) => {
            expect(layer.form).toBe(form);
            const scale = Math.max(...chosen[i].data);
            layer.data.forEach((v, k) =>
              expect(Math.abs(v - chosen[i].data[k])).toBeLessThanOrEqual(
                tolerance * scale
              )
            );
          });
        }
        if (!expected.includes('output')) {
          await expect(attentionSums(model, 'output')).rejects.toThrow(
            /needs one group/
          );
        }
      } finally {
        model.close();
      }
    }
  );
});

describe('batch feeds', () => {
  const inputs: ScoringInput[] = [
    { name: 'input_ids', role: 'input-ids', elemType: DataType.INT64 },
    {
      name: 'attention_mask',
      role: 'attention-mask',
      elemType: DataType.INT32
    },
    { name: 'position_ids', role: 'position-ids', elemType: DataType.INT64 },
    {
      name: 'past.0.key',
      role: 'past',
      elemType: DataType.FLOAT16,
      dims: [-1, 2, 0, 8]
    }
  ];

  it('right-pads with the pad id, masks the padding and counts positions from 0', () => {
    const feeds = batchFeeds(inputs, [[5, 6, 7], [8]], 9);
    expect(feeds.input_ids).toEqual({
      type: 'int64',
      dims: [2, 3],
      data: BigInt64Array.from([5n, 6n, 7n, 8n, 9n, 9n])
    });
    expect(feeds.attention_mask).toEqual({
      type: 'int32',
      dims: [2, 3],
      data: Int32Array.from([1, 1, 1, 1, 0, 0])
    });
    expect(Array.from(feeds.position_ids.data as BigInt64Array)).toEqual([
      0n,
      1n,
      2n,
      0n,
      1n,
      2n
    ]);
    expect(feeds['past.0.key']).toEqual({
      type: 'float16',
      dims: [2, 2, 0, 8],
      data: new Uint16Array(0)
    });
  });

  it('describes the inputs of a whole model, KV cache included', () => {
    const model = OnnxModel.load(fixtureFile(pick('llama', 'kv')));
    try {
      expect(
        modelInputs(model.graph, model.file).map(i => [i.name, i.role, i.dims])
      ).toEqual([
        ['input_ids', 'input-ids', undefined],
        ['attention_mask', 'attention-mask', undefined],
        ['position_ids', 'position-ids', undefined],
        ...[0, 1].flatMap(l =>
          ['key', 'value'].map(kind => [
            `past_key_values.${l}.${kind}`,
            'past',
            [-1, 2, 0, 8]
          ])
        )
      ]);
      const unknown = {
        ...model.graph,
        input: [...model.graph.input, { name: 'token_type_ids' }]
      };
      expect(() => modelInputs(unknown, model.file)).toThrow(
        /does not know how to fill: 'token_type_ids'/
      );
    } finally {
      model.close();
    }
  });

  it('refuses an empty batch', () => {
    expect(() => batchFeeds(inputs, [])).toThrow(/empty batch/);
    expect(() => batchFeeds(inputs, [[]])).toThrow(/empty batch/);
  });
});
