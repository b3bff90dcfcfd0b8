export * from './identity';
export * from './score';
export * from './store';
export { inputRowNorms } from './weights';
