/**
 * An expert's plan from scored documents: the deciding ranks over the requested dimensions, σ
 * given or solved for a target ratio, and the units each layer loses. Its JSON is what
 * `cusprun plan --json` prints and `cusprun prune` applies.
 */
import { ModelMap } from '../model/model-map';
import { CusprunError } from '../errors';
import { UnitPlan } from '../model/unit-plan';
import {
  DocumentScores,
  dimensionLayerRanks,
  expertLayerRanks,
  LayerRanks,
  LayerSums,
  pooledLayerRanks,
  rankMeanLayerRanks,
  rankSumLayers,
  unitGroups
} from './from-scores';
import { Rule, RuleSettings, ruleSettings } from './rules';
import {
  allocateBySensitivity,
  GroupSensitivity,
  PROBE_FRACTION
} from './allocation';
import { checkSigma, Guards, RatioResult, Selection } from './selection';

/** σ itself, or a target pruning ratio to solve σ for: exactly one of the two, as the type says. */
export type PlanTarget =
  | { sigma: number; targetRatio?: undefined }
  | { targetRatio: number; sigma?: undefined };

/** How an expert is made from the dimensions' ranks, whatever σ it is asked at. */
export interface ExpertSettings extends Guards {
  /** How documents and dimensions decide (rules.ts: default DEFAULT_RULE, or the q rule given a q). */
  rule?: Rule;
  /** The `q` rule: irrelevant to at least this fraction of a dimension's documents. */
  q?: number;
}

export type PlanOptions = PlanTarget & ExpertSettings;

/** How an interface spells the two options, for its message. */
export const CLI_TARGET_NAMES = {
  sigma: 'σ (--sigma S)',
  targetRatio: 'a target ratio (--target-ratio R)'
};

/**
 * The target `given` names, which must be exactly one of σ and a target ratio: the check at
 * each interface's edge (the command line, a request's reader), before any scores are read.
 */
export function planTarget(
  given: { sigma?: number; targetRatio?: number },
  names: { sigma: string; targetRatio: string } = CLI_TARGET_NAMES
): PlanTarget {
  const { sigma, targetRatio } = given;
  if (sigma !== undefined && targetRatio !== undefined) {
    throw new CusprunError(
      'bad-argument',
      `give ${names.sigma} or ${names.targetRatio}, not both`
    );
  }
  if (sigma !== undefined) {
    return { sigma };
  }
  if (targetRatio !== undefined) {
    return { targetRatio };
  }
  throw new CusprunError(
    'bad-argument',
    `give ${names.sigma} or ${names.targetRatio}`
  );
}

export interface ExpertPlan {
  sigma: number;
  /** Removed over all prunable decoder-layer projection parameters. */
  ratio: number;
  /** Removed over every parameter of the model, embeddings and lm_head included. */
  wholeModelRatio: number;
  removedParams: number;
  prunableParams: number;
  totalParams: number;
  targetRatio?: number;
  dimensions: string[];
  rule: Rule;
  q: number;
  minKeep: number;
  multipleOf: number;
  /** Present (true) when attention groups were kept: the ratio came from the FFNs alone. */
  keepAttention?: true;
  /**
   * Present when the per-layer counts were allocated by sensitivity, not by one σ (`sigma` is
   * then the one-σ plan's at the same target, for reference): per layer and unit kind, the
   * units the probe removed and the loss rise it measured.
   */
  allocation?: {
    method: 'sensitivity';
    probeFraction: number;
    probes: {
      layer: number;
      kind: 'ffn' | 'attention';
      removed: number;
      lossIncrease: number;
    }[];
  };
  layers: {
    index: number;
    ffn: { width: number; pruned: number[] };
    attention: { groups: number; prunedGroups: number[] };
  }[];
}

export interface ScoredDimension {
  name: string;
  documents: Iterable<DocumentScores>;
}

/** One dimension's deciding ranks per layer under a rule (rules.ts). */
export interface DimensionRanks extends RuleSettings {
  name: string;
  layers: LayerRanks[];
  /** `rank-mean`: each unit's ranks summed over the documents, which dimensions add up. */
  rankSums?: LayerSums[];
}

/** Reads a dimension's documents once into its deciding ranks under the rule asked for. */
export function rankDimension(
  dimension: ScoredDimension,
  given: { rule?: Rule; q?: number } = {}
): DimensionRanks {
  const settings = ruleSettings(given);
  const { name, documents } = dimension;
  if (settings.rule === 'pooled-intersect') {
    return { name, ...settings, layers: pooledLayerRanks(documents) };
  }
  if (settings.rule === 'rank-mean') {
    const { sums } = rankSumLayers(documents);
    return {
      name,
      ...settings,
      layers: rankMeanLayerRanks([sums]),
      rankSums: sums
    };
  }
  return {
    name,
    ...settings,
    layers: dimensionLayerRanks(documents, settings.q)
  };
}

