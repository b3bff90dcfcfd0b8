import { Family } from '../family';

/**
 * Qwen3: RMSNorm over each head of q and k. The norm weight has headSize entries shared by all
 * heads, so pruning whole heads leaves it untouched.
 */
export const qwen3: Family = {
  name: 'qwen3',
  modelTypes: ['qwen3'],
  matches: layers =>
    layers.every(l => !!l.attention.qNorm && !!l.attention.kNorm)
};
