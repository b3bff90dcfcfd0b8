/**
 * The interactive σ-sweep output: a σ slider and dimension toggles over the ranks embedded in a
 * `%cusprun sweep` output, and a per-layer bar chart drawn as plain SVG, so a saved notebook
 * stays interactive with no kernel and no sidecar. The selection rule is the output's own; where
 * a sidecar stands behind the view (the run's dashboard), `offerRules` lets it choose another.
 */
import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { ISignal, Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';
import { el } from './dom';
import {
  allDimensions,
  binOf,
  findSubset,
  initialSubset,
  payloadProblem,
  ratioCurve,
  ruleChoices,
  RuleRanks,
  summaryLine,
  SWEEP_MIME_TYPE,
  SweepPayload,
  SweepSubset,
  SweepView,
  Translate,
  untranslated,
  viewAt
} from './sweep-model';
import type { UnitKind } from '../core/select';
import { ruleLabel, RuleSettings } from '../core/select/rules';

const SVG_NS = 'http://www.w3.org/2000/svg';
const KINDS: UnitKind[] = ['ffn', 'attention'];
/** Keys a range input or a checkbox acts on by itself. */
const CONTROL_KEYS = new Set([
  'ArrowLeft',
  'ArrowRight',
  'ArrowUp',
  'ArrowDown',
  'Home',
  'End',
  'PageUp',
  'PageDown',
  ' '
]);

/** Chart geometry, in SVG user units. */
const CHART = {
  height: 160,
  top: 8,
  left: 40,
  right: 8,
  bottom: 22,
  bar: 9,
  gap: 2,
  layerGap: 8
};

const CURVE = {
  width: 240,
  height: 160,
  top: 8,
  left: 40,
  right: 10,
  bottom: 22
};

let instances = 0;

function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number> = {}
): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    el.setAttribute(k, String(v));
  }
  return el;
}

export class SweepRenderer extends Widget implements IRenderMime.IRenderer {
  private readonly trans: Translate;
  private payload: SweepPayload | null = null;
  private subset: SweepSubset | null = null;
  private dims: string[] = [];
  private bin = 0;
  private slider: HTMLInputElement | null = null;
  private summary: HTMLElement | null = null;
  private ruleRanks: RuleRanks | null = null;
  private toggles = new Map<string, HTMLInputElement>();
  private bars = new Map<
    string,
    { rect: SVGRectElement; title: SVGTitleElement }
  >();
  private plotHeight = CHART.height - CHART.top - CHART.bottom;
  private curveLine: SVGPolylineElement | null = null;
  private marker: SVGLineElement | null = null;
  private markerDot: SVGCircleElement | null = null;
  private readonly uid = ++instances;
  private readonly changed = new Signal<this, SweepView>(this);

  constructor(options: IRenderMime.IRendererOptions) {
    super();
    this.addClass('jp-CusprunSweep');
    this.trans = options.translator
      ? options.translator.load('cusprun')
      : untranslated;
  }

  /** Every redraw, with the view drawn (the panel follows σ and the dimensions with it). */
  get viewChanged(): ISignal<this, SweepView> {
    return this.changed;
  }

  /**
   * Lets the view switch rules, fetching each rule's ranks through `ranks` (call it before
   * `renderModel`); without it the rule select shows the output's own rule only.
   */
  offerRules(ranks: RuleRanks): void {
    this.ruleRanks = ranks;
  }

  /** The view on screen (for tests and the benchmark). */
  get view(): SweepView | null {
    return this.subset ? viewAt(this.subset, this.bin) : null;
  }

