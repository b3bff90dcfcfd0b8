/**
 * The Cus-Prun side panel, a compact list that fits the side bar: the sidecar's state (a version
 * handshake with the server extension, polled while the sidecar is not running), the run store,
 * the latest job's progress from the events WebSocket, the runs of the store (runs-list.ts; a
 * row opens the run's main-area dashboard) and a form to start a scoring run (score-form.ts).
 */
import { ServerConnection } from '@jupyterlab/services';
import { TranslationBundle } from '@jupyterlab/translation';
import { Panel, Widget } from '@lumino/widgets';
import type { RunSummary } from '../core/protocol';
import { APIError, errorMessage, postAPI, requestAPI } from './api';
import { ChartsView } from './charts-view';
import { el } from './dom';
import { JobEvents } from './job-events';
import { JobUpdate, jobLine } from './jobs-model';
import { Handshake, interpretHandshake, runRow } from './panel-model';
import { RelativeTimeRefresher } from './relative-times';
import { RunsList } from './runs-list';
import { scoreForm } from './score-form';
import { ICusprunSettings } from './tokens';

/** Milliseconds between handshakes while the sidecar is on its way, and while it runs. */
const POLL_WAITING_MS = 2000;
const POLL_RUNNING_MS = 10000;
/** After a request failed for want of a sidecar. */
const POLL_RETRY_MS = 1000;

/** What the panel is given by the plugin. */
export interface CusprunPanelOptions {
  trans: TranslationBundle;
  settings: ICusprunSettings;
  serverSettings: ServerConnection.ISettings;
  events: JobEvents;
  /** A new view of Vega-Lite charts. */
  charts: () => ChartsView;
  /** Opens a run's dashboard. */
  openRun: (run: string) => void;
  /** The sidecar restarted on another store: what was open of the old one is stale. */
  storeChanged: () => void;
}

export class CusprunPanel extends Panel {
  readonly runs: RunsList;
  private readonly trans: TranslationBundle;
  private readonly options: CusprunPanelOptions;
  private settings: ICusprunSettings;
  private readonly statusLine = el('p', 'jp-CusprunPanel-status');
  private readonly settingsList = el('dl', 'jp-CusprunPanel-settings');
  private readonly progress = el('p', 'jp-CusprunPanel-progress');
  private readonly runsArea = new Panel();
  private readonly liveHistogram: ChartsView;
  private handshake: Handshake | null = null;
  private timer: number | null = null;
  private readonly times = new RelativeTimeRefresher(this.node);
  private generation = 0;
  /** The run store the sidecar was last asked to use (null: not asked yet). */
  private storeApplied: string | null = null;

  constructor(options: CusprunPanelOptions) {
    super();
    const { trans } = options;
    this.options = options;
    this.trans = trans;
    this.settings = options.settings;
    this.id = 'cusprun-panel';
    this.addClass('jp-CusprunPanel');
    this.title.caption = trans.__('Cus-Prun');
    this.title.label = trans.__('Cus-Prun');
    this.statusLine.textContent = trans.__('Sidecar: not connected');
    this.statusLine.setAttribute('role', 'status');
    this.progress.setAttribute('aria-live', 'polite');
    this.progress.hidden = true;
    options.events.changed.connect(this.onJob, this);

    const top = new Widget();
    top.addClass('jp-CusprunPanel-top');
    top.node.append(
      el('h2', 'jp-CusprunPanel-heading', trans.__('Cus-Prun')),
      this.statusLine,
      this.settingsList,
      this.progress
    );
    this.addWidget(top);
    // the relevance histograms of a scoring job, as its batches commit
    this.liveHistogram = options.charts();
    this.liveHistogram.addClass('jp-CusprunPanel-liveHistogram');
    this.liveHistogram.hide();
    this.addWidget(this.liveHistogram);

    this.runs = new RunsList(trans);
    this.runs.opened.connect((_, run) => options.openRun(run));
    this.runs.refreshRequested.connect(() => void this.loadRuns());
    this.runsArea.addWidget(this.runs);
    this.runsArea.addWidget(
      new Widget({
        node: scoreForm(trans, options.serverSettings, () => this.settings)
      })
    );
    this.runsArea.hide();
    this.addWidget(this.runsArea);
    this.showSettings(options.settings);
  }

  /** Takes the settings in effect and applies them; called again whenever the user changes them. */
  showSettings(settings: ICusprunSettings): void {
    this.settings = settings;
    this.renderSettings();
    if (this.handshake?.kind === 'running') {
      void this.applyStore();
    }
  }

  /** The run store in use (the sidecar's, once it runs) and the threads for the panel's jobs. */
  private renderSettings(): void {
    const { runStore, threads } = this.settings;
    const rows: [string, string][] = [
      [
        this.trans.__('Run store'),
        this.handshake?.store ?? (runStore || this.trans.__('the server’s own'))
      ],
      [
        this.trans.__('Sidecar threads'),
        threads === 0 ? this.trans.__('automatic') : String(threads)
      ]
    ];
    this.settingsList.replaceChildren(
      ...rows.flatMap(([term, value]) => {
        const dd = el('dd', undefined, value);
        dd.title = value;
        return [el('dt', undefined, term), dd];
      })
    );
  }

