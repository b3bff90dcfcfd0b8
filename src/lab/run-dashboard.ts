/**
 * One run as a main-area dashboard: its σ view, what to do with it, its charts (relevance at σ,
 * latest sweep and ablation) and its config and history. The state is in run-dashboard-model.ts;
 * the parts are widgets of their own (sigma-view, run-actions, run-charts, run-history).
 */
import { Panel, Widget } from '@lumino/widgets';
import { errorMessage } from './api';
import { el } from './dom';
import { RelativeTimeRefresher } from './relative-times';
import { runActions } from './run-actions';
import { RunCharts } from './run-charts';
import { RunContext, RunDashboardModel } from './run-dashboard-model';
import { renderHistory } from './run-history';
import { createSigmaView } from './sigma-view';

export const DASHBOARD_CLASS = 'jp-CusprunRunDashboard';

/** The dashboard's id for a run: one per run. */
export function dashboardId(run: string): string {
  return `cusprun-run-${encodeURIComponent(run)}`;
}

export class RunDashboard extends Panel {
  readonly model: RunDashboardModel;
  private readonly head = new Widget();
  private readonly message: HTMLParagraphElement;
  private readonly status = el('p', 'jp-CusprunRun-status');
  private readonly gridLine = el('p', 'jp-CusprunRun-grid');
  private readonly charts: RunCharts;
  private readonly history = new Widget();
  private readonly times = new RelativeTimeRefresher(this.node);

  constructor(run: string, context: RunContext) {
    super();
    this.addClass(DASHBOARD_CLASS);
    this.node.dataset.run = run;
    this.model = new RunDashboardModel(run, context);
    const { trans } = context;
    this.message = el(
      'p',
      'jp-CusprunRun-message',
      trans.__('Loading the ranks of run %1…', run)
    );
    this.status.setAttribute('role', 'status');
    this.head.addClass('jp-CusprunRun-head');
    this.head.node.append(
      el('h2', 'jp-CusprunRun-title', trans.__('Run %1', run)),
      this.message,
      this.status
    );
    this.charts = new RunCharts(this.model);
    this.history.addClass('jp-CusprunRun-historyView');
    this.addWidget(this.head);
    this.addWidget(this.charts);
    this.addWidget(this.history);
    this.model.said.connect((_, text) => (this.status.textContent = text));
    this.model.jobDone.connect(() => void this.refresh());
    this.showSettings();
  }

  /** Fetches the run and its ranks once, then draws every part. */
  async load(): Promise<void> {
    const { trans, failed } = this.model.context;
    try {
      const payload = await this.model.load();
      const sweep = await createSigmaView(this.model, payload);
      if (this.isDisposed) {
        return;
      }
      this.insertWidget(1, sweep);
      this.message.textContent = '';
      this.head.node.appendChild(runActions(this.model, this.gridLine));
      this.showDetail();
    } catch (error) {
      if (this.isDisposed) {
        return;
      }
      this.message.textContent = trans.__(
        'The ranks of run %1 could not be loaded: %2',
        this.model.run,
        errorMessage(error)
      );
      failed(error);
    }
  }

  /** Shows the settings a sweep from here uses; called again when they change. */
  showSettings(): void {
    const s = this.model.context.settings();
    this.gridLine.textContent = this.model.context.trans.__(
      'σ grid %1 · truncation %2 (Settings › Cus-Prun)',
      s.sigmaGrid.join(', '),
      String(s.truncation)
    );
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.times.stop();
    this.model.dispose();
    super.dispose();
  }

  protected onAfterAttach(): void {
    this.times.start();
  }

  protected onBeforeDetach(): void {
    this.times.stop();
  }

  /** A job of the dashboard ended: the run's history and latest charts again. */
  private async refresh(): Promise<void> {
    try {
      await this.model.fetchDetail();
      if (!this.isDisposed) {
        this.showDetail();
      }
    } catch (error) {
      this.model.context.failed(error);
    }
  }

  private showDetail(): void {
    const detail = this.model.detail;
    if (detail) {
      renderHistory(this.history.node, detail, this.model.context.trans);
      void this.charts.loadLatest(detail);
    }
  }
}
