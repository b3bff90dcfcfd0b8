/**
 * One run in the panel: its σ slider and dimension toggles (the σ-sweep output's own widget,
 * over ranks fetched once), the relevance histograms at the σ in view and the run's latest
 * σ sweep (JupyterLab's Vega renderer), and what to do with the view: prune with it, run a σ
 * sweep, insert it into the notebook as a `%cusprun` cell, compare the run with another.
 */
import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { ServerConnection } from '@jupyterlab/services';
import { TranslationBundle } from '@jupyterlab/translation';
import { Panel, Widget } from '@lumino/widgets';
import { errorMessage, requestAPI } from './api';
import { chartBundle, ChartsView } from './charts-view';
import { compareRuns } from './compare-model';
import type {
  ChartsAnswer,
  RunDetail,
  SigmaAnswer,
  SweepRecord
} from '../core/protocol';
import { renderComparison } from './compare-view';
import { el, foldedForm, labelled } from './dom';
import { JobEvents } from './job-events';
import { isFinished, JobEntry, JobUpdate, jobLine } from './jobs-model';
import {
  expertOutPath,
  payloadFromRanks,
  planCellSource,
  readEvalSets,
  subsetsToRank
} from './panel-model';
import { SWEEP_MIME_TYPE, SweepSubset, SweepView } from './sweep-model';
import { DEFAULT_SIGMA, startSigma } from './run-view-model';
import { SweepRenderer } from './sweep-widget';
import { ICusprunSettings } from './tokens';

/** The sidecar's name of a plan's relevance histograms (src/sidecar/format/experiment.ts). */
const HISTOGRAM_CHART = 'relevance-histogram';

/** Milliseconds of slider rest before the histogram is asked again (the bars follow at once). */
const CHARTS_DEBOUNCE_MS = 150;

/** `api/runs/RUN`, or one of its routes. */
function runPath(run: string, ...tail: string[]): string {
  return [`api/runs/${encodeURIComponent(run)}`, ...tail].join('/');
}

/** What the run view needs from the panel around it. */
export interface RunViewContext {
  trans: TranslationBundle;
  serverSettings: ServerConnection.ISettings;
  events: JobEvents;
  settings: () => ICusprunSettings;
  /** A new view of Vega-Lite charts. */
  charts: () => ChartsView;
  /** Inserts a `%cusprun` cell with its outputs into the active notebook; says what it did. */
  insertCell: (
    source: string,
    outputs: Record<string, unknown>[]
  ) => Promise<string>;
  /** The ids of the store's other runs, to compare this one with. */
  otherRuns: () => string[];
  /** A request failed (the panel decides whether the sidecar went away). */
  failed: (error: unknown) => void;
}

export class RunView extends Panel {
  private readonly message: HTMLParagraphElement;
  private readonly actions: HTMLElement;
  private readonly status: HTMLParagraphElement;
  private readonly gridLine = el('p', 'jp-CusprunRun-grid');
  private sweep: SweepRenderer | null = null;
  private subsets: SweepSubset[] = [];
  private histogram: ChartsView;
  private sweepCharts: ChartsView;
  private chartsTimer: number | null = null;
  private chartsRequest = 0;
  /** Jobs this view started: their end is reported in the view's status line. */
  private readonly started = new Set<string>();

  constructor(
    readonly run: string,
    private readonly dimensions: string[],
    private readonly context: RunViewContext
  ) {
    super();
    this.addClass('jp-CusprunRun');
    const { trans } = context;
    const head = new Widget();
    head.addClass('jp-CusprunRun-head');
    this.message = el(
      'p',
      'jp-CusprunPanel-detailMessage',
      trans.__('Loading the ranks of run %1…', run)
    );
    this.actions = el('div', 'jp-CusprunRun-actions');
    this.actions.hidden = true;
    this.status = el('p', 'jp-CusprunRun-status');
    this.status.setAttribute('role', 'status');
    head.node.append(
      el('h3', 'jp-CusprunPanel-subheading', trans.__('Run %1', run)),
      this.message,
      this.actions,
      this.status
    );
    this.addWidget(head);
    this.histogram = context.charts();
    this.histogram.addClass('jp-CusprunRun-histogram');
    this.sweepCharts = context.charts();
    this.sweepCharts.addClass('jp-CusprunRun-sweepCharts');
    this.addWidget(this.histogram);
    this.addWidget(this.sweepCharts);
    context.events.changed.connect(this.onJob, this);
  }

