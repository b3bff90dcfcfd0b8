/**
 * Regression compensation, checked independently of the code that builds it: the Gram matrices
 * against the activations fetched from the model itself, and the compensated pruned model
 * against the original with each removed channel replaced by its ridge prediction from the kept
 * ones (a graph edit made here, h' = h·keep + h·mix + fill, with coefficients this test solves
 * from the fetched activations by Gauss–Jordan elimination), within verification's bound.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { mapModel } from '../../arch/map';
import { OnnxModel } from '../../onnx/model';
import { FixtureEntry, fixtureFile, reference } from '../../__tests__/fixtures';
import {
  fitRegression,
  gramPasses,
  projectionGrams,
  projectionMeans,
  regressionFit,
  verifyPruned,
  writePrunedModel
} from '..';
import { ridgeCoefficients } from '../ridge';
import {
  againstReference,
  chosenFixtures,
  documentsOf,
  fetchedInputs,
  label,
  planFor,
  removedInputs,
  Replacement,
  withReplacedInputs
} from './replaced-inputs';

const RIDGE = 0.1;
/** A guard against a hang, not a timing: several onnxruntime sessions on shared cores. */
const HANG_GUARD_MS = 120_000;
let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cusprun-regression-test-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** x solving a·x = b ([n × n], [n × m]) by Gauss–Jordan elimination with partial pivoting. */
function gaussJordan(a: number[][], b: number[][]): number[][] {
  const n = a.length;
  const rows = a.map((row, i) => [...row, ...b[i]]);
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) {
      if (Math.abs(rows[r][col]) > Math.abs(rows[pivot][col])) {
        pivot = r;
      }
    }
    [rows[col], rows[pivot]] = [rows[pivot], rows[col]];
    const p = rows[col][col];
    rows[col] = rows[col].map(v => v / p);
    for (let r = 0; r < n; r++) {
      if (r !== col) {
        const f = rows[r][col];
        rows[r] = rows[r].map((v, j) => v - f * rows[col][j]);
      }
    }
  }
  return rows.map(row => row.slice(n));
}

/**
 * The replacement of `channels` of an input of width n whose token rows are `data`: each removed
 * channel predicted from the kept ones by ridge regression with an intercept.
 */
function ridgeReplacement(
  data: Float64Array,
  n: number,
  channels: number[]
): Omit<Replacement, 'ref'> {
  const tokens = data.length / n;
  const mean = new Float64Array(n);
  data.forEach((x, i) => (mean[i % n] += x / tokens));
  const cov = (i: number, j: number) => {
    let sum = 0;
    for (let t = 0; t < tokens; t++) {
      sum += (data[t * n + i] - mean[i]) * (data[t * n + j] - mean[j]);
    }
    return sum / tokens;
  };
  const kept = Array.from({ length: n }, (_, c) => c).filter(
    c => !channels.includes(c)
  );
  const penalty =
    (RIDGE * kept.reduce((s, c) => s + cov(c, c), 0)) / kept.length;
  const coefficients = gaussJordan(
    kept.map(i => kept.map(j => cov(i, j) + (i === j ? penalty : 0))),
    kept.map(i => channels.map(s => cov(i, s)))
  );
  const keep = new Float32Array(n).fill(1);
  const fill = new Float32Array(n);
  const mix = new Float32Array(n * n);
  channels.forEach((s, p) => {
    keep[s] = 0;
    fill[s] = mean[s];
    kept.forEach((k, i) => {
      mix[k * n + s] = coefficients[i][p];
      fill[s] -= mean[k] * coefficients[i][p];
    });
  });
  return { keep, fill, mix };
}

describe('the ridge coefficients of the kept channels', () => {
  // Sizes that leave each of the solver's four-wide steps a remainder of 0 to 3.
  it.each([
    [37, [0, 5, 6, 19, 30, 36]],
    [24, [3, 4, 8, 15]],
    [9, [2]]
  ])(
    'n = %i: equal Gauss–Jordan on the same covariance and penalty',
    (n, removed) => {
      // A covariance with one strong shared direction, as activations have.
      let x = 7;
      const next = () => (x = (x * 48271) % 2147483647) / 2147483647 - 0.5;
      const data = Array.from({ length: 3 * n }, () => {
        const z = next();
        return Array.from({ length: n }, (_, c) => next() + z * ((c % 5) - 2));
      });
      const c = new Float64Array(n * n);
      data.forEach(row =>
        row.forEach((a, i) =>
          row.forEach((b, j) => (c[i * n + j] += (a * b) / data.length))
        )
      );
      const kept = Array.from({ length: n }, (_, i) => i).filter(
        i => !removed.includes(i)
      );
      const penalty =
        (RIDGE * kept.reduce((sum, i) => sum + c[i * n + i], 0)) / kept.length;
      const expected = gaussJordan(
        kept.map(i => kept.map(j => c[i * n + j] + (i === j ? penalty : 0))),
        kept.map(i => removed.map(j => c[i * n + j]))
      ).flat();
      const got = ridgeCoefficients(c, n, kept, removed, RIDGE);
      const scale = Math.max(...expected.map(Math.abs));
      expected.forEach((v, i) =>
        expect(Math.abs(got[i] - v)).toBeLessThanOrEqual(1e-12 * scale)
      );
    }
  );
});

