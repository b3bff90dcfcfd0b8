/**
 * A run's σ view in its dashboard: the σ-sweep output's own widget (slider, dimension toggles,
 * per-layer bars) over the ranks the model fetched once, so moving the slider asks the sidecar
 * nothing; every redraw becomes the model's view.
 */
import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { RunDashboardModel } from './run-dashboard-model';
import { SWEEP_MIME_TYPE, SweepPayload } from './sweep-model';
import { SweepRenderer } from './sweep-widget';

export async function createSigmaView(
  model: RunDashboardModel,
  payload: SweepPayload
): Promise<SweepRenderer> {
  const { trans } = model.context;
  // the renderer outside an output area: only its mime type and translator are read
  const sweep = new SweepRenderer({
    mimeType: SWEEP_MIME_TYPE,
    translator: { load: () => trans }
  } as unknown as IRenderMime.IRendererOptions);
  sweep.addClass('jp-CusprunRun-sweep');
  sweep.viewChanged.connect((_, view) => (model.view = view));
  await sweep.renderModel({
    data: { [SWEEP_MIME_TYPE]: payload }
  } as unknown as IRenderMime.IMimeModel);
  return sweep;
}
