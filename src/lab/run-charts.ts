/**
 * A run's charts in its dashboard, each under its heading: the relevance histograms at the σ in
 * view (asked again once the slider rests), and the charts of the run's latest σ sweep and
 * ablation (again when a job of the dashboard finishes). A section without charts is hidden.
 */
import { Panel, Widget } from '@lumino/widgets';
import type { RunDetail } from '../core/protocol';
import { Chart, ChartsView } from './charts-view';
import { el } from './dom';
import { RunDashboardModel } from './run-dashboard-model';

/** The sidecar's name of a plan's relevance histograms (src/sidecar/format/experiment.ts). */
const HISTOGRAM_CHART = 'relevance-histogram';

/** Milliseconds of slider rest before the histogram is asked again (the bars follow at once). */
const CHARTS_DEBOUNCE_MS = 150;

/** A heading over a charts view; hidden while the view has nothing to show. */
class ChartsSection extends Panel {
  readonly charts: ChartsView;

  constructor(model: RunDashboardModel, title: string, className: string) {
    super();
    this.addClass('jp-CusprunRun-chartsSection');
    const heading = new Widget({
      node: el('h3', 'jp-CusprunPanel-subheading', title)
    });
    this.charts = model.context.charts();
    this.charts.addClass(className);
    this.addWidget(heading);
    this.addWidget(this.charts);
    this.hide();
  }

  async showCharts(charts: readonly Chart[], tag: string): Promise<void> {
    this.setHidden(charts.length === 0);
    await this.charts.render(charts, tag);
  }
}

export class RunCharts extends Panel {
  private readonly histogram: ChartsSection;
  private readonly sweep: ChartsSection;
  private readonly ablation: ChartsSection;
  private timer: number | null = null;
  private request = 0;

  constructor(private readonly model: RunDashboardModel) {
    super();
    this.addClass('jp-CusprunRun-charts');
    const { trans } = model.context;
    this.histogram = new ChartsSection(
      model,
      trans.__('Relevance at σ'),
      'jp-CusprunRun-histogram'
    );
    this.sweep = new ChartsSection(
      model,
      trans.__('Latest σ sweep'),
      'jp-CusprunRun-sweepCharts'
    );
    this.ablation = new ChartsSection(
      model,
      trans.__('Latest ablation'),
      'jp-CusprunRun-ablationCharts'
    );
    this.addWidget(this.histogram);
    this.addWidget(this.sweep);
    this.addWidget(this.ablation);
    model.viewChanged.connect(this.schedule, this);
  }

  dispose(): void {
    if (this.timer !== null) {
      window.clearTimeout(this.timer);
    }
    super.dispose();
  }

  private schedule(): void {
    if (this.timer !== null) {
      window.clearTimeout(this.timer);
    }
    this.timer = window.setTimeout(() => {
      this.timer = null;
      void this.loadHistogram();
    }, CHARTS_DEBOUNCE_MS);
  }

  /** The relevance histograms with σ marked, for the view on screen. */
  private async loadHistogram(): Promise<void> {
    const view = this.model.view;
    if (!view) {
      return;
    }
    const request = ++this.request;
    try {
      const answer = await this.model.charts({
        source: 'plan',
        ...this.model.query(view),
        names: [HISTOGRAM_CHART]
      });
      if (request === this.request && !this.isDisposed) {
        await this.histogram.showCharts(
          answer.charts,
          `${view.sigma}:${view.dimensions.join(',')}`
        );
      }
    } catch (error) {
      this.model.context.failed(error);
    }
  }

  /** The charts of the run's latest σ sweep and ablation, when it has them. */
  async loadLatest(detail: RunDetail): Promise<void> {
    const latest = async (
      source: 'sweep' | 'ablation',
      files: string[],
      section: ChartsSection
    ) => {
      const file = files.at(-1);
      const answer = file
        ? await this.model.charts({ source, file })
        : { charts: [] };
      if (!this.isDisposed) {
        await section.showCharts(answer.charts, file ?? '');
      }
    };
    try {
      await Promise.all([
        latest('sweep', detail.sweeps, this.sweep),
        latest('ablation', detail.ablations, this.ablation)
      ]);
    } catch (error) {
      this.model.context.failed(error);
    }
  }
}
