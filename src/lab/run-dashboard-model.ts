/**
 * The state of one run's dashboard, apart from its widgets: the run's detail and ranks (fetched
 * once per rule), the σ view on the slider, the jobs the dashboard started and what it says about them,
 * and the sidecar requests its widgets make (charts, jobs, the notebook insert).
 */
import { ServerConnection } from '@jupyterlab/services';
import { TranslationBundle } from '@jupyterlab/translation';
import { CommandRegistry } from '@lumino/commands';
import { ISignal, Signal } from '@lumino/signaling';
import type {
  ChartsAnswer,
  ChartsRequest,
  PruneResult,
  RunDetail
} from '../core/protocol';
import { ruleLabel, RuleSettings } from '../core/select/rules';
import { errorMessage, postAPI, requestAPI, runPath } from './api';
import { chartBundle, ChartsView } from './charts-view';
import { JobEvents } from './job-events';
import { isFinished, JobEntry, JobUpdate, jobLine } from './jobs-model';
import {
  payloadFromRanks,
  planCellSource,
  ruleQuery,
  subsetsToRank,
  ViewQuery
} from './panel-model';
import { startView } from './run-view-model';
import {
  SWEEP_MIME_TYPE,
  SweepPayload,
  SweepSubset,
  SweepView
} from './sweep-model';
import { ICusprunSettings } from './tokens';

/** What a run's dashboard needs from the plugin around it. */
export interface RunContext {
  trans: TranslationBundle;
  serverSettings: ServerConnection.ISettings;
  events: JobEvents;
  commands: CommandRegistry;
  settings: () => ICusprunSettings;
  /** A new view of Vega-Lite charts. */
  charts: () => ChartsView;
  /** Inserts a `%cusprun` cell with its outputs into the active notebook; says what it did. */
  insertCell: (
    source: string,
    outputs: Record<string, unknown>[]
  ) => Promise<string>;
  /** The ids of the store's runs, as the side panel lists them. */
  runIds: () => string[];
  /** A request failed (the side panel decides whether the sidecar went away). */
  failed: (error: unknown) => void;
}

export class RunDashboardModel {
  private _detail: RunDetail | null = null;
  /** The ranks of every dimension subset, per rule (by its label), fetched once each. */
  private readonly ranksByRule = new Map<string, Promise<SweepSubset[]>>();
  private _view: SweepView | null = null;
  /** Jobs this dashboard started: their end is reported in its status line. */
  private readonly started = new Set<string>();
  private readonly _said = new Signal<this, string>(this);
  private readonly _viewChanged = new Signal<this, SweepView>(this);
  private readonly _jobDone = new Signal<this, JobEntry>(this);

  constructor(
    readonly run: string,
    readonly context: RunContext
  ) {
    context.events.changed.connect(this.onJob, this);
  }

  /** A line for the dashboard's status (a job's state, what an action did). */
  get said(): ISignal<this, string> {
    return this._said;
  }

  /** Says `text` in the dashboard's status line. */
  say(text: string): void {
    this._said.emit(text);
  }

  get viewChanged(): ISignal<this, SweepView> {
    return this._viewChanged;
  }

  /** A job the dashboard started finished (done, failed or cancelled). */
  get jobDone(): ISignal<this, JobEntry> {
    return this._jobDone;
  }

  /** The run's detail (null until `load` fetched it). */
  get detail(): RunDetail | null {
    return this._detail;
  }

  /** The view on the slider now (null until the ranks arrived). */
  get view(): SweepView | null {
    return this._view;
  }

  set view(view: SweepView) {
    this._view = view;
    this._viewChanged.emit(view);
  }

  dispose(): void {
    this.context.events.changed.disconnect(this.onJob, this);
    Signal.clearData(this);
  }

  /**
   * Fetches the run's detail and the ranks of every dimension subset; the σ-sweep payload opens
   * at the σ and under the rule of the run's latest plan or prune (where the work is).
   */
  async load(): Promise<SweepPayload> {
    const start = startView(await this.fetchDetail());
    return payloadFromRanks(
      this.run,
      await this.ranks(start.rule),
      start.sigma
    );
  }

