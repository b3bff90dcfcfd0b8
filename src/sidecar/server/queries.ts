/**
 * The cheap queries a client makes while jobs run: σ lookups and chart specs. A run's expert
 * (its dimensions' deciding ranks, sorted once) is built on the first query and cached per run,
 * dimensions and guards, so every later σ is a binary search per layer; the cache entry is
 * dropped when the run's scores or record change. Building an entry reads and ranks the run's
 * whole score store synchronously, which holds up the event loop for that long (milliseconds on
 * the fixtures, seconds on a big store); every later query is a lookup.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { inspectModel } from '../../engine/arch';
import {
  layerUnitsOfPlan,
  RankHistogram,
  RatioPoint,
  ratioSweep,
  relevanceHistogram
} from '../../engine/charts';
import { renderSvg } from '../../engine/charts/svg';
import { Expert } from '../../engine/select';
import {
  ChartsAnswer,
  ChartsRequest,
  ExpertQuery,
  PlanQuery,
  PREVIEW_SIGMA,
  RanksAnswer,
  RanksQuery,
  SigmaAnswer
} from '../../protocol';
import {
  ablationCharts,
  planCharts,
  sweepCharts
} from '../commands/experiment';
import { AblationRecord, ABLATIONS_DIR } from '../jobs/ablate';
import {
  PlanView,
  readDimensionRanks,
  requestedDimensions,
  SIGMA_CURVE,
  HISTOGRAM_BINS
} from '../jobs/plan';
import { SweepRecord, SWEEPS_DIR } from '../jobs/sweep';
import { readRun, RUN_FILE, SCORES_DIR } from '../run-folder';
import { RunStore } from '../run-store';
import { MANIFEST_FILE } from '../../engine/score';

/** σ steps of 0.005: a σ slider's resolution, and a few KiB per layer whatever the model. */
const DEFAULT_RANK_BINS = 200;

interface CachedExpert {
  expert: Expert;
  /** The histogram and the ratio curve do not depend on σ: only their σ mark moves. */
  histogram: RankHistogram;
  ratios: RatioPoint[];
}

/** What changes when a run is scored further or re-recorded. */
function version(dir: string): string {
  return [path.join(dir, RUN_FILE), path.join(dir, SCORES_DIR, MANIFEST_FILE)]
    .map(f => {
      const stat = fs.statSync(f, { throwIfNoEntry: false });
      return stat ? `${stat.mtimeMs}/${stat.size}` : '-';
    })
    .join(':');
}

export class Queries {
  private readonly experts = new Map<string, CachedExpert>();

  constructor(
    private readonly store: RunStore,
    private readonly limit = 16
  ) {}

  private expert(dir: string, query: ExpertQuery): CachedExpert {
    const key = JSON.stringify([
      dir,
      version(dir),
      query.dims ?? null,
      query.q ?? 1,
      query.minKeep ?? 1,
      query.multipleOf ?? 1
    ]);
    const hit = this.experts.get(key);
    if (hit) {
      // Re-inserted: the Map's order is the recency order the eviction below reads.
      this.experts.delete(key);
      this.experts.set(key, hit);
      return hit;
    }
    const record = readRun(dir);
    const map = inspectModel(record.model.file);
    const dims = requestedDimensions(record, query.dims);
    const ranks = readDimensionRanks(dir, record, map, dims, query.q);
    const expert = new Expert(map, ranks, query);
    const entry: CachedExpert = {
      expert,
      histogram: relevanceHistogram(ranks, PREVIEW_SIGMA, HISTOGRAM_BINS),
      ratios: ratioSweep(
        expert.selection.sweep(SIGMA_CURVE),
        expert.selection.groups
      ).points
    };
    this.experts.set(key, entry);
    for (const old of this.experts.keys()) {
      if (this.experts.size <= this.limit) {
        break;
      }
      this.experts.delete(old);
    }
    return entry;
  }

  /** What `cusprun plan` computes (runPlanJob), from the cached expert. */
  planView(run: string, query: PlanQuery): PlanView {
    const { expert, histogram, ratios } = this.expert(
      this.store.existing(run),
      query
    );
    const plan = expert.plan(query);
    return {
      plan,
      histogram: { ...histogram, sigma: plan.sigma },
      ratios: { points: ratios, sigma: plan.sigma },
      layers: layerUnitsOfPlan(plan)
    };
  }

  ranks(run: string, query: RanksQuery): RanksAnswer {
    const { expert } = this.expert(this.store.existing(run), query);
    const bins = query.bins ?? DEFAULT_RANK_BINS;
    const { selection } = expert;
    return {
      dimensions: expert.dimensions,
      q: expert.q,
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

  sigma(run: string, query: PlanQuery): SigmaAnswer {
    const { plan, ...view } = this.planView(run, query);
    const { layers: _units, ...summary } = plan;
    return { plan: summary, ...view };
  }

  async charts(run: string, request: ChartsRequest): Promise<ChartsAnswer> {
    let file: string | undefined;
    let specs;
    if (request.source === 'plan') {
      specs = planCharts(this.planView(run, request));
    } else if (request.source === 'sweep') {
      const found = this.store.record<SweepRecord>(
        run,
        SWEEPS_DIR,
        request.file
      );
      file = found.file;
      specs = sweepCharts(found.record);
    } else {
      const found = this.store.record<AblationRecord>(
        run,
        ABLATIONS_DIR,
        request.file
      );
      file = found.file;
      specs = ablationCharts(found.record);
    }
    const charts = [];
    for (const [name, spec] of Object.entries(specs)) {
      charts.push(
        request.svg
          ? { name, spec, svg: await renderSvg(spec) }
          : { name, spec }
      );
    }
    return file === undefined
      ? { source: request.source, charts }
      : { source: request.source, file, charts };
  }
}
