/** Identifiers and interfaces the frontend shares between its modules. */

export const PLUGIN_ID = 'cusprun:plugin';

export const CommandIDs = {
  openPanel: 'cusprun:open-panel'
} as const;

/** The user settings of `schema/plugin.json`. */
export interface ICusprunSettings {
  /** Folder of the run store, relative to the server's working directory. */
  runStore: string;
  /** Intra-op threads for the sidecar's onnxruntime sessions; 0 lets onnxruntime choose. */
  threads: number;
}

export const DEFAULT_SETTINGS: ICusprunSettings = {
  runStore: '.cusprun',
  threads: 0
};
