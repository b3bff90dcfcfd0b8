/**
 * A σ slider's view of an expert without its ranks: per group, how many units are irrelevant at
 * each σ of a grid (σ = b / bins), and the guards that turn those into the plan's counts. The
 * sidecar sends it (ExpertView.rankGrid), notebook outputs keep it, and the browser redraws any
 * σ on the grid from it with the same counting as the plan.
 */
import type { GroupCount } from '../charts/types';
import type { Rule } from './rules';
import { groupGuards, guardedCount, UnitKind } from './selection';

export interface RankGrid {
  dimensions: string[];
  /** Absent in outputs saved before rules had names: `paper`, or `q` when q < 1. */
  rule?: Rule;
  q: number;
  /** The guards the counts go through, as the plan applies them. */
  minKeep: number;
  multipleOf: number;
  /** Attention groups are never removed (absent in outputs saved before the guard: false). */
  keepAttention?: boolean;
  bins: number;
  prunableParams: number;
  /**
   * Per layer and unit kind: units, parameters per unit, and `cumulative[b]`, the units
   * irrelevant to every dimension at σ = b / bins before the guards.
   */
  groups: {
    layer: number;
    kind: UnitKind;
    units: number;
    paramsPerUnit: number;
    cumulative: number[];
  }[];
}

export interface GridView {
  /** The grid step: σ = bin / bins. */
  bin: number;
  bins: number;
  sigma: number;
  dimensions: string[];
  /** Removed parameters over all prunable parameters, and per unit kind. */
  ratio: number;
  ffnRatio: number;
  attentionRatio: number;
  removedParams: number;
  layers: GroupCount[];
}

/** The grid step at or below σ (σ = b / bins), clamped to the grid. */
export function binOf(sigma: number, bins: number): number {
  // The epsilon keeps σ values that are grid points in decimal (0.29 · 100) on their step.
  const b = Math.floor(sigma * bins + 1e-9);
  return Math.min(bins, Math.max(0, b));
}

function share(part: number, whole: number): number {
  return whole === 0 ? 0 : part / whole;
}

/** Per-group counts and ratios at grid step `bin`. */
export function gridViewAt(grid: RankGrid, bin: number): GridView {
  const b = Math.min(grid.bins, Math.max(0, Math.round(bin)));
  const total: Record<UnitKind, number> = { ffn: 0, attention: 0 };
  const removed: Record<UnitKind, number> = { ffn: 0, attention: 0 };
  const layers = grid.groups.map(g => {
    const pruned = guardedCount(
      g.cumulative[b],
      g.units,
      groupGuards(grid, g.kind, g.units)
    );
    total[g.kind] += g.units * g.paramsPerUnit;
    removed[g.kind] += pruned * g.paramsPerUnit;
    return { layer: g.layer, kind: g.kind, units: g.units, pruned };
  });
  const removedParams = removed.ffn + removed.attention;
  return {
    bin: b,
    bins: grid.bins,
    sigma: b / grid.bins,
    dimensions: [...grid.dimensions],
    ratio: removedParams / grid.prunableParams,
    ffnRatio: share(removed.ffn, total.ffn),
    attentionRatio: share(removed.attention, total.attention),
    removedParams,
    layers
  };
}

/** The pruning ratio at every σ of the grid (b = 0 … bins): the σ-sweep curve. */
export function gridRatioCurve(
  grid: RankGrid
): { sigma: number; ratio: number }[] {
  return Array.from({ length: grid.bins + 1 }, (_, b) => ({
    sigma: b / grid.bins,
    ratio: gridViewAt(grid, b).ratio
  }));
}
