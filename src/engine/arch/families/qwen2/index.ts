import { Family } from '../family';

/** Qwen2: biases on q, k and v (sliced with their heads), none on o; often tied embeddings. */
export const qwen2: Family = {
  name: 'qwen2',
  modelTypes: ['qwen2'],
  matches: layers =>
    layers.every(
      l =>
        !l.attention.fusedQkv &&
        !!l.attention.q.bias &&
        !!l.attention.k.bias &&
        !l.attention.o.bias
    )
};
