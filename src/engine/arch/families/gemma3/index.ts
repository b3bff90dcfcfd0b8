import { Family } from '../family';
import { hasGeglu } from '../gemma';
import { hasHeadNorms } from '../qwen3';

/**
 * Gemma 3: Gemma's GeGLU with Qwen3's per-head q/k RMSNorms (one [headSize] weight shared by
 * all heads, so pruning groups leaves it as it is). Its other traits need nothing from pruning:
 * the norms after attention and after the FFN act on the hidden size, which pruning keeps; the
 * embedding scale is a constant; sliding-window and global layers differ only in their masks
 * and RoPE bases. The small models (270M, 1B) have one KV head, so their attention is kept
 * whole and only FFN channels are pruned.
 */
export const gemma3: Family = {
  name: 'gemma3',
  modelTypes: ['gemma3_text', 'gemma3'],
  matches: layers => layers.every(l => hasGeglu(l) && hasHeadNorms(l))
};
