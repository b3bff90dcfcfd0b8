/** Identifiers and interfaces the frontend shares between its modules. */

export const PLUGIN_ID = 'cusprun:plugin';

export const CommandIDs = {
  openPanel: 'cusprun:open-panel',
  refreshRuns: 'cusprun:refresh-runs',
  insertView: 'cusprun:insert-view',
  /** Args `{run: NAME}`: the run's expert and dense model, side by side on one prompt. */
  tryExpert: 'cusprun:try-expert',
  /** Args `{run: NAME}`: the run's dashboard in the main area. */
  openRun: 'cusprun:open-run',
  /** Args `{runs: NAME[], sigma?: σ}`: 2–4 runs side by side in a main-area tab. */
  compareRuns: 'cusprun:compare-runs'
} as const;

/** The user settings of `schema/plugin.json`. */
export interface ICusprunSettings {
  /** Folder of the run store, relative to the server's folder; '' for the server's own. */
  runStore: string;
  /** Intra-op threads for the sidecar's onnxruntime sessions; 0 lets onnxruntime choose. */
  threads: number;
  /** The σ values a sweep started from the panel evaluates. */
  sigmaGrid: number[];
  /** Tokens per evaluation document (or question + choice) in sweeps started from the panel. */
  truncation: number;
}

export const DEFAULT_SETTINGS: ICusprunSettings = {
  runStore: '',
  threads: 0,
  sigmaGrid: [0.5, 0.6, 0.7, 0.8, 0.9, 0.95],
  truncation: 128
};
