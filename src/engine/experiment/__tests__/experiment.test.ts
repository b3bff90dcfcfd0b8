/**
 * Sweeps and the dimension ablation on a real fixture: scored with the fixture corpora, pruned
 * in memory, evaluated by onnxruntime.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { mapModel } from '../../arch/map';
import { ModelMap } from '../../../core/model/model-map';
import { loadCorpus, loadTokenizer, sha256Hex } from '../../corpus';
import { FIXTURES } from '../../__tests__/fixtures';
import { OnnxModel } from '../../onnx/model';
import { modelIdentity, openScoreStore, scoreDocuments } from '../../score';
import {
  DimensionRanks,
  Expert,
  rankDimension,
  unitPlanOf
} from '../../../core/select';
import { projectionMeans } from '../../prune';
import { poolScores, PooledScores } from '../../baselines';
import {
  compensationWith,
  EvalCache,
  EvalSet,
  EvaluatedModel,
  Evaluator,
  loadEvalSet,
  loadEvalSets,
  methodPlan,
  runAblation,
  runSweep,
  subsets,
  suiteIdentity,
  sweepShardMethods
} from '..';
import { parseGrid } from '../../../core/grid';

const MODEL = path.join(FIXTURES, 'llama', 'torchscript');
const CORPORA = path.resolve(FIXTURES, '..', 'corpora');
const EVAL = path.resolve(FIXTURES, '..', 'eval');

describe('grids', () => {
  it('reads START:STOP:STEP ranges inclusively and comma lists', () => {
    expect(parseGrid('0.1:0.5:0.1', '--sigma')).toEqual([
      0.1, 0.2, 0.3, 0.4, 0.5
    ]);
    expect(parseGrid('0.05:0.6:0.05', '--sigma')).toHaveLength(12);
    expect(parseGrid('0.25, 0.45', '--target-ratios')).toEqual([0.25, 0.45]);
  });

  it('refuses values outside (0, 1) and malformed ranges, naming the option', () => {
    expect(() => parseGrid('0.1,1.2', '--sigma')).toThrow(
      /--sigma: every value must lie strictly between 0 and 1, got 1.2/
    );
    expect(() => parseGrid('0.5:0.1:0.1', '--sigma')).toThrow(/STOP ≥ START/);
    expect(() => parseGrid('a,b', '--target-ratios')).toThrow(/got 'a,b'/);
  });
});

describe('evaluation sets', () => {
  it('tells multiple choice from perplexity sets by their fields', () => {
    const mc = loadEvalSet(path.join(EVAL, 'mc.jsonl'));
    expect(mc).toMatchObject({ name: 'mc', task: 'multiple-choice' });
    expect(mc.items).toHaveLength(4);
    const ppl = loadEvalSet(`qa=${path.join(CORPORA, 'task', 'qa.jsonl')}`);
    expect(ppl).toMatchObject({ name: 'qa', task: 'perplexity' });
    expect(ppl.texts.length).toBeGreaterThan(4);
    expect(ppl.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('names the file and the problem in every refusal', () => {
    const legal = path.join(CORPORA, 'domain', 'legal.txt');
    expect(() => loadEvalSets([legal, `legal=${legal}`])).toThrow(
      /two evaluation sets are named 'legal'/
    );
    expect(() => loadEvalSet(path.join(CORPORA, 'corpus.yaml'))).toThrow(
      /corpus\.yaml: not an evaluation set: expected \.jsonl or \.txt/
    );
    expect(() =>
      loadEvalSet(path.join(CORPORA, 'bad', 'no-field.jsonl'))
    ).toThrow(
      /no-field\.jsonl: line 3: no "text" field \(it has "question", "answer"\); each line of an evaluation set holds/
    );
  });
});

describe('subsets', () => {
  it('gives the 7 non-empty subsets of three dimensions, smallest first', () => {
    expect(subsets(['L', 'D', 'T'])).toEqual([
      ['L'],
      ['D'],
      ['T'],
      ['L', 'D'],
      ['L', 'T'],
      ['D', 'T'],
      ['L', 'D', 'T']
    ]);
  });
});

describe('sweeps and the ablation on a fixture', () => {
  let tmp: string;
  let model: OnnxModel;
  let map: ModelMap;
  let ranks: DimensionRanks[];
  /** General calibration: the relevance scores pooled over every document. */
  let general: PooledScores;
  let evaluator: () => Evaluator;
  let evaluatorWith: (cache: EvalCache) => Evaluator;
  let cache: EvalCache;
  let evaluated: EvaluatedModel;
  let sets: EvalSet[];

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cusprun-experiment-'));
    model = OnnxModel.load(MODEL);
    map = mapModel(model);
    const tokenizer = loadTokenizer(MODEL);
    const corpus = loadCorpus(path.join(CORPORA, 'corpus.yaml'), tokenizer, {
      vocab: map.vocab
    });
    const store = openScoreStore(path.join(tmp, 'scores'), model, map);
    const ids = (d: (typeof corpus.dimensions)[number]) =>
      d.documents.map(doc => `${d.dimension}/${doc.index}`);
    await scoreDocuments(
      model,
      map,
      corpus.dimensions.flatMap(d =>
        d.documents.map((doc, i) => ({ id: ids(d)[i], tokens: doc.tokens }))
      ),
      store,
      { threads: 1 }
    );
    ranks = corpus.dimensions.map(d =>
      rankDimension({
        name: d.dimension,
        documents: ids(d).map(id => store.documentScores(id))
      })
    );
    general = poolScores(
      map,
      corpus.dimensions.flatMap(d =>
        ids(d).map(id => store.documentScores(id))
      ),
      'root-sum-square'
    );
    store.close();
    sets = loadEvalSets([
      path.join(CORPORA, 'task', 'qa.jsonl'),
      path.join(EVAL, 'mc.jsonl')
    ]);
    cache = new EvalCache();
    evaluated = {
      source: model,
      map,
      sha256: modelIdentity(model).sha256,
      tokenizer
    };
    evaluatorWith = c =>
      new Evaluator(evaluated, sets, { truncation: 48 }, c, { threads: 1 });
    evaluator = () => evaluatorWith(cache);
  });
  afterAll(() => {
    model.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  /** Every file under a folder, with its size and modification time. */
  function listing(dir: string): string[] {
    return (fs.readdirSync(dir, { recursive: true }) as string[])
      .map(f => path.join(dir, f))
      .filter(f => fs.existsSync(f) && fs.statSync(f).isFile())
      .map(f => `${f} ${fs.statSync(f).size} ${fs.statSync(f).mtimeMs}`)
      .sort();
  }

  it('sweeps 10 σ points with every model built in memory and no file written', async () => {
    // Other test files write to the temp folder in parallel: this process's own writes are what
    // the spies below see; the fixture folder must not change at all.
    const before = listing(FIXTURES);
    // The module object `fs` is frozen for spies; the one the engine's modules share is not.
    const realFs = jest.requireActual<Record<string, jest.Func>>('node:fs');
    const writers = [
      'writeFileSync',
      'writeSync',
      'appendFileSync',
      'openSync',
      'mkdtempSync'
    ];
    const spies = writers.map(name => jest.spyOn(realFs, name));
    try {
      const expert = new Expert(map, ranks);
      const sigmas = parseGrid('0.05:0.5:0.05', '--sigma');
      const result = await runSweep(
        expert,
        evaluator(),
        ['cus-prun'],
        { seed: 0 },
        { sigmas }
      );
      expect(result.points).toHaveLength(10);
      expect(result.points.map(p => p.sigma)).toEqual(sigmas);
      const ratios = result.points.map(p => p.ratio);
      // A larger σ prunes a superset, so an equal ratio means the same units: a cache hit;
      // so is a σ that prunes nothing (the dense model, evaluated first).
      expect(result.points.map(p => p.cached)).toEqual(
        ratios.map((r, i) => r === 0 || ratios.indexOf(r) < i)
      );
      expect(new Set(ratios).size).toBeGreaterThan(5);
      expect(ratios).toEqual([...ratios].sort((a, b) => a - b));
      expect(ratios[9]).toBeGreaterThan(0);
      const perplexities = result.points.map(
        p => p.metrics.find(m => m.metric === 'perplexity')!.value
      );
      expect(perplexities.every(Number.isFinite)).toBe(true);
      const dense = result.dense.find(m => m.metric === 'perplexity')!.value;
      expect(perplexities[9]).not.toBeCloseTo(dense, 6);
      expect(result.dense.map(m => `${m.evalSet} ${m.metric}`)).toEqual([
        'qa perplexity',
        'mc accuracy',
        'mc accuracy_norm'
      ]);
      const written = spies.flatMap((spy, i) =>
        spy.mock.calls
          .filter(args => writers[i] !== 'openSync' || (args[1] ?? 'r') !== 'r')
          .map(args => `${writers[i]}(${String(args[0])})`)
      );
      expect(written).toEqual([]);
    } finally {
      spies.forEach(spy => spy.mockRestore());
    }
    expect(listing(FIXTURES)).toEqual(before);
  });

  it("splits a sweep's evaluations into shards that fill the whole sweep's cache", async () => {
    const expert = new Expert(map, ranks);
    const grid = { sigmas: [0.3, 0.6] };
    const methods = ['cus-prun', 'random'] as const;
    const shared = new EvalCache();
    const shard = (index: number) =>
      runSweep(
        expert,
        evaluatorWith(shared),
        [...methods],
        { seed: 0 },
        grid,
        undefined,
        undefined,
        { index, count: 2 }
      );
    // Evaluation 0 is the dense model, then e = 1 + value × 2 + method: odd e is cus-prun.
    const [even, odd] = [await shard(0), await shard(1)];
    expect(even.dense.length).toBeGreaterThan(0);
    expect(odd.dense).toEqual([]);
    expect(even.points.map(p => [p.method, p.sigma])).toEqual([
      ['random', 0.3],
      ['random', 0.6]
    ]);
    expect(odd.points.map(p => [p.method, p.sigma])).toEqual([
      ['cus-prun', 0.3],
      ['cus-prun', 0.6]
    ]);
    expect(
      sweepShardMethods([...methods], grid, { index: 0, count: 2 })
    ).toEqual(['random']);
    expect(
      sweepShardMethods([...methods], grid, { index: 0, count: 5 })
    ).toEqual([]);
    const whole = await runSweep(
      expert,
      evaluatorWith(shared),
      [...methods],
      { seed: 0 },
      grid
    );
    expect(whole.points.every(p => p.cached)).toBe(true);
    expect(whole.dense).toEqual(even.dense);
    expect(whole.points.map(p => p.metrics)).toEqual([
      odd.points[0].metrics,
      even.points[0].metrics,
      odd.points[1].metrics,
      even.points[1].metrics
    ]);
  });

  it('serves a repeated point from the cache, and baselines share the counts', async () => {
    const expert = new Expert(map, ranks);
    const grid = { sigmas: [0.3] };
    const methods = ['cus-prun', 'random', 'magnitude'] as const;
    const first = await runSweep(
      expert,
      evaluator(),
      ['cus-prun'],
      { seed: 0 },
      grid
    );
    const again = await runSweep(
      expert,
      evaluator(),
      [...methods],
      {
        seed: 0,
        magnitude: {
          layers: map.layers.map(l => ({
            ffn: new Float64Array(l.ffn.units).map((_, i) => i),
            attention: new Float64Array(l.attention.units)
          }))
        }
      },
      grid
    );
    expect(again.points.map(p => [p.method, p.cached])).toEqual([
      ['cus-prun', true],
      ['random', false],
      ['magnitude', false]
    ]);
    expect(again.points[0].metrics).toEqual(first.points[0].metrics);
    expect(new Set(again.points.map(p => p.ratio)).size).toBe(1);
  });

  it('keys a compensated evaluation by its means’ SHA-256, apart from the plain one', async () => {
    const plan = unitPlanOf(new Expert(map, ranks).plan({ sigma: 0.3 }));
    const plain = await evaluator().evaluate(plan);
    const documents = [[1, 2, 3, 4, 5, 6, 7, 8]];
    const means = await projectionMeans(model, map, documents, { threads: 1 });
    const compensated = await evaluator().evaluate(
      plan,
      compensationWith(means)
    );
    expect(compensated.cached).toBe(false);
    expect(compensated.metrics).not.toEqual(plain.metrics);
    // Other means over other tokens: another key, another result.
    const other = await projectionMeans(model, map, [[9, 10, 11, 12]], {
      threads: 1
    });
    const second = await evaluator().evaluate(plan, compensationWith(other));
    expect(second.cached).toBe(false);
    expect(second.metrics).not.toEqual(compensated.metrics);
    const again = await evaluator().evaluate(plan, compensationWith(means));
    expect(again).toEqual({ metrics: compensated.metrics, cached: true });
  });

  it('ablates the 7 dimension subsets at one target ratio, σ solved per subset', async () => {
    const result = await runAblation(map, ranks, {}, 0.1, evaluator());
    // Without general calibration's scores there is no general row.
    expect(result.general).toBeUndefined();
    expect(result.rows.map(r => r.dimensions.join('+'))).toEqual([
      'language',
      'domain',
      'task',
      'language+domain',
      'language+task',
      'domain+task',
      'language+domain+task'
    ]);
    for (const row of result.rows) {
      expect(row.unreachable).toBeUndefined();
      expect(row.sigma).toBeGreaterThan(0);
      expect(Math.abs((row.ratio as number) - 0.1)).toBeLessThan(0.05);
      expect(row.metrics.map(m => m.metric)).toEqual([
        'perplexity',
        'accuracy',
        'accuracy_norm'
      ]);
    }
    // More dimensions leave fewer units irrelevant to all: σ must rise to reach the ratio.
    const sigma = (dims: string) =>
      result.rows.find(r => r.dimensions.join('+') === dims)!.sigma as number;
    expect(sigma('language+domain+task')).toBeGreaterThanOrEqual(
      sigma('language')
    );
  });

  it("adds general calibration at the 3D expert's per-layer counts: a sweep's general point", async () => {
    const result = await runAblation(map, ranks, {}, 0.1, evaluator(), {
      general
    });
    const expert3d = result.rows[6];
    const row = result.general!;
    expect(row.dimensions).toEqual(['language', 'domain', 'task']);
    expect([row.sigma, row.ratio]).toEqual([expert3d.sigma, expert3d.ratio]);
    // Same counts in every layer, other units: other metrics than the expert's.
    const expertUnits = unitPlanOf(
      new Expert(map, ranks).plan({ targetRatio: 0.1 })
    );
    const generalUnits = methodPlan('general', map, expertUnits, {
      seed: 0,
      general
    });
    const counts = (plan: typeof expertUnits) =>
      plan.layers.map(l => [l.ffn.length, l.attention.length]);
    expect(counts(generalUnits)).toEqual(counts(expertUnits));
    expect(generalUnits).not.toEqual(expertUnits);
    expect(row.metrics).not.toEqual(expert3d.metrics);
    // A sweep's general point at the same target ratio: the same evaluation, from the cache.
    const sweep = await runSweep(
      new Expert(map, ranks),
      evaluator(),
      ['general'],
      { seed: 0, general },
      { targetRatios: [0.1] }
    );
    expect(sweep.points[0]).toMatchObject({
      method: 'general',
      ratio: row.ratio,
      metrics: row.metrics,
      cached: true
    });
  });

  it('reports a subset that cannot reach the target ratio instead of failing the ablation', async () => {
    const result = await runAblation(
      map,
      ranks.slice(0, 1),
      {},
      0.99,
      evaluator(),
      { general }
    );
    expect(result.rows).toHaveLength(1);
    expect(result.rows[0].unreachable).toMatch(
      /the target ratio 99.00% cannot be reached/
    );
    expect(result.rows[0].metrics).toEqual([]);
    // General calibration at counts no expert reaches: unreachable likewise.
    expect(result.general).toEqual({ ...result.rows[0] });
  });

  it("splits an ablation's evaluations into shards that make each once and fill the whole ablation's cache", async () => {
    const shared = new EvalCache();
    const shard = (index: number) =>
      runAblation(map, ranks, {}, 0.1, evaluatorWith(shared), {
        shard: { index, count: 3 },
        general
      });
    const names = (r: { rows: { dimensions: string[] }[] }) =>
      r.rows.map(row => row.dimensions.join('+'));
    const shards = [await shard(0), await shard(1), await shard(2)];
    // Evaluation 0 is the dense model, then e = 1 + i the i-th subset and e = 8 the general
    // row: e mod 3 is its shard.
    expect(shards.map(names)).toEqual([
      ['task', 'domain+task'],
      ['language', 'language+domain', 'language+domain+task'],
      ['domain', 'language+task']
    ]);
    expect(shards.map(r => r.dense.length > 0)).toEqual([true, false, false]);
    expect(shards.map(r => r.general?.cached)).toEqual([
      undefined,
      undefined,
      false
    ]);
    // Each evaluation made once, by its own shard: none read another's from the shared cache.
    expect(shards.flatMap(r => r.rows).every(r => !r.cached)).toBe(true);
    expect((await shard(1)).rows.map(r => [r.dimensions, r.cached])).toEqual(
      shards[1].rows.map(r => [r.dimensions, true])
    );
    const whole = await runAblation(
      map,
      ranks,
      {},
      0.1,
      evaluatorWith(shared),
      {
        general
      }
    );
    expect(whole.rows.every(r => r.cached)).toBe(true);
    expect(whole.general).toEqual({ ...shards[2].general, cached: true });
    expect(whole.dense).toEqual(shards[0].dense);
    const made = new Map(
      shards.flatMap(r => r.rows).map(r => [r.dimensions.join('+'), r])
    );
    expect(names(whole).sort()).toEqual([...made.keys()].sort());
    for (const row of whole.rows) {
      const { cached: _cached, ...rest } = made.get(row.dimensions.join('+'))!;
      expect(row).toEqual({ ...rest, cached: true });
    }
  });

  it('measures only the set a suite adds, and reuses a whole suite an earlier version kept', async () => {
    const file = path.join(tmp, 'per-set-evaluations.jsonl');
    const lines = () => fs.readFileSync(file, 'utf8').trim().split('\n');
    const on = (suite: EvalSet[]) =>
      new Evaluator(evaluated, suite, { truncation: 48 }, new EvalCache(file), {
        threads: 1
      });
    const plan = unitPlanOf(new Expert(map, ranks).plan({ sigma: 0.3 }));
    const first = await on([sets[0]]).evaluate(plan);
    expect(lines()).toHaveLength(1);
    const both = await on(sets).evaluate(plan);
    // One line more: the added set's; the first set's metrics come from its line.
    expect(lines()).toHaveLength(2);
    expect(both.metrics.slice(0, first.metrics.length)).toEqual(first.metrics);
    const fresh = await evaluatorWith(new EvalCache()).evaluate(plan);
    expect(both.metrics).toEqual(fresh.metrics);
    expect((await on(sets).evaluate(plan)).cached).toBe(true);

    // Earlier versions kept a suite's metrics under one key of the whole suite: a suite that
    // appends a set still reads them (marked values show where they came from).
    fs.writeFileSync(file, '');
    const marked = fresh.metrics.map(m => ({ ...m, value: m.value + 1000 }));
    const wholeSuite = sha256Hex(
      JSON.stringify({
        model: evaluated.sha256,
        suite: suiteIdentity(sets, { truncation: 48 }),
        removed: []
      })
    );
    new EvalCache(file).put(wholeSuite, marked);
    const extra = loadEvalSet(
      `extra=${path.join(CORPORA, 'task', 'qa.jsonl')}`
    );
    const more = await on([...sets, extra]).evaluate();
    expect(more.cached).toBe(false);
    expect(more.metrics.slice(0, marked.length)).toEqual(marked);
    expect(await on(sets).evaluate()).toEqual({
      metrics: marked,
      cached: true
    });
  });
});

describe('the evaluation cache on disk', () => {
  it('keeps results across instances and skips a torn last line', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cusprun-cache-'));
    try {
      const file = path.join(dir, 'evaluations.jsonl');
      const metrics = [
        { evalSet: 'x', metric: 'perplexity' as const, value: 3, count: 9 }
      ];
      new EvalCache(file).put('k', metrics);
      fs.appendFileSync(file, '{"key": "torn", "metr');
      const reopened = new EvalCache(file);
      expect(reopened.get('k')).toEqual(metrics);
      expect(reopened.get('torn')).toBeUndefined();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
