/**
 * The Cus-Prun side panel: the sidecar's state (a version handshake with the server extension,
 * polled while the sidecar is not running), the runs of the run store as a sortable, filterable
 * table, and for the selected run a σ slider and dimension toggles computed in the browser from
 * ranks fetched once (the σ-sweep output's own widget draws them), plus a running job's
 * progress from the events WebSocket. The state logic is in panel-model.ts.
 */
import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { ServerConnection } from '@jupyterlab/services';
import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';
import { APIError, eventsURL, requestAPI } from './api';
import {
  filterRows,
  Handshake,
  interpretHandshake,
  nextSort,
  payloadFromRanks,
  progressLine,
  ProgressLike,
  RunRow,
  runRow,
  RunSummaryLike,
  Sort,
  SORT_KEYS,
  SortKey,
  sortRows,
  subsetsToRank
} from './panel-model';
import { SWEEP_MIME_TYPE, SweepSubset } from './sweep-model';
import { SweepRenderer } from './sweep-widget';
import { ICusprunSettings } from './tokens';

/** Milliseconds between handshakes while the sidecar is on its way, and while it runs. */
const POLL_WAITING_MS = 2000;
const POLL_RUNNING_MS = 10000;
/** After a request failed for want of a sidecar. */
const POLL_RETRY_MS = 1000;

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className?: string,
  text?: string
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

export class CusprunPanel extends Widget {
  private readonly trans: TranslationBundle;
  private readonly serverSettings: ServerConnection.ISettings;
  private readonly statusLine: HTMLParagraphElement;
  private readonly settingsList: HTMLDListElement;
  private readonly runsSection: HTMLElement;
  private readonly filterInput: HTMLInputElement;
  private readonly runsMessage: HTMLParagraphElement;
  private readonly tableHead: HTMLTableRowElement;
  private readonly tableBody: HTMLTableSectionElement;
  private readonly detail: HTMLElement;
  private readonly progress: HTMLParagraphElement;
  private handshake: Handshake | null = null;
  private timer: number | null = null;
  private rows: RunRow[] = [];
  private sort: Sort = { key: 'updated', ascending: false };
  private selected: string | null = null;
  private sweep: SweepRenderer | null = null;
  private socket: WebSocket | null = null;
  private jobs = new Map<string, { type: string; run?: string }>();
  private generation = 0;

  constructor(
    trans: TranslationBundle,
    settings: ICusprunSettings,
    serverSettings: ServerConnection.ISettings = ServerConnection.makeSettings()
  ) {
    super();
    this.trans = trans;
    this.serverSettings = serverSettings;
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
    this.runsSection.append(runsHeading, toolbar, tableWrap, this.runsMessage);
    this.renderHead();

    this.progress = el('p', 'jp-CusprunPanel-progress');
    this.progress.setAttribute('aria-live', 'polite');
    this.progress.hidden = true;

    // ---- the selected run
    this.detail = el('section', 'jp-CusprunPanel-detail');
    this.detail.hidden = true;

    this.node.append(
      heading,
      this.statusLine,
      this.settingsList,
      this.progress,
      this.runsSection,
      this.detail
    );
    this.showSettings(settings);
  }

