/**
 * The σ-sweep output's model: from the data a `%cusprun sweep` output carries
 * (`application/vnd.cusprun.sweep+json`), the units each layer loses and the pruning ratio for
 * any σ on the output's grid and any subset of the run's dimensions, counted by the core's rank
 * grid as the plan counts them, under the selection rule its ranks were made with. Pure (no DOM,
 * no Jupyter imports), so jest covers it without a browser.
 */
import type { GroupCount } from '../core/charts/types';
import { formatRatio, formatSigma } from '../core/format';
import { RanksAnswer, SWEEP_MIME_TYPE, SweepPayload } from '../core/protocol';
import {
  binOf,
  gridRatioCurve,
  gridViewAt,
  GridView
} from '../core/select/rank-grid';
import {
  DEFAULT_RULE,
  recordedRule,
  RULES,
  ruleLabel,
  RuleSettings
} from '../core/select/rules';

export { binOf, SWEEP_MIME_TYPE };
export type { SweepPayload };

/** One subset's rank grid, as the sidecar's ranks answer gives it. */
export type SweepSubset = RanksAnswer;

export interface LayerView extends GroupCount {
  /** pruned / units (0 for an empty group). */
  share: number;
}

export interface SweepView extends GridView {
  layers: LayerView[];
  /** The selection rule the view's ranks were made under. */
  rule: RuleSettings;
}

/**
 * The ranks of every dimension subset of a view under another rule: what a σ view with a sidecar
 * behind it (the run's dashboard) can fetch; an output alone has only its own rule's.
 */
export type RuleRanks = (rule: RuleSettings) => Promise<SweepSubset[]>;

/** The rule a subset's ranks were made under (ranks saved before rules had names: recordedRule). */
export function subsetRule(subset: SweepSubset): RuleSettings {
  return recordedRule(subset);
}

/**
 * The rules a σ view offers, the default first: every rule but q, which needs a q of its own,
 * and `current` (a q rule a plan used) where it is not among them.
 */
export function ruleChoices(current: RuleSettings): RuleSettings[] {
  const choices: RuleSettings[] = [
    DEFAULT_RULE,
    ...RULES.filter(rule => rule !== DEFAULT_RULE && rule !== 'q')
  ].map(rule => ({ rule, q: 1 }));
  return choices.some(c => ruleLabel(c) === ruleLabel(current))
    ? choices
    : [...choices, current];
}

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

/**
 * The subset with its guards: outputs saved before they carried them were made with the
 * defaults (min_keep 1, no rounding).
 */
function guarded(subset: SweepSubset): SweepSubset {
  return {
    ...subset,
    minKeep: subset.minKeep ?? 1,
    multipleOf: subset.multipleOf ?? 1
  };
}

/** Per-layer counts and ratios of one subset at grid step `bin`, as the plan counts them. */
export function viewAt(subset: SweepSubset, bin: number): SweepView {
  const view = gridViewAt(guarded(subset), bin);
  return {
    ...view,
    rule: subsetRule(subset),
    layers: view.layers.map(l => ({
      ...l,
      share: l.units === 0 ? 0 : l.pruned / l.units
    }))
  };
}

/** The pruning ratio at every σ of a subset's grid: the σ-sweep curve. */
export function ratioCurve(
  subset: SweepSubset
): { sigma: number; ratio: number }[] {
  return gridRatioCurve(guarded(subset));
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

/** Minimal translation interface (JupyterLab's TranslationBundle has it). */
export interface Translate {
  __(msgid: string, ...args: unknown[]): string;
}

/** "σ 0.4200 · rank-mean · 23.10% of prunable parameters · FFN 25.00% · attention 16.67%" */
export function summaryLine(
  view: SweepView,
  trans: Translate = untranslated
): string {
  const t = (msg: string, ...args: string[]) => trans.__(msg, ...args);
  return [
    t('σ %1', formatSigma(view.sigma)),
    ruleLabel(view.rule),
    t('%1 of prunable parameters', formatRatio(view.ratio)),
    t('FFN %1', formatRatio(view.ffnRatio)),
    t('attention %1', formatRatio(view.attentionRatio))
  ].join(' · ');
}

/** The messages as written, `%1`… filled in: where no translation bundle is at hand. */
export const untranslated: Translate = {
  __: (msg: string, ...args: unknown[]) =>
    msg.replace(/%(\d+)/g, (m, i) => String(args[Number(i) - 1] ?? m))
};
