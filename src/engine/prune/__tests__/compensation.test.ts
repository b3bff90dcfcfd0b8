/**
 * Bias compensation, checked independently of the code that builds it: the means against the
 * activations fetched from the model itself, and the compensated pruned model against the
 * original with each removed unit's activations replaced by their means (a graph edit made here,
 * h' = h·keep + mean·(1 − keep) before the down and o projections), within verification's bound.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { mapModel } from '../../arch/map';
import { OnnxModel } from '../../onnx/model';
import { FixtureEntry, fixtureFile, reference } from '../../__tests__/fixtures';
import {
  ProjectionMeans,
  projectionMeans,
  UnitPlan,
  verifyPruned,
  writePrunedModel
} from '..';
import { ModelMap } from '../../../core/model/model-map';
import {
  againstReference,
  chosenFixtures as chosen,
  documentsOf,
  fetchedInputs,
  label,
  planFor,
  removedInputs,
  Replacement,
  withReplacedInputs
} from './replaced-inputs';

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cusprun-compensation-test-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('the mean activations of the down and o projection inputs', () => {
  it.each(chosen.map(f => [label(f), f] as const))(
    '%s: equal the mean over every real token of the fetched activations',
    async (name, entry) => {
      const model = OnnxModel.load(fixtureFile(entry));
      try {
        const map = mapModel(model);
        const documents = documentsOf(entry);
        const means = await projectionMeans(model, map, documents, {
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
        const tokens = documents.reduce((n, d) => n + d.length, 0);
        expect(means.tokens).toBe(tokens);
        const got = means.layers.flatMap(l => [l.ffn, l.attention]);
        rows.forEach((data, p) => {
          const sum = new Float64Array(refs[p].in);
          data.forEach((x, i) => (sum[i % refs[p].in] += x));
          const expected = Array.from(sum, s => s / tokens);
          const scale = Math.max(...expected.map(Math.abs));
          expected.forEach((e, c) =>
            expect(Math.abs(got[p][c] - e) / scale).toBeLessThan(
              entry.dtype === 'float16' ? 5e-3 : 1e-5
            )
          );
        });
      } finally {
        model.close();
      }
    }
  );
});

/** Each removed channel replaced by its mean (h' = h·keep + mean·(1 − keep)). */
function meanReplacements(
  map: ModelMap,
  plan: UnitPlan,
  means: ProjectionMeans
): (Replacement & { channels: number[] })[] {
  return removedInputs(map, plan).map(({ layer, kind, ref, channels }) => {
    const keep = new Float32Array(ref.in).fill(1);
    const fill = new Float32Array(ref.in);
    for (const c of channels) {
      keep[c] = 0;
      fill[c] = means.layers[layer][kind][c];
    }
    return { ref, keep, fill, channels };
  });
}

async function compensatedAgainstMeanReplaced(
  entry: FixtureEntry,
  name: string,
  alter?: (parts: ReturnType<typeof meanReplacements>) => void
) {
  const model = OnnxModel.load(fixtureFile(entry));
  try {
    const map = mapModel(model);
    const plan = planFor(map);
    const documents = documentsOf(entry);
    const means = await projectionMeans(model, map, documents, { threads: 1 });
    const pruned = await writePrunedModel(
      model,
      plan,
      path.join(tmp, `${name} pruned`),
      { compensation: means }
    );
    const parts = meanReplacements(map, plan, means);
    alter?.(parts);
    const { sequences } = reference(entry.family);
    const direct = await againstReference(
      model,
      withReplacedInputs(model, parts),
      pruned.file,
      sequences,
      path.join(tmp, `${name} mean-replaced`)
    );
    const verified = await verifyPruned(
      model,
      map,
      plan,
      pruned.file,
      sequences,
      { threads: 1, compensation: means }
    );
    // Against the zeroed reference (no means), the compensation shows.
    const zeroed = await verifyPruned(
      model,
      map,
      plan,
      pruned.file,
      sequences,
      {
        threads: 1
      }
    );
    return { direct, verified, zeroed };
  } finally {
    model.close();
  }
}

describe('a bias-compensated prune', () => {
  it.each(chosen.map(f => [label(f), f] as const))(
    '%s: equals the original with the removed units replaced by their means',
    async (name, entry) => {
      const { direct, verified, zeroed } = await compensatedAgainstMeanReplaced(
        entry,
        name
      );
      expect(direct.ok).toBe(true);
      expect(verified.ok).toBe(true);
      expect(zeroed.ok).toBe(false);
    }
  );

  it.each(
    chosen
      .filter(f => f.style === 'torchscript' || f.style === 'fp16')
      .filter(f => ['llama', 'gpt2'].includes(f.family))
      .map(f => [label(f), f] as const)
  )('%s: a wrong mean for one unit fails', async (name, entry) => {
    const { direct } = await compensatedAgainstMeanReplaced(
      entry,
      `${name} wrong`,
      parts => {
        const [first] = parts;
        first.fill[first.channels[0]] += 1;
      }
    );
    expect(direct.ok).toBe(false);
    expect(direct.worst.ulps).toBeGreaterThan(2 * direct.boundUlps);
  });
});
