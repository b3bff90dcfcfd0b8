import { Family } from '../family';

/**
 * Mistral's graph is Llama's (its sliding window lives in the mask), so structure alone maps
 * it as Llama; only config.json names it.
 */
export const mistral: Family = {
  name: 'mistral',
  modelTypes: ['mistral', 'mixtral'],
  matches: () => false
};
