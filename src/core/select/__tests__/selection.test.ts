import {
  ascendingRanks,
  dimensionRanks,
  expertRanks,
  irrelevantPerDocument
} from '../ranks';
import { Selection, UnitGroup } from '../selection';
import { CusprunError } from '../../errors';
import { DEFAULT_RULE, Rule, ruleSettings } from '../rules';
import { ModelMap } from '../../model/model-map';
import {
  Expert,
  ExpertPlan,
  planTarget,
  rankDimension,
  ScoredDimension,
  unitPlanOf
} from '../expert';
import {
  DocumentScores,
  dimensionLayerRanks,
  expertLayerRanks,
  unitGroups
} from '../from-scores';

/**
 * An expert's plan under the paper's rule (method.md, named: it is not the default) straight from
 * scored documents, its target checked as a command line's is.
 */
function expertPlan(
  map: ModelMap,
  dimensions: ScoredDimension[],
  given: { sigma?: number; targetRatio?: number }
): ExpertPlan {
  const target = planTarget(given);
  return new Expert(
    map,
    dimensions.map(d => rankDimension(d, { rule: 'paper' }))
  ).plan(target);
}

/** Brute force from method.md's definitions, to check the rank identity against. */
function bruteForcePruned(
  docsByDim: number[][][],
  sigma: number,
  q = 1
): Set<number> {
  const n = docsByDim[0][0].length;
  const k = irrelevantPerDocument(sigma, n);
  const irrelevantTo = (scores: number[]) => {
    const order = scores
      .map((s, i) => [s, i])
      .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    return new Set(order.slice(0, k).map(([, i]) => i));
  };
  const perDim = docsByDim.map(docs => {
    const sets = docs.map(irrelevantTo);
    const need = Math.ceil(q * docs.length - 1e-9);
    return new Set(
      [...Array(n).keys()].filter(
        u => sets.filter(s => s.has(u)).length >= need
      )
    );
  });
  return new Set([...Array(n).keys()].filter(u => perDim.every(s => s.has(u))));
}

function seeded(seed: number) {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
}

describe('ranks', () => {
  it('ranks ascending with ties broken by index', () => {
    expect(Array.from(ascendingRanks([0.5, 0.1, 0.5, 0.0]))).toEqual([
      2, 1, 3, 0
    ]);
    // many ties, -0 = 0, negatives and a Float32Array: as the definition orders them
    const random = seeded(11);
    const scores = Float32Array.from({ length: 5000 }, (_, i) =>
      i % 97 === 0 ? -0 : Math.round(random() * 200 - 50) / 8
    );
    const order = Array.from({ length: scores.length }, (_, i) => i).sort(
      (a, b) => scores[a] - scores[b] || a - b
    );
    const expected = new Uint32Array(scores.length);
    order.forEach((unit, rank) => (expected[unit] = rank));
    expect(ascendingRanks(scores)).toEqual(expected);
  });

  it('strict intersection keeps the largest rank, relaxed the q-quantile', () => {
    const docs = [
      Uint32Array.from([0, 3, 1, 2]),
      Uint32Array.from([2, 0, 1, 3]),
      Uint32Array.from([1, 0, 3, 2])
    ];
    expect(Array.from(dimensionRanks(docs))).toEqual([2, 3, 3, 3]);
    // q = 2/3: irrelevant to at least 2 of 3 documents → the 2nd smallest rank.
    expect(Array.from(dimensionRanks(docs, 2 / 3))).toEqual([1, 0, 1, 2]);
    expect(
      Array.from(
        expertRanks([
          Uint32Array.from([1, 0, 1, 2]),
          Uint32Array.from([0, 3, 0, 1])
        ])
      )
    ).toEqual([1, 3, 1, 2]);
  });

  it.each([
    [1, 0.3],
    [1, 0.55],
    [0.75, 0.4],
    [0.5, 0.6]
  ])('agrees with brute-force set intersection (q=%s, σ=%s)', (q, sigma) => {
    const random = seeded(7);
    const docsByDim = [4, 3, 5].map(count =>
      Array.from({ length: count }, () =>
        Array.from({ length: 40 }, () => Math.round(random() * 20) / 20)
      )
    );
    const ranks = expertRanks(
      docsByDim.map(docs => dimensionRanks(docs.map(ascendingRanks), q))
    );
    const selection = new Selection(
      [{ layer: 0, kind: 'ffn', paramsPerUnit: 1, ranks }],
      40,
      { minKeep: 0 }
    );
    expect(new Set(selection.units(0, sigma))).toEqual(
      bruteForcePruned(docsByDim, sigma, q)
    );
  });
});

