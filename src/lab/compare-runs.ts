/**
 * The `cusprun:compare-runs` command: 2–4 runs side by side in a main-area tab of their own
 * (config, ratios at a σ, metrics of their latest sweeps), one tab per set of runs.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { MainAreaWidget } from '@jupyterlab/apputils';
import { ServerConnection } from '@jupyterlab/services';
import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';
import type { RunDetail, SigmaAnswer, SweepRecord } from '../core/protocol';
import { errorMessage, postAPI, requestAPI, runPath } from './api';
import { CompareSide, compareRuns } from './compare-model';
import { renderComparison } from './compare-view';
import { cusprunIcon } from './icon';
import { MAX_COMPARED } from './run-actions';
import { CommandIDs } from './tokens';

export interface CompareContext {
  trans: TranslationBundle;
  serverSettings: ServerConnection.ISettings;
}

/** One run's side: its detail, its answer at σ (when given) and its latest sweep. */
async function fetchSide(
  run: string,
  sigma: number | undefined,
  settings: ServerConnection.ISettings
): Promise<CompareSide> {
  const detail = await requestAPI<RunDetail>(runPath(run), {}, settings);
  const latest = detail.sweeps.at(-1);
  const [answer, sweep] = await Promise.all([
    sigma === undefined
      ? null
      : postAPI<SigmaAnswer>(runPath(run, 'sigma'), { sigma }, settings),
    latest
      ? requestAPI<SweepRecord>(
          runPath(run, 'sweeps', encodeURIComponent(latest)),
          {},
          settings
        )
      : null
  ]);
  return { run: detail, sigma: answer, sweep };
}

function compareId(runs: string[]): string {
  return `cusprun-compare-${runs.map(encodeURIComponent).join('+')}`;
}

async function fillCompare(
  host: HTMLElement,
  runs: string[],
  sigma: number | undefined,
  ctx: CompareContext
): Promise<void> {
  const { trans, serverSettings } = ctx;
  host.textContent = trans.__('Comparing %1…', runs.join(', '));
  try {
    const sides = await Promise.all(
      runs.map(run => fetchSide(run, sigma, serverSettings))
    );
    renderComparison(host, compareRuns(sides, trans), runs, trans);
  } catch (error) {
    host.textContent = trans.__(
      'The runs could not be compared: %1',
      errorMessage(error)
    );
  }
}

export function addCompareCommand(
  app: JupyterFrontEnd,
  ctx: CompareContext
): void {
  app.commands.addCommand(CommandIDs.compareRuns, {
    label: ctx.trans.__('Compare Cus-Prun Runs'),
    caption: ctx.trans.__('Put 2–4 runs side by side in a tab'),
    isEnabled: args => Array.isArray(args.runs),
    execute: args => {
      const runs = (args.runs as string[]).slice(0, MAX_COMPARED);
      const sigma = args.sigma as number | undefined;
      const id = compareId(runs);
      const content = new Widget();
      content.addClass('jp-CusprunCompareTab');
      const widget = new MainAreaWidget({ content });
      widget.id = id;
      widget.title.label = ctx.trans.__('Compare %1', runs.join(' · '));
      widget.title.icon = cusprunIcon;
      widget.title.closable = true;
      // the same runs again: the tab shows their state now, not when first opened
      Array.from(app.shell.widgets('main'))
        .find(w => w.id === id)
        ?.dispose();
      app.shell.add(widget, 'main');
      app.shell.activateById(id);
      void fillCompare(content.node, runs, sigma, ctx);
      return widget;
    }
  });
}
