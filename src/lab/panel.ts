/**
 * The Cus-Prun side panel: the sidecar's state (a version handshake with the server extension,
 * polled while the sidecar is not running), a form to start a scoring run, the runs of the run
 * store as a sortable, filterable table, the latest job's progress from the events WebSocket,
 * and the selected run (run-view.ts). The state logic is in panel-model.ts and jobs-model.ts.
 */
import { ServerConnection } from '@jupyterlab/services';
import { TranslationBundle } from '@jupyterlab/translation';
import { Panel, Widget } from '@lumino/widgets';
import { APIError, errorMessage, requestAPI } from './api';
import { el, foldedForm, labelled } from './dom';
import { ChartsView } from './charts-view';
import { JobEvents } from './job-events';
import { JobUpdate, jobLine } from './jobs-model';
import {
  filterRows,
  Handshake,
  interpretHandshake,
  nextSort,
  RunRow,
  runRow,
  Sort,
  SORT_KEYS,
  SortKey,
  sortRows
} from './panel-model';
import type { RunSummary } from '../core/protocol';
import { RunView, RunViewContext } from './run-view';
import { RelativeTimeRefresher, showRelativeTime } from './relative-times';
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
  charts: RunViewContext['charts'];
  insertCell: RunViewContext['insertCell'];
}

export class CusprunPanel extends Panel {
  private readonly trans: TranslationBundle;
  private readonly serverSettings: ServerConnection.ISettings;
  private readonly events: JobEvents;
  private readonly options: CusprunPanelOptions;
  private settings: ICusprunSettings;
  private readonly statusLine: HTMLParagraphElement;
  private readonly settingsList: HTMLDListElement;
  private readonly runsSection: HTMLElement;
  private readonly filterInput: HTMLInputElement;
  private readonly runsMessage: HTMLParagraphElement;
  private readonly tableHead: HTMLTableRowElement;
  private readonly tableBody: HTMLTableSectionElement;
  private readonly progress: HTMLParagraphElement;
  private readonly liveHistogram: ChartsView;
  private handshake: Handshake | null = null;
  private timer: number | null = null;
  private readonly times = new RelativeTimeRefresher(this.node);
  private rows: RunRow[] = [];
  private sort: Sort = { key: 'updated', ascending: false };
  private runView: RunView | null = null;
  private generation = 0;
  /** The run store the sidecar was last asked to use (null: not asked yet). */
  private storeApplied: string | null = null;

  constructor(options: CusprunPanelOptions) {
    super();
    const { trans } = options;
    this.options = options;
    this.trans = trans;
    this.serverSettings = options.serverSettings;
    this.events = options.events;
    this.settings = options.settings;
    this.id = 'cusprun-panel';
    this.addClass('jp-CusprunPanel');
    this.title.caption = trans.__('Cus-Prun');
    this.title.label = trans.__('Cus-Prun');

    const heading = el('h2', 'jp-CusprunPanel-heading', trans.__('Cus-Prun'));
    this.statusLine = el(
      'p',
      'jp-CusprunPanel-status',
      trans.__('Sidecar: not connected')
    );
    this.statusLine.setAttribute('role', 'status');

    this.settingsList = el('dl', 'jp-CusprunPanel-settings');

    // ---- runs
    this.runsSection = el('section', 'jp-CusprunPanel-runs');
    this.runsSection.hidden = true;
    const runsHeading = el(
      'h3',
      'jp-CusprunPanel-subheading',
      trans.__('Runs')
    );
    const toolbar = el('div', 'jp-CusprunPanel-toolbar');
    this.filterInput = el('input', 'jp-CusprunPanel-filter');
    this.filterInput.type = 'search';
    this.filterInput.placeholder = trans.__('Filter runs');
    this.filterInput.setAttribute('aria-label', trans.__('Filter runs'));
    this.filterInput.addEventListener('input', () => this.renderRows());
    const refresh = el(
      'button',
      'jp-CusprunPanel-refresh jp-mod-styled',
      trans.__('Refresh')
    );
    refresh.type = 'button';
    refresh.title = trans.__('List the runs of the store again');
    refresh.addEventListener('click', () => void this.loadRuns());
    toolbar.append(this.filterInput, refresh);

    const table = el('table', 'jp-CusprunPanel-table');
    const thead = el('thead');
    this.tableHead = el('tr');
    thead.appendChild(this.tableHead);
    this.tableBody = el('tbody');
    table.append(thead, this.tableBody);
    const tableWrap = el('div', 'jp-CusprunPanel-tableWrap');
    tableWrap.appendChild(table);
    this.runsMessage = el('p', 'jp-CusprunPanel-runsMessage');
    this.runsSection.append(
      runsHeading,
      toolbar,
      tableWrap,
      this.runsMessage,
      this.scoreForm()
    );
    this.renderHead();

    this.progress = el('p', 'jp-CusprunPanel-progress');
    this.progress.setAttribute('aria-live', 'polite');
    this.progress.hidden = true;
    this.events.changed.connect(this.onJob, this);

    const top = new Widget();
    top.addClass('jp-CusprunPanel-top');
    top.node.append(heading, this.statusLine, this.settingsList, this.progress);
    this.addWidget(top);
    // the relevance histograms of a scoring job, as its batches commit
    this.liveHistogram = options.charts();
    this.liveHistogram.addClass('jp-CusprunPanel-liveHistogram');
    this.liveHistogram.hide();
    this.addWidget(this.liveHistogram);
    const runs = new Widget({ node: this.runsSection });
    this.addWidget(runs);
    this.showSettings(options.settings);
  }

