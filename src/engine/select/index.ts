export * from './ranks';
export * from './selection';
