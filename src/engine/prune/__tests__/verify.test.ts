/**
 * Verification by a bound in ulps of the logits' own type: every fixture's correct prune passes,
 * a prune with exactly one unit too many fails, in float32 and in float16, and the bound follows
 * the logits' magnitude where a fixed tolerance does not.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { inspectModel } from '../../arch';
import { linkExternalData } from '../../capture/scoring-graph';
import { ModelMap } from '../../../core/model/model-map';
import { OnnxModel } from '../../onnx/model';
import { GraphProto } from '../../onnx/proto';
import {
  FixtureEntry,
  fixtureFile,
  fixtureManifest,
  reference
} from '../../__tests__/fixtures';
import {
  assertWithinBound,
  compareLogits,
  defaultBoundUlps,
  describeComparison,
  LogitComparison,
  Logits,
  LogitType,
  modelLogits,
  UnitPlan,
  verifyPruned,
  writePrunedModel,
  zeroUnits
} from '..';

const fixtures = fixtureManifest();
let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cusprun-verify-test-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Every third FFN channel of each layer, and one attention group of layer 0 where it has two. */
function planFor(map: ModelMap): UnitPlan {
  return {
    layers: map.layers.map(layer => ({
      index: layer.index,
      ffn: Array.from({ length: layer.ffn.width }, (_, k) => k).filter(
        k => k % 3 === layer.index % 3
      ),
      attention: layer.attention.units > 1 && layer.index === 0 ? [0] : []
    }))
  };
}

/** The plan with one more unit of `kind` in layer 1 (which keeps all its groups). */
function oneTooMany(plan: UnitPlan, kind: 'ffn' | 'attention'): UnitPlan {
  return {
    layers: plan.layers.map(layer => {
      if (layer.index !== 1) {
        return layer;
      }
      const taken = layer[kind];
      const extra = [...Array(taken.length + 1).keys()].find(
        k => !taken.includes(k)
      ) as number;
      return { ...layer, [kind]: [...taken, extra].sort((a, b) => a - b) };
    })
  };
}

/** Writes `written` (the plan actually pruned) and verifies it against `claimed`. */
async function pruneAndVerify(
  entry: FixtureEntry,
  name: string,
  plans: (map: ModelMap) => { claimed: UnitPlan; written: UnitPlan }
) {
  const model = OnnxModel.load(fixtureFile(entry));
  try {
    const map = inspectModel(fixtureFile(entry));
    const { claimed, written } = plans(map);
    const out = await writePrunedModel(model, written, path.join(tmp, name));
    const result = await verifyPruned(
      model,
      map,
      claimed,
      out.file,
      reference(entry.family).sequences,
      { threads: 1 }
    );
    return { model, map, plan: claimed, file: out.file, result };
  } finally {
    model.close();
  }
}

/**
 * The zeroed original under onnxruntime's full optimisation against the pruned model under its
 * basic level: fused against unfused kernels, the rounding of another summation order (which
 * on this CPU the same level does not show).
 */
async function acrossLevels(
  entry: FixtureEntry,
  name: string,
  pruned: Awaited<ReturnType<typeof pruneAndVerify>>
): Promise<LogitComparison> {
  const { sequences } = reference(entry.family);
  const model = OnnxModel.load(fixtureFile(entry));
  const zeroed = zeroUnits(model, pruned.map, pruned.plan);
  const zeroedFile = path.join(tmp, `${name} zeroed`, 'model.onnx');
  try {
    model.save(zeroedFile, {}, zeroed);
  } finally {
    model.close();
  }
  const prunedModel = OnnxModel.load(pruned.file);
  const prunedGraph = prunedModel.graph;
  prunedModel.close();
  const [a, b] = await Promise.all([
    modelLogits(zeroedFile, zeroed.graph as GraphProto, sequences, {
      threads: 1,
      optimization: 'all'
    }),
    modelLogits(pruned.file, prunedGraph, sequences, {
      threads: 1,
      optimization: 'basic'
    })
  ]);
  return compareLogits(a, b, pruned.file);
}

const label = (f: FixtureEntry) => `${f.family}/${f.style}`;

describe('verifying a pruned model against the original with the same units zeroed', () => {
  it.each(fixtures.map(f => [label(f), f] as const))(
    '%s: the correct prune lies within the bound, in either summation order',
    async (name, entry) => {
      const pruned = await pruneAndVerify(entry, name, map => ({
        claimed: planFor(map),
        written: planFor(map)
      }));
      const { result } = pruned;
      expect(result.type).toBe(entry.dtype);
      expect(result.boundUlps).toBe(defaultBoundUlps(entry.dtype));
      expect(result.ok).toBe(true);
      expect(result.worst.scale).toBeGreaterThan(0);
      const across = await acrossLevels(entry, name, pruned);
      expect(across.worst.ulps).toBeLessThanOrEqual(across.boundUlps);
      expect(across.ok).toBe(true);
    }
  );

  const wrong = fixtures
    .filter(f => f.style === 'torchscript' || f.style === 'fp16')
    .flatMap(f => [
      [`${label(f)} ffn`, f, 'ffn'] as const,
      ...(f.kvHeads > 1
        ? [[`${label(f)} attention`, f, 'attention'] as const]
        : [])
    ]);
  it.each(wrong)(
    '%s: one unit too many removed fails, in one line',
    async (name, entry, kind) => {
      const { result } = await pruneAndVerify(entry, name, map => ({
        claimed: planFor(map),
        written: oneTooMany(planFor(map), kind)
      }));
      expect(result.ok).toBe(false);
      expect(result.worst.ulps).toBeGreaterThan(2 * result.boundUlps);
      expect(() => assertWithinBound(result, 'pruned/model.onnx')).toThrow(
        new RegExp(
          `^pruned/model\\.onnx: the pruned model differs from the original with the same units zeroed: max \\|logit difference\\| \\d\\.\\d\\de[+-]\\d+ \\(worst \\d+\\.\\d ulps at \\|logit\\| [\\d.]+; bound ${result.boundUlps} ${entry.dtype} ulps\\); please report this export$`
        )
      );
    }
  );
});

