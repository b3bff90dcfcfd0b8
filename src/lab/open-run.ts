/**
 * The `cusprun:open-run` command: opens (or shows) a run's dashboard as a main-area tab, one per
 * run, restored with the layout. Without a `run` argument (the palette) it asks for one.
 */
import { ILayoutRestorer, JupyterFrontEnd } from '@jupyterlab/application';
import { MainAreaWidget, WidgetTracker } from '@jupyterlab/apputils';
import { askRun } from './ask-run';
import { cusprunIcon } from './icon';
import { showInMainArea } from './main-area';
import { RunContext } from './run-dashboard-model';
import { dashboardId, RunDashboard } from './run-dashboard';
import { CommandIDs } from './tokens';

export type DashboardTracker = WidgetTracker<MainAreaWidget<RunDashboard>>;

function newDashboard(run: string, ctx: RunContext) {
  const content = new RunDashboard(run, ctx);
  const widget = new MainAreaWidget({ content });
  widget.id = dashboardId(run);
  widget.title.label = run;
  widget.title.caption = ctx.trans.__('Cus-Prun run %1', run);
  widget.title.icon = cusprunIcon;
  widget.title.closable = true;
  void content.load();
  return widget;
}

export function addOpenRunCommand(
  app: JupyterFrontEnd,
  ctx: RunContext,
  restorer: ILayoutRestorer | null
): DashboardTracker {
  const tracker: DashboardTracker = new WidgetTracker({
    namespace: 'cusprun-run'
  });
  app.commands.addCommand(CommandIDs.openRun, {
    label: args =>
      args.run
        ? ctx.trans.__('Open Cus-Prun Run %1', String(args.run))
        : ctx.trans.__('Open Cus-Prun Run…'),
    caption: ctx.trans.__('Show a run as a dashboard in the main area'),
    execute: async args => {
      const run =
        (args.run as string | undefined) ??
        (await askRun(ctx.trans.__('Open which run?'), ctx.serverSettings));
      if (!run) {
        return;
      }
      return showInMainArea(app, tracker, dashboardId(run), () =>
        newDashboard(run, ctx)
      );
    }
  });
  void restorer?.restore(tracker, {
    command: CommandIDs.openRun,
    args: widget => ({ run: widget.content.model.run }),
    name: widget => widget.content.model.run
  });
  return tracker;
}
