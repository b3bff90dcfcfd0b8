/**
 * Vega-Lite charts of the sidecar (`POST cusprun/api/runs/RUN/charts`) drawn by JupyterLab's own
 * Vega renderer through the rendermime registry, one figure per chart name, each redrawn in
 * place when a newer spec arrives.
 */
import { IRenderMimeRegistry, MimeModel } from '@jupyterlab/rendermime';
import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { TranslationBundle } from '@jupyterlab/translation';
import { Panel, Widget } from '@lumino/widgets';
import { type ChartsAnswer, VEGALITE_MIME_TYPE } from '../core/protocol';
import { fitSpec } from './chart-fit';

/** One chart of the sidecar's charts answer. */
export type Chart = ChartsAnswer['charts'][number];

/** An output bundle as `chart_bundle` (kernel-bridge/cusprun/display.py) writes it. */
export function chartBundle(chart: Chart): Record<string, unknown> {
  const title = (chart.spec as { title?: { text?: string } | string }).title;
  const text = typeof title === 'string' ? title : (title?.text ?? chart.name);
  const bundle: Record<string, unknown> = {
    [VEGALITE_MIME_TYPE]: chart.spec,
    'text/plain': `<cusprun chart: ${text}>`
  };
  if (chart.svg) {
    bundle['image/svg+xml'] = chart.svg;
  }
  return bundle;
}

/** Pixels the width must change by before the charts are drawn again to fit it. */
const REFIT_PX = 8;
/** Milliseconds of rest after a resize before they are. */
const REFIT_DEBOUNCE_MS = 150;

export class ChartsView extends Panel {
  /** Per chart name, its renderer (or a note saying none is available). */
  private readonly figures = new Map<string, Widget>();
  /** What was drawn last, to draw again at a new width. */
  private shown: { charts: readonly Chart[]; tag: string } = {
    charts: [],
    tag: ''
  };
  private fittedWidth = 0;
  private refitTimer: number | null = null;
  private readonly resizes =
    typeof ResizeObserver === 'undefined'
      ? null
      : new ResizeObserver(() => this.scheduleRefit());

  constructor(
    private readonly rendermime: IRenderMimeRegistry | null,
    private readonly trans: TranslationBundle
  ) {
    super();
    this.addClass('jp-CusprunCharts');
    this.resizes?.observe(this.node);
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.resizes?.disconnect();
    if (this.refitTimer !== null) {
      window.clearTimeout(this.refitTimer);
    }
    super.dispose();
  }

  /** The width the charts may take (px; 0 while the view is not laid out). */
  private get width(): number {
    return this.node.clientWidth;
  }

  private scheduleRefit(): void {
    if (Math.abs(this.width - this.fittedWidth) < REFIT_PX) {
      return;
    }
    if (this.refitTimer !== null) {
      window.clearTimeout(this.refitTimer);
    }
    this.refitTimer = window.setTimeout(() => {
      this.refitTimer = null;
      if (!this.isDisposed && this.shown.charts.length > 0) {
        void this.render(this.shown.charts, this.shown.tag);
      }
    }, REFIT_DEBOUNCE_MS);
  }

  /** Draws these charts (others drawn before are removed), fitted to the view's width; `tag` marks what they show. */
  async render(charts: readonly Chart[], tag = ''): Promise<void> {
    this.shown = { charts, tag };
    this.fittedWidth = this.width;
    const wanted = new Set(charts.map(c => c.name));
    for (const [name, figure] of this.figures) {
      if (!wanted.has(name)) {
        figure.dispose();
        this.figures.delete(name);
      }
    }
    await Promise.all(charts.map(chart => this.drawChart(chart, tag)));
  }

  private figure(name: string): Widget {
    let figure = this.figures.get(name);
    if (!figure) {
      const vega =
        this.rendermime?.preferredMimeType(
          { [VEGALITE_MIME_TYPE]: {} },
          'any'
        ) === VEGALITE_MIME_TYPE;
      figure = vega
        ? this.rendermime!.createRenderer(VEGALITE_MIME_TYPE)
        : new Widget();
      if (!vega) {
        figure.node.textContent = this.trans.__(
          'Chart %1: JupyterLab’s Vega renderer is not available.',
          name
        );
      }
      figure.addClass('jp-CusprunCharts-figure');
      figure.node.dataset.chart = name;
      this.figures.set(name, figure);
      this.addWidget(figure);
    }
    return figure;
  }

  private async drawChart(chart: Chart, tag: string): Promise<void> {
    const figure = this.figure(chart.name);
    if ('renderModel' in figure) {
      await (figure as IRenderMime.IRenderer).renderModel(
        new MimeModel({
          data: {
            [VEGALITE_MIME_TYPE]: fitSpec(chart.spec, this.fittedWidth) as never
          },
          // SVG: it scales down with the figure (style/base.css) rather than clip
          metadata: {
            [VEGALITE_MIME_TYPE]: { embed_options: { renderer: 'svg' } }
          },
          trusted: true
        })
      );
    }
    figure.node.dataset.tag = tag;
  }
}