describe('the bound follows the logits’ magnitude', () => {
  const scaled = (logits: Logits[], factor: number): Logits[] =>
    logits.map(l => ({ ...l, values: l.values.map(v => v * factor) }));

  it.each(['torchscript', 'fp16'])(
    'llama/%s: the rounding of two optimisation levels is the same number of ulps at 1024× the logits',
    async style => {
      const entry = fixtures.find(
        f => f.family === 'llama' && f.style === style
      ) as FixtureEntry;
      const file = fixtureFile(entry);
      const model = OnnxModel.load(file);
      const graph = model.graph;
      model.close();
      const { sequences } = reference('llama');
      // The same model under two optimisation levels: the same arithmetic, summed differently.
      const [a, b] = await Promise.all(
        (['all', 'basic'] as const).map(optimization =>
          modelLogits(file, graph, sequences, { threads: 1, optimization })
        )
      );
      const base = compareLogits(a, b, file);
      expect(base.worst.ulps).toBeGreaterThan(0);
      expect(base.ok).toBe(true);
      // Scaling by a power of two is exact: the same rounding, 1024× larger in absolute terms.
      const big = compareLogits(scaled(a, 1024), scaled(b, 1024), file);
      expect(big.maxAbsDiff).toBe(base.maxAbsDiff * 1024);
      expect(big.worst.ulps).toBe(base.worst.ulps);
      expect(big.ok).toBe(true);
      expect(describeComparison(big)).toMatch(
        /^max \|logit difference\| \S+ \(worst \d+\.\d ulps at \|logit\| \S+; bound \d+ float(32|16) ulps\)$/
      );
    }
  );

  const logits = (
    values: number[],
    type: LogitType = 'float32',
    dims = [1, 1, values.length]
  ): Logits => ({ type, dims, values: Float32Array.from(values) });

  it('counts a difference in ulps at its row’s largest |logit|', () => {
    // float16 spacing at 12.5 is 2^-7; a near-zero logit is judged at its row's scale.
    const half = compareLogits(
      [logits([12.5, 0.01, -3], 'float16')],
      [logits([12.5, 0.01 + 3 * 2 ** -7, -3], 'float16')],
      'm.onnx'
    );
    expect(half.worst).toMatchObject({ vocab: 1, scale: 12.5 });
    expect(half.worst.ulps).toBeCloseTo(3, 5);
    expect(half.ok).toBe(true);
    // float32 spacing at 8 is 2^-20.
    const single = compareLogits(
      [logits([1, 8])],
      [logits([1, 8 + 513 * 2 ** -20])],
      'm.onnx'
    );
    expect(single.worst.ulps).toBe(513);
    expect(single.ok).toBe(false);
  });

  it('a NaN logit fails, and logits of another shape are refused in one line', () => {
    const nan = compareLogits([logits([1, 2])], [logits([1, NaN])], 'm.onnx');
    expect(nan.ok).toBe(false);
    expect(describeComparison(nan)).toContain('Infinity');
    expect(() =>
      compareLogits([logits([1, 2])], [logits([1, 2, 3])], 'm.onnx')
    ).toThrow(
      "m.onnx: its logits are float32[1, 1, 3] where the original's are float32[1, 1, 2]; it is not the same model pruned"
    );
  });
});

describe('the zeroed reference of a model with external data', () => {
  // model.onnx: the name the scoring graph takes, whose data file would be the source's own
  // linked model.onnx_data: the written tensors then go to model.onnx_data1.
  it.each(['zeroed.onnx', 'model.onnx'])(
    'llama/external as %s: writes only the zeroed tensors, the rest read from the linked source data, and computes what a full copy computes',
    async name => {
      const entry = fixtures.find(
        f => f.family === 'llama' && f.style === 'external'
      ) as FixtureEntry;
      const model = OnnxModel.load(fixtureFile(entry));
      const dir = fs.mkdtempSync(path.join(tmp, 'linked-'));
      try {
        const map = inspectModel(fixtureFile(entry));
        const zeroed = zeroUnits(model, map, planFor(map));
        expect(linkExternalData(model, dir)).toBe(true);
        const linked = path.join(dir, name);
        model.save(linked, { keepExternal: true }, zeroed);
        const copied = path.join(tmp, `linked-copy-${name}`, 'model.onnx');
        model.save(copied, {}, zeroed);
        const [source] = model.externalDataFiles();
        const size = (f: string) => fs.statSync(f).size;
        const saved = OnnxModel.load(linked);
        const files = saved.externalDataFiles();
        saved.close();
        expect(files.map(f => path.basename(f)).sort()).toEqual(
          [
            path.basename(source),
            `${name}_data${name === 'model.onnx' ? '1' : ''}`
          ].sort()
        );
        const link = path.join(dir, path.basename(source));
        expect(fs.statSync(link).ino).toBe(fs.statSync(source).ino);
        const written = files.find(f => f !== link) as string;
        expect(size(written)).toBeLessThan(size(source));
        const { sequences } = reference('llama');
        const graph = zeroed.graph as GraphProto;
        const [a, b] = [
          await modelLogits(linked, graph, sequences, { threads: 1 }),
          await modelLogits(copied, graph, sequences, { threads: 1 })
        ];
        expect(a.map(l => Array.from(l.values))).toEqual(
          b.map(l => Array.from(l.values))
        );
      } finally {
        model.close();
      }
    }
  );
});
