/**
 * The cheap queries a client makes while jobs run: σ lookups and chart specs. A run's expert
 * (its dimensions' deciding ranks, sorted once) is built on the first query and cached per run,
 * set of dimensions and guards, so every later σ is a binary search per layer; each dimension's
 * ranks are cached too, so the experts of a run's dimension subsets share them. Entries are not
 * used once the run's scores or record change. Building an entry reads and ranks the run's
 * whole score store synchronously, which holds up the event loop for that long (milliseconds on
 * the fixtures, seconds on a big store); every later query is a lookup.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { inspectModel } from '../../engine/arch';
import {
  ablationCharts,
  HISTOGRAM_CHART,
  histogramSpec,
  planCharts,
  studyCharts,
  sweepCharts,
  VegaLiteSpec
} from '../../core/charts';
import { CusprunError } from '../../core/errors';
import type { ModelMap } from '../../core/model/model-map';
import { ExpertView, PlanView } from '../../core/plan-view';
import {
  AblationRecord,
  ChartsAnswer,
  ChartsRequest,
  ExpertQuery,
  PlanQuery,
  RanksAnswer,
  RanksQuery,
  SigmaAnswer,
  StudyRecord,
  SweepRecord
} from '../../core/protocol';
import { DimensionRanks, ruleSettings } from '../../core/select';
import { renderSvg } from '../../engine/charts/svg';
import { MANIFEST_FILE } from '../../engine/score';
import { ABLATIONS_DIR } from '../jobs/ablate';
import { readDimensionRanks, requestedDimensions } from '../jobs/plan';
import { STUDY_DIR } from '../jobs/study';
import { SWEEPS_DIR } from '../jobs/sweep';
import { RunRecord, RUN_FILE, SCORES_DIR } from '../run-folder';
import { RecordKind, RunStore } from '../run-store';

/** A file's size and time of change ('-' when it is not there). */
function fileVersion(file: string): string {
  const stat = fs.statSync(file, { throwIfNoEntry: false });
  return stat ? `${stat.mtimeMs}/${stat.size}` : '-';
}

/** What changes when a run is scored further or re-recorded. */
function version(dir: string): string {
  return [path.join(dir, RUN_FILE), path.join(dir, SCORES_DIR, MANIFEST_FILE)]
    .map(fileVersion)
    .join(':');
}

/** A map that keeps its `limit` most recently used entries. */
class RecentCache<V> {
  private readonly entries = new Map<string, V>();

  constructor(private readonly limit: number) {}

  get(key: string, make: () => V): V {
    const hit = this.entries.get(key);
    if (hit !== undefined) {
      // Re-inserted: the Map's order is the recency order the eviction below reads.
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit;
    }
    const made = make();
    this.entries.set(key, made);
    for (const old of this.entries.keys()) {
      if (this.entries.size <= this.limit) {
        break;
      }
      this.entries.delete(old);
    }
    return made;
  }
}

export class Queries {
  private readonly experts: RecentCache<ExpertView>;
  /**
   * Each dimension's deciding ranks, shared by the experts of every subset that has it: a panel
   * asks for all 2^d - 1 subsets of a run at once, and reading a dimension's scores is the slow
   * part (seconds on a million units).
   */
  private readonly dimensionRanks: RecentCache<DimensionRanks>;
  private readonly maps = new RecentCache<ModelMap>(4);
  /** run.json, parsed once per version: every σ query needs its dimensions. */
  private readonly records: RecentCache<RunRecord>;

  constructor(
    private readonly store: RunStore,
    limit = 16
  ) {
    this.experts = new RecentCache(limit);
    this.dimensionRanks = new RecentCache(limit);
    this.records = new RecentCache(limit);
  }

  private expert(run: string, query: ExpertQuery): ExpertView {
    const dir = this.store.existing(run);
    const at = version(dir);
    // Checked as GET /api/runs/RUN checks it: a damaged run.json answers its one-line reason.
    const record = this.records.get(JSON.stringify([dir, at]), () =>
      this.store.runRecord(run)
    );
    const known = record.corpus.dimensions.map(d => d.dimension);
    // One entry per set of dimensions, however the query orders or omits them.
    const wanted = requestedDimensions(record, query.dims);
    const dims = known.filter(d => wanted.includes(d));
    const rule = ruleSettings(query);
    const key = JSON.stringify([
      dir,
      at,
      dims,
      rule,
      query.minKeep ?? 1,
      query.multipleOf ?? 1,
      query.keepAttention ?? false
    ]);
    return this.experts.get(key, () => {
      const file = record.model.file;
      const map = this.maps.get(JSON.stringify([file, fileVersion(file)]), () =>
        inspectModel(file)
      );
      const ranks = dims.map(dim =>
        this.dimensionRanks.get(
          JSON.stringify([dir, at, dim, rule]),
          () => readDimensionRanks(dir, record, map, [dim], rule)[0]
        )
      );
      return new ExpertView(map, ranks, query);
    });
  }

  /** What `cusprun plan` computes, from the cached expert. */
  planView(run: string, query: PlanQuery): PlanView {
    return this.expert(run, query).at(query);
  }

  ranks(run: string, query: RanksQuery): RanksAnswer {
    return this.expert(run, query).rankGrid(query.bins);
  }

  sigma(run: string, query: PlanQuery): SigmaAnswer {
    const { plan, ...view } = this.planView(run, query);
    const { layers: _units, ...summary } = plan;
    return { plan: summary, ...view };
  }

  /** The charts of a sweep, study or ablation record of the run (the latest, or `file`). */
  private recordCharts(
    run: string,
    request: ChartsRequest & { source: 'sweep' | 'study' | 'ablation' }
  ) {
    const read = <R>(
      dir: RecordKind,
      draw: (r: R) => Record<string, VegaLiteSpec>
    ) => {
      const found = this.store.record<R>(run, dir, request.file);
      return { file: found.file, specs: draw(found.record) };
    };
    return request.source === 'sweep'
      ? read<SweepRecord>(SWEEPS_DIR, sweepCharts)
      : request.source === 'study'
        ? read<StudyRecord>(STUDY_DIR, studyCharts)
        : read<AblationRecord>(ABLATIONS_DIR, ablationCharts);
  }

  async charts(run: string, request: ChartsRequest): Promise<ChartsAnswer> {
    let file: string | undefined;
    let specs: Record<string, VegaLiteSpec>;
    if (request.source === 'plan') {
      const { names, sigma } = request;
      // The histogram at a given σ needs no plan, the slow part on a big run.
      specs =
        names?.every(n => n === HISTOGRAM_CHART) && sigma !== undefined
          ? {
              [HISTOGRAM_CHART]: histogramSpec(
                this.expert(run, request).histogram(sigma)
              )
            }
          : planCharts(this.planView(run, request));
    } else {
      ({ file, specs } = this.recordCharts(run, request));
    }
    const unknown = (request.names ?? []).filter(n => !(n in specs));
    if (unknown.length > 0) {
      throw new CusprunError(
        'bad-argument',
        `names: no chart ${unknown.map(n => `'${n}'`).join(', ')} in a ${request.source}'s charts (${Object.keys(specs).join(', ')})`,
        'names'
      );
    }
    if (request.names) {
      const wanted = request.names;
      specs = Object.fromEntries(
        Object.entries(specs).filter(([name]) => wanted.includes(name))
      );
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