  /** Takes the settings in effect and applies them; called again whenever the user changes them. */
  showSettings(settings: ICusprunSettings): void {
    this.settings = settings;
    this.renderSettings();
    this.runView?.showSettings();
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
      ...rows.flatMap(([term, value]) => [
        el('dt', undefined, term),
        el('dd', undefined, value)
      ])
    );
  }

  /** The run view of the selected run (null while none is selected). */
  get selectedRun(): RunView | null {
    return this.runView;
  }

  /** Asks the server extension for its version and the sidecar's state now. */
  async checkServer(): Promise<Handshake> {
    this.clearTimer();
    const generation = this.generation;
    let status = 200;
    let body: unknown = null;
    try {
      body = await requestAPI<unknown>('version', {}, this.serverSettings);
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
    this.statusLine.textContent = handshake.message;
    this.statusLine.dataset.state = handshake.kind;
    this.renderSettings();
    const running = handshake.kind === 'running';
    this.runsSection.hidden = !running;
    this.runView?.setHidden(!running);
    if (running && previous?.kind !== 'running') {
      void this.loadRuns();
      void this.applyStore();
    }
    if (running) {
      // (again) after a restart of the sidecar closed the previous socket
      this.events.connect();
    }
    if (this.isAttached && (handshake.retry || running)) {
      this.timer = window.setTimeout(
        () => void this.checkServer(),
        running ? POLL_RUNNING_MS : POLL_WAITING_MS
      );
    }
    return handshake;
  }

  /** Lists the runs of the store again. */
  async loadRuns(): Promise<void> {
    try {
      const runs = await requestAPI<RunSummary[]>(
        'api/runs',
        {},
        this.serverSettings
      );
      this.rows = runs.map(runRow);
      this.runsMessage.textContent =
        this.rows.length === 0
          ? this.trans.__(
              'The run store has no runs yet: score a model with `%%cusprun score` or `cusprun score`.'
            )
          : '';
      this.renderRows();
    } catch (error) {
      this.apiFailed(error);
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
    this.events.changed.disconnect(this.onJob, this);
    super.dispose();
  }

  private clearTimer(): void {
    if (this.timer !== null) {
      window.clearTimeout(this.timer);
      this.timer = null;
    }
  }

  /** A request failed: a sidecar on its way (503) sends the panel back to the handshake. */
  private apiFailed(error: unknown): void {
    const status = error instanceof APIError ? error.status : 0;
    this.runsMessage.textContent = this.trans.__(
      'The sidecar did not answer: %1',
      errorMessage(error)
    );
    if (status === 503 || status === 502 || status === 0 || status === 404) {
      // The sidecar died or is on its way back: ask the server extension again shortly (not at
      // once: until its watcher notices, it may still report the dead sidecar as running).
      this.handshake = null;
      this.statusLine.textContent = this.trans.__(
        'Sidecar: not answering; checking again…'
      );
      this.statusLine.dataset.state = 'waiting';
      this.clearTimer();
      this.timer = window.setTimeout(
        () => void this.checkServer(),
        POLL_RETRY_MS
      );
    }
  }

  private columnLabel(key: SortKey): string {
    const t = this.trans;
    switch (key) {
      case 'id':
        return t.__('Run');
      case 'model':
        return t.__('Model');
      case 'dimensions':
        return t.__('Dimensions');
      case 'progress':
        return t.__('Scored');
      case 'lastJob':
        return t.__('Last job');
      case 'updated':
        return t.__('Updated');
    }
  }

  private renderHead(): void {
    this.tableHead.replaceChildren(
      ...SORT_KEYS.map(key => {
        const th = el('th');
        th.dataset.key = key;
        const sorted = this.sort.key === key;
        th.setAttribute(
          'aria-sort',
          sorted ? (this.sort.ascending ? 'ascending' : 'descending') : 'none'
        );
        const button = el(
          'button',
          'jp-CusprunPanel-sort',
          this.columnLabel(key) +
            (sorted ? (this.sort.ascending ? ' ▲' : ' ▼') : '')
        );
        button.type = 'button';
        button.title = this.trans.__('Sort by this column');
        button.addEventListener('click', () => {
          this.sort = nextSort(this.sort, key);
          this.renderHead();
          this.renderRows();
        });
        th.appendChild(button);
        return th;
      })
    );
  }

  private renderRows(): void {
    const rows = sortRows(
      filterRows(this.rows, this.filterInput.value),
      this.sort
    );
    const now = Date.now();
    this.tableBody.replaceChildren(
      ...rows.map(row => {
        const tr = el('tr', 'jp-CusprunPanel-run');
        tr.dataset.run = row.id;
        tr.tabIndex = 0;
        tr.setAttribute('aria-selected', String(row.id === this.runView?.run));
        tr.title = row.damaged
          ? this.trans.__('Run %1 is damaged: %2', row.id, row.damaged)
          : this.trans.__('Show run %1', row.id);
        for (const key of SORT_KEYS) {
          const td = el('td');
          td.dataset.key = key;
          if (key === 'updated') {
            showRelativeTime(td, row.updated, now);
          } else {
            td.textContent =
              key === 'model' && row.damaged
                ? this.trans.__('damaged: %1', row.damaged)
                : row[key];
          }
          tr.appendChild(td);
        }
        tr.addEventListener('click', () => void this.select(row.id));
        tr.addEventListener('keydown', event => {
          if (event.key === 'Enter' || event.key === ' ') {
            event.preventDefault();
            void this.select(row.id);
          }
        });
        return tr;
      })
    );
  }

  /** Shows a run: its ranks once, then its view (run-view.ts). */
  async select(run: string): Promise<void> {
    this.runView?.dispose();
    const dims = this.rows.find(r => r.id === run)?.dimensionList ?? [];
    const view = new RunView(run, dims, {
      trans: this.trans,
      serverSettings: this.serverSettings,
      events: this.events,
      settings: () => this.settings,
      charts: this.options.charts,
      insertCell: this.options.insertCell,
      otherRuns: () => this.rows.map(r => r.id).filter(id => id !== run),
      failed: error => this.apiFailed(error)
    });
    view.addClass('jp-CusprunPanel-detail');
    this.runView = view;
    this.renderRows();
    this.addWidget(view);
    await view.load();
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
      const answer = await requestAPI<{ restarted?: boolean }>(
        'sidecar/restart',
        { method: 'POST', body: JSON.stringify({ store }) },
        this.serverSettings
      );
      if (answer?.restarted) {
        // another store: its runs, from a new handshake (the old socket closed with the sidecar)
        this.runView?.dispose();
        this.runView = null;
        this.handshake = null;
        void this.checkServer();
      }
    } catch (error) {
      this.storeApplied = null;
      this.runsMessage.textContent = this.trans.__(
        'The run store %1 cannot be used: %2',
        store,
        errorMessage(error)
      );
    }
  }

  /** A form to score a model on a corpus into a new (or resumed) run. */
  private scoreForm(): HTMLElement {
    const t = this.trans;
    const input = (name: string, placeholder: string) => {
      const field = el('input', 'jp-mod-styled');
      field.type = 'text';
      field.name = name;
      field.required = true;
      field.placeholder = placeholder;
      return field;
    };
    const run = input('run', t.__('a new id, or a run to resume'));
    const model = input('model', t.__('model.onnx or its folder'));
    const corpus = input(
      'corpus',
      t.__('a corpus manifest (.yaml) or a registered corpus')
    );
    const said = el('p', 'jp-CusprunPanel-scoreMessage');
    said.setAttribute('role', 'status');
    const form = foldedForm({
      className: 'jp-CusprunPanel-scoreForm',
      summary: t.__('New scoring run'),
      fields: [
        labelled(t.__('Run'), run),
        labelled(t.__('Model'), model),
        labelled(t.__('Corpus'), corpus)
      ],
      submit: t.__('Score'),
      onSubmit: async () => {
        const request = {
          type: 'score',
          run: run.value.trim(),
          model: model.value.trim(),
          corpus: corpus.value.trim(),
          ...(this.settings.threads > 0
            ? { threads: this.settings.threads }
            : {})
        };
        try {
          const job = await requestAPI<{ id: string }>(
            'api/jobs',
            { method: 'POST', body: JSON.stringify(request) },
            this.serverSettings
          );
          said.textContent = t.__(
            'score %1 on %2: queued',
            job.id,
            request.run
          );
        } catch (error) {
          said.textContent = t.__(
            'The scoring job was refused: %1',
            errorMessage(error)
          );
        }
      }
    });
    form.appendChild(said);
    return form;
  }

  /** The latest job event: its line; a job that ended lists the runs again. */
  private onJob(_: JobEvents, update: JobUpdate): void {
    if (update.kind === 'histogram') {
      this.liveHistogram.show();
      void this.liveHistogram.render(
        [{ name: 'live-relevance-histogram', spec: update.spec }],
        `${update.run ?? ''}:${update.documents}`
      );
      return;
    }
    const id = update.kind === 'state' ? update.job.id : update.id;
    const job = this.events.jobs.get(id);
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
