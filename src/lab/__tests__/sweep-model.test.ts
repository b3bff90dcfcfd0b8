import * as fs from 'fs';
import * as path from 'path';
import {
  allDimensions,
  binOf,
  findSubset,
  initialSubset,
  payloadProblem,
  ratioCurve,
  ruleChoices,
  subsetRule,
  summaryLine,
  SWEEP_MIME_TYPE,
  SweepPayload,
  SweepSubset,
  sweepView,
  viewAt
} from '../sweep-model';
import { formatSigma } from '../../core/format';
import { guardedCount } from '../../core/select';

function subset(dimensions: string[], cumulative: number[][]): SweepSubset {
  return {
    dimensions,
    q: 1,
    minKeep: 1,
    multipleOf: 1,
    bins: 4,
    prunableParams: 4 * 10 + 2 * 100 + 4 * 10 + 2 * 100,
    groups: [
      {
        layer: 0,
        kind: 'ffn',
        units: 4,
        paramsPerUnit: 10,
        cumulative: cumulative[0]
      },
      {
        layer: 0,
        kind: 'attention',
        units: 2,
        paramsPerUnit: 100,
        cumulative: cumulative[1]
      },
      {
        layer: 1,
        kind: 'ffn',
        units: 4,
        paramsPerUnit: 10,
        cumulative: cumulative[2]
      },
      {
        layer: 1,
        kind: 'attention',
        units: 2,
        paramsPerUnit: 100,
        cumulative: cumulative[3]
      }
    ]
  };
}

/** Two dimensions; the subset of both prunes fewer units than either alone. */
const payload: SweepPayload = {
  format: 'cusprun-sweep',
  version: 1,
  run: 'toy',
  file: null,
  sigma: 0.5,
  prunableParams: 480,
  ratios: [],
  layers: [],
  subsets: [
    subset(
      ['a'],
      [
        [0, 1, 2, 4, 4],
        [0, 0, 1, 2, 2],
        [0, 2, 3, 4, 4],
        [0, 1, 1, 2, 2]
      ]
    ),
    subset(
      ['b'],
      [
        [0, 0, 3, 4, 4],
        [0, 0, 0, 1, 2],
        [0, 0, 1, 2, 4],
        [0, 0, 0, 0, 2]
      ]
    ),
    subset(
      ['a', 'b'],
      [
        [0, 0, 1, 3, 4],
        [0, 0, 0, 1, 2],
        [0, 0, 1, 2, 4],
        [0, 0, 0, 0, 2]
      ]
    )
  ]
};

