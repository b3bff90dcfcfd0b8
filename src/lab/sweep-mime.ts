/**
 * The mime extension for cusprun's own output type: JupyterLab renders
 * `application/vnd.cusprun.sweep+json` with an interactive σ slider and dimension toggles.
 * The lower the rank, the more preferred: 10 is below the built-in renderers of the bundle's
 * other entries (HTML 50, SVG 80, text 120, the Vega extension's), so a bundle carrying the
 * cusprun entry shows it here; frontends without the extension fall back to the bundle's
 * Vega-Lite, SVG and text entries.
 */
import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { SWEEP_MIME_TYPE } from './sweep-model';
import { SweepRenderer } from './sweep-widget';

export const SWEEP_RENDERER_RANK = 10;

export const rendererFactory: IRenderMime.IRendererFactory = {
  safe: true,
  mimeTypes: [SWEEP_MIME_TYPE],
  defaultRank: SWEEP_RENDERER_RANK,
  createRenderer: options => new SweepRenderer(options)
};

const extension: IRenderMime.IExtension = {
  id: 'cusprun:sweep-output',
  description: 'Interactive σ-sweep outputs of the %cusprun magics.',
  rendererFactory,
  rank: SWEEP_RENDERER_RANK,
  dataType: 'json'
};

export default extension;
