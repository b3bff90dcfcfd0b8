import { LayerMap } from '../../../../core/model/model-map';
import { Family } from '../family';

/** A GELU-gated FFN (GeGLU): Gemma's, exact or tanh-approximated. */
export const hasGeglu = (l: LayerMap): boolean =>
  l.ffn.kind === 'gated' &&
  (l.ffn.activation === 'gelu' || l.ffn.activation === 'gelu-tanh');

/** Gemma: GeGLU FFN, usually multi-query attention, an explicit head size. */
export const gemma: Family = {
  name: 'gemma',
  modelTypes: ['gemma'],
  matches: layers => layers.every(hasGeglu)
};
