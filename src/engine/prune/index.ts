export * from './plan';
export { pruneModel } from './structural';
export { zeroUnits } from './zero';
export { planCuts, removedParams } from './units';
export { writePrunedModel } from './write';
export type { WrittenModel } from './write';
export { compareWithZeroed, defaultTolerance } from './verify';