describe('Selection', () => {
  const group = (
    layer: number,
    kind: 'ffn' | 'attention',
    ranks: number[],
    paramsPerUnit: number
  ): UnitGroup => ({
    layer,
    kind,
    paramsPerUnit,
    ranks: Uint32Array.from(ranks)
  });
  // Two layers of 10 FFN channels (3 params each) and 2 attention groups (20 params each).
  const groups = [
    group(0, 'ffn', [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 3),
    group(0, 'attention', [0, 1], 20),
    group(1, 'ffn', [9, 9, 9, 9, 9, 0, 1, 2, 3, 4], 3),
    group(1, 'attention', [1, 1], 20)
  ];
  const total = 2 * (10 * 3 + 2 * 20);

  it('counts the units whose deciding rank is below ⌊σ·n⌋', () => {
    const selection = new Selection(groups, total, { minKeep: 0 });
    const at = selection.ratio(0.5);
    expect(at.groups.map(g => g.pruned)).toEqual([5, 1, 5, 0]);
    expect(at.removedParams).toBe(5 * 3 + 20 + 5 * 3);
    expect(at.ratio).toBeCloseTo(50 / total, 12);
    expect(selection.units(2, 0.5)).toEqual([5, 6, 7, 8, 9]);
  });

  it('keeps min_keep units and rounds kept widths up to a multiple', () => {
    const keepOne = new Selection(groups, total);
    expect(keepOne.count(0, 0.99)).toBe(9);
    expect(keepOne.count(1, 0.99)).toBe(1);
    const multiple = new Selection(groups, total, {
      minKeep: 1,
      multipleOf: 4
    });
    // 10 channels, 7 pruned at σ = 0.7 → 3 kept → rounded up to 4 kept.
    expect(multiple.count(0, 0.7)).toBe(6);
    // 10 channels with everything irrelevant → 1 kept → 4 kept.
    expect(multiple.count(0, 0.99)).toBe(6);
  });

  it('keeps every attention group when asked, counting the FFNs as before', () => {
    const plain = new Selection(groups, total);
    const kept = new Selection(groups, total, { keepAttention: true });
    for (const sigma of [0.3, 0.5, 0.99]) {
      expect(kept.ratio(sigma).groups.map(g => g.pruned)).toEqual(
        plain
          .ratio(sigma)
          .groups.map(g => (g.kind === 'attention' ? 0 : g.pruned))
      );
    }
    // The FFNs alone (one channel kept in each): at most 9·3·2 of 140 parameters.
    expect(() => kept.sigmaForRatio(0.5)).toThrow(
      /no σ prunes more than 38\.57%; ask for less$/
    );
  });

  it('solves σ for a target ratio by bisection', () => {
    const selection = new Selection(groups, total, { minKeep: 0 });
    const solved = selection.sigmaForRatio(0.25);
    expect(Math.abs(solved.ratio - 0.25)).toBeLessThanOrEqual(
      Math.min(
        ...[0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6].map(s =>
          Math.abs(selection.ratio(s).ratio - 0.25)
        )
      )
    );
    expect(selection.ratio(solved.sigma).ratio).toBe(solved.ratio);
    // With one unit kept per group, at most (9·3 + 20)·2 of 140 parameters can go.
    expect(() => new Selection(groups, total).sigmaForRatio(0.7)).toThrow(
      /cannot be reached: .* no σ prunes more than 67\.14%; ask for less$/
    );
    expect(() => selection.sigmaForRatio(1.5)).toThrow(CusprunError);
  });

  it('sweeps σ with a ratio that never falls as σ grows, and rejects σ outside (0, 1)', () => {
    const selection = new Selection(groups, total);
    const points = selection.sweep([
      0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9
    ]);
    for (let i = 1; i < points.length; i++) {
      expect(points[i].ratio).toBeGreaterThanOrEqual(points[i - 1].ratio);
    }
    expect(() => selection.sweep([0])).toThrow(
      /σ must lie strictly between 0 and 1/
    );
    expect(() => selection.sweep([1])).toThrow(CusprunError);
  });
});

describe('from document scores to unit groups', () => {
  const doc = (ffn: number[], attention: number[]): DocumentScores => ({
    layers: [
      { ffn: Float32Array.from(ffn), attention: Float32Array.from(attention) }
    ]
  });

  it('keeps a running maximum for the strict rule and agrees with the relaxed rule at q = 1', () => {
    const docs = [
      doc([3, 1, 2, 0], [0.5, 0.2]),
      doc([0, 1, 3, 2], [0.1, 0.9]),
      doc([2, 0, 1, 3], [0.3, 0.4])
    ];
    const strict = dimensionLayerRanks(docs);
    expect(Array.from(strict[0].ffn)).toEqual([3, 1, 3, 3]);
    expect(Array.from(strict[0].attention)).toEqual([1, 1]);
    const relaxed = dimensionLayerRanks(docs, 2 / 3);
    expect(Array.from(relaxed[0].ffn)).toEqual(
      Array.from(
        dimensionRanks(
          docs.map(d => ascendingRanks(d.layers[0].ffn)),
          2 / 3
        )
      )
    );
    expect(() => dimensionLayerRanks([])).toThrow(/no scored documents/);
  });

  it('intersects dimensions and carries the map’s parameter counts', () => {
    const language = dimensionLayerRanks([doc([0, 1, 2, 3], [0, 1])]);
    const domain = dimensionLayerRanks([doc([3, 2, 1, 0], [0, 1])]);
    const expert = expertLayerRanks([language, domain]);
    expect(Array.from(expert[0].ffn)).toEqual([3, 2, 2, 3]);
    const map = {
      layers: [
        {
          index: 0,
          ffn: { paramsPerUnit: 12 },
          attention: { paramsPerUnit: 40 }
        }
      ]
    } as unknown as ModelMap;
    const groups = unitGroups(map, expert);
    expect(groups.map(g => [g.kind, g.paramsPerUnit])).toEqual([
      ['ffn', 12],
      ['attention', 40]
    ]);
    expect(() => unitGroups(map, [...expert, ...expert])).toThrow(
      /scores cover 2 layers but the model has 1/
    );
  });
});

describe('expert plans', () => {
  const map = {
    prunableParams: 4 * 12 + 2 * 40,
    totalParams: 1000,
    layers: [
      {
        index: 0,
        ffn: { units: 4, paramsPerUnit: 12 },
        attention: { units: 2, paramsPerUnit: 40 }
      }
    ]
  } as unknown as ModelMap;
  const doc = (ffn: number[], attention: number[]): DocumentScores => ({
    layers: [
      { ffn: Float32Array.from(ffn), attention: Float32Array.from(attention) }
    ]
  });
  const dims = () => [
    { name: 'language', documents: [doc([0.1, 0.9, 0.2, 0.8], [0.3, 0.7])] },
    { name: 'task', documents: [doc([0.2, 0.8, 0.1, 0.9], [0.6, 0.4])] }
  ];

  it('prunes what every dimension finds irrelevant and reports both ratios', () => {
    const plan = expertPlan(map, dims(), { sigma: 0.5 });
    expect(plan.layers[0].ffn.pruned).toEqual([0, 2]);
    // Attention: each dimension calls a different group irrelevant, so none goes.
    expect(plan.layers[0].attention.prunedGroups).toEqual([]);
    expect(plan.removedParams).toBe(24);
    expect(plan.ratio).toBeCloseTo(24 / 128, 12);
    expect(plan.wholeModelRatio).toBeCloseTo(24 / 1000, 12);
    expect(unitPlanOf(plan)).toEqual({
      layers: [{ index: 0, ffn: [0, 2], attention: [] }]
    });
  });

  it('takes σ or a target ratio, not both, and names an impossible target', () => {
    expect(() =>
      expertPlan(map, dims(), { sigma: 0.5, targetRatio: 0.2 })
    ).toThrow(/not both/);
    expect(() => expertPlan(map, dims(), {})).toThrow(
      /^give σ \(--sigma S\) or a target ratio \(--target-ratio R\)$/
    );
    expect(() => expertPlan(map, dims(), { sigma: 1.5 })).toThrow(
      /σ must lie strictly between 0 and 1/
    );
    const solved = expertPlan(map, dims(), { targetRatio: 0.18 });
    expect(solved.targetRatio).toBe(0.18);
    expect(solved.ratio).toBeCloseTo(24 / 128, 12);
  });
});

describe('the named rules against brute force from the raw scores', () => {
  // Two layers, 24 FFN channels (5 params each) and 4 attention groups (30 params each).
  const map = {
    prunableParams: 2 * (24 * 5 + 4 * 30),
    totalParams: 2000,
    layers: [0, 1].map(index => ({
      index,
      ffn: { units: 24, paramsPerUnit: 5 },
      attention: { units: 4, paramsPerUnit: 30 }
    }))
  } as unknown as ModelMap;
  const random = seeded(23);
  // Coarse values, so that documents tie units and the tie rule matters.
  const rawDoc = () =>
    map.layers.map(l => ({
      ffn: Array.from({ length: l.ffn.units }, () => Math.round(random() * 8)),
      attention: Array.from({ length: l.attention.units }, () =>
        Math.round(random() * 8)
      )
    }));
  const raw = [3, 5, 2].map(count => Array.from({ length: count }, rawDoc));
  const scored = (): ScoredDimension[] =>
    raw.map((docs, d) => ({
      name: `dim${d}`,
      documents: docs.map(layers => ({
        layers: layers.map(l => ({
          ffn: Float32Array.from(l.ffn),
          attention: Float32Array.from(l.attention)
        }))
      }))
    }));

  /** The k lowest of `values`, ties by index: plain loops. */
  function bottom(values: number[], k: number): Set<number> {
    const out = new Set<number>();
    for (let u = 0; u < values.length; u++) {
      let below = 0;
      for (let v = 0; v < values.length; v++) {
        if (values[v] < values[u] || (values[v] === values[u] && v < u)) {
          below += 1;
        }
      }
      if (below < k) {
        out.add(u);
      }
    }
    return out;
  }

  /** pooled-intersect: bottom ⌊σ·n⌋ of every dimension's root-sum-square pooled scores. */
  function pooledIntersect(scores: number[][][], sigma: number): Set<number> {
    const n = scores[0][0].length;
    const k = Math.floor(sigma * n + 1e-9);
    let pruned = new Set(Array.from({ length: n }, (_, u) => u));
    for (const docs of scores) {
      const pooled = Array.from({ length: n }, (_, u) => {
        let sum = 0;
        for (const doc of docs) {
          sum += doc[u] * doc[u];
        }
        return Math.sqrt(sum);
      });
      const low = bottom(pooled, k);
      pruned = new Set([...pruned].filter(u => low.has(u)));
    }
    return pruned;
  }

  /** rank-mean: bottom ⌊σ·n⌋ of the mean over every document of each unit's rank in it. */
  function rankMean(scores: number[][][], sigma: number): Set<number> {
    const docs = scores.flat();
    const n = docs[0].length;
    const mean = new Array<number>(n).fill(0);
    for (const doc of docs) {
      for (let u = 0; u < n; u++) {
        let rank = 0;
        for (let v = 0; v < n; v++) {
          if (doc[v] < doc[u] || (doc[v] === doc[u] && v < u)) {
            rank += 1;
          }
        }
        mean[u] += rank / docs.length;
      }
    }
    return bottom(mean, Math.floor(sigma * n + 1e-9));
  }

  const references = {
    'pooled-intersect': pooledIntersect,
    'rank-mean': rankMean
  } as const;

  /** Per layer and kind, the raw scores of every dimension's documents. */
  const scoresOf = (layer: number, kind: 'ffn' | 'attention') =>
    raw.map(docs => docs.map(d => d[layer][kind]));

  describe.each(['pooled-intersect', 'rank-mean'] as const)('%s', rule => {
    const expert = (guards = {}) =>
      new Expert(
        map,
        scored().map(d => rankDimension(d, { rule })),
        guards
      );

    it.each([0.2, 0.5, 0.75, 0.9])(
      'prunes exactly the reference’s units at σ = %s',
      sigma => {
        const plan = expert({ minKeep: 0 }).plan({ sigma });
        expect(plan.rule).toBe(rule);
        plan.layers.forEach((layer, i) => {
          expect(new Set(layer.ffn.pruned)).toEqual(
            references[rule](scoresOf(i, 'ffn'), sigma)
          );
          expect(new Set(layer.attention.prunedGroups)).toEqual(
            references[rule](scoresOf(i, 'attention'), sigma)
          );
        });
      }
    );

    it('solves σ for a target ratio and applies min_keep and the width multiple', () => {
      const plan = expert({ minKeep: 2, multipleOf: 4 }).plan({
        targetRatio: 0.3
      });
      let removed = 0;
      plan.layers.forEach((layer, i) => {
        for (const [kind, pruned] of [
          ['ffn', layer.ffn.pruned],
          ['attention', layer.attention.prunedGroups]
        ] as const) {
          const reference = references[rule](scoresOf(i, kind), plan.sigma);
          const n = kind === 'ffn' ? 24 : 4;
          let kept = Math.max(n - reference.size, 2);
          kept = Math.min(n, Math.ceil(kept / 4) * 4);
          expect(pruned).toHaveLength(n - kept);
          // The guards keep the units the rule ranks highest: the rest come from its set.
          expect(pruned.every(u => reference.has(u))).toBe(true);
          removed += pruned.length * (kind === 'ffn' ? 5 : 30);
        }
      });
      expect(plan.removedParams).toBe(removed);
      expect(plan.ratio).toBe(removed / map.prunableParams);
      expect(plan.targetRatio).toBe(0.3);
    });

    it('keeps every attention group with keepAttention, the target reached by the FFNs', () => {
      const plan = expert({ keepAttention: true }).plan({ targetRatio: 0.3 });
      expect(plan.keepAttention).toBe(true);
      let removed = 0;
      plan.layers.forEach((layer, i) => {
        expect(layer.attention.prunedGroups).toEqual([]);
        const reference = references[rule](scoresOf(i, 'ffn'), plan.sigma);
        expect(layer.ffn.pruned).toHaveLength(Math.min(reference.size, 23));
        expect(layer.ffn.pruned.every(u => reference.has(u))).toBe(true);
        removed += layer.ffn.pruned.length * 5;
      });
      expect(plan.removedParams).toBe(removed);
      // No σ of a fine grid comes closer to the target.
      const closest = Math.min(
        ...Array.from({ length: 99 }, (_, s) =>
          Math.abs(
            expert({ keepAttention: true }).plan({ sigma: (s + 1) / 100 })
              .ratio - 0.3
          )
        )
      );
      expect(Math.abs(plan.ratio - 0.3)).toBeLessThanOrEqual(closest);
      // Without the guard the same target takes attention groups too.
      expect(
        expert()
          .plan({ targetRatio: 0.3 })
          .layers.some(l => l.attention.prunedGroups.length > 0)
      ).toBe(true);
    });

    it('combines dimensions ranked alone as it ranks them together', () => {
      // The server and the ablation rank each dimension once and combine subsets later.
      const [a, , c] = scored();
      const subset = new Expert(
        map,
        [a, c].map(d => rankDimension(d, { rule })),
        {
          minKeep: 0
        }
      ).plan({ sigma: 0.6 });
      const both = [raw[0], raw[2]];
      subset.layers.forEach((layer, i) => {
        expect(new Set(layer.ffn.pruned)).toEqual(
          references[rule](
            both.map(docs => docs.map(d => d[i].ffn)),
            0.6
          )
        );
      });
    });
  });

  it('reads --rule and --q together, each mistake one line naming the option', () => {
    expect(ruleSettings({})).toEqual({ rule: DEFAULT_RULE, q: 1 });
    expect(DEFAULT_RULE).toBe('rank-mean');
    expect(ruleSettings({ q: 0.75 })).toEqual({ rule: 'q', q: 0.75 });
    expect(ruleSettings({ q: 1 })).toEqual({ rule: 'paper', q: 1 });
    expect(ruleSettings({ rule: 'rank-mean' })).toEqual({
      rule: 'rank-mean',
      q: 1
    });
    expect(() => ruleSettings({ rule: 'mean' })).toThrow(
      /^--rule: unknown rule 'mean'; choose from paper, q, pooled-intersect, rank-mean$/
    );
    expect(() => ruleSettings({ rule: 'q' })).toThrow(
      /^--rule q needs --q Q, a fraction of each dimension's documents in \(0, 1\]$/
    );
    expect(() => ruleSettings({ rule: 'pooled-intersect', q: 0.5 })).toThrow(
      /^--q applies only to --rule q; drop it or use --rule q$/
    );
    expect(() => ruleSettings({ q: 1.5 })).toThrow(
      /^--q must lie in \(0, 1\], got 1.5$/
    );
    // No rule named plans under DEFAULT_RULE, exactly as naming it does, and not as the paper's.
    const planUnder = (rule?: Rule) =>
      new Expert(
        map,
        scored().map(d => rankDimension(d, { rule }))
      ).plan({ sigma: 0.9 });
    expect(planUnder()).toEqual(planUnder(DEFAULT_RULE));
    expect(planUnder().removedParams).not.toBe(
      planUnder('paper').removedParams
    );
    expect(
      () =>
        new Expert(map, [
          rankDimension(scored()[0], { rule: 'paper' }),
          rankDimension(scored()[1])
        ])
    ).toThrow(/same rule and q/);
  });
});
