/**
 * The σ-sweep output's model: from the data a `%cusprun sweep` output carries
 * (`application/vnd.cusprun.sweep+json`), the units each layer loses and the pruning ratio for
 * any σ on the output's grid and any subset of the run's dimensions. Pure (no DOM, no Jupyter
 * imports), so jest covers it without a browser.
 */

export const SWEEP_MIME_TYPE = 'application/vnd.cusprun.sweep+json';

export type UnitKind = 'ffn' | 'attention';

/** One subset's ranks, as the sidecar's `RanksAnswer` (src/protocol). */
export interface SweepSubset {
  dimensions: string[];
  q: number;
  bins: number;
  prunableParams: number;
  groups: {
    layer: number;
    kind: UnitKind;
    units: number;
    paramsPerUnit: number;
    /** Units irrelevant to every dimension of the subset at σ = b / bins, before guards. */
    cumulative: number[];
  }[];
}

/** The output's payload (kernel-bridge/cusprun/display.py `sweep_payload`). */
export interface SweepPayload {
  format: 'cusprun-sweep';
  version: 1;
  run: string;
  file: string | null;
  sigma: number;
  prunableParams: number;
  ratios: {
    sigma: number;
    ratio: number;
    ffnRatio: number;
    attentionRatio: number;
  }[];
  layers: { layer: number; kind: UnitKind; units: number; pruned: number }[];
  subsets: SweepSubset[];
  /** The dimensions in view when the output was made (the panel's toggles); default all. */
  dimensions?: string[];
}

export interface LayerView {
  layer: number;
  kind: UnitKind;
  units: number;
  pruned: number;
  /** pruned / units (0 for an empty group). */
  share: number;
}

export interface SweepView {
  /** The grid step: σ = bin / bins. */
  bin: number;
  bins: number;
  sigma: number;
  dimensions: string[];
  /** Removed parameters over all prunable parameters. */
  ratio: number;
  ffnRatio: number;
  attentionRatio: number;
  removedParams: number;
  layers: LayerView[];
}

/** Never prune a whole group (the engine's default `min_keep`). */
export const MIN_KEEP = 1;

/** Why a payload cannot be shown interactively, or null when it can. */
export function payloadProblem(data: unknown): string | null {
  if (typeof data !== 'object' || data === null) {
    return 'the output is not an object';
  }
  const p = data as Partial<SweepPayload>;
  if (p.format !== 'cusprun-sweep') {
    return `unknown format ${JSON.stringify(p.format)}`;
  }
  if (p.version !== 1) {
    return `unsupported version ${JSON.stringify(p.version)}`;
  }
  if (!Array.isArray(p.subsets) || p.subsets.length === 0) {
    return 'the output carries no ranks';
  }
  for (const s of p.subsets) {
    if (
      !Array.isArray(s?.dimensions) ||
      s.dimensions.length === 0 ||
      !(Number.isInteger(s.bins) && s.bins > 0) ||
      !(s.prunableParams > 0) ||
      !Array.isArray(s.groups)
    ) {
      return 'a subset of the output is malformed';
    }
    for (const g of s.groups) {
      if (
        !Array.isArray(g?.cumulative) ||
        g.cumulative.length !== s.bins + 1 ||
        !(g.kind === 'ffn' || g.kind === 'attention')
      ) {
        return `layer ${g?.layer} of subset ${s.dimensions.join('+')} is malformed`;
      }
    }
  }
  return null;
}

/** The run's dimensions, in the order of its largest subset. */
export function allDimensions(payload: SweepPayload): string[] {
  const largest = payload.subsets.reduce((a, b) =>
    b.dimensions.length > a.dimensions.length ? b : a
  );
  const dims = [...largest.dimensions];
  for (const s of payload.subsets) {
    for (const d of s.dimensions) {
      if (!dims.includes(d)) {
        dims.push(d);
      }
    }
  }
  return dims;
}

/** The subset an output opens on: the dimensions it was made with when it has their ranks, else all. */
export function initialSubset(payload: SweepPayload): SweepSubset {
  const wanted = payload.dimensions;
  const named =
    Array.isArray(wanted) && wanted.every(d => typeof d === 'string')
      ? findSubset(payload, wanted)
      : undefined;
  return (
    named ?? findSubset(payload, allDimensions(payload)) ?? payload.subsets[0]
  );
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every(d => b.includes(d));
}

