import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { CusprunPanel } from './panel';
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
  return {
    runStore: settings.get('runStore').composite as string,
    threads: settings.get('threads').composite as number
  };
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Prune decoder LLMs into expert models with Cus-Prun.',
  autoStart: true,
  optional: [ICommandPalette, ILayoutRestorer, ISettingRegistry, ITranslator],
  activate: async (
    app: JupyterFrontEnd,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null,
    settingRegistry: ISettingRegistry | null,
    translator: ITranslator | null
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
    const panel = new CusprunPanel(
      trans,
      readSettings(settings),
      app.serviceManager.serverSettings
    );
    settings?.changed.connect(() => panel.showSettings(readSettings(settings)));

    app.commands.addCommand(CommandIDs.openPanel, {
      label: trans.__('Open Cus-Prun Panel'),
      caption: trans.__('Show the Cus-Prun panel in the right side bar'),
      execute: () => {
        if (!panel.isAttached) {
          app.shell.add(panel, 'right', { rank: 600 });
        }
        app.shell.activateById(panel.id);
      }
    });
    palette?.addItem({
      command: CommandIDs.openPanel,
      category: trans.__('Cus-Prun')
    });
    if (restorer) {
      app.shell.add(panel, 'right', { rank: 600 });
      restorer.add(panel, panel.id);
    }
  }
};

export default plugin;
