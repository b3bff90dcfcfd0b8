export { writeOutputFile, writeOutputFolder } from './guard';
export type { OutputGuard, ProtectedPlace } from './guard';
export { writeFileAtomic, removeStaleStaging } from './staging';
export { LEDGER_FILE } from './ownership';