describe('the σ-sweep output model', () => {
  it('accepts a well-formed payload and explains a malformed one', () => {
    expect(payloadProblem(payload)).toBeNull();
    expect(payloadProblem(null)).toMatch(/not an object/);
    expect(payloadProblem({ ...payload, format: 'other' })).toMatch(/format/);
    expect(payloadProblem({ ...payload, version: 2 })).toMatch(/version/);
    expect(payloadProblem({ ...payload, subsets: [] })).toMatch(/no ranks/);
    const short = subset(
      ['a'],
      [
        [0, 1],
        [0, 0, 1, 2, 2],
        [0, 2, 3, 4, 4],
        [0, 1, 1, 2, 2]
      ]
    );
    expect(payloadProblem({ ...payload, subsets: [short] })).toMatch(/layer 0/);
  });

  it('lists the dimensions in the order of the largest subset and finds subsets in any order', () => {
    expect(allDimensions(payload)).toEqual(['a', 'b']);
    expect(findSubset(payload, ['b', 'a'])?.dimensions).toEqual(['a', 'b']);
    expect(findSubset(payload, ['c'])).toBeUndefined();
  });

  it('opens on the dimensions the output was made with, when it has their ranks', () => {
    expect(initialSubset(payload).dimensions).toEqual(['a', 'b']);
    expect(initialSubset({ ...payload, dimensions: ['b'] }).dimensions).toEqual(
      ['b']
    );
    // unknown or malformed: all dimensions
    expect(initialSubset({ ...payload, dimensions: ['c'] }).dimensions).toEqual(
      ['a', 'b']
    );
    expect(
      initialSubset({ ...payload, dimensions: 'b' as unknown as string[] })
        .dimensions
    ).toEqual(['a', 'b']);
  });

  it('snaps σ down to the grid, keeping decimal grid points on their step', () => {
    expect(binOf(0.5, 4)).toBe(2);
    expect(binOf(0.74, 4)).toBe(2);
    expect(binOf(0.29, 100)).toBe(29);
    expect(binOf(0.57, 100)).toBe(57);
    expect(binOf(-1, 4)).toBe(0);
    expect(binOf(2, 4)).toBe(4);
  });

  it('never prunes a whole group, and rounds kept widths up as asked', () => {
    const defaults = { minKeep: 1, multipleOf: 1 };
    expect(guardedCount(4, 4, defaults)).toBe(3);
    expect(guardedCount(2, 4, defaults)).toBe(2);
    expect(guardedCount(0, 0, defaults)).toBe(0);
    expect(guardedCount(1, 1, defaults)).toBe(0);
    expect(guardedCount(10, 16, { minKeep: 1, multipleOf: 8 })).toBe(8);
    expect(guardedCount(15, 16, { minKeep: 4, multipleOf: 1 })).toBe(12);
  });

  it('counts an output saved before it carried its guards with the defaults', () => {
    const { minKeep: _k, multipleOf: _m, ...old } = findSubset(payload, ['a'])!;
    const saved = old as SweepSubset;
    expect(viewAt(saved, 4).layers.map(l => l.pruned)).toEqual([3, 1, 3, 1]);
  });

  it('counts pruned units and ratios per kind for a subset at σ', () => {
    const view = sweepView(payload, ['a'], 0.75);
    expect(view.bin).toBe(3);
    expect(view.layers.map(l => l.pruned)).toEqual([3, 1, 3, 1]);
    expect(view.layers[0].share).toBe(0.75);
    // FFN: 6 of 8 units × 10; attention: 2 of 4 groups × 100.
    expect(view.removedParams).toBe(60 + 200);
    expect(view.ratio).toBeCloseTo(260 / 480);
    expect(view.ffnRatio).toBe(0.75);
    expect(view.attentionRatio).toBe(0.5);
  });

  it('changes with the dimensions: both at once prune at most what each alone does', () => {
    for (let b = 0; b <= 4; b++) {
      const both = viewAt(findSubset(payload, ['a', 'b'])!, b);
      for (const one of [['a'], ['b']]) {
        const alone = viewAt(findSubset(payload, one)!, b);
        both.layers.forEach((l, i) =>
          expect(l.pruned).toBeLessThanOrEqual(alone.layers[i].pruned)
        );
      }
    }
    expect(sweepView(payload, ['a', 'b'], 0.5).ratio).toBeLessThan(
      sweepView(payload, ['a'], 0.5).ratio
    );
    expect(() => sweepView(payload, ['c'], 0.5)).toThrow(/no ranks/);
  });

  it('draws the ratio curve of a subset over its whole grid, rising with σ', () => {
    const a = findSubset(payload, ['a'])!;
    const curve = ratioCurve(a);
    expect(curve.map(p => p.sigma)).toEqual([0, 0.25, 0.5, 0.75, 1]);
    curve.forEach((p, b) =>
      expect(p.ratio).toBeCloseTo(viewAt(a, b).ratio, 12)
    );
    curve
      .slice(1)
      .forEach((p, i) =>
        expect(p.ratio).toBeGreaterThanOrEqual(curve[i].ratio)
      );
  });

  it('writes the summary line', () => {
    const view = sweepView(payload, ['a'], 0.75);
    expect(summaryLine(view)).toBe(
      'σ 0.7500 · paper · 54.17% of prunable parameters · FFN 75.00% · attention 50.00%'
    );
    expect(formatSigma(0.42)).toBe('0.4200');
    expect(formatSigma(0.425)).toBe('0.4250');
    expect(formatSigma(undefined)).toBe('-');
    const trans = {
      __: (msg: string, ...args: unknown[]) => `[${msg}|${args.join(',')}]`
    };
    expect(summaryLine(view, trans)).toContain('[FFN %1|75.00%]');
  });
});

