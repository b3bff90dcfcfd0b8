/**
 * Every chart on small realistic data (4 layers, 3 dimensions): the spec validates against
 * vega-lite 5.6.1's schema and compiles with 5.6.1 itself without a warning (JupyterLab 4.6
 * renders with that version), renders to well-formed SVG with the marks it should have, and
 * matches its reviewed SVG in ./svg byte for byte. After a deliberate change, rewrite the SVGs
 * with CUSPRUN_UPDATE_SVG=1 and look at them before committing.
 */
import * as fs from 'fs';
import * as path from 'path';
import Ajv, { ValidateFunction } from 'ajv';
import { SaxesParser } from 'saxes';
import { logger, Warn } from 'vega';
import { compile as compileWith56, TopLevelSpec } from 'vega-lite-5.6';
import { CusprunError } from '../../../core/errors';
import {
  DocumentScores,
  dimensionLayerRanks,
  expertLayerRanks,
  LayerRanks
} from '../../../core/select/from-scores';
import {
  RatioResult,
  Selection,
  UnitGroup
} from '../../../core/select/selection';
import { ExpertPlan } from '../../../core/select/expert';
import {
  ablationSpec,
  AblationChartRow,
  histogramSpec,
  layersSpec,
  groupCountsOfPlan,
  groupCountsOfResult,
  MetricPoint,
  metricSweepSpec,
  rankHistogram,
  ratioSweep,
  ratioSweepSpec,
  relevanceHistogram,
  VEGA_LITE_SCHEMA,
  VegaLiteSpec
} from '../../../core/charts';
import { renderSvg } from '../svg';

const SCHEMA_FILE = path.join(
  __dirname,
  '../../../../node_modules/vega-lite-5.6/build/vega-lite-schema.json'
);
const SNAPSHOTS = path.join(__dirname, 'svg');
const SVG_NS = 'http://www.w3.org/2000/svg';

function seeded(seed: number) {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
}

// A small Llama-like model: 4 layers of 64 FFN channels and 8 KV groups, hidden size 32.
const LAYERS = 4;
const FFN_UNITS = 64;
const ATTENTION_UNITS = 8;
const FFN_PARAMS = 3 * 32;
const ATTENTION_PARAMS = 1024;

const random = seeded(7);
const shape = () =>
  Array.from({ length: LAYERS }, () => ({
    ffn: Float32Array.from({ length: FFN_UNITS }, random),
    attention: Float32Array.from({ length: ATTENTION_UNITS }, random)
  }));
// Relevance as real scores have it: mostly the unit's own (shared by every corpus), partly the
// dimension's, a little the document's; so the strict intersections prune something.
const BASE = shape();

function scoredDimension(documents: number): LayerRanks[] {
  const own = shape();
  const docs: DocumentScores[] = Array.from({ length: documents }, () => ({
    layers: BASE.map((base, l) => ({
      ffn: base.ffn.map(
        (b, u) => b * (0.6 + 0.4 * own[l].ffn[u]) * (0.9 + 0.2 * random())
      ),
      attention: base.attention.map(
        (b, u) => b * (0.6 + 0.4 * own[l].attention[u]) * (0.9 + 0.2 * random())
      )
    }))
  }));
  return dimensionLayerRanks(docs);
}

const DIMENSIONS = ['language', 'domain', 'task'].map(name => ({
  name,
  layers: scoredDimension(3)
}));
const GROUPS: UnitGroup[] = expertLayerRanks(
  DIMENSIONS.map(d => d.layers)
).flatMap((ranks, layer) => [
  { layer, kind: 'ffn' as const, paramsPerUnit: FFN_PARAMS, ranks: ranks.ffn },
  {
    layer,
    kind: 'attention' as const,
    paramsPerUnit: ATTENTION_PARAMS,
    ranks: ranks.attention
  }
]);
const SELECTION = new Selection(
  GROUPS,
  LAYERS * (FFN_UNITS * FFN_PARAMS + ATTENTION_UNITS * ATTENTION_PARAMS)
);
const SIGMAS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

