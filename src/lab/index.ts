/**
 * The Cus-Prun JupyterLab plugin: the side panel, the runs' main-area dashboards and compare
 * tabs, their commands (palette, launcher, View menu through schema/plugin.json), the status-bar
 * item of a running job, and the settings, applied as they change.
 */
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { ILauncher } from '@jupyterlab/launcher';
import * as nbformat from '@jupyterlab/nbformat';
import { INotebookTracker, NotebookActions } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStatusBar } from '@jupyterlab/statusbar';
import {
  ITranslator,
  nullTranslator,
  TranslationBundle
} from '@jupyterlab/translation';
import type { ICodeCellModel } from '@jupyterlab/cells';
import { ChartsView } from './charts-view';
import { addCompareCommand } from './compare-runs';
import { cusprunIcon } from './icon';
import { JobEvents } from './job-events';
import { addOpenRunCommand } from './open-run';
import { CusprunPanel } from './panel';
import { RunContext } from './run-dashboard-model';
import { JobStatusItem } from './status-item';
import { addTryExpertCommand } from './try-expert-command';
import {
  CommandIDs,
  DEFAULT_SETTINGS,
  ICusprunSettings,
  PLUGIN_ID
} from './tokens';

function readSettings(
  settings: ISettingRegistry.ISettings | null
): ICusprunSettings {
  if (!settings) {
    return DEFAULT_SETTINGS;
  }
  const value = <K extends keyof ICusprunSettings>(key: K) =>
    settings.get(key).composite as ICusprunSettings[K];
  return {
    runStore: value('runStore'),
    threads: value('threads'),
    sigmaGrid: value('sigmaGrid'),
    truncation: value('truncation')
  };
}

/** Puts a `%cusprun` cell with its outputs below the active cell (or into it, when it is empty). */
async function insertIntoNotebook(
  notebooks: INotebookTracker | null,
  trans: TranslationBundle,
  source: string,
  bundles: Record<string, unknown>[]
): Promise<string> {
  const current = notebooks?.currentWidget;
  if (!current) {
    return trans.__(
      'Open a notebook first: the view goes below its active cell.'
    );
  }
  await current.context.ready;
  const notebook = current.content;
  const active = notebook.activeCell;
  const empty =
    active?.model.type === 'code' &&
    active.model.sharedModel.getSource().trim() === '' &&
    (active.model as ICodeCellModel).outputs.length === 0;
  if (!empty) {
    NotebookActions.insertBelow(notebook);
  }
  if (notebook.activeCell?.model.type !== 'code') {
    NotebookActions.changeCellType(notebook, 'code');
  }
  const model = notebook.activeCell!.model as ICodeCellModel;
  model.sharedModel.setSource(source);
  model.outputs.clear();
  for (const data of bundles) {
    model.outputs.add({
      output_type: 'display_data',
      data: data as nbformat.IMimeBundle,
      metadata: {}
    });
  }
  // The outputs come from this user's own sidecar, as a run of the cell would.
  model.trusted = true;
  return trans.__(
    'Inserted into %1 as cell %2.',
    current.context.path,
    String(notebook.activeCellIndex + 1)
  );
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Prune decoder LLMs into expert models with Cus-Prun.',
  autoStart: true,
  optional: [
    ICommandPalette,
    ILayoutRestorer,
    ISettingRegistry,
    ITranslator,
    IRenderMimeRegistry,
    INotebookTracker,
    IStatusBar,
    ILauncher
  ],
  activate: async (
    app: JupyterFrontEnd,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null,
    settingRegistry: ISettingRegistry | null,
    translator: ITranslator | null,
    rendermime: IRenderMimeRegistry | null,
    notebooks: INotebookTracker | null,
    statusBar: IStatusBar | null,
    launcher: ILauncher | null
  ) => {
    const trans = (translator ?? nullTranslator).load('cusprun');
    let settings: ISettingRegistry.ISettings | null = null;
    if (settingRegistry) {
      try {
        settings = await settingRegistry.load(PLUGIN_ID);
      } catch (reason) {
        console.warn(
          'cusprun: settings could not be loaded, using defaults',
          reason
        );
      }
    }
    const serverSettings = app.serviceManager.serverSettings;
    const events = new JobEvents(serverSettings);
    const { commands } = app;
    const charts = () => new ChartsView(rendermime, trans);
    const panel: CusprunPanel = new CusprunPanel({
      trans,
      settings: readSettings(settings),
      serverSettings,
      events,
      charts,
      openRun: run => void commands.execute(CommandIDs.openRun, { run }),
      // the dashboards of the old store's runs would ask the new one
      storeChanged: () => dashboards.forEach(w => w.dispose())
    });
    panel.title.icon = cusprunIcon;
    const runContext: RunContext = {
      trans,
      serverSettings,
      events,
      commands,
      settings: () => readSettings(settings),
      charts,
      insertCell: (source, bundles) =>
        insertIntoNotebook(notebooks, trans, source, bundles),
      runIds: () => panel.runs.ids,
      failed: error => panel.sidecarFailed(error)
    };
    const dashboards = addOpenRunCommand(app, runContext, restorer);
    dashboards.currentChanged.connect((_, widget) =>
      panel.runs.select(widget?.content.model.run ?? null)
    );
    settings?.changed.connect(() => {
      panel.showSettings(readSettings(settings));
      dashboards.forEach(w => w.content.showSettings());
    });
    addCompareCommand(app, { trans, serverSettings });

    commands.addCommand(CommandIDs.openPanel, {
      label: args =>
        args.isLauncher
          ? trans.__('Cus-Prun')
          : trans.__('Open Cus-Prun Panel'),
      caption: trans.__('Show the Cus-Prun panel in the right side bar'),
      icon: args => (args.isPalette ? undefined : cusprunIcon),
      execute: () => {
        if (!panel.isAttached) {
          app.shell.add(panel, 'right', { rank: 600 });
        }
        app.shell.activateById(panel.id);
      }
    });
    commands.addCommand(CommandIDs.refreshRuns, {
      label: trans.__('Refresh Cus-Prun Runs'),
      caption: trans.__('List the runs of the run store again'),
      execute: () => panel.loadRuns()
    });
    commands.addCommand(CommandIDs.insertView, {
      label: trans.__('Insert Cus-Prun View into Notebook'),
      caption: trans.__(
        'Insert the current run dashboard’s σ view as a %cusprun plan cell with its outputs'
      ),
      isEnabled: () => !!dashboards.currentWidget?.content.model.view,
      execute: () => dashboards.currentWidget?.content.model.insert()
    });
    addTryExpertCommand(app, { trans, serverSettings, events }, restorer);
    const category = trans.__('Cus-Prun');
    for (const command of Object.values(CommandIDs)) {
      palette?.addItem({ command, category });
    }
    launcher?.add({
      command: CommandIDs.openPanel,
      category: trans.__('Other'),
      args: { isLauncher: true }
    });

    if (statusBar) {
      const item = new JobStatusItem(
        events,
        trans,
        () => void commands.execute(CommandIDs.openPanel)
      );
      statusBar.registerStatusItem(`${PLUGIN_ID}:job`, {
        item,
        align: 'left',
        rank: 4,
        isActive: () => item.isActive,
        activeStateChanged: item.activeStateChanged
      });
    }
    if (restorer) {
      app.shell.add(panel, 'right', { rank: 600 });
      restorer.add(panel, panel.id);
    }
  }
};

export default plugin;
