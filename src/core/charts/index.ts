/**
 * The chart specs and their input types. Pure: the frontend imports this; SVG rendering lives
 * in ./svg, which loads vega and is for Node only.
 */
export * from './types';
export * from './spec';
export * from './histogram';
export * from './sweep';
export * from './layers';
export * from './ablation';
export * from './views';
export * from './study';