const METRICS: MetricPoint[] = [
  {
    method: 'dense',
    ratio: 0,
    evalSet: 'legal-de',
    metric: 'perplexity',
    value: 21.4
  },
  {
    method: 'dense',
    ratio: 0,
    evalSet: 'legal-de-qa',
    metric: 'accuracy',
    value: 0.62
  },
  ...[0.1, 0.2, 0.3, 0.4].flatMap(ratio => [
    {
      method: 'cus-prun',
      sigma: ratio + 0.15,
      ratio,
      evalSet: 'legal-de',
      metric: 'perplexity',
      value: 21.4 * Math.exp(2 * ratio)
    },
    {
      method: 'random',
      ratio,
      evalSet: 'legal-de',
      metric: 'perplexity',
      value: 21.4 * Math.exp(6 * ratio)
    },
    {
      method: 'magnitude',
      ratio,
      evalSet: 'legal-de',
      metric: 'perplexity',
      value: 21.4 * Math.exp(4 * ratio)
    },
    {
      method: 'cus-prun',
      sigma: ratio + 0.15,
      ratio,
      evalSet: 'legal-de-qa',
      metric: 'accuracy',
      value: 0.62 - 0.2 * ratio
    },
    {
      method: 'random',
      ratio,
      evalSet: 'legal-de-qa',
      metric: 'accuracy',
      value: 0.62 - 0.8 * ratio
    },
    {
      method: 'magnitude',
      ratio,
      evalSet: 'legal-de-qa',
      metric: 'accuracy',
      value: 0.62 - 0.5 * ratio
    }
  ])
];

const SUBSETS = [
  ['L'],
  ['D'],
  ['T'],
  ['L', 'D'],
  ['L', 'T'],
  ['D', 'T'],
  ['L', 'D', 'T']
];
const ABLATION: AblationChartRow[] = SUBSETS.map((dimensions, i) => ({
  dimensions,
  sigma: 0.3,
  ratio: 0.36 / dimensions.length - 0.01 * i,
  metrics: [
    {
      evalSet: 'legal-de',
      metric: 'perplexity',
      value: 22 + 24 / dimensions.length
    },
    {
      evalSet: 'legal-de-qa',
      metric: 'accuracy',
      value: 0.5 + 0.03 * dimensions.length
    }
  ]
}));

interface MarkGroup {
  /** The Vega mark type: rect, rule, line, symbol, … */
  type: string;
  /** The attributes of each item the mark drew. */
  items: Record<string, string>[];
}

/** Parses the SVG as namespaced XML (throwing on anything ill-formed) and lists its data marks. */
function parseSvg(svg: string): { rootUri: string; marks: MarkGroup[] } {
  const parser = new SaxesParser({ xmlns: true });
  const marks: MarkGroup[] = [];
  const open: (MarkGroup | undefined)[] = [];
  let rootUri: string | undefined;
  parser.on('opentag', tag => {
    rootUri ??= `${tag.name} ${tag.uri}`;
    const attributes = Object.fromEntries(
      Object.values(tag.attributes).map(a => [a.name, a.value])
    );
    open[open.length - 1]?.items.push(attributes);
    const classes = (attributes.class ?? '').split(' ');
    const type = classes.find(c => c.startsWith('mark-'));
    if (tag.name === 'g' && type && classes.includes('role-mark')) {
      const group = { type: type.slice('mark-'.length), items: [] };
      marks.push(group);
      open.push(group);
    } else {
      open.push(undefined);
    }
  });
  parser.on('closetag', () => {
    open.pop();
  });
  parser.write(svg).close();
  return { rootUri: rootUri ?? '', marks };
}

function items(marks: MarkGroup[], type: string): Record<string, string>[] {
  return marks.filter(m => m.type === type).flatMap(m => m.items);
}

function count(marks: MarkGroup[], type: string): number {
  return items(marks, type).length;
}

function expectSnapshot(name: string, svg: string): void {
  const file = path.join(SNAPSHOTS, `${name}.svg`);
  if (process.env.CUSPRUN_UPDATE_SVG === '1') {
    fs.mkdirSync(SNAPSHOTS, { recursive: true });
    fs.writeFileSync(file, svg);
  }
  if (!fs.existsSync(file)) {
    throw new Error(
      `${file} is missing: write it with CUSPRUN_UPDATE_SVG=1 and review it`
    );
  }
  const expected = fs.readFileSync(file, 'utf8');
  if (svg !== expected) {
    let at = 0;
    while (svg[at] === expected[at]) {
      at++;
    }
    throw new Error(
      `${name}.svg differs at character ${at}: got …${svg.slice(at - 60, at + 60)}…, expected …${expected.slice(at - 60, at + 60)}…`
    );
  }
}