  /** The view on the slider now (null until the ranks arrived). */
  get view(): SweepView | null {
    return this.sweep?.view ?? null;
  }

  /** Fetches the ranks of every dimension subset once, then draws the view. */
  async load(): Promise<void> {
    const { trans } = this.context;
    try {
      const wanted =
        this.dimensions.length > 0 ? subsetsToRank(this.dimensions) : [[]];
      // the slider opens where the work is: the σ of the run's latest plan or prune
      const detail = requestAPI<RunDetail>(
        runPath(this.run),
        {},
        this.context.serverSettings
      ).catch(() => null);
      const subsets = await Promise.all(
        wanted.map(dims =>
          this.post<SweepSubset>(
            runPath(this.run, 'ranks'),
            dims.length > 0 ? { dims } : {}
          )
        )
      );
      const sigma = await detail.then(d => (d ? startSigma(d) : DEFAULT_SIGMA));
      if (this.isDisposed) {
        return;
      }
      this.subsets = subsets;
      const sweep = new SweepRenderer({
        mimeType: SWEEP_MIME_TYPE,
        translator: { load: () => trans }
      } as unknown as IRenderMime.IRendererOptions);
      sweep.addClass('jp-CusprunPanel-sweep');
      this.sweep = sweep;
      this.insertWidget(1, sweep);
      sweep.viewChanged.connect(this.scheduleCharts, this);
      await sweep.renderModel({
        data: { [SWEEP_MIME_TYPE]: payloadFromRanks(this.run, subsets, sigma) }
      } as unknown as IRenderMime.IMimeModel);
      this.message.textContent = '';
      this.buildActions();
      void this.loadSweepCharts();
    } catch (error) {
      if (this.isDisposed) {
        return;
      }
      this.message.textContent = trans.__(
        'The ranks of run %1 could not be loaded: %2',
        this.run,
        errorMessage(error)
      );
      this.context.failed(error);
    }
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    if (this.chartsTimer !== null) {
      window.clearTimeout(this.chartsTimer);
    }
    this.context.events.changed.disconnect(this.onJob, this);
    super.dispose();
  }

  private post<T>(path: string, body: unknown): Promise<T> {
    return requestAPI<T>(
      path,
      { method: 'POST', body: JSON.stringify(body) },
      this.context.serverSettings
    );
  }

  /** The plan query of the view on screen. */
  private query(view: SweepView): { sigma: number; dims?: string[] } {
    return view.dimensions.length === this.dimensions.length
      ? { sigma: view.sigma }
      : { sigma: view.sigma, dims: view.dimensions };
  }

  private scheduleCharts(): void {
    if (this.chartsTimer !== null) {
      window.clearTimeout(this.chartsTimer);
    }
    this.chartsTimer = window.setTimeout(() => {
      this.chartsTimer = null;
      void this.loadHistogram();
    }, CHARTS_DEBOUNCE_MS);
  }

  /** The relevance histograms with σ marked, for the view on screen. */
  private async loadHistogram(): Promise<void> {
    const view = this.view;
    if (!view) {
      return;
    }
    const request = ++this.chartsRequest;
    try {
      const answer = await this.post<ChartsAnswer>(
        runPath(this.run, 'charts'),
        { source: 'plan', ...this.query(view), names: [HISTOGRAM_CHART] }
      );
      if (request !== this.chartsRequest || this.isDisposed) {
        return;
      }
      await this.histogram.render(
        answer.charts,
        `${view.sigma}:${view.dimensions.join(',')}`
      );
    } catch (error) {
      this.context.failed(error);
    }
  }

