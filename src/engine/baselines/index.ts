export * from './plan';
export * from './random';
export * from './magnitude';
export * from './pooled';
export * from './flap';