let validate: ValidateFunction;

beforeAll(() => {
  const ajv = new Ajv({ strict: false, allErrors: true });
  // The formats the schema names; ajv 8 knows none of them without ajv-formats.
  ajv.addFormat('color-hex', /^#(?:[0-9a-f]{3}){1,2}$/i);
  ajv.addFormat('uri', /^[a-z][a-z0-9+.-]*:\S+$/i);
  ajv.addFormat('uri-reference', /^\S*$/);
  validate = ajv.compile(JSON.parse(fs.readFileSync(SCHEMA_FILE, 'utf8')));
});

function warningsOf56(spec: VegaLiteSpec): string[] {
  const warnings: string[] = [];
  compileWith56(spec as unknown as TopLevelSpec, {
    logger: logger(Warn, undefined, (_method, _level, input) => {
      warnings.push(Array.from(input, String).join(' '));
    })
  });
  return warnings;
}

/** Valid for vega-lite 5.6.1: by its schema, and compiled by it without a warning. */
function expectValid(spec: VegaLiteSpec): void {
  const valid = validate(spec);
  expect(valid ? [] : validate.errors).toEqual([]);
  expect(warningsOf56(spec)).toEqual([]);
}

describe('chart data', () => {
  it('bins ranks per layer by rank/n', () => {
    // Layer 0: n = 4, x = 0, .25, .5, .75. Layer 1: n = 5, x = .8, 0, .4, .2, .6.
    const layers = [Uint32Array.of(0, 1, 2, 3), Uint32Array.of(4, 0, 2, 1, 3)];
    expect(rankHistogram(layers, 2)).toEqual([5, 4]);
    expect(rankHistogram(layers, 4)).toEqual([3, 2, 2, 2]);
    expect(rankHistogram(layers, 10)).toEqual([2, 0, 2, 0, 1, 1, 1, 1, 1, 0]);
  });

  it('rejects a rank outside its layer and a bad bin count', () => {
    expect(() => rankHistogram([Uint32Array.of(0, 2)], 4)).toThrow(
      CusprunError
    );
    expect(() => rankHistogram([Uint32Array.of(0, 1)], 0)).toThrow(
      /whole number of bins/
    );
  });

  it('keeps a million-unit model to a small spec', () => {
    // 16 layers of 62,500 units, ranks 0..n-1: each of 50 bins holds n/50 units per layer.
    const layer = Uint32Array.from({ length: 62500 }, (_, i) => i);
    const layers = Array.from({ length: 16 }, () => ({
      ffn: layer,
      attention: Uint32Array.of(0, 1, 2, 3)
    }));
    const histogram = relevanceHistogram(
      [{ name: 'language', layers }],
      0.5,
      50
    );
    expect(histogram.series[0].counts).toEqual(new Array(50).fill(16 * 1250));
    expect(JSON.stringify(histogramSpec(histogram)).length).toBeLessThan(20000);
  });

  it('turns a Selection sweep into ratios per kind', () => {
    // FFN: 2 layers × 4 units × 10 params = 80; attention: 2 × 2 × 100 = 400.
    const groups: UnitGroup[] = [
      {
        layer: 0,
        kind: 'ffn',
        paramsPerUnit: 10,
        ranks: Uint32Array.of(0, 1, 2, 3)
      },
      {
        layer: 0,
        kind: 'attention',
        paramsPerUnit: 100,
        ranks: Uint32Array.of(0, 1)
      },
      {
        layer: 1,
        kind: 'ffn',
        paramsPerUnit: 10,
        ranks: Uint32Array.of(3, 3, 0, 3)
      },
      {
        layer: 1,
        kind: 'attention',
        paramsPerUnit: 100,
        ranks: Uint32Array.of(1, 1)
      }
    ];
    const selection = new Selection(groups, 480, { minKeep: 0 });
    // σ = 0.5: ⌊2⌋ FFN ranks < 2 → 2 in layer 0, 1 in layer 1; ⌊1⌋ attention rank < 1 → 1, 0.
    const sweep = ratioSweep(selection.sweep([0.5, 0.9]), groups, 0.5);
    expect(sweep.sigma).toBe(0.5);
    expect(sweep.points[0]).toEqual({
      sigma: 0.5,
      ratio: (30 + 100) / 480,
      ffnRatio: 30 / 80,
      attentionRatio: 100 / 400
    });
    // σ = 0.9: ⌊3.6⌋ = 3 → FFN 3 + 1, ⌊1.8⌋ = 1 → attention 1 + 0.
    expect(sweep.points[1]).toEqual({
      sigma: 0.9,
      ratio: (40 + 100) / 480,
      ffnRatio: 40 / 80,
      attentionRatio: 100 / 400
    });
    expect(ratioSweep([], groups)).toEqual({ points: [] });
  });

  it('refuses groups that do not match the results', () => {
    const result: RatioResult = {
      sigma: 0.5,
      ratio: 0.1,
      removedParams: 10,
      groups: [
        { layer: 0, kind: 'ffn', units: 4, pruned: 1, params: 10 },
        { layer: 0, kind: 'attention', units: 2, pruned: 0, params: 0 }
      ]
    };
    const swapped = [
      { layer: 0, kind: 'attention' as const, paramsPerUnit: 100 },
      { layer: 0, kind: 'ffn' as const, paramsPerUnit: 10 }
    ];
    expect(() => ratioSweep([result], swapped)).toThrow(/unit group 0/);
    expect(() => ratioSweep([result], swapped.slice(1))).toThrow(
      /2 unit groups but 1/
    );
  });

  it('counts units per layer from a result and from a plan alike', () => {
    const result = SELECTION.ratio(0.6);
    const fromResult = groupCountsOfResult(result);
    expect(fromResult).toHaveLength(2 * LAYERS);
    expect(fromResult[1]).toEqual({
      layer: 0,
      kind: 'attention',
      units: ATTENTION_UNITS,
      pruned: result.groups[1].pruned
    });
    const plan = {
      layers: Array.from({ length: LAYERS }, (_, i) => ({
        index: i,
        ffn: { width: FFN_UNITS, pruned: SELECTION.units(2 * i, 0.6) },
        attention: {
          groups: ATTENTION_UNITS,
          prunedGroups: SELECTION.units(2 * i + 1, 0.6)
        }
      }))
    } as ExpertPlan;
    expect(groupCountsOfPlan(plan)).toEqual(fromResult);
  });
});

describe('chart specs', () => {
  it('reject what vega-lite 5.6.1 does not know or would drop', () => {
    // Neither check is vacuous: the schema refuses an unknown property, and 5.6.1 warns about
    // a schema-valid part it would drop.
    const spec = {
      $schema: VEGA_LITE_SCHEMA,
      data: { values: [{ a: 1 }] },
      mark: 'point',
      encoding: { x: { field: 'a', type: 'quantitative' } }
    };
    expect(validate(spec)).toBe(true);
    expect(warningsOf56(spec)).toEqual([]);
    expect(
      validate({
        ...spec,
        encoding: { x: { field: 'a', type: 'quantitative', binned: true } }
      })
    ).toBe(false);
    const dropped = {
      ...spec,
      encoding: {
        x: {
          field: 'a',
          type: 'quantitative',
          scale: { type: 'log', zero: true }
        }
      }
    };
    expect(validate(dropped)).toBe(true);
    expect(warningsOf56(dropped)).toEqual([
      expect.stringMatching(/"zero" is dropped/)
    ]);
  });

  it('refuse to chart nothing', () => {
    expect(() => metricSweepSpec([])).toThrow(/no metric points/);
    expect(() => ablationSpec([])).toThrow(CusprunError);
    expect(() => layersSpec([])).toThrow(CusprunError);
    expect(() => ratioSweepSpec({ points: [] })).toThrow(CusprunError);
  });

  it('histogram: one panel per dimension and kind, σ marked in each', async () => {
    const histogram = relevanceHistogram(DIMENSIONS, 0.3, 10);
    const spec = histogramSpec(histogram);
    expect(spec.$schema).toBe(VEGA_LITE_SCHEMA);
    expect(JSON.parse(JSON.stringify(spec))).toStrictEqual(spec);
    expectValid(spec);
    const values = (spec.data as { values: { share: number; count: number }[] })
      .values;
    // 3 dimensions × 2 kinds × 10 bins; each series' shares sum to 1.
    expect(values).toHaveLength(60);
    expect(values.slice(0, 10).reduce((a, v) => a + v.share, 0)).toBeCloseTo(1);
    expect(values.slice(0, 10).reduce((a, v) => a + v.count, 0)).toBe(
      LAYERS * FFN_UNITS
    );

    const svg = await renderSvg(spec);
    const { rootUri, marks } = parseSvg(svg);
    expect(rootUri).toBe(`svg ${SVG_NS}`);
    expect(count(marks, 'rect')).toBe(60);
    const rules = items(marks, 'rule');
    expect(rules).toHaveLength(6);
    // Panels are 180 px wide over x in [0, 1]: σ = 0.3 sits at 54 px in every panel.
    expect(new Set(rules.map(r => r.transform))).toEqual(
      new Set(['translate(54,0)'])
    );
    expect(svg).not.toMatch(/@import|@font-face|url\(|<image|<script/);
    expectSnapshot('histogram', svg);
  });

  it('σ sweep: ratio against σ, overall and per kind, σ in use marked', async () => {
    const sweep = ratioSweep(SELECTION.sweep(SIGMAS), GROUPS, 0.5);
    const spec = ratioSweepSpec(sweep);
    expectValid(spec);
    expect(JSON.parse(JSON.stringify(spec))).toStrictEqual(spec);
    const svg = await renderSvg(spec);
    const { marks } = parseSvg(svg);
    expect(count(marks, 'line')).toBe(3);
    expect(count(marks, 'symbol')).toBe(3 * SIGMAS.length);
    expect(count(marks, 'rule')).toBe(1);
    // 360 px over σ in [0, 1].
    expect(items(marks, 'rule')[0].transform).toBe('translate(180,0)');
    expectSnapshot('ratio-sweep', svg);

    const unmarked = ratioSweepSpec({ points: sweep.points });
    expectValid(unmarked);
    expect(count(parseSvg(await renderSvg(unmarked)).marks, 'rule')).toBe(0);
  });

  it('metric sweep: one line per method, one panel per eval set and metric', async () => {
    const spec = metricSweepSpec(METRICS);
    expectValid(spec);
    expect(JSON.parse(JSON.stringify(spec))).toStrictEqual(spec);
    const panels = spec.concat as {
      title: string;
      data: { values: unknown[] };
      layer: {
        encoding: { y: { scale: { type?: string }; axis?: unknown } };
      }[];
    }[];
    expect(panels.map(p => p.title)).toEqual([
      'legal-de · perplexity',
      'legal-de-qa · accuracy'
    ]);
    // Perplexity (21.4 … 236) on a log scale with 1-2-5 ticks; accuracy linear.
    expect(panels[0].layer[0].encoding.y.scale.type).toBe('log');
    expect(panels[0].layer[0].encoding.y.axis).toEqual({
      values: [50, 100, 200]
    });
    expect(panels[1].layer[0].encoding.y.scale.type).toBeUndefined();

    const svg = await renderSvg(spec);
    const { marks } = parseSvg(svg);
    expect(count(marks, 'line')).toBe(2 * 4);
    expect(count(marks, 'symbol')).toBe(METRICS.length);
    expectSnapshot('metric-sweep', svg);
  });

  it('layers: the pruned share of each layer, FFN and attention side by side', async () => {
    const layers = groupCountsOfResult(SELECTION.ratio(0.7));
    const spec = layersSpec(layers);
    expectValid(spec);
    const values = (
      spec.data as {
        values: { pruned: number; units: number; share: number }[];
      }
    ).values;
    values.forEach(v => expect(v.share).toBe(v.pruned / v.units));
    expect(values.some(v => v.pruned > 0)).toBe(true);

    const svg = await renderSvg(spec);
    const { marks } = parseSvg(svg);
    expect(count(marks, 'rect')).toBe(2 * LAYERS);
    expectSnapshot('layers', svg);
  });

  it('ablation: seven subsets in order, ratio in the labels, σ in the tooltip', async () => {
    const spec = ablationSpec(ABLATION);
    expectValid(spec);
    const panels = spec.concat as {
      encoding: { x: { sort: string[] }; tooltip: { field: string }[] };
    }[];
    expect(panels).toHaveLength(2);
    expect(panels[0].encoding.x.sort).toEqual([
      'L (36.00%)',
      'D (35.00%)',
      'T (34.00%)',
      'L+D (15.00%)',
      'L+T (14.00%)',
      'D+T (13.00%)',
      'L+D+T (6.00%)'
    ]);
    expect(panels[0].encoding.tooltip.map(t => t.field)).toEqual(
      expect.arrayContaining(['sigma', 'ratio'])
    );

    const svg = await renderSvg(spec);
    const { marks } = parseSvg(svg);
    expect(count(marks, 'rect')).toBe(2 * SUBSETS.length);
    expectSnapshot('ablation', svg);

    // Rows at different σ name each one's σ in its label.
    const mixed = ablationSpec([ABLATION[0], { ...ABLATION[6], sigma: 0.5 }]);
    expectValid(mixed);
    expect(
      (mixed.concat as { encoding: { x: { sort: string[] } } }[])[0].encoding.x
        .sort
    ).toEqual(['L (σ 0.3000, 36.00%)', 'L+D+T (σ 0.5000, 6.00%)']);
  });

  it('ablation: general calibration last, in a colour of its own, a panel per set in ≤ 3 columns', async () => {
    const sets = ['expert', 'other-language', 'other-domain', 'other-task'];
    const rows: AblationChartRow[] = [
      ...ABLATION,
      { ...ABLATION[6], general: true }
    ].map((r, i) => ({
      ...r,
      metrics: [...sets, 'general'].map((evalSet, s) => ({
        evalSet,
        metric: 'perplexity',
        value: 20 + s + (r.general ? 2 * s - 3 : i)
      }))
    }));
    const spec = ablationSpec(rows);
    expectValid(spec);
    expect(spec.columns).toBe(3);
    const panels = spec.concat as {
      title: string;
      data: { values: { subset: string; size: string }[] };
      encoding: {
        x: { sort: string[] };
        color: { scale: { domain: string[] } };
      };
    }[];
    expect(panels.map(p => p.title)).toEqual([
      'expert · perplexity',
      'other-language · perplexity',
      'other-domain · perplexity',
      'other-task · perplexity',
      'general · perplexity'
    ]);
    expect(panels[0].encoding.x.sort.slice(5)).toEqual([
      'D+T (13.00%)',
      'L+D+T (6.00%)',
      'general (3D counts)'
    ]);
    expect(panels[0].encoding.color.scale.domain).toEqual([
      '1D',
      '2D',
      '3D',
      'general calibration'
    ]);
    expect(panels[4].data.values.at(-1)).toMatchObject({
      subset: 'general (3D counts)',
      size: 'general calibration'
    });

    const svg = await renderSvg(spec);
    const { marks } = parseSvg(svg);
    expect(count(marks, 'rect')).toBe(5 * 8);
    expectSnapshot('ablation-general', svg);
  });
});

describe('renderSvg', () => {
  it('gives the same bytes for the same spec', async () => {
    const spec = layersSpec(groupCountsOfResult(SELECTION.ratio(0.5)));
    expect(await renderSvg(spec)).toBe(await renderSvg(spec));
  });

  it('fails with a CusprunError on a spec vega-lite rejects', async () => {
    const failure = renderSvg({ $schema: VEGA_LITE_SCHEMA, mark: 'nonsense' });
    await expect(failure).rejects.toThrow(CusprunError);
    await expect(failure).rejects.toMatchObject({
      code: 'bad-argument',
      subject: 'chart spec'
    });
  });

  it('treats a part vega-lite would drop as a rejection', async () => {
    const spec = {
      $schema: VEGA_LITE_SCHEMA,
      data: { values: [{ a: 1 }, { a: 10 }] },
      mark: 'point',
      encoding: { x: { field: 'a', type: 'quantitative' } }
    };
    expect(parseSvg(await renderSvg(spec)).marks).toHaveLength(1);
    await expect(
      renderSvg({ ...spec, transform: [{ foo: 1 }] })
    ).rejects.toThrow(/vega-lite rejects it: Ignoring an invalid transform/);
    await expect(
      renderSvg({
        ...spec,
        encoding: {
          x: {
            field: 'a',
            type: 'quantitative',
            scale: { type: 'log', zero: true }
          }
        }
      })
    ).rejects.toThrow(/"zero" is dropped/);
  });
});
