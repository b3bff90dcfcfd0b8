export {
  checkOutputFiles,
  checkOutputFolder,
  writeOutputFile,
  writeOutputFiles,
  writeOutputFolder
} from './guard';
export type { OutputFile, OutputGuard, ProtectedPlace } from './guard';
export { makeFolder, removeStaleStaging, writeFileAtomic } from './staging';
export { LEDGER_FILE, someNames } from './ownership';
