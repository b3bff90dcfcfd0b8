export * from './ranks';
export * from './selection';
export * from './from-scores';
export * from './expert';
export * from './rank-grid';
export * from './rules';
export * from './allocation';
