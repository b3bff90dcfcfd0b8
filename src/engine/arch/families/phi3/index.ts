import { Family } from '../family';

/**
 * Phi-3: fused qkv_proj (q rows, then k, then v) and fused gate_up_proj (gate half first), so
 * FFN channel k is columns k and I+k of one weight.
 */
export const phi3: Family = {
  name: 'phi3',
  modelTypes: ['phi3'],
  matches: layers =>
    layers.every(l => l.attention.fusedQkv && l.ffn.fusedGateUp)
};
