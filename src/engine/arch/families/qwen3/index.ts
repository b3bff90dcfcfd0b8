import { LayerMap } from '../../../../core/model/model-map';
import { Family } from '../family';

/** RMSNorms over each head of q and k, before RoPE. */
export const hasHeadNorms = (l: LayerMap): boolean =>
  !!l.attention.qNorm && !!l.attention.kNorm;

/**
 * Qwen3: RMSNorm over each head of q and k. The norm weight has headSize entries shared by all
 * heads, so pruning whole heads leaves it untouched.
 */
export const qwen3: Family = {
  name: 'qwen3',
  modelTypes: ['qwen3'],
  matches: layers => layers.every(hasHeadNorms)
};
