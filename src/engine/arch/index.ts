export * from '../../core/model/model-map';
export { mapModel } from './map';
export type { MapOptions } from './map';
export { FAMILIES, detectFamily } from './families';
export type { Family, ModelConfig } from './families';
export { inspectModel, readModelConfig } from './inspect';
