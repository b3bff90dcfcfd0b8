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
/** A facet column narrower than this turns its grid (see fitFacet). */
export const READABLE_WIDTH = 2 * MIN_PLOT_WIDTH;
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
    return fitFacet(spec, spec.facet, spec.spec, width - legend);
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
 * A facet grid's columns share the width. Where they would be narrower than a readable plot and
 * the grid has fewer rows than columns, it is turned (rows become columns), so a 3×2 grid of a
 * side bar becomes 2×3 rather than being scaled down.
 */
function fitFacet(spec: Spec, facet: Spec, inner: Spec, width: number): Spec {
  const count = (channel: unknown) =>
    isSpec(channel) ? distinctCount(spec, channel.field) : 1;
  const columns = count(facet.column);
  const rows = count(facet.row);
  const share = (n: number) => Math.floor(width / n) - AXIS_ROOM;
  const turned =
    isSpec(facet.column) && rows < columns && share(columns) < READABLE_WIDTH;
  const room = share(turned ? rows : columns);
  const { row, column, ...rest } = facet;
  return {
    ...spec,
    facet: turned
      ? { ...rest, row: column, ...(row ? { column: row } : {}) }
      : facet,
    spec: { ...inner, width: Math.max(MIN_PLOT_WIDTH, room) }
  };
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