describe('the Gram matrices of the down and o projection inputs', () => {
  it.each(chosenFixtures.map(f => [label(f), f] as const))(
    '%s: equal Σ h·hᵀ over every real token of the fetched activations',
    async (name, entry) => {
      const model = OnnxModel.load(fixtureFile(entry));
      try {
        const map = mapModel(model);
        const documents = documentsOf(entry);
        const grams = await projectionGrams(model, map, documents, {
          threads: 1,
          batchSize: 2
        });
        const refs = map.layers.flatMap(l => [l.ffn.down, l.attention.o]);
        const rows = await fetchedInputs(
          entry,
          model,
          refs,
          documents,
          path.join(tmp, `${name} probe`)
        );
        expect(grams.tokens).toBe(documents.reduce((n, d) => n + d.length, 0));
        expect(grams.ridge).toBe(RIDGE);
        const got = grams.layers.flatMap(l => [l.ffn, l.attention]);
        rows.forEach((data, p) => {
          const n = refs[p].in;
          const expected = new Float64Array(n * n);
          for (let t = 0; t < data.length / n; t++) {
            for (let i = 0; i < n; i++) {
              for (let j = 0; j < n; j++) {
                expected[i * n + j] += data[t * n + i] * data[t * n + j];
              }
            }
          }
          const scale = Math.max(...expected.map(Math.abs));
          expect(got[p].gram.length).toBe(n * n);
          expected.forEach((e, i) =>
            expect(Math.abs(got[p].gram[i] - e) / scale).toBeLessThan(
              entry.dtype === 'float16' ? 5e-3 : 1e-5
            )
          );
        });
      } finally {
        model.close();
      }
    },
    HANG_GUARD_MS
  );
});

async function regressionAgainstReference(entry: FixtureEntry, name: string) {
  const model = OnnxModel.load(fixtureFile(entry));
  try {
    const map = mapModel(model);
    const plan = planFor(map);
    const documents = documentsOf(entry);
    const grams = await projectionGrams(model, map, documents, { threads: 1 });
    const pruned = await writePrunedModel(
      model,
      plan,
      path.join(tmp, `${name} pruned`),
      { compensation: grams }
    );
    const parts = removedInputs(map, plan);
    const rows = await fetchedInputs(
      entry,
      model,
      parts.map(p => p.ref),
      documents,
      path.join(tmp, `${name} probe`)
    );
    const { sequences } = reference(entry.family);
    const direct = await againstReference(
      model,
      withReplacedInputs(
        model,
        parts.map(({ ref, channels }, p) => ({
          ref,
          ...ridgeReplacement(rows[p], ref.in, channels)
        }))
      ),
      pruned.file,
      sequences,
      path.join(tmp, `${name} regressed`)
    );
    const verified = await verifyPruned(
      model,
      map,
      plan,
      pruned.file,
      sequences,
      { threads: 1, compensation: grams }
    );
    // Against bias compensation alone, the regression part shows.
    const means = await projectionMeans(model, map, documents, { threads: 1 });
    const meansOnly = await verifyPruned(
      model,
      map,
      plan,
      pruned.file,
      sequences,
      { threads: 1, compensation: means }
    );
    return { direct, verified, meansOnly };
  } finally {
    model.close();
  }
}

describe('a regression-compensated prune', () => {
  it.each(chosenFixtures.map(f => [label(f), f] as const))(
    '%s: equals the original with the removed channels replaced by their ridge predictions',
    async (name, entry) => {
      const { direct, verified, meansOnly } = await regressionAgainstReference(
        entry,
        name
      );
      expect(direct.ok).toBe(true);
      expect(verified.ok).toBe(true);
      expect(meansOnly.ok).toBe(false);
    },
    HANG_GUARD_MS
  );
});

describe('a regression fit made in passes of a few layers', () => {
  it.each(chosenFixtures.map(f => [label(f), f] as const))(
    '%s: equals the fit of one pass over every layer',
    async (_name, entry) => {
      const model = OnnxModel.load(fixtureFile(entry));
      try {
        const map = mapModel(model);
        const plan = planFor(map);
        const documents = documentsOf(entry);
        const onePass = fitRegression(
          map,
          plan,
          await projectionGrams(model, map, documents, { threads: 1 })
        );
        // A budget of two layers' float64 sums and Gram matrices: passes of two layers.
        const bytes = (n: number) => 8 * (n + n * n);
        const [first] = map.layers;
        const two =
          2 * (bytes(first.ffn.down.in) + bytes(first.attention.o.in));
        const passes = gramPasses(map, plan, two);
        const indices = map.layers.map(l => l.index);
        expect(passes).toEqual(
          indices
            .filter((_, i) => i % 2 === 0)
            .map((_, i) => indices.slice(2 * i, 2 * i + 2))
        );
        const inPasses = await regressionFit(model, map, plan, documents, {
          threads: 1,
          gramBudget: 1
        });
        expect(gramPasses(map, plan, 1)).toHaveLength(map.layers.length);
        expect(inPasses.tokens).toBe(onePass.tokens);
        expect(inPasses.ridge).toBe(onePass.ridge);
        expect(
          inPasses.projections.map(p => [p.layer, p.kind, p.removed])
        ).toEqual(onePass.projections.map(p => [p.layer, p.kind, p.removed]));
        // A float16 graph cut after another layer can fuse differently (gpt2's layer norms):
        // its activations then differ by about an fp16 ulp, which the solve amplifies.
        const bound = entry.dtype === 'float16' ? 1e-2 : 1e-5;
        inPasses.projections.forEach((p, i) => {
          const own = onePass.projections[i];
          for (const key of ['means', 'coefficients'] as const) {
            const scale = Math.max(1e-6, ...own[key].map(Math.abs));
            p[key].forEach((v, k) =>
              expect(Math.abs(v - own[key][k]) / scale).toBeLessThan(bound)
            );
          }
        });
      } finally {
        model.close();
      }
    },
    HANG_GUARD_MS
  );
});
