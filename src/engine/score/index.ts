export * from './identity';
export * from './score';
export * from './store';
export { inputRowNorms, outputColumnSquares } from './weights';
