/**
 * The `cusprun:try-expert` command: opens (or shows) a run's "Try the expert" tab in the main
 * area, one per run, restored with the layout. Without a `run` argument (the palette) it asks
 * for one of the store's runs.
 */
import { ILayoutRestorer, JupyterFrontEnd } from '@jupyterlab/application';
import { WidgetTracker } from '@jupyterlab/apputils';
import { askRun } from './ask-run';
import { showInMainArea } from './main-area';
import { CommandIDs } from './tokens';
import {
  TryExpertContext,
  TryExpertView,
  tryExpertId
} from './try-expert-view';

export function addTryExpertCommand(
  app: JupyterFrontEnd,
  ctx: TryExpertContext,
  restorer: ILayoutRestorer | null
): void {
  const tracker = new WidgetTracker<TryExpertView>({
    namespace: 'cusprun-try-expert'
  });
  app.commands.addCommand(CommandIDs.tryExpert, {
    label: args =>
      args.run
        ? ctx.trans.__('Try the Expert of %1', String(args.run))
        : ctx.trans.__('Try the Expert…'),
    caption: ctx.trans.__(
      'Generate from the dense model and the pruned expert side by side'
    ),
    execute: async args => {
      const run =
        (args.run as string | undefined) ??
        (await askRun(
          ctx.trans.__('Try the expert of which run?'),
          ctx.serverSettings
        ));
      if (!run) {
        return;
      }
      return showInMainArea(
        app,
        tracker,
        tryExpertId(run),
        () => new TryExpertView(run, ctx)
      );
    }
  });
  void restorer?.restore(tracker, {
    command: CommandIDs.tryExpert,
    args: view => ({ run: view.model.run }),
    name: view => view.model.run
  });
}
