export * from './runner';
export * from './likelihood';
export * from './perplexity';
export * from './multiple-choice';
export * from './generate';
export * from './latency';