  async renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const data = model.data[SWEEP_MIME_TYPE];
    this.node.textContent = '';
    this.toggles.clear();
    this.bars.clear();
    const problem = payloadProblem(data);
    if (problem) {
      this.payload = this.subset = null;
      this.node.appendChild(
        el(
          'div',
          'jp-CusprunSweep-problem',
          this.trans.__('This Cus-Prun output cannot be shown: %1', problem)
        )
      );
      return;
    }
    const payload = data as unknown as SweepPayload;
    this.payload = payload;
    this.subset = initialSubset(payload);
    this.dims = [...this.subset.dimensions];
    const bins = this.subset.bins;
    this.bin = this.clampBin(
      binOf(typeof payload.sigma === 'number' ? payload.sigma : 0.5, bins)
    );
    this.build(payload);
    this.redraw();
  }

  /** σ stays strictly between 0 and 1, as the CLI asks of `--sigma`. */
  private clampBin(bin: number): number {
    const bins = this.subset!.bins;
    return bins < 2 ? bin : Math.min(bins - 1, Math.max(1, bin));
  }

  private build(payload: SweepPayload): void {
    const trans = this.trans;
    const header = el(
      'div',
      'jp-CusprunSweep-header',
      trans.__('Cus-Prun σ sweep · run %1', payload.run)
    );
    this.node.appendChild(header);

    const controls = el('div', 'jp-CusprunSweep-controls');
    // The notebook's command-mode shortcuts (arrows move between headings, space scrolls…) must
    // not take the slider's and the toggles' own keys; other keys (Ctrl+S…) still reach them.
    controls.addEventListener('keydown', event => {
      if (
        CONTROL_KEYS.has(event.key) &&
        !(event.ctrlKey || event.metaKey || event.altKey)
      ) {
        event.stopPropagation();
      }
    });
    const sliderId = `jp-CusprunSweep-sigma-${this.uid}`;
    const label = el('label', 'jp-CusprunSweep-sliderLabel', trans.__('σ'));
    label.htmlFor = sliderId;
    const slider = el('input', 'jp-CusprunSweep-slider');
    slider.type = 'range';
    slider.id = sliderId;
    const bins = this.subset!.bins;
    slider.min = String(bins < 2 ? 0 : 1);
    slider.max = String(bins < 2 ? bins : bins - 1);
    slider.step = '1';
    slider.value = String(this.bin);
    slider.title = trans.__(
      'σ: the share of documents a unit may be relevant to'
    );
    slider.addEventListener('input', () => {
      this.bin = this.clampBin(Number(slider.value));
      this.redraw();
    });
    this.slider = slider;
    controls.append(label, slider, this.buildRuleSelect());

    const fieldset = el('fieldset', 'jp-CusprunSweep-dimensions');
    fieldset.appendChild(el('legend', undefined, trans.__('Dimensions')));
    for (const dim of allDimensions(payload)) {
      const box = el('input');
      box.type = 'checkbox';
      box.value = dim;
      box.checked = this.dims.includes(dim);
      box.addEventListener('change', () => this.toggle(box));
      const item = el('label', 'jp-CusprunSweep-dimension');
      item.append(box, document.createTextNode(dim));
      fieldset.appendChild(item);
      this.toggles.set(dim, box);
    }
    controls.appendChild(fieldset);
    this.node.appendChild(controls);

    const summary = el('div', 'jp-CusprunSweep-summary');
    summary.setAttribute('aria-live', 'polite');
    this.summary = summary;
    this.node.appendChild(summary);

    const charts = el('div', 'jp-CusprunSweep-charts');
    charts.append(this.buildChart(this.subset!), this.buildCurve());
    this.node.appendChild(charts);
    this.drawCurve();
  }

  /** The rule select: every rule the view can fetch, or the output's own, disabled. */
  private buildRuleSelect(): HTMLElement {
    const trans = this.trans;
    const current = this.view!.rule;
    const choices = this.ruleRanks ? ruleChoices(current) : [current];
    const select = el('select', 'jp-CusprunSweep-rule');
    select.id = `jp-CusprunSweep-rule-${this.uid}`;
    for (const choice of choices) {
      const option = el('option', undefined, ruleLabel(choice));
      option.value = ruleLabel(choice);
      select.appendChild(option);
    }
    select.value = ruleLabel(current);
    select.disabled = !this.ruleRanks;
    select.title = this.ruleRanks
      ? trans.__('The selection rule: how the dimensions’ ranks decide')
      : trans.__(
          'This output’s ranks were made under %1; %cusprun plan --rule RULE shows another',
          ruleLabel(current)
        );
    select.addEventListener('change', () => {
      const choice = choices.find(c => ruleLabel(c) === select.value);
      if (choice) {
        void this.chooseRule(select, choice);
      }
    });
    const label = el('label', 'jp-CusprunSweep-ruleLabel', trans.__('rule'));
    label.htmlFor = select.id;
    const item = el('span', 'jp-CusprunSweep-ruleChoice');
    item.append(label, select);
    return item;
  }

  /** Redraws the view under `rule`, at the same σ and dimensions; back to the old rule if its ranks do not come. */
  private async chooseRule(
    select: HTMLSelectElement,
    rule: RuleSettings
  ): Promise<void> {
    const before = this.view!;
    select.disabled = true;
    try {
      const payload = {
        ...this.payload!,
        subsets: await this.ruleRanks!(rule)
      };
      const subset = findSubset(payload, this.dims);
      if (!subset) {
        throw new Error(`no ranks for ${this.dims.join(', ')}`);
      }
      this.payload = payload;
      this.subset = subset;
      this.bin = this.clampBin(binOf(before.sigma, this.subset.bins));
      this.slider!.value = String(this.bin);
      this.drawCurve();
      this.redraw();
    } catch {
      // the source says why its ranks did not come (the dashboard's status line)
      select.value = ruleLabel(before.rule);
    } finally {
      select.disabled = false;
    }
  }

  private buildChart(subset: SweepSubset): HTMLElement {
    const trans = this.trans;
    const layers = [...new Set(subset.groups.map(g => g.layer))].sort(
      (a, b) => a - b
    );
    const step = KINDS.length * (CHART.bar + CHART.gap) + CHART.layerGap;
    const width = CHART.left + layers.length * step + CHART.right;
    const base = CHART.top + this.plotHeight;
    const chart = svg('svg', {
      class: 'jp-CusprunSweep-chart',
      width,
      height: CHART.height,
      viewBox: `0 0 ${width} ${CHART.height}`,
      role: 'img'
    });
    chart.setAttribute(
      'aria-label',
      trans.__('Share of each layer’s units removed, per unit kind')
    );
    for (const tick of [0, 0.5, 1]) {
      const y = base - tick * this.plotHeight;
      chart.appendChild(
        svg('line', {
          class: 'jp-CusprunSweep-grid',
          x1: CHART.left,
          x2: width - CHART.right,
          y1: y,
          y2: y
        })
      );
      const text = svg('text', {
        class: 'jp-CusprunSweep-axis',
        x: CHART.left - 4,
        y: y + 3,
        'text-anchor': 'end'
      });
      text.textContent = `${tick * 100}%`;
      chart.appendChild(text);
    }
    const slot = new Map(layers.map((l, i) => [l, i]));
    for (const g of subset.groups) {
      const x =
        CHART.left +
        slot.get(g.layer)! * step +
        CHART.layerGap / 2 +
        KINDS.indexOf(g.kind) * (CHART.bar + CHART.gap);
      const rect = svg('rect', {
        class: `jp-CusprunSweep-bar jp-CusprunSweep-bar-${g.kind}`,
        x,
        y: base,
        width: CHART.bar,
        height: 0,
        'data-layer': g.layer,
        'data-kind': g.kind
      });
      const title = svg('title');
      rect.appendChild(title);
      chart.appendChild(rect);
      this.bars.set(`${g.layer}:${g.kind}`, { rect, title });
    }
    layers.forEach((l, i) => {
      const text = svg('text', {
        class: 'jp-CusprunSweep-axis',
        x: CHART.left + i * step + step / 2,
        y: CHART.height - 8,
        'text-anchor': 'middle'
      });
      text.textContent = String(l);
      chart.appendChild(text);
    });

    const figure = el('div', 'jp-CusprunSweep-figure');
    const legend = el('div', 'jp-CusprunSweep-legend');
    for (const [kind, name] of [
      ['ffn', trans.__('FFN channels')],
      ['attention', trans.__('attention groups')]
    ]) {
      const key = el('span', `jp-CusprunSweep-key jp-CusprunSweep-key-${kind}`);
      legend.append(key, document.createTextNode(name));
    }
    legend.appendChild(
      el(
        'span',
        'jp-CusprunSweep-axisTitle',
        trans.__('units removed, per layer')
      )
    );
    figure.append(legend, chart);
    return figure;
  }

  /** The ratio-against-σ curve of the selected dimensions, with a marker at the slider's σ. */
  private buildCurve(): HTMLElement {
    const trans = this.trans;
    const { width, height, top, left, right, bottom } = CURVE;
    const chart = svg('svg', {
      class: 'jp-CusprunSweep-curve',
      width,
      height,
      viewBox: `0 0 ${width} ${height}`,
      role: 'img'
    });
    chart.setAttribute(
      'aria-label',
      trans.__('Share of prunable parameters removed against σ')
    );
    const plotW = width - left - right;
    const plotH = height - top - bottom;
    for (const tick of [0, 0.5, 1]) {
      const y = top + plotH - tick * plotH;
      chart.appendChild(
        svg('line', {
          class: 'jp-CusprunSweep-grid',
          x1: left,
          x2: left + plotW,
          y1: y,
          y2: y
        })
      );
      const label = svg('text', {
        class: 'jp-CusprunSweep-axis',
        x: left - 4,
        y: y + 3,
        'text-anchor': 'end'
      });
      label.textContent = `${tick * 100}%`;
      chart.appendChild(label);
      const x = left + tick * plotW;
      const sigma = svg('text', {
        class: 'jp-CusprunSweep-axis',
        x,
        y: height - 8,
        'text-anchor': 'middle'
      });
      sigma.textContent = tick === 0.5 ? 'σ' : String(tick);
      chart.appendChild(sigma);
    }
    this.curveLine = svg('polyline', { class: 'jp-CusprunSweep-curveLine' });
    this.marker = svg('line', {
      class: 'jp-CusprunSweep-marker',
      y1: top,
      y2: top + plotH
    });
    this.markerDot = svg('circle', {
      class: 'jp-CusprunSweep-markerDot',
      r: 3
    });
    chart.append(this.curveLine, this.marker, this.markerDot);

    const figure = el('div', 'jp-CusprunSweep-figure');
    figure.append(
      el(
        'div',
        'jp-CusprunSweep-legend',
        trans.__('parameters removed, against σ')
      ),
      chart
    );
    return figure;
  }

  private curveX(sigma: number): number {
    return CURVE.left + sigma * (CURVE.width - CURVE.left - CURVE.right);
  }

  private curveY(ratio: number): number {
    const plotH = CURVE.height - CURVE.top - CURVE.bottom;
    return CURVE.top + plotH - ratio * plotH;
  }

  private drawCurve(): void {
    const curve = ratioCurve(this.subset!);
    this.curveLine?.setAttribute(
      'points',
      curve
        .map(
          p =>
            `${this.curveX(p.sigma).toFixed(1)},${this.curveY(p.ratio).toFixed(1)}`
        )
        .join(' ')
    );
  }

  private toggle(box: HTMLInputElement): void {
    const next = [...this.toggles.keys()].filter(
      d => this.toggles.get(d)!.checked
    );
    const subset = this.payload ? findSubset(this.payload, next) : undefined;
    if (next.length === 0 || !subset) {
      box.checked = !box.checked;
      return;
    }
    this.dims = next;
    this.subset = subset;
    this.drawCurve();
    this.redraw();
  }

  private redraw(): void {
    const view = viewAt(this.subset!, this.bin);
    const trans = this.trans;
    this.summary!.textContent = summaryLine(view, trans);
    this.slider!.setAttribute(
      'aria-valuetext',
      summaryLine(view, trans).split(' · ').slice(0, 3).join(' · ')
    );
    const base = CHART.top + this.plotHeight;
    view.layers.forEach(l => {
      const bar = this.bars.get(`${l.layer}:${l.kind}`);
      if (!bar) {
        return;
      }
      const h = l.share * this.plotHeight;
      bar.rect.setAttribute('y', String(base - h));
      bar.rect.setAttribute('height', String(h));
      bar.rect.setAttribute('data-pruned', String(l.pruned));
      bar.title.textContent = trans.__(
        'layer %1 %2: %3 of %4 removed',
        String(l.layer),
        l.kind === 'ffn'
          ? trans.__('FFN channels')
          : trans.__('attention groups'),
        String(l.pruned),
        String(l.units)
      );
    });
    if (this.marker && this.markerDot) {
      const x = String(this.curveX(view.sigma));
      this.marker.setAttribute('x1', x);
      this.marker.setAttribute('x2', x);
      this.markerDot.setAttribute('cx', x);
      this.markerDot.setAttribute('cy', String(this.curveY(view.ratio)));
    }
    // The last checked dimension cannot be unchecked: at least one stays on.
    const checked = [...this.toggles.values()].filter(b => b.checked);
    for (const box of this.toggles.values()) {
      box.disabled = checked.length === 1 && box.checked;
    }
    this.changed.emit(view);
  }

  dispose(): void {
    Signal.clearData(this);
    super.dispose();
  }
}
