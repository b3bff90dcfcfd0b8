import { Family } from '../family';

/**
 * GPT-2: Conv1D projections (weights stored [in, out] with biases), one fused c_attn for q/k/v,
 * multi-head attention, and a plain fc → GELU → proj FFN.
 */
export const gpt2: Family = {
  name: 'gpt2',
  modelTypes: ['gpt2'],
  matches: layers =>
    layers.every(l => l.attention.fusedQkv && l.ffn.kind === 'plain')
};
