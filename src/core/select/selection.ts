/**
 * σ queries over deciding ranks: which units a σ prunes per layer and unit kind, the pruning
 * ratio it reaches, the σ that reaches a target ratio, and σ sweeps. Each group's ranks are
 * sorted once, so a σ query is a binary search per group, not a recomputation.
 */
import { CusprunError } from '../errors';
import { formatRatio } from '../format';
import { irrelevantPerDocument } from './ranks';

export type UnitKind = 'ffn' | 'attention';

/** One layer's units of one kind: FFN channels or attention groups. */
export interface UnitGroup {
  layer: number;
  kind: UnitKind;
  paramsPerUnit: number;
  /** The deciding rank of each unit (see ranks.ts). */
  ranks: Uint32Array;
}

export interface Guards {
  /** Never leave fewer units than this in a group (default 1). */
  minKeep?: number;
  /** Round each kept width up to a multiple of this (default 1: no rounding). */
  multipleOf?: number;
  /**
   * Never remove an attention group (an MQA/GQA key-value group with its query heads): the
   * ratio then comes from the FFN channels alone (default false).
   */
  keepAttention?: boolean;
}

/** The guards one group's count goes through: min_keep and the rounding of its kind. */
export type GroupGuards = Required<Pick<Guards, 'minKeep' | 'multipleOf'>>;

/** A group's guards: a kept attention group keeps every unit. */
export function groupGuards(
  guards: GroupGuards & Pick<Guards, 'keepAttention'>,
  kind: UnitKind,
  units: number
): GroupGuards {
  return kind === 'attention' && guards.keepAttention
    ? { minKeep: units, multipleOf: guards.multipleOf }
    : guards;
}

export interface GroupResult {
  layer: number;
  kind: UnitKind;
  units: number;
  pruned: number;
  params: number;
}

export interface RatioResult {
  sigma: number;
  /** Removed parameters over all prunable decoder-layer projection parameters. */
  ratio: number;
  removedParams: number;
  groups: GroupResult[];
}

function lowerBound(sorted: Uint32Array, value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] < value) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

export function checkSigma(sigma: number): void {
  if (!(sigma > 0 && sigma < 1)) {
    throw new CusprunError(
      'bad-argument',
      `σ must lie strictly between 0 and 1, got ${sigma}`
    );
  }
}

/**
 * Units pruned in a group of `units` whose raw irrelevant count is `raw`, after the guards: keep
 * at least min_keep, and round the kept width up to a multiple. The one rule the plan, the σ
 * queries and the browser's σ slider (over a rank grid) all apply.
 */
export function guardedCount(
  raw: number,
  units: number,
  guards: GroupGuards
): number {
  let kept = Math.max(units - raw, Math.min(guards.minKeep, units));
  if (guards.multipleOf > 1) {
    kept = Math.min(
      units,
      Math.ceil(kept / guards.multipleOf) * guards.multipleOf
    );
  }
  return units - kept;
}

export class Selection {
  readonly groups: UnitGroup[];
  private readonly sorted: Uint32Array[];
  readonly prunableParams: number;
  readonly minKeep: number;
  readonly multipleOf: number;
  readonly keepAttention: boolean;

  constructor(
    groups: UnitGroup[],
    prunableParams: number,
    guards: Guards = {}
  ) {
    this.groups = groups;
    this.sorted = groups.map(g => Uint32Array.from(g.ranks).sort());
    this.prunableParams = prunableParams;
    this.minKeep = guards.minKeep ?? 1;
    this.multipleOf = guards.multipleOf ?? 1;
    this.keepAttention = guards.keepAttention ?? false;
    if (!Number.isInteger(this.minKeep) || this.minKeep < 0) {
      throw new CusprunError(
        'bad-argument',
        `min_keep must be a whole number ≥ 0, got ${this.minKeep}`
      );
    }
    if (!Number.isInteger(this.multipleOf) || this.multipleOf < 1) {
      throw new CusprunError(
        'bad-argument',
        `the width multiple must be a whole number ≥ 1, got ${this.multipleOf}`
      );
    }
  }

  /** Group `g`'s guards (groupGuards). */
  guardsOf(g: number): GroupGuards {
    const { kind, ranks } = this.groups[g];
    return groupGuards(this, kind, ranks.length);
  }

  /** Units pruned in group `g` at σ, after the guards. */
  count(g: number, sigma: number): number {
    const n = this.groups[g].ranks.length;
    const raw = lowerBound(this.sorted[g], irrelevantPerDocument(sigma, n));
    return guardedCount(raw, n, this.guardsOf(g));
  }

  /**
   * For σ = b / bins (b = 0 … bins), how many units of group `g` are irrelevant to every
   * requested dimension, before the guards: the compact form of the group's deciding ranks that
   * a browser needs to redraw per-layer ratios for any σ on that grid.
   */
  cumulative(g: number, bins: number): number[] {
    const n = this.groups[g].ranks.length;
    return Array.from({ length: bins + 1 }, (_, b) =>
      lowerBound(this.sorted[g], irrelevantPerDocument(b / bins, n))
    );
  }

  /** The pruned unit indices of group `g` at σ, ascending: the lowest deciding ranks first. */
  units(g: number, sigma: number): number[] {
    return this.lowest(g, this.count(g, sigma));
  }

  /** The `count` units of group `g` with the lowest deciding ranks (ties by index), ascending. */
  lowest(g: number, count: number): number[] {
    const { ranks } = this.groups[g];
    const order = Array.from({ length: ranks.length }, (_, i) => i);
    order.sort((a, b) => ranks[a] - ranks[b] || a - b);
    return order.slice(0, count).sort((a, b) => a - b);
  }

  ratio(sigma: number): RatioResult {
    let removed = 0;
    const groups = this.groups.map((group, g) => {
      const pruned = this.count(g, sigma);
      removed += pruned * group.paramsPerUnit;
      return {
        layer: group.layer,
        kind: group.kind,
        units: group.ranks.length,
        pruned,
        params: pruned * group.paramsPerUnit
      };
    });
    return {
      sigma,
      ratio: removed / this.prunableParams,
      removedParams: removed,
      groups
    };
  }

  /**
   * The σ whose ratio comes closest to `target` (ties to the larger ratio), by bisection on the
   * monotone step function σ ↦ ratio.
   */
  sigmaForRatio(target: number): RatioResult {
    if (!(target > 0 && target < 1)) {
      throw new CusprunError(
        'bad-argument',
        `the target ratio must lie strictly between 0 and 1, got ${target}`
      );
    }
    const highest = this.ratio(1 - 1e-12);
    if (highest.ratio < target) {
      throw new CusprunError(
        'bad-argument',
        `the target ratio ${formatRatio(target)} cannot be reached: with these documents, dimensions and guards no σ prunes more than ${formatRatio(highest.ratio)}; ask for less`
      );
    }
    let lo = 0;
    let hi = 1 - 1e-12;
    for (let step = 0; step < 60; step++) {
      const mid = (lo + hi) / 2;
      if (this.ratio(mid).ratio >= target) {
        hi = mid;
      } else {
        lo = mid;
      }
    }
    const above = this.ratio(hi);
    if (lo === 0) {
      return above;
    }
    const below = this.ratio(lo);
    return target - below.ratio < above.ratio - target ? below : above;
  }

  sweep(sigmas: number[]): RatioResult[] {
    return sigmas.map(sigma => {
      checkSigma(sigma);
      return this.ratio(sigma);
    });
  }
}
