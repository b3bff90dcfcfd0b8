export * from './eval-sets';
export * from './evaluator';
export * from './methods';
export * from './sweep';
export * from './ablation';
export * from './generation';
export * from './sensitivity';
