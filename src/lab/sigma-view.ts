/**
 * A run's σ view in its dashboard: the σ-sweep output's own widget (slider, dimension toggles,
 * rule select, per-layer bars) over the ranks the model fetched once per rule, so moving the
 * slider asks the sidecar nothing; every redraw becomes the model's view.
 */
import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { ruleLabel } from '../core/select/rules';
import { errorMessage } from './api';
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
  sweep.offerRules(async rule => {
    try {
      return await model.ranks(rule);
    } catch (error) {
      model.say(
        trans.__(
          'The ranks under %1 could not be fetched: %2',
          ruleLabel(rule),
          errorMessage(error)
        )
      );
      throw error;
    }
  });
  await sweep.renderModel({
    data: { [SWEEP_MIME_TYPE]: payload }
  } as unknown as IRenderMime.IMimeModel);
  return sweep;
}
