export * from './runtime';
export * from './scoring-graph';
export * from './scoring-session';
export { pruneToOutputs } from './graph-builder';