  /** Asks the server extension for its version and the sidecar's state now. */
  async checkServer(): Promise<Handshake> {
    this.clearTimer();
    const generation = this.generation;
    let status = 200;
    let body: unknown = null;
    try {
      body = await requestAPI<unknown>(
        'version',
        {},
        this.options.serverSettings
      );
    } catch (error) {
      status = error instanceof APIError ? error.status : 0;
      body = error instanceof APIError ? error.body : null;
    }
    if (generation !== this.generation || this.isDisposed) {
      return this.handshake!;
    }
    const previous = this.handshake;
    const handshake = interpretHandshake(status, body, this.trans);
    this.handshake = handshake;
    this.showState(handshake.message, handshake.kind);
    this.renderSettings();
    const running = handshake.kind === 'running';
    this.runsArea.setHidden(!running);
    if (running && previous?.kind !== 'running') {
      void this.loadRuns();
      void this.applyStore();
    }
    if (running) {
      // (again) after a restart of the sidecar closed the previous socket
      this.options.events.connect();
    }
    if (this.isAttached && (handshake.retry || running)) {
      this.checkLater(running ? POLL_RUNNING_MS : POLL_WAITING_MS);
    }
    return handshake;
  }

  /** Lists the runs of the store again. */
  async loadRuns(): Promise<void> {
    try {
      const runs = await requestAPI<RunSummary[]>(
        'api/runs',
        {},
        this.options.serverSettings
      );
      this.runs.setRows(runs.map(runRow));
    } catch (error) {
      this.sidecarFailed(error);
    }
  }

  /** A request failed: a sidecar on its way (503) sends the panel back to the handshake. */
  sidecarFailed(error: unknown): void {
    const status = error instanceof APIError ? error.status : 0;
    this.runs.say(
      this.trans.__('The sidecar did not answer: %1', errorMessage(error))
    );
    if (status === 503 || status === 502 || status === 0 || status === 404) {
      // The sidecar died or is on its way back: ask the server extension again shortly (not at
      // once: until its watcher notices, it may still report the dead sidecar as running).
      this.handshake = null;
      this.showState(
        this.trans.__('Sidecar: not answering; checking again…'),
        'waiting'
      );
      this.checkLater(POLL_RETRY_MS);
    }
  }

  protected onAfterAttach(): void {
    this.times.start();
    void this.checkServer();
  }

  protected onBeforeDetach(): void {
    this.times.stop();
    this.clearTimer();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.generation++;
    this.clearTimer();
    this.times.stop();
    this.options.events.changed.disconnect(this.onJob, this);
    super.dispose();
  }

  private showState(message: string, state: string): void {
    this.statusLine.textContent = message;
    this.statusLine.dataset.state = state;
  }

  private checkLater(ms: number): void {
    this.clearTimer();
    this.timer = window.setTimeout(() => void this.checkServer(), ms);
  }

  private clearTimer(): void {
    if (this.timer !== null) {
      window.clearTimeout(this.timer);
      this.timer = null;
    }
  }

  /**
   * Asks the server to run the sidecar on the run store of the settings ('' : the server's own);
   * the server restarts nothing when it runs on that store already.
   */
  private async applyStore(): Promise<void> {
    const store = this.settings.runStore;
    if (store === this.storeApplied) {
      return;
    }
    this.storeApplied = store;
    try {
      const answer = await postAPI<{ restarted?: boolean }>(
        'sidecar/restart',
        { store },
        this.options.serverSettings
      );
      if (answer?.restarted) {
        // another store: its runs, from a new handshake (the old socket closed with the sidecar)
        this.options.storeChanged();
        this.handshake = null;
        void this.checkServer();
      }
    } catch (error) {
      this.storeApplied = null;
      this.runs.say(
        this.trans.__(
          'The run store %1 cannot be used: %2',
          store,
          errorMessage(error)
        )
      );
    }
  }

  /** The latest job event: its line; a job that ended lists the runs again. */
  private onJob(events: JobEvents, update: JobUpdate): void {
    if (update.kind === 'histogram') {
      this.liveHistogram.show();
      void this.liveHistogram.render(
        [{ name: 'live-relevance-histogram', spec: update.spec }],
        `${update.run ?? ''}:${update.documents}`
      );
      return;
    }
    const id = update.kind === 'state' ? update.job.id : update.id;
    const job = events.jobs.get(id);
    if (!job) {
      return;
    }
    this.progress.hidden = false;
    this.progress.textContent = jobLine(job, this.trans);
    if (update.kind === 'state' && update.job.state === 'running') {
      // a new job: the histogram shown was the previous one's
      this.liveHistogram.hide();
    }
    if (update.kind === 'state' && update.job.state !== 'queued') {
      void this.loadRuns();
    }
  }
}