  /** The ranks of every dimension subset under `rule`: asked of the sidecar once per rule. */
  ranks(rule: RuleSettings): Promise<SweepSubset[]> {
    const key = ruleLabel(rule);
    let ranks = this.ranksByRule.get(key);
    if (!ranks) {
      const dims = this._detail?.corpus.dimensions ?? [];
      const wanted = dims.length > 0 ? subsetsToRank(dims) : [[]];
      ranks = Promise.all(
        wanted.map(d =>
          this.post<SweepSubset>(runPath(this.run, 'ranks'), {
            ...(d.length > 0 ? { dims: d } : {}),
            ...ruleQuery(rule)
          })
        )
      );
      this.ranksByRule.set(key, ranks);
      // a failed fetch is asked again on the next choice of its rule
      ranks.catch(() => this.ranksByRule.delete(key));
    }
    return ranks;
  }

  /** The run's detail again (after a job changed its history). */
  async fetchDetail(): Promise<RunDetail> {
    this._detail = await requestAPI<RunDetail>(
      runPath(this.run),
      {},
      this.context.serverSettings
    );
    return this._detail;
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return postAPI<T>(path, body, this.context.serverSettings);
  }

  /**
   * The plan query of a view: its dimensions only when they are not all of the run's, its rule
   * only when not the default.
   */
  query(view: SweepView): ViewQuery {
    const all = this._detail?.corpus.dimensions.length ?? 0;
    return {
      sigma: view.sigma,
      ...(view.dimensions.length === all ? {} : { dims: view.dimensions }),
      ...ruleQuery(view.rule)
    };
  }

  /** The sidecar's charts of the run. */
  charts(request: ChartsRequest): Promise<ChartsAnswer> {
    return this.post<ChartsAnswer>(runPath(this.run, 'charts'), request);
  }

  /** Submits a job of this run; the status line follows it to its end. */
  async submit(request: Record<string, unknown>): Promise<void> {
    const { trans } = this.context;
    try {
      const job = await this.post<{ id: string; type: string; state: string }>(
        'api/jobs',
        { ...request, run: this.run }
      );
      this.started.add(job.id);
      this._said.emit(
        trans.__('%1 %2 on %3: %4', job.type, job.id, this.run, job.state)
      );
    } catch (error) {
      this._said.emit(
        trans.__(
          'The %1 job was refused: %2',
          String(request.type),
          errorMessage(error)
        )
      );
    }
  }

  /** Inserts the view as `%cusprun plan …` with the outputs that magic displays. */
  async insert(): Promise<void> {
    const view = this._view;
    if (!view) {
      return;
    }
    try {
      const query = this.query(view);
      const answer = await this.charts({ source: 'plan', ...query, svg: true });
      const outputs = answer.charts.map(chartBundle);
      if (outputs.length > 0) {
        outputs[0][SWEEP_MIME_TYPE] = {
          ...payloadFromRanks(
            this.run,
            await this.ranks(view.rule),
            view.sigma
          ),
          dimensions: view.dimensions
        };
      }
      this._said.emit(
        await this.context.insertCell(planCellSource(this.run, query), outputs)
      );
    } catch (error) {
      this._said.emit(
        this.context.trans.__(
          'The view could not be inserted: %1',
          errorMessage(error)
        )
      );
    }
  }

  private onJob(_: JobEvents, update: JobUpdate): void {
    if (update.kind !== 'state' || !this.started.has(update.job.id)) {
      return;
    }
    const job = update.job;
    this._said.emit(this.jobText(job));
    if (isFinished(job)) {
      this.started.delete(job.id);
      this._jobDone.emit(job);
    }
  }

  private jobText(job: JobEntry): string {
    const { trans } = this.context;
    if (job.state === 'done' && job.type === 'prune' && job.result) {
      const result = job.result as PruneResult;
      return trans.__(
        'Expert written to %1 (%2 MB → %3 MB), checked against the original with the units %4',
        result.out,
        (result.bytesBefore / 1e6).toFixed(2),
        (result.bytesAfter / 1e6).toFixed(2),
        result.verification.removedUnits
      );
    }
    return jobLine(job, trans);
  }
}