  /** The charts of the run's latest σ sweep, when it has one. */
  private async loadSweepCharts(): Promise<void> {
    try {
      const detail = await requestAPI<{ sweeps: string[] }>(
        runPath(this.run),
        {},
        this.context.serverSettings
      );
      if (detail.sweeps.length === 0 || this.isDisposed) {
        await this.sweepCharts.render([]);
        return;
      }
      const file = detail.sweeps[detail.sweeps.length - 1];
      const answer = await this.post<ChartsAnswer>(
        runPath(this.run, 'charts'),
        { source: 'sweep', file }
      );
      if (!this.isDisposed) {
        await this.sweepCharts.render(answer.charts, file);
      }
    } catch (error) {
      this.context.failed(error);
    }
  }

  private buildActions(): void {
    const { trans } = this.context;
    const insert = el(
      'button',
      'jp-mod-styled jp-CusprunRun-insert',
      trans.__('Insert into notebook')
    );
    insert.type = 'button';
    insert.title = trans.__(
      'Insert the view as a %cusprun plan cell with its outputs below the active cell'
    );
    insert.addEventListener('click', () => void this.insert());
    this.actions.replaceChildren(
      insert,
      this.pruneForm(),
      this.sweepForm(),
      this.compareForm()
    );
    this.actions.hidden = false;
  }

  private pruneForm(): HTMLElement {
    const { trans } = this.context;
    const out = el('input', 'jp-mod-styled jp-CusprunRun-out');
    out.type = 'text';
    out.required = true;
    const overwrite = el('input');
    overwrite.type = 'checkbox';
    // The default file name follows the view until the user types one.
    let edited = false;
    out.addEventListener('input', () => (edited = true));
    const follow = () => {
      const view = this.view;
      if (!edited && view) {
        out.value = expertOutPath(this.run, this.query(view));
      }
    };
    follow();
    this.sweep?.viewChanged.connect(follow);
    return foldedForm({
      className: 'jp-CusprunRun-prune',
      summary: trans.__('Prune with this σ and these dimensions'),
      fields: [
        labelled(trans.__('Write the expert to'), out),
        labelled(
          trans.__('Replace an earlier prune cusprun wrote there'),
          overwrite
        )
      ],
      submit: trans.__('Prune'),
      onSubmit: async () => {
        const view = this.view;
        if (!view) {
          return;
        }
        await this.submit({
          type: 'prune',
          run: this.run,
          ...this.query(view),
          out: out.value.trim(),
          ...(overwrite.checked ? { overwrite: true } : {})
        });
      }
    });
  }

  private sweepForm(): HTMLElement {
    const { trans } = this.context;
    const sets = el('input', 'jp-mod-styled jp-CusprunRun-evalSets');
    sets.type = 'text';
    sets.required = true;
    sets.placeholder = trans.__('FILE or NAME=FILE, comma-separated');
    this.showSettings();
    return foldedForm({
      className: 'jp-CusprunRun-sweepForm',
      summary: trans.__('Run a σ sweep against the baselines'),
      fields: [labelled(trans.__('Evaluation sets'), sets), this.gridLine],
      submit: trans.__('Sweep'),
      onSubmit: async () => {
        const view = this.view;
        const evalSets = readEvalSets(sets.value);
        if (!view || evalSets.length === 0) {
          this.status.textContent = trans.__(
            'Give at least one evaluation set.'
          );
          return;
        }
        const s = this.context.settings();
        const { dims } = this.query(view);
        await this.submit({
          type: 'sweep',
          run: this.run,
          sigmas: s.sigmaGrid,
          evalSets,
          truncation: s.truncation,
          ...(s.threads > 0 ? { threads: s.threads } : {}),
          ...(dims ? { dims } : {})
        });
      }
    });
  }

  private compareForm(): HTMLElement {
    const { trans } = this.context;
    const other = el('select', 'jp-mod-styled jp-CusprunRun-compareWith');
    const fill = () => {
      const chosen = other.value;
      other.replaceChildren(
        ...this.context.otherRuns().map(id => {
          const option = el('option', undefined, id);
          option.value = id;
          return option;
        })
      );
      other.value = chosen;
    };
    fill();
    other.addEventListener('focus', fill);
    const table = el('div', 'jp-CusprunRun-comparison');
    const form = foldedForm({
      className: 'jp-CusprunRun-compare',
      summary: trans.__('Compare with another run'),
      fields: [labelled(trans.__('Compare with'), other)],
      submit: trans.__('Compare'),
      onSubmit: async () => {
        if (other.value) {
          await this.compare(other.value, table);
        }
      }
    });
    form.appendChild(table);
    return form;
  }

