/**
 * Specs to static SVG in Node, for notebook fallbacks (nbviewer, GitHub, VS Code) and the CLI.
 * The only module that loads vega and vega-lite: the spec builders stay importable by the
 * browser without them.
 */
import * as vega from 'vega';
import { compile, TopLevelSpec } from 'vega-lite';
import { CusprunError } from '../../core/errors';
import { VegaLiteSpec } from '../../core/charts/spec';

// Text widths drive the layout. Vega measures them with node-canvas when that happens to be
// installed and estimates them otherwise; always estimating makes the same spec give the same
// bytes on every machine.
(
  vega as unknown as { textMetrics: { canvas(use: boolean): void } }
).textMetrics.canvas(false);

/**
 * Collects what vega-lite and Vega would print. Vega-lite answers many mistakes (an unknown
 * channel, a field type it cannot use) by dropping that part and warning, so a warning is a
 * rejection here too: a chart silently missing a part is worse than an error.
 */
function collectingLogger(messages: string[]) {
  return vega.logger(vega.Warn, undefined, (_method, _level, input) => {
    messages.push(Array.from(input, String).join(' '));
  });
}

function rejected(messages: string[]): CusprunError {
  return new CusprunError(
    'bad-argument',
    `vega-lite rejects it: ${messages.join('; ')}`,
    'chart spec'
  );
}

/**
 * A standalone SVG document (xmlns set, no external fonts, images or styles) for a Vega-Lite
 * spec. Fails with a CusprunError on a spec vega-lite or Vega rejects.
 */
export async function renderSvg(spec: VegaLiteSpec): Promise<string> {
  const messages: string[] = [];
  const logger = collectingLogger(messages);
  let view: vega.View;
  try {
    const compiled = compile(spec as unknown as TopLevelSpec, { logger });
    view = new vega.View(vega.parse(compiled.spec), {
      renderer: 'none',
      logger
    });
  } catch (error) {
    throw rejected([...messages, (error as Error).message]);
  }
  if (messages.length > 0) {
    throw rejected(messages);
  }
  try {
    const svg = await view.toSVG();
    if (messages.length > 0) {
      throw rejected(messages);
    }
    return svg;
  } catch (error) {
    throw error instanceof CusprunError
      ? error
      : rejected([...messages, (error as Error).message]);
  } finally {
    view.finalize();
  }
}