  /** Shows the settings in effect; called again whenever the user changes them. */
  showSettings(settings: ICusprunSettings): void {
    const rows: [string, string][] = [
      [this.trans.__('Run store'), settings.runStore],
      [
        this.trans.__('Sidecar threads'),
        settings.threads === 0
          ? this.trans.__('automatic')
          : String(settings.threads)
      ]
    ];
    this.settingsList.replaceChildren(
      ...rows.flatMap(([term, value]) => [
        el('dt', undefined, term),
        el('dd', undefined, value)
      ])
    );
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
    const running = handshake.kind === 'running';
    this.runsSection.hidden = !running;
    this.detail.hidden = !running || this.selected === null;
    if (running && previous?.kind !== 'running') {
      void this.loadRuns();
    }
    if (running) {
      // (again) after a restart of the sidecar closed the previous socket
      this.connectEvents();
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
      const runs = await requestAPI<RunSummaryLike[]>(
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
    void this.checkServer();
  }

  protected onBeforeDetach(): void {
    this.clearTimer();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.generation++;
    this.clearTimer();
    this.socket?.close();
    this.socket = null;
    this.sweep?.dispose();
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
      String((error as Error)?.message ?? error)
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
    this.tableBody.replaceChildren(
      ...rows.map(row => {
        const tr = el('tr', 'jp-CusprunPanel-run');
        tr.dataset.run = row.id;
        tr.tabIndex = 0;
        tr.setAttribute('aria-selected', String(row.id === this.selected));
        tr.title = this.trans.__('Show run %1', row.id);
        for (const key of SORT_KEYS) {
          const td = el('td', undefined, row[key]);
          td.dataset.key = key;
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

  /** Shows a run: its ranks once, then a σ slider and dimension toggles drawn in the browser. */
  async select(run: string): Promise<void> {
    this.selected = run;
    this.renderRows();
    const generation = ++this.generation;
    this.sweep?.dispose();
    this.sweep = null;
    this.detail.hidden = false;
    const heading = el(
      'h3',
      'jp-CusprunPanel-subheading',
      this.trans.__('Run %1', run)
    );
    const message = el(
      'p',
      'jp-CusprunPanel-detailMessage',
      this.trans.__('Loading the ranks of run %1…', run)
    );
    const host = el('div', 'jp-CusprunPanel-sweep');
    this.detail.replaceChildren(heading, message, host);

    const row = this.rows.find(r => r.id === run);
    const dims = row ? row.dimensions.split(', ').filter(Boolean) : [];
    try {
      const wanted = dims.length > 0 ? subsetsToRank(dims) : [[]];
      const subsets = await Promise.all(
        wanted.map(d =>
          requestAPI<SweepSubset>(
            `api/runs/${encodeURIComponent(run)}/ranks`,
            {
              method: 'POST',
              body: JSON.stringify(d.length > 0 ? { dims: d } : {})
            },
            this.serverSettings
          )
        )
      );
      if (generation !== this.generation || this.isDisposed) {
        return;
      }
      const payload = payloadFromRanks(run, subsets);
      const trans = this.trans;
      const sweep = new SweepRenderer({
        mimeType: SWEEP_MIME_TYPE,
        translator: { load: () => trans }
      } as unknown as IRenderMime.IRendererOptions);
      this.sweep = sweep;
      Widget.attach(sweep, host);
      await sweep.renderModel({
        data: { [SWEEP_MIME_TYPE]: payload }
      } as unknown as IRenderMime.IMimeModel);
      message.textContent = '';
      message.hidden = true;
    } catch (error) {
      if (generation !== this.generation) {
        return;
      }
      message.textContent = this.trans.__(
        'The ranks of run %1 could not be loaded: %2',
        run,
        String((error as Error)?.message ?? error)
      );
      this.apiFailed(error);
    }
  }

  /** Live job events: a running job's progress line; a finished job refreshes the runs. */
  private connectEvents(): void {
    if (this.socket || typeof WebSocket === 'undefined') {
      return;
    }
    let socket: WebSocket;
    try {
      socket = new WebSocket(eventsURL(this.serverSettings));
    } catch {
      return;
    }
    this.socket = socket;
    socket.addEventListener('message', event => this.onEvent(event.data));
    socket.addEventListener('close', () => {
      if (this.socket === socket) {
        this.socket = null;
        this.progress.hidden = true;
      }
    });
  }

  private onEvent(data: unknown): void {
    let envelope: {
      type?: string;
      event?: {
        type?: string;
        job?: string;
        run?: string;
        info?: { id: string; type: string; run?: string; state: string };
        progress?: ProgressLike;
      };
    };
    try {
      envelope = JSON.parse(String(data));
    } catch {
      return;
    }
    // ServerMessage (src/protocol): `{type: 'event', event: JobEvent}`; hello, responses and
    // errors are not for this line.
    if (envelope?.type !== 'event' || !envelope.event) {
      return;
    }
    const message = envelope.event;
    const { type } = message;
    if (message.info && type?.startsWith('job-')) {
      const info = message.info;
      this.jobs.set(info.id, { type: info.type, run: info.run });
      if (type === 'job-started') {
        this.progress.hidden = false;
        this.progress.textContent = this.trans.__(
          '%1 %2 on %3: started',
          info.type,
          info.id,
          info.run ?? '—'
        );
      } else if (type !== 'job-queued') {
        this.progress.hidden = false;
        this.progress.textContent = this.trans.__(
          '%1 %2 on %3: %4',
          info.type,
          info.id,
          info.run ?? '—',
          info.state
        );
        void this.loadRuns();
      }
    } else if (type === 'progress' && message.progress && message.job) {
      const job = this.jobs.get(message.job) ?? { type: this.trans.__('job') };
      this.progress.hidden = false;
      this.progress.textContent = progressLine(
        { id: message.job, type: job.type, run: message.run ?? job.run },
        message.progress,
        this.trans
      );
    }
  }
}
