/**
 * The evaluation graph against the full logits: on every fixture export, the log-probabilities
 * and greedy tokens onnxruntime returns equal those computed here, in float64, from the logits
 * of the plain model (what evaluation fetched before); the logits never leave the graph; a
 * log-softmax over huge logits stays finite.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { float16BitsToFloat32 } from '../../onnx/dtype';
import { OnnxModel } from '../../onnx/model';
import { GraphProto } from '../../onnx/proto';
import {
  fixtureFile,
  fixtureManifest,
  logitsOf,
  reference
} from '../../__tests__/fixtures';
import { ModelRunner } from '..';
import { ARGMAX, buildEvalProto, LOGPROB } from '../eval-graph';
import { writeBigramModel } from './helpers';

const fixtures = fixtureManifest();

/** log softmax(row)[target] in float64 with the max subtracted, as evaluation did in JS. */
function logSoftmax(row: Float32Array, target: number): number {
  let max = -Infinity;
  row.forEach(v => (max = Math.max(max, v)));
  let sum = 0;
  row.forEach(v => (sum += Math.exp(v - max)));
  return row[target] - max - Math.log(sum);
}

/** The first index of the largest value, as numpy's argmax. */
function argmaxOf(row: Float32Array): number {
  return row.reduce((best, v, i) => (v > row[best] ? i : best), 0);
}

describe('the evaluation graph against the full logits', () => {
  it.each(fixtures.map(f => [`${f.family}/${f.style}`, f] as const))(
    '%s: the same log-probabilities and greedy tokens, batched and padded',
    async (_name, entry) => {
      const file = fixtureFile(entry);
      const sequences = reference(entry.family).sequences;
      const full = await logitsOf(file, entry, sequences);
      const runner = await ModelRunner.open(file, { threads: 1 });
      try {
        const time = Math.max(...sequences.map(s => s.length));
        const positions: number[] = [];
        const targets: number[] = [];
        const expected: number[] = [];
        const greedy: number[] = [];
        sequences.forEach((ids, row) => {
          const [, , vocab] = full[row].dims;
          const values =
            full[row].type === 'float16'
              ? Float32Array.from(
                  full[row].data as Uint16Array,
                  float16BitsToFloat32
                )
              : (full[row].data as Float32Array);
          const at = (t: number) => values.subarray(t * vocab, (t + 1) * vocab);
          for (let t = 1; t < ids.length; t++) {
            positions.push(row * time + t - 1);
            targets.push(ids[t]);
            expected.push(logSoftmax(at(t - 1), ids[t]));
          }
          greedy.push(argmaxOf(at(ids.length - 1)));
        });
        const got = await runner.logProbs(sequences, positions, targets);
        expect(got).toHaveLength(expected.length);
        // The log-softmax is float64 in both, so what differs is the logits' rounding: a padded
        // batch runs other kernel blockings (float32, measured ≤ 2e-7), and a float16 lm_head
        // on fewer rows rounds differently (≤ 2.9e-4; an ulp of a logit is 2^-10 of it).
        const tolerance = entry.dtype === 'float16' ? 1e-3 : 1e-6;
        got.forEach((v, i) =>
          expect(Math.abs(v - expected[i])).toBeLessThan(tolerance)
        );
        expect(await runner.nextTokens(sequences)).toEqual(greedy);
        expect(runner.vocab).toBe(full[0].dims[2]);
      } finally {
        await runner.release();
      }
    }
  );

  it.each(fixtures.map(f => [`${f.family}/${f.style}`, f] as const))(
    '%s: the logits never leave the graph, and the lm_head reads only the positions asked for',
    (_name, entry) => {
      const model = OnnxModel.load(fixtureFile(entry));
      try {
        const { proto } = buildEvalProto(model.proto, model.file);
        const graph = proto.graph as GraphProto;
        expect(graph.output.map(o => o.name)).toEqual([
          LOGPROB,
          ARGMAX,
          ...model.graph.output
            .map(o => o.name)
            .filter(n => n.startsWith('present'))
        ]);
        expect(graph.node.some(n => n.output.includes('logits'))).toBe(false);
        const lmHead = model.graph.node.find(n => n.output.includes('logits'));
        // One lm_head, on the rows gathered for scoring and for greedy decoding.
        const heads = graph.node.filter(
          n => n.op_type === 'MatMul' && n.input[1] === lmHead?.input[1]
        );
        expect(heads).toHaveLength(1);
        expect(heads[0].input[0]).toMatch(/^cusprun\.eval\//);
      } finally {
        model.close();
      }
    }
  );
});

it('keeps the log-softmax finite over logits far beyond exp’s range', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cusprun-eval-graph-'));
  try {
    // Logit 1000 for the successor byte, 0 elsewhere: exp(1000) overflows float64.
    writeBigramModel(path.join(tmp, 'bigram.onnx'), 1000);
    const runner = await ModelRunner.open(path.join(tmp, 'bigram.onnx'));
    try {
      const ids = [...Buffer.from('abz')];
      const got = await runner.logProbs([ids], [0, 1], [ids[1], ids[2]]);
      expect(got[0]).toBeCloseTo(-255 * Math.exp(-1000), 12);
      expect(got[1]).toBeCloseTo(-1000, 9);
    } finally {
      await runner.release();
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
