/**
 * Fitting the sidecar's Vega-Lite specs to the width the panel gives them (a side bar of ~250 px
 * as much as a main-area tab): a single or layered chart takes the width, axes and legend
 * included (`autosize: fit-x`); a facet grid shares it among its columns; a concatenation of
 * panels wraps to fewer per row when they do not fit side by side at the width they asked for,
 * and the panels of a row share it. Pure: a new spec.
 */

type Spec = Record<string, unknown>;

/** The narrowest plot area worth drawing (px); below it a chart is scaled down instead. */
export const MIN_PLOT_WIDTH = 60;
/** Room a facet column or a concatenated panel needs around its plot: axis, labels, spacing. */
export const AXIS_ROOM = 64;
/** Room a legend beside the plots takes. */
export const LEGEND_ROOM = 90;

function isSpec(value: unknown): value is Spec {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function distinctCount(spec: Spec, field: unknown): number {
  const data = isSpec(spec.data) ? spec.data.values : undefined;
  if (typeof field !== 'string' || !Array.isArray(data)) {
    return 1;
  }
  return Math.max(
    1,
    new Set(data.map(row => (isSpec(row) ? row[field] : undefined))).size
  );
}

function hasColorLegend(spec: Spec): boolean {
  return JSON.stringify(spec).includes('"color":{"field"');
}

/** `spec` fitted to `width` px; unchanged when the width is unknown (0) or not a number. */
export function fitSpec(spec: unknown, width: number): unknown {
  if (!isSpec(spec) || !(width > 0)) {
    return spec;
  }
  // a title and subtitle longer than the width end in an ellipsis (Vega's `limit`)
  const fitted = isSpec(spec.title)
    ? { ...spec, title: { ...spec.title, limit: Math.floor(width) } }
    : spec;
  return fitBody(fitted, width);
}

function fitBody(spec: Spec, width: number): Spec {
  const legend = hasColorLegend(spec) ? LEGEND_ROOM : 0;
  if (isSpec(spec.facet) && isSpec(spec.spec)) {
    const columns = isSpec(spec.facet.column)
      ? distinctCount(spec, spec.facet.column.field)
      : 1;
    const room = Math.floor((width - legend) / columns) - AXIS_ROOM;
    return {
      ...spec,
      spec: { ...spec.spec, width: Math.max(MIN_PLOT_WIDTH, room) }
    };
  }
  if (Array.isArray(spec.concat)) {
    return fitConcat(spec, spec.concat, width - legend);
  }
  if ('mark' in spec || 'layer' in spec) {
    return {
      ...spec,
      width: Math.max(MIN_PLOT_WIDTH, Math.floor(width)),
      autosize: { type: 'fit-x', contains: 'padding' }
    };
  }
  return spec;
}

/**
 * Panels side by side while each keeps at least the width it asked for, else fewer per row (one
 * under the other at the narrowest); the panels of a row share its width.
 */
function fitConcat(spec: Spec, concat: unknown[], width: number): Spec {
  const asked = Math.max(
    MIN_PLOT_WIDTH,
    ...concat.map(p => (isSpec(p) && typeof p.width === 'number' ? p.width : 0))
  );
  const fits = Math.max(1, Math.floor(width / (asked + AXIS_ROOM)));
  const declared =
    typeof spec.columns === 'number' ? spec.columns : concat.length;
  const columns = Math.min(declared, fits, concat.length);
  const each = Math.max(
    MIN_PLOT_WIDTH,
    Math.floor(width / columns) - AXIS_ROOM
  );
  const panels = concat.map(panel =>
    isSpec(panel) && typeof panel.width === 'number'
      ? { ...panel, width: each }
      : panel
  );
  return { ...spec, concat: panels, columns };
}
