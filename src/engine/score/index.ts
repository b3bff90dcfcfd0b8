export * from './identity';
export * from './score';
export * from './store';
export * from './shard';
export { inputRowNorms, outputColumnSquares } from './weights';