describe('the rule of a σ view', () => {
  const [a] = payload.subsets;

  it("is its ranks' own, paper's or q's for ranks saved before rules had names", () => {
    expect(subsetRule({ ...a, rule: 'rank-mean' })).toEqual({
      rule: 'rank-mean',
      q: 1
    });
    expect(subsetRule(a)).toEqual({ rule: 'paper', q: 1 });
    expect(subsetRule({ ...a, q: 0.75 })).toEqual({ rule: 'q', q: 0.75 });
    const view = viewAt({ ...a, rule: 'pooled-intersect' }, 2);
    expect(view.rule).toEqual({ rule: 'pooled-intersect', q: 1 });
    expect(summaryLine(view)).toMatch(/^σ 0\.5000 · pooled-intersect · /);
    expect(summaryLine(viewAt({ ...a, rule: 'q', q: 0.75 }, 2))).toMatch(
      /^σ 0\.5000 · q0\.75 · /
    );
  });

  it('is chosen among the rules a ranks request serves, the default first', () => {
    const labels = (current: Parameters<typeof ruleChoices>[0]) =>
      ruleChoices(current).map(c => (c.rule === 'q' ? `q${c.q}` : c.rule));
    expect(labels({ rule: 'paper', q: 1 })).toEqual([
      'rank-mean',
      'paper',
      'pooled-intersect'
    ]);
    // a q rule a plan used stays on offer, with its q
    expect(labels({ rule: 'q', q: 0.9 })).toEqual([
      'rank-mean',
      'paper',
      'pooled-intersect',
      'q0.9'
    ]);
  });
});

describe('the fixture of a real %cusprun sweep output', () => {
  const notebook = JSON.parse(
    fs.readFileSync(
      path.join(__dirname, '../../../ui-tests/notebooks/sweep-output.ipynb'),
      'utf8'
    )
  );
  const bundle = notebook.cells
    .flatMap(
      (c: { outputs?: { data?: Record<string, unknown> }[] }) => c.outputs ?? []
    )
    .map((o: { data?: Record<string, unknown> }) => o.data ?? {})
    .find((d: Record<string, unknown>) => SWEEP_MIME_TYPE in d);
  const real = bundle[SWEEP_MIME_TYPE] as SweepPayload;

  it('carries the fallback entries for frontends without the extension', () => {
    expect(Object.keys(bundle).sort()).toEqual([
      SWEEP_MIME_TYPE,
      'application/vnd.vegalite.v5+json',
      'image/svg+xml',
      'text/plain'
    ]);
    expect(payloadProblem(real)).toBeNull();
    expect(real.subsets).toHaveLength(2 ** allDimensions(real).length - 1);
  });

  it('reproduces the per-layer counts the sidecar computed at the output’s σ', () => {
    const view = sweepView(real, allDimensions(real), real.sigma);
    expect(
      view.layers.map(l => ({
        layer: l.layer,
        kind: l.kind,
        units: l.units,
        pruned: l.pruned
      }))
    ).toEqual(real.layers);
  });

  it('reproduces the ratio curve at the grid points it shares with the ranks', () => {
    const full = findSubset(real, allDimensions(real))!;
    const curve = ratioCurve(full);
    let checked = 0;
    for (const point of real.ratios) {
      const b = point.sigma * full.bins;
      if (Math.abs(b - Math.round(b)) > 1e-9) {
        continue;
      }
      const view = viewAt(full, Math.round(b));
      expect(curve[Math.round(b)].ratio).toBeCloseTo(point.ratio, 12);
      expect(view.ratio).toBeCloseTo(point.ratio, 12);
      expect(view.ffnRatio).toBeCloseTo(point.ffnRatio, 12);
      expect(view.attentionRatio).toBeCloseTo(point.attentionRatio, 12);
      checked++;
    }
    expect(checked).toBeGreaterThan(10);
  });
});
