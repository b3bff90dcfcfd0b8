export * from './dtype';
export * from './proto';
export * from './tensor';
export { isExternal } from './external';
export * from './model';
export * from './edit';