/**
 * The expert's deciding ranks from its dimensions': the largest (irrelevant to every dimension),
 * or for `rank-mean` the rank of the summed ranks over every dimension's documents.
 */
export function combinedRanks(dimensions: DimensionRanks[]): LayerRanks[] {
  const { rule, q } = dimensions[0];
  if (dimensions.some(d => d.rule !== rule || d.q !== q)) {
    throw new CusprunError(
      'bad-argument',
      'the dimensions of one expert must be ranked under the same rule and q'
    );
  }
  if (rule === 'rank-mean') {
    return rankMeanLayerRanks(
      dimensions.map(d => d.rankSums ?? missingSums(d.name))
    );
  }
  return expertLayerRanks(dimensions.map(d => d.layers));
}

function missingSums(name: string): never {
  throw new CusprunError(
    'bad-argument',
    `dimension '${name}' was ranked without the rank sums rank-mean needs`
  );
}

/**
 * The deciding ranks of an expert over some dimensions, sorted once: every σ, target ratio or
 * sweep after that is a lookup (the rank identity in method.md). Experts on other subsets of
 * the same dimensions reuse the dimensions' ranks.
 */
export class Expert {
  readonly selection: Selection;
  readonly dimensions: string[];
  readonly rule: Rule;
  readonly q: number;
  readonly minKeep: number;
  readonly multipleOf: number;
  readonly keepAttention: boolean;

  constructor(
    private readonly map: ModelMap,
    dimensions: DimensionRanks[],
    guards: Guards = {}
  ) {
    if (dimensions.length === 0) {
      throw new CusprunError(
        'bad-argument',
        'an expert needs at least one dimension'
      );
    }
    this.rule = dimensions[0].rule;
    this.q = dimensions[0].q;
    this.minKeep = guards.minKeep ?? 1;
    this.multipleOf = guards.multipleOf ?? 1;
    this.keepAttention = guards.keepAttention ?? false;
    this.dimensions = dimensions.map(d => d.name);
    this.selection = new Selection(
      unitGroups(map, combinedRanks(dimensions)),
      map.prunableParams,
      {
        minKeep: this.minKeep,
        multipleOf: this.multipleOf,
        keepAttention: this.keepAttention
      }
    );
  }

  /** The plan at σ, or at the σ whose ratio comes closest to a target. */
  plan(target: PlanTarget): ExpertPlan {
    let result: RatioResult;
    if (target.sigma !== undefined) {
      checkSigma(target.sigma);
      result = this.selection.ratio(target.sigma);
    } else {
      result = this.selection.sigmaForRatio(target.targetRatio);
    }
    return this.planOf(result, target);
  }

  /**
   * The plan at a target ratio with per-layer counts allocated by the probe's sensitivities
   * (allocation.ts), one per group of the selection, in its order.
   */
  allocatedPlan(
    targetRatio: number,
    sensitivities: GroupSensitivity[]
  ): ExpertPlan {
    const { selection } = this;
    const uniform = selection.sigmaForRatio(targetRatio);
    const result = allocateBySensitivity(
      selection,
      sensitivities,
      targetRatio,
      uniform.sigma
    );
    return {
      ...this.planOf(result, { targetRatio }),
      allocation: {
        method: 'sensitivity',
        probeFraction: PROBE_FRACTION,
        probes: sensitivities.map((s, g) => ({
          layer: selection.groups[g].layer,
          kind: selection.groups[g].kind,
          ...s
        }))
      }
    };
  }

  /** A plan removing each group's counted units with the lowest deciding ranks. */
  private planOf(result: RatioResult, target: PlanTarget): ExpertPlan {
    const { map, selection } = this;
    return {
      sigma: result.sigma,
      ratio: result.ratio,
      wholeModelRatio: result.removedParams / map.totalParams,
      removedParams: result.removedParams,
      prunableParams: map.prunableParams,
      totalParams: map.totalParams,
      ...(target.targetRatio !== undefined
        ? { targetRatio: target.targetRatio }
        : {}),
      dimensions: this.dimensions,
      rule: this.rule,
      q: this.q,
      minKeep: this.minKeep,
      multipleOf: this.multipleOf,
      ...(this.keepAttention ? { keepAttention: true as const } : {}),
      layers: map.layers.map((layer, i) => ({
        index: layer.index,
        ffn: {
          width: layer.ffn.units,
          pruned: selection.lowest(2 * i, result.groups[2 * i].pruned)
        },
        attention: {
          groups: layer.attention.units,
          prunedGroups: selection.lowest(
            2 * i + 1,
            result.groups[2 * i + 1].pruned
          )
        }
      }))
    };
  }
}

export function unitPlanOf(plan: ExpertPlan): UnitPlan {
  return {
    layers: plan.layers.map(l => ({
      index: l.index,
      ffn: l.ffn.pruned,
      attention: l.attention.prunedGroups
    }))
  };
}
