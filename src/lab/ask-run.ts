/** A dialog that asks for one of the store's runs, for commands run from the palette. */
import { InputDialog } from '@jupyterlab/apputils';
import { ServerConnection } from '@jupyterlab/services';
import type { RunSummary } from '../core/protocol';
import { requestAPI } from './api';

/** The run the user picked, or null when they cancelled. */
export async function askRun(
  title: string,
  serverSettings: ServerConnection.ISettings
): Promise<string | null> {
  const runs = await requestAPI<RunSummary[]>('api/runs', {}, serverSettings);
  const answer = await InputDialog.getItem({
    title,
    items: runs.map(r => r.id)
  });
  return answer.button.accept ? answer.value : null;
}
