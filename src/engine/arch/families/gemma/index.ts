import { Family } from '../family';

/** Gemma: GELU-gated FFN (GeGLU), usually multi-query attention, an explicit head size. */
export const gemma: Family = {
  name: 'gemma',
  modelTypes: ['gemma'],
  matches: layers =>
    layers.every(
      l =>
        l.ffn.kind === 'gated' &&
        (l.ffn.activation === 'gelu' || l.ffn.activation === 'gelu-tanh')
    )
};
