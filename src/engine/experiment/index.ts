export * from './eval-sets';
export * from './evaluator';
export * from './methods';
export * from './shard';
export * from './sweep';
export * from './ablation';
export * from './generation';
export * from './sensitivity';
