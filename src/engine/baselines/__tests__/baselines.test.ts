/** The baselines: same per-layer counts as the plan they are compared with, different units. */
import { mapModel } from '../../arch/map';
import { ModelMap } from '../../arch/types';
import { fixtureFile, fixtureManifest } from '../../__tests__/fixtures';
import { bytesToFloat32 } from '../../onnx/dtype';
import { OnnxModel } from '../../onnx/model';
import { GraphProto } from '../../onnx/proto';
import { UnitPlan } from '../../prune/plan';
import { zeroUnits } from '../../prune/zero';
import { DocumentScores } from '../../select/from-scores';
import {
  lowest,
  magnitudeValues,
  poolScores,
  randomPlan,
  rankedPlan,
  unitMagnitudes
} from '..';

const fixtures = fixtureManifest();
const pick = (family: string, style: string) =>
  fixtures.find(f => f.family === family && f.style === style)!;

const counts = (plan: UnitPlan) =>
  plan.layers.map(l => [l.index, l.ffn.length, l.attention.length]);

function referencePlan(map: ModelMap): UnitPlan {
  return {
    layers: map.layers.map((l, i) => ({
      index: l.index,
      ffn: Array.from({ length: 3 + i }, (_, k) => k * 2),
      attention: l.attention.units > 1 ? [l.attention.units - 1] : []
    }))
  };
}

describe('lowest', () => {
  it('takes the lowest values, ties by index, and returns them ascending', () => {
    expect(lowest([5, 1, 3, 1, 0], 3)).toEqual([1, 3, 4]);
    expect(lowest([2, 2, 2], 2)).toEqual([0, 1]);
    expect(lowest([2, 1], 0)).toEqual([]);
  });
});

describe('the random baseline', () => {
  const model = OnnxModel.load(fixtureFile(pick('llama', 'torchscript')));
  const map = mapModel(model);
  afterAll(() => model.close());

  it('removes the same count per layer and kind, reproducibly for a seed', () => {
    const reference = referencePlan(map);
    const a = randomPlan(map, reference, 7);
    expect(counts(a)).toEqual(counts(reference));
    expect(randomPlan(map, reference, 7)).toEqual(a);
    expect(randomPlan(map, reference, 8)).not.toEqual(a);
    for (const [i, layer] of a.layers.entries()) {
      expect(new Set(layer.ffn).size).toBe(layer.ffn.length);
      expect(Math.max(...layer.ffn)).toBeLessThan(map.layers[i].ffn.units);
    }
  });
});

/** ‖W − W with the unit zeroed‖ over every initializer: what the unit takes with it. */
function zeroedNorm(
  model: OnnxModel,
  map: ModelMap,
  layer: number,
  kind: 'ffn' | 'attention',
  unit: number
): number {
  const plan: UnitPlan = {
    layers: [
      {
        index: layer,
        ffn: kind === 'ffn' ? [unit] : [],
        attention: kind === 'attention' ? [unit] : []
      }
    ]
  };
  const zeroed = (zeroUnits(model, map, plan).graph as GraphProto).initializer;
  let sum = 0;
  for (const tensor of zeroed) {
    const original = model.initializers.get(tensor.name ?? '');
    if (!original || original === tensor) {
      continue;
    }
    const before = model.float32(original);
    const after = bytesToFloat32(
      tensor.raw_data as Uint8Array,
      tensor.data_type ?? 0
    );
    before.forEach((v, i) => (sum += (v - after[i]) ** 2));
  }
  return Math.sqrt(sum);
}

describe('the magnitude baseline', () => {
  it.each(
    [
      pick('llama', 'torchscript'),
      pick('phi3', 'dynamo'),
      pick('qwen2', 'torchscript'),
      pick('gpt2', 'torchscript'),
      pick('gemma', 'fp16')
    ].map(e => [`${e.family}/${e.style}`, e] as const)
  )(
    '%s: a unit is worth the norm of every weight zeroing it removes',
    (_name, entry) => {
      const model = OnnxModel.load(fixtureFile(entry));
      try {
        const map = mapModel(model);
        const layer = map.layers[1];
        const values = unitMagnitudes(model, layer);
        // Gemma's MQA has one group, which no plan may remove.
        const probes: ['ffn' | 'attention', number][] = [
          ['ffn', 0],
          ['ffn', layer.ffn.units - 1],
          ...(layer.attention.units > 1
            ? ([
                ['attention', 0],
                ['attention', layer.attention.units - 1]
              ] as ['attention', number][])
            : [])
        ];
        for (const [kind, unit] of probes) {
          const expected = zeroedNorm(model, map, layer.index, kind, unit);
          expect(expected).toBeGreaterThan(0);
          expect(
            Math.abs(values[kind][unit] - expected) / expected
          ).toBeLessThan(1e-5);
        }
        const reference = referencePlan(map);
        const plan = rankedPlan(map, magnitudeValues(model, map), reference);
        expect(counts(plan)).toEqual(counts(reference));
        expect(plan.layers[1].ffn).toEqual(
          lowest(values.ffn, reference.layers[1].ffn.length)
        );
      } finally {
        model.close();
      }
    }
  );
});

describe('pooled baselines', () => {
  const map = {
    layers: [
      { index: 0, ffn: { units: 3 }, attention: { units: 2 } },
      { index: 1, ffn: { units: 3 }, attention: { units: 2 } }
    ]
  } as unknown as ModelMap;
  const doc = (ffn: number[], attention: number[]): DocumentScores => ({
    layers: [
      { ffn: Float32Array.from(ffn), attention: Float32Array.from(attention) },
      {
        ffn: Float32Array.from(ffn).reverse(),
        attention: Float32Array.from(attention)
      }
    ]
  });
  const documents = [doc([3, 0, 4], [1, 2]), doc([4, 1, 3], [2, 1])];

  it('pools relevance as the root of summed squares and Wanda sums as sums', () => {
    const rss = poolScores(map, documents, 'root-sum-square');
    expect(rss.documents).toBe(2);
    expect([...rss.layers[0].ffn]).toEqual([5, 1, 5]);
    expect([...rss.layers[0].attention].map(v => v ** 2)).toEqual(
      [5, 5].map(v => expect.closeTo(v, 12))
    );
    expect([...poolScores(map, documents, 'sum').layers[1].ffn]).toEqual([
      7, 1, 7
    ]);
  });

  it('removes the pooled lowest units with the reference counts', () => {
    const pooled = poolScores(map, documents, 'sum');
    const plan = rankedPlan(map, pooled, {
      layers: [
        { index: 0, ffn: [0, 2], attention: [] },
        { index: 1, ffn: [0], attention: [0] }
      ]
    });
    expect(plan).toEqual({
      layers: [
        { index: 0, ffn: [0, 1], attention: [] },
        { index: 1, ffn: [1], attention: [0] }
      ]
    });
  });
});
