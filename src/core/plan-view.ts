/**
 * "The plan at σ for these dimensions with these settings" with everything its charts and a σ
 * slider draw — the one place it is assembled. `cusprun plan`, the prune job and the sidecar's
 * σ, ranks and chart queries all ask an ExpertView; the lab and the kernel get its answers.
 */
import {
  GroupCount,
  groupCountsOfPlan,
  RankHistogram,
  RatioSweep,
  ratioSweep,
  relevanceHistogram
} from './charts';
import type { ModelMap } from './model/model-map';
import type { RanksAnswer } from './protocol';
import {
  DimensionRanks,
  Expert,
  ExpertPlan,
  ExpertSettings,
  PlanTarget
} from './select';

/** The σ values a ratio-against-σ curve is drawn through. */
export const SIGMA_CURVE = Array.from({ length: 99 }, (_, i) => (i + 1) / 100);
/** Bins of the relevance histograms (σ answers, plan charts, live histograms while scoring). */
export const HISTOGRAM_BINS = 50;
/** σ steps of a slider's ranks: 0.005, a few KiB per layer whatever the model. */
export const DEFAULT_RANK_BINS = 200;

/** A plan with what its charts show: the dimensions' histograms, ratio against σ, per layer. */
export interface PlanView {
  plan: ExpertPlan;
  histogram: RankHistogram;
  ratios: RatioSweep;
  layers: GroupCount[];
}

export class ExpertView {
  readonly expert: Expert;
  private histogramAtPreview?: RankHistogram;
  private ratioCurve?: RatioSweep['points'];

  constructor(
    map: ModelMap,
    private readonly ranks: DimensionRanks[],
    settings: ExpertSettings
  ) {
    this.expert = new Expert(map, ranks, settings);
  }

  /** The dimensions' relevance histograms with σ marked (binned once: only the mark moves). */
  histogram(sigma: number): RankHistogram {
    this.histogramAtPreview ??= relevanceHistogram(
      this.ranks,
      sigma,
      HISTOGRAM_BINS
    );
    return { ...this.histogramAtPreview, sigma };
  }

  /** The pruning ratio against σ (computed once: only the σ mark moves). */
  ratios(sigma?: number): RatioSweep {
    const { selection } = this.expert;
    this.ratioCurve ??= ratioSweep(
      selection.sweep(SIGMA_CURVE),
      selection.groups
    ).points;
    return sigma === undefined
      ? { points: this.ratioCurve }
      : { points: this.ratioCurve, sigma };
  }

  at(target: PlanTarget): PlanView {
    const plan = this.expert.plan(target);
    return {
      plan,
      histogram: this.histogram(plan.sigma),
      ratios: this.ratios(plan.sigma),
      layers: groupCountsOfPlan(plan)
    };
  }

  /** What a σ slider needs: each group's irrelevant units on a σ grid, and the guards to apply. */
  rankGrid(bins = DEFAULT_RANK_BINS): RanksAnswer {
    const { expert } = this;
    const { selection } = expert;
    return {
      dimensions: expert.dimensions,
      rule: expert.rule,
      q: expert.q,
      minKeep: expert.minKeep,
      multipleOf: expert.multipleOf,
      ...(expert.keepAttention ? { keepAttention: true } : {}),
      bins,
      prunableParams: selection.prunableParams,
      groups: selection.groups.map((group, g) => ({
        layer: group.layer,
        kind: group.kind,
        units: group.ranks.length,
        paramsPerUnit: group.paramsPerUnit,
        cumulative: selection.cumulative(g, bins)
      }))
    };
  }
}
