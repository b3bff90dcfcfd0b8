export * from '../../core/model/unit-plan';
export { pruneModel } from './structural';
export { zeroUnits } from './zero';
export { planCuts, removedParams } from './units';
export { checkPrunedOutput, writePrunedModel } from './write';
export type { WrittenModel } from './write';
export { modelLogits, stagedLogits } from './staged';
export { verifyPruned } from './verify';
export type { VerifyOptions } from './verify';
export {
  assertWithinBound,
  compareLogits,
  defaultBoundUlps,
  describeComparison
} from './logit-bound';
export type { LogitComparison, Logits, LogitType } from './logit-bound';
export { projectionMeans } from './means';
export type { LayerMeans, ProjectionMeans } from './means';
export {
  compensationBiases,
  foldInputMeans,
  withProjectionBiases
} from './compensation';
export type { CompensationEdits, ProjectionBias } from './compensation';
export { compensationEdits } from './compensate';
export type { CompensationStatistics } from './compensate';
export {
  DEFAULT_RIDGE,
  fitRegression,
  GRAM_BUDGET_BYTES,
  gramPasses,
  gramsSha256,
  projectionGrams,
  regressionEdits,
  regressionFit
} from './regression';
export type {
  ChannelGram,
  GramOptions,
  ProjectionFit,
  ProjectionGrams,
  RegressionFit
} from './regression';
export {
  decodeMeans,
  encodeMeans,
  MEANS_FILE,
  meansSha256,
  readMeansFile,
  writeMeansFile
} from './means-file';
export {
  decodeRegression,
  encodeRegression,
  readRegressionFile,
  REGRESSION_FILE,
  regressionSha256,
  writeRegressionFile
} from './regression-file';
