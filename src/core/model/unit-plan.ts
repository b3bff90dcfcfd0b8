/** Which units a prune removes: the contract between selection, pruning and verification. */

export interface LayerCuts {
  index: number;
  /** FFN channels to remove (indices into 0..width-1), ascending. */
  ffn: number[];
  /** Attention groups to remove (KV groups; single heads for MHA), ascending. */
  attention: number[];
}

export interface UnitPlan {
  layers: LayerCuts[];
}
