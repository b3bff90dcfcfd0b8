import { Family } from '../family';

/** Llama: separate q/k/v/o without biases, SiLU-gated FFN, GQA. The fallback for Llama-like graphs. */
export const llama: Family = {
  name: 'llama',
  modelTypes: ['llama'],
  matches: layers =>
    layers.every(
      l =>
        !l.attention.fusedQkv &&
        !l.attention.q.bias &&
        !l.attention.qNorm &&
        l.ffn.kind === 'gated' &&
        !l.ffn.fusedGateUp &&
        l.ffn.activation === 'silu'
    )
};
