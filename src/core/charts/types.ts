/**
 * What the charts show, as plain JSON data: the run store, the sidecar protocol and the kernel
 * bridge can carry these as they are, and the spec builders need nothing else. The helpers turn
 * the engine's own results into them; each output is small whatever the model's size.
 */
import { CusprunError } from '../errors';
import type { ExpertPlan } from '../select/expert';
import type { LayerRanks } from '../select/from-scores';
import type { RatioResult, UnitGroup, UnitKind } from '../select/selection';

export type { UnitKind };

/**
 * Units binned by normalised deciding rank x = rank/n in [0, 1): bin i holds i/bins ≤ x <
 * (i+1)/bins. A unit is irrelevant to the dimension at σ iff rank < ⌊σ·n⌋, so the mass left of
 * x = σ is roughly what that dimension alone would prune.
 */
export interface RankHistogram {
  sigma: number;
  bins: number;
  series: { dimension: string; kind: UnitKind; counts: number[] }[];
}

/** The pruning ratio at one σ: overall (the engine's ratio) and within each unit kind. */
export interface RatioPoint {
  sigma: number;
  ratio: number;
  ffnRatio: number;
  attentionRatio: number;
}

export interface RatioSweep {
  points: RatioPoint[];
  /** The σ in use (a plan's or the slider's), marked on the chart when given. */
  sigma?: number;
}

export interface MetricPoint {
  /** 'cus-prun', 'random', 'magnitude', 'general', 'wanda', 'dense', … */
  method: string;
  sigma?: number;
  ratio: number;
  evalSet: string;
  /** 'perplexity', 'accuracy', 'accuracy_norm', … */
  metric: string;
  value: number;
}

export interface GroupCount {
  layer: number;
  kind: UnitKind;
  units: number;
  pruned: number;
}

/**
 * One dimension subset of the 1D/2D/3D ablation (e.g. L, D, T, L+D, L+T, D+T, L+D+T), or
 * (`general`) general calibration at the per-layer counts of the expert on `dimensions`.
 */
export interface AblationChartRow {
  dimensions: string[];
  general?: boolean;
  sigma: number;
  ratio: number;
  metrics: { evalSet: string; metric: string; value: number }[];
}

/**
 * Counts of units per normalised-rank bin over all layers of one unit kind. Each layer's n is
 * its own number of units (the array's length), so layers of different widths bin alike.
 */
export function rankHistogram(
  layers: readonly Uint32Array[],
  bins: number
): number[] {
  if (!Number.isInteger(bins) || bins < 1) {
    throw new CusprunError(
      'bad-argument',
      `a histogram needs a whole number of bins ≥ 1, got ${bins}`
    );
  }
  const counts = new Array<number>(bins).fill(0);
  layers.forEach((ranks, layer) => {
    const n = ranks.length;
    for (const rank of ranks) {
      if (rank >= n) {
        throw new CusprunError(
          'bad-argument',
          `layer ${layer} has ${n} units but a deciding rank of ${rank}`
        );
      }
      // rank·bins < 2^53 for any real model, so the integer floor is exact.
      counts[Math.floor((rank * bins) / n)]++;
    }
  });
  return counts;
}

/**
 * One series per dimension and unit kind, from each dimension's deciding ranks per layer (the
 * shape of select/expert's DimensionRanks).
 */
export function relevanceHistogram(
  dimensions: readonly { name: string; layers: readonly LayerRanks[] }[],
  sigma: number,
  bins: number
): RankHistogram {
  const kinds: UnitKind[] = ['ffn', 'attention'];
  return {
    sigma,
    bins,
    series: dimensions.flatMap(({ name, layers }) =>
      kinds.map(kind => ({
        dimension: name,
        kind,
        counts: rankHistogram(
          layers.map(l => l[kind]),
          bins
        )
      }))
    )
  };
}

/**
 * Ratio against σ from a Selection's sweep. A result only carries the removed parameters, so
 * the size of each kind comes from the groups the Selection was built on (same order).
 */
export function ratioSweep(
  results: readonly RatioResult[],
  groups: readonly Pick<UnitGroup, 'layer' | 'kind' | 'paramsPerUnit'>[],
  sigma?: number
): RatioSweep {
  const points = results.map(result => {
    if (result.groups.length !== groups.length) {
      throw new CusprunError(
        'bad-argument',
        `a ratio result has ${result.groups.length} unit groups but ${groups.length} were given`
      );
    }
    const total: Record<UnitKind, number> = { ffn: 0, attention: 0 };
    const removed: Record<UnitKind, number> = { ffn: 0, attention: 0 };
    result.groups.forEach((g, i) => {
      const group = groups[i];
      if (g.layer !== group.layer || g.kind !== group.kind) {
        throw new CusprunError(
          'bad-argument',
          `unit group ${i} is layer ${g.layer} ${g.kind} in the result but layer ${group.layer} ${group.kind} in the groups`
        );
      }
      total[g.kind] += g.units * group.paramsPerUnit;
      removed[g.kind] += g.params;
    });
    return {
      sigma: result.sigma,
      ratio: result.ratio,
      ffnRatio: share(removed.ffn, total.ffn),
      attentionRatio: share(removed.attention, total.attention)
    };
  });
  return sigma === undefined ? { points } : { points, sigma };
}

/** A kind with no parameters (no units of it in the model) has nothing pruned: 0, not NaN. */
function share(part: number, whole: number): number {
  return whole === 0 ? 0 : part / whole;
}

export function groupCountsOfResult(result: RatioResult): GroupCount[] {
  return result.groups.map(g => ({
    layer: g.layer,
    kind: g.kind,
    units: g.units,
    pruned: g.pruned
  }));
}

export function groupCountsOfPlan(plan: ExpertPlan): GroupCount[] {
  return plan.layers.flatMap(l => [
    {
      layer: l.index,
      kind: 'ffn' as const,
      units: l.ffn.width,
      pruned: l.ffn.pruned.length
    },
    {
      layer: l.index,
      kind: 'attention' as const,
      units: l.attention.groups,
      pruned: l.attention.prunedGroups.length
    }
  ]);
}