  /** This run and another side by side: config, ratios at the σ in view, sweep metrics. */
  private async compare(otherRun: string, host: HTMLElement): Promise<void> {
    const view = this.view;
    const { trans, serverSettings } = this.context;
    const side = async (run: string) => {
      const detail = await requestAPI<RunDetail>(
        runPath(run),
        {},
        serverSettings
      );
      const sigma = view
        ? await this.post<SigmaAnswer>(runPath(run, 'sigma'), {
            sigma: view.sigma
          })
        : null;
      const latest = detail.sweeps[detail.sweeps.length - 1];
      const sweep = latest
        ? await requestAPI<SweepRecord>(
            runPath(run, 'sweeps', encodeURIComponent(latest)),
            {},
            serverSettings
          )
        : null;
      return { run: detail, sigma, sweep };
    };
    try {
      const [a, b] = await Promise.all([side(this.run), side(otherRun)]);
      renderComparison(
        host,
        compareRuns(a, b, trans),
        {
          a: this.run,
          b: otherRun
        },
        trans
      );
    } catch (error) {
      host.textContent = trans.__(
        'The runs could not be compared: %1',
        errorMessage(error)
      );
    }
  }

  /** Shows the settings a sweep from here uses; the panel calls it when they change. */
  showSettings(): void {
    const s = this.context.settings();
    this.gridLine.textContent = this.context.trans.__(
      'σ grid %1 · truncation %2 (Settings › Cus-Prun)',
      s.sigmaGrid.join(', '),
      String(s.truncation)
    );
  }

  private async submit(request: Record<string, unknown>): Promise<void> {
    const { trans } = this.context;
    try {
      const job = await this.post<{ id: string; type: string; state: string }>(
        'api/jobs',
        request
      );
      this.started.add(job.id);
      this.status.textContent = trans.__(
        '%1 %2 on %3: %4',
        job.type,
        job.id,
        this.run,
        job.state
      );
    } catch (error) {
      this.status.textContent = trans.__(
        'The %1 job was refused: %2',
        String(request.type),
        errorMessage(error)
      );
    }
  }

  private onJob(_: JobEvents, update: JobUpdate): void {
    if (update.kind !== 'state' || !this.started.has(update.job.id)) {
      return;
    }
    const job = update.job;
    this.status.textContent = this.jobText(job);
    if (job.state === 'done' && job.type === 'sweep') {
      void this.loadSweepCharts();
    }
    if (isFinished(job)) {
      this.started.delete(job.id);
    }
  }

  private jobText(job: JobEntry): string {
    const { trans } = this.context;
    const result = job.result as
      { out?: string; bytesBefore?: number; bytesAfter?: number } | undefined;
    if (job.state === 'done' && job.type === 'prune' && result?.out) {
      return trans.__(
        'Expert written to %1 (%2 MB → %3 MB)',
        result.out,
        ((result.bytesBefore ?? 0) / 1e6).toFixed(2),
        ((result.bytesAfter ?? 0) / 1e6).toFixed(2)
      );
    }
    return jobLine(job, trans);
  }

  /** Inserts the view as `%cusprun plan …` with the outputs that magic displays. */
  async insert(): Promise<void> {
    const view = this.view;
    const { trans } = this.context;
    if (!view) {
      return;
    }
    try {
      const query = this.query(view);
      const answer = await this.post<ChartsAnswer>(
        runPath(this.run, 'charts'),
        { source: 'plan', ...query, svg: true }
      );
      const outputs = answer.charts.map(chartBundle);
      if (outputs.length > 0) {
        outputs[0][SWEEP_MIME_TYPE] = {
          ...payloadFromRanks(this.run, this.subsets, view.sigma),
          dimensions: view.dimensions
        };
      }
      this.status.textContent = await this.context.insertCell(
        planCellSource(this.run, query),
        outputs
      );
    } catch (error) {
      this.status.textContent = trans.__(
        'The view could not be inserted: %1',
        errorMessage(error)
      );
    }
  }
}