/** The subset whose dimensions are exactly `dimensions` (any order), or undefined. */
export function findSubset(
  payload: SweepPayload,
  dimensions: readonly string[]
): SweepSubset | undefined {
  return payload.subsets.find(s => sameSet(s.dimensions, dimensions));
}

/** The grid step at or below σ (σ = b / bins), clamped to the grid. */
export function binOf(sigma: number, bins: number): number {
  // The epsilon keeps σ values that are grid points in decimal (0.29 · 100) on their step.
  const b = Math.floor(sigma * bins + 1e-9);
  return Math.min(bins, Math.max(0, b));
}

/** Units pruned in a group of `units` whose raw irrelevant count is `raw`, after the guard. */
export function guardedCount(raw: number, units: number): number {
  const kept = Math.max(units - raw, Math.min(MIN_KEEP, units));
  return units - kept;
}

/** Per-layer counts and ratios of one subset at grid step `bin`. */
export function viewAt(subset: SweepSubset, bin: number): SweepView {
  const b = Math.min(subset.bins, Math.max(0, Math.round(bin)));
  const total: Record<UnitKind, number> = { ffn: 0, attention: 0 };
  const removed: Record<UnitKind, number> = { ffn: 0, attention: 0 };
  const layers = subset.groups.map(g => {
    const pruned = guardedCount(g.cumulative[b], g.units);
    total[g.kind] += g.units * g.paramsPerUnit;
    removed[g.kind] += pruned * g.paramsPerUnit;
    return {
      layer: g.layer,
      kind: g.kind,
      units: g.units,
      pruned,
      share: g.units === 0 ? 0 : pruned / g.units
    };
  });
  const removedParams = removed.ffn + removed.attention;
  return {
    bin: b,
    bins: subset.bins,
    sigma: b / subset.bins,
    dimensions: [...subset.dimensions],
    ratio: removedParams / subset.prunableParams,
    ffnRatio: share(removed.ffn, total.ffn),
    attentionRatio: share(removed.attention, total.attention),
    removedParams,
    layers
  };
}

/** The view for a set of dimensions at σ (snapped down to the grid). */
export function sweepView(
  payload: SweepPayload,
  dimensions: readonly string[],
  sigma: number
): SweepView {
  const subset = findSubset(payload, dimensions);
  if (!subset) {
    throw new Error(
      `the output has no ranks for the dimensions ${dimensions.join(', ')}`
    );
  }
  return viewAt(subset, binOf(sigma, subset.bins));
}

function share(part: number, whole: number): number {
  return whole === 0 ? 0 : part / whole;
}

/** σ for display: at least two decimals, more only where the grid needs them (0.42, 0.425). */
export function formatSigma(sigma: number, bins: number): string {
  const digits = Math.max(2, Math.ceil(Math.log10(bins)));
  let text = sigma.toFixed(digits);
  while (text.endsWith('0') && text.length - text.indexOf('.') - 1 > 2) {
    text = text.slice(0, -1);
  }
  return text;
}

export function formatPercent(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

/** Minimal translation interface (JupyterLab's TranslationBundle has it). */
export interface Translate {
  __(msgid: string, ...args: unknown[]): string;
}

/** "σ 0.42 · 23.1% of prunable parameters · FFN 25.0% · attention 16.7%" */
export function summaryLine(
  view: SweepView,
  trans: Translate = untranslated
): string {
  const t = (msg: string, ...args: string[]) => trans.__(msg, ...args);
  return [
    t('σ %1', formatSigma(view.sigma, view.bins)),
    t('%1 of prunable parameters', formatPercent(view.ratio)),
    t('FFN %1', formatPercent(view.ffnRatio)),
    t('attention %1', formatPercent(view.attentionRatio))
  ].join(' · ');
}

/** The messages as written, `%1`… filled in: where no translation bundle is at hand. */
export const untranslated: Translate = {
  __: (msg: string, ...args: unknown[]) =>
    msg.replace(/%(\d+)/g, (m, i) => String(args[Number(i) - 1] ?? m))
};

/** The pruning ratio at every σ of a subset's grid (b = 0 … bins): the σ-sweep curve. */
export function ratioCurve(
  subset: SweepSubset
): { sigma: number; ratio: number }[] {
  return Array.from({ length: subset.bins + 1 }, (_, b) => {
    let removed = 0;
    for (const g of subset.groups) {
      removed += guardedCount(g.cumulative[b], g.units) * g.paramsPerUnit;
    }
    return { sigma: b / subset.bins, ratio: removed / subset.prunableParams };
  });
}
