/**
 * Structural pruning against its definition: for every family and export style, the pruned
 * model gives the logits of the original with the same units zeroed, in onnxruntime.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { inspectModel } from '../../arch';
import { ModelMap } from '../../../core/model/model-map';
import { Feed, Fetched, ModelSession } from '../../capture/runtime';
import { OnnxModel } from '../../onnx/model';
import {
  FixtureEntry,
  fixtureFile,
  fixtureManifest,
  logitsOf,
  reference
} from '../../__tests__/fixtures';
import { pruneModel, removedParams, UnitPlan, zeroUnits } from '..';

const fixtures = fixtureManifest();
let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cusprun-prune-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Different units in different layers, so per-layer edits of shared constants are exercised. */
function planFor(map: ModelMap): UnitPlan {
  return {
    layers: map.layers.map(layer => ({
      index: layer.index,
      ffn: Array.from({ length: layer.ffn.width }, (_, k) => k).filter(
        k => k % 3 === layer.index % 3
      ),
      attention:
        layer.attention.units > 1 && layer.index % 2 === 0
          ? [layer.index % layer.attention.units]
          : []
    }))
  };
}

function asFloats(f: Fetched): Float32Array {
  return f.data instanceof Float32Array
    ? f.data
    : Float32Array.from(f.data as Uint16Array, halfToFloat);
}

function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) {
    return sign * fraction * 2 ** -24;
  }
  return exponent === 0x1f
    ? fraction
      ? NaN
      : sign * Infinity
    : sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

function maxAbsDiff(a: Fetched, b: Fetched): number {
  expect(a.dims).toEqual(b.dims);
  const x = asFloats(a);
  const y = asFloats(b);
  let worst = 0;
  x.forEach((v, i) => {
    worst = Math.max(worst, Math.abs(v - y[i]));
  });
  return worst;
}

/** Prefill then single-token steps, feeding each step's present.* back as the past. */
async function decode(
  file: string,
  entry: FixtureEntry,
  kvHeads: number[],
  tokens: number[],
  prefill: number
) {
  const session = await ModelSession.open(file, { threads: 1 });
  const empty = (layer: number): Feed =>
    entry.dtype === 'float16'
      ? {
          type: 'float16',
          dims: [1, kvHeads[layer], 0, entry.headSize],
          data: new Uint16Array(0)
        }
      : {
          type: 'float32',
          dims: [1, kvHeads[layer], 0, entry.headSize],
          data: new Float32Array(0)
        };
  let past: Record<string, Feed> = {};
  for (let layer = 0; layer < entry.layers; layer++) {
    past[`past_key_values.${layer}.key`] = empty(layer);
    past[`past_key_values.${layer}.value`] = empty(layer);
  }
  const steps: Fetched[] = [];
  try {
    let done = 0;
    for (const chunk of [
      tokens.slice(0, prefill),
      ...tokens.slice(prefill).map(t => [t])
    ]) {
      const ids = BigInt64Array.from(chunk.map(BigInt));
      const out = await session.run({
        input_ids: { type: 'int64', dims: [1, chunk.length], data: ids },
        attention_mask: {
          type: 'int64',
          dims: [1, done + chunk.length],
          data: new BigInt64Array(done + chunk.length).fill(1n)
        },
        position_ids: {
          type: 'int64',
          dims: [1, chunk.length],
          data: BigInt64Array.from(chunk.map((_, i) => BigInt(done + i)))
        },
        ...past
      });
      steps.push(out.logits);
      done += chunk.length;
      past = {};
      for (let layer = 0; layer < entry.layers; layer++) {
        for (const kind of ['key', 'value']) {
          const present = out[`present.${layer}.${kind}`];
          past[`past_key_values.${layer}.${kind}`] = {
            type: entry.dtype === 'float16' ? 'float16' : 'float32',
            dims: present.dims,
            data: present.data as Float32Array
          };
        }
      }
    }
  } finally {
    await session.release();
  }
  return steps;
}

describe('a structurally pruned model equals the original with the same units zeroed', () => {
  it.each(fixtures.map(f => [`${f.family}/${f.style}`, f] as const))(
    '%s',
    async (name, entry) => {
      const tolerance = entry.dtype === 'float16' ? 2e-3 : 1e-4;
      const source = fixtureFile(entry);
      const map = inspectModel(source);
      const plan = planFor(map);
      const zeroedFile = path.join(tmp, name, 'zeroed', 'model.onnx');
      const prunedFile = path.join(tmp, name, 'pruned', 'model.onnx');
      const model = OnnxModel.load(source);
      try {
        model.save(zeroedFile, {}, zeroUnits(model, map, plan));
        model.save(prunedFile, {}, pruneModel(model, map, plan));
      } finally {
        model.close();
      }

      const { sequences } = reference(entry.family);
      if (entry.kvCache) {
        const tokens = sequences[2];
        const kvBefore = map.layers.map(l => l.attention.kvHeads);
        const kvAfter = plan.layers.map(
          (l, i) => kvBefore[i] - l.attention.length
        );
        const [zeroed, pruned] = await Promise.all([
          decode(zeroedFile, entry, kvBefore, tokens, 4),
          decode(prunedFile, entry, kvAfter, tokens, 4)
        ]);
        expect(pruned).toHaveLength(1 + tokens.length - 4);
        pruned.forEach((step, i) =>
          expect(maxAbsDiff(step, zeroed[i])).toBeLessThanOrEqual(tolerance)
        );
      } else {
        const [zeroed, pruned] = await Promise.all([
          logitsOf(zeroedFile, entry, sequences),
          logitsOf(prunedFile, entry, sequences)
        ]);
        pruned.forEach((logits, i) =>
          expect(maxAbsDiff(logits, zeroed[i])).toBeLessThanOrEqual(tolerance)
        );
      }

      // The pruned export maps again, with the plan's widths and parameter count.
      const after = inspectModel(prunedFile);
      after.layers.forEach((layer, i) => {
        expect(layer.ffn.width).toBe(
          map.layers[i].ffn.width - plan.layers[i].ffn.length
        );
        expect(layer.attention.kvHeads).toBe(
          map.layers[i].attention.kvHeads - plan.layers[i].attention.length
        );
        expect(layer.attention.headSize).toBe(map.layers[i].attention.headSize);
      });
      expect(after.prunableParams).toBe(
        map.prunableParams - removedParams(map, plan)
      );
      const size = (file: string) =>
        fs.statSync(file).size +
        (fs.existsSync(`${file}_data`) ? fs.statSync(`${file}_data`).size : 0);
      expect(size(prunedFile)).toBeLessThan(size(source));
      // The input model is untouched.
      expect(after.file).not.toBe(map.file);
    }
  );

  it('refuses a plan that removes every unit of a layer, or units that do not exist', () => {
    const entry = fixtures.find(
      f => f.family === 'gemma' && f.style === 'torchscript'
    )!;
    const map = inspectModel(fixtureFile(entry));
    const model = OnnxModel.load(fixtureFile(entry));
    try {
      const mqa = { layers: [{ index: 0, ffn: [], attention: [0] }] };
      expect(() => pruneModel(model, map, mqa)).toThrow(
        /layer 0: the plan removes every attention group/
      );
      const missing = {
        layers: [{ index: 0, ffn: [map.layers[0].ffn.width], attention: [] }]
      };
      expect(() => pruneModel(model, map, missing)).toThrow(
        /FFN channel \d+ does not exist/
      );
      expect(() =>
        pruneModel(model, map, {
          layers: [{ index: 9, ffn: [], attention: [] }]
        })
      ).toThrow(/the plan names layer 9/);
    } finally {
      model.close();
    }
  });
});
