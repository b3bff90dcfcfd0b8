/**
 * What every chart spec shares. Specs are Vega-Lite v5 within the feature set of vega-lite
 * 5.6.1, the version JupyterLab 4.6's built-in renderer bundles, so a notebook output renders
 * there as well as in the panel and in the SVG fallback.
 *
 * No spec sets a background or a text colour: JupyterLab renders with Vega's dark theme in a
 * dark Lab theme and the default light one otherwise, and a colour fixed here would fight that.
 * The static SVG (svg.ts) keeps Vega's default white background, because its dark text is baked
 * in and must stay readable on whatever page shows it. Data colours are mid-tones that read on
 * both light and dark backgrounds.
 */
import { CusprunError } from '../errors';
import type { UnitKind } from './types';

export const VEGA_LITE_SCHEMA =
  'https://vega.github.io/schema/vega-lite/v5.json';

/** A Vega-Lite spec, typed loosely so that the frontend needs no vega-lite types. */
export type VegaLiteSpec = { $schema: string } & Record<string, unknown>;

export interface ChartOptions {
  title?: string;
  /** Width and height of one panel, in pixels. */
  width?: number;
  height?: number;
}

/** Marks the chosen σ on every chart: a red that stands out on white and on Vega's dark grey. */
export const SIGMA_COLOR = '#e45756';

/**
 * Series colours where a σ line is drawn too: the default scheme's blue, orange and green,
 * never its red. FFN and attention keep the same colours on every chart.
 */
export const SERIES_COLORS = ['#4c78a8', '#f58518', '#54a24b'];

/** How charts name the unit kinds: the units each kind prunes. */
export const KIND_LABELS: Record<UnitKind, string> = {
  ffn: 'FFN channels',
  attention: 'attention groups'
};

/** The caller's title, or ours with a subtitle that says how to read the chart. */
export function topLevel(
  options: ChartOptions,
  title: string,
  subtitle: string,
  body: Record<string, unknown>
): VegaLiteSpec {
  return {
    $schema: VEGA_LITE_SCHEMA,
    title: { text: options.title ?? title, subtitle },
    // Vega gives the chart's container this as its aria-label, for screen readers.
    description: `${options.title ?? title}. ${subtitle}`,
    ...body
  };
}

/** The distinct values of `key` in first-seen order: a stable order for panels and legends. */
export function distinct<T, K>(rows: readonly T[], key: (row: T) => K): K[] {
  return [...new Set(rows.map(key))];
}

/** A chart of nothing is a caller's mistake; say so rather than draw empty axes. */
export function nonEmpty(rows: readonly unknown[], what: string): void {
  if (rows.length === 0) {
    throw new CusprunError('bad-argument', `no ${what} to chart`);
  }
}
