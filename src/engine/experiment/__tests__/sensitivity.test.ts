/**
 * Allocation by sensitivity on a real fixture: the probe removes each module's lowest units in
 * onnxruntime, and the allocated plan spends the budget where the loss rose least.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { mapModel } from '../../arch/map';
import { ModelMap } from '../../../core/model/model-map';
import { loadCorpus, loadTokenizer } from '../../corpus';
import { FIXTURES } from '../../__tests__/fixtures';
import { OnnxModel } from '../../onnx/model';
import { modelIdentity, openScoreStore, scoreDocuments } from '../../score';
import {
  Expert,
  probeCount,
  rankDimension,
  unitPlanOf
} from '../../../core/select';
import {
  EvalCache,
  Evaluator,
  probeSensitivities,
  probeSet,
  runSweep
} from '..';

const MODEL = path.join(FIXTURES, 'llama', 'torchscript');
const MANIFEST = path.resolve(FIXTURES, '..', 'corpora', 'corpus.yaml');

let tmp: string;
let model: OnnxModel;
let map: ModelMap;
let expert: Expert;
let evaluator: () => Evaluator;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cusprun-sensitivity-'));
  model = OnnxModel.load(MODEL);
  map = mapModel(model);
  const tokenizer = loadTokenizer(MODEL);
  const corpus = loadCorpus(MANIFEST, tokenizer, { vocab: map.vocab });
  const store = openScoreStore(path.join(tmp, 'scores'), model, map);
  const id = (dimension: string, index: number) => `${dimension}/${index}`;
  await scoreDocuments(
    model,
    map,
    corpus.dimensions.flatMap(d =>
      d.documents.map(doc => ({
        id: id(d.dimension, doc.index),
        tokens: doc.tokens
      }))
    ),
    store,
    { threads: 1 }
  );
  expert = new Expert(
    map,
    corpus.dimensions.map(d =>
      rankDimension(
        {
          name: d.dimension,
          documents: d.documents.map(doc =>
            store.documentScores(id(d.dimension, doc.index))
          )
        },
        { rule: 'paper' }
      )
    )
  );
  store.close();
  // One dimension's documents keep the probe's evaluations few and short.
  const dims = ['task'];
  const evaluated = {
    source: model,
    map,
    sha256: modelIdentity(model).sha256,
    tokenizer
  };
  evaluator = () =>
    new Evaluator(
      evaluated,
      [probeSet(MANIFEST, dims)],
      { truncation: 32 },
      new EvalCache(),
      { threads: 1 }
    );
});
afterAll(() => {
  model.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A guard against a hang, not a timing: ~20 onnxruntime evaluations on shared cores. */
const HANG_GUARD_MS = 300_000;

describe('allocation by sensitivity', () => {
  it(
    'probes each module alone, deterministically, and allocates the budget by it',
    async () => {
      const probe = evaluator();
      const sensitivities = await probeSensitivities(expert, map, probe);
      const { groups } = expert.selection;
      expect(sensitivities).toHaveLength(groups.length);
      sensitivities.forEach((s, g) =>
        expect(s.removed).toBe(probeCount(groups[g].ranks.length, 1))
      );
      // The first layer's FFN probe, rebuilt by hand: its lowest units, nothing else removed.
      const loss = async (ffn: number[]): Promise<number> => {
        const metrics = (
          await probe.evaluate({
            layers: map.layers.map((l, i) => ({
              index: l.index,
              ffn: i === 0 ? ffn : [],
              attention: []
            }))
          })
        ).metrics;
        return Math.log(metrics[0].value);
      };
      const dense = Math.log((await probe.evaluate()).metrics[0].value);
      const lowest = expert.selection.lowest(0, sensitivities[0].removed);
      expect(sensitivities[0].lossIncrease).toBeCloseTo(
        (await loss(lowest)) - dense,
        12
      );
      expect(sensitivities.some(s => s.lossIncrease !== 0)).toBe(true);
      // A fresh evaluator (no cache) measures the same numbers.
      expect(await probeSensitivities(expert, map, evaluator())).toEqual(
        sensitivities
      );

      const allocated = expert.allocatedPlan(0.2, sensitivities);
      const uniform = expert.plan({ targetRatio: 0.2 });
      expect(allocated.sigma).toBe(uniform.sigma);
      expect(Math.abs(allocated.ratio - 0.2)).toBeLessThan(0.05);
      expect(allocated.allocation?.probes).toHaveLength(groups.length);
      expect(allocated.allocation?.probes[0]).toEqual({
        layer: map.layers[0].index,
        kind: 'ffn',
        ...sensitivities[0]
      });
      // The rule still picks which units go: the lowest-ranked of each module.
      allocated.layers.forEach((layer, i) =>
        expect(layer.ffn.pruned).toEqual(
          expert.selection.lowest(2 * i, layer.ffn.pruned.length)
        )
      );
      expect(unitPlanOf(allocated)).not.toEqual(unitPlanOf(uniform));
    },
    HANG_GUARD_MS
  );

  it(
    'sweeps an allocated expert like any other',
    async () => {
      const sensitivities = await probeSensitivities(expert, map, evaluator());
      const result = await runSweep(
        { plan: t => expert.allocatedPlan(t.targetRatio ?? 0, sensitivities) },
        evaluator(),
        ['cus-prun'],
        { seed: 0 },
        { targetRatios: [0.15] }
      );
      expect(result.points).toHaveLength(1);
      expect(result.points[0].ratio).toBe(
        expert.allocatedPlan(0.15, sensitivities).ratio
      );
      expect(Number.isFinite(result.points[0].metrics[0].value)).toBe(true);
    },
    HANG_GUARD_MS
  );
});
