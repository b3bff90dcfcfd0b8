/**
 * Baselines ranked by scores pooled over every document of every corpus, with no dimensions:
 * `general` (the relevance scores, showing what customisation buys) and `wanda` (Wanda-style
 * structured activation sums). Relevance is a norm over tokens, so the pooled corpus's score is
 * the root of the documents' summed squares, exactly as if it were scored as one document;
 * Wanda's sums over tokens simply add up.
 */
import { ModelMap } from '../../core/model/model-map';
import { DocumentScores } from '../../core/select/from-scores';

export type Pooling = 'root-sum-square' | 'sum';

/** Usable wherever `UnitValues` are (e.g. `rankedPlan`). */
export interface PooledScores {
  layers: { ffn: Float64Array; attention: Float64Array }[];
  documents: number;
}

export function poolScores(
  map: ModelMap,
  documents: Iterable<DocumentScores>,
  pooling: Pooling
): PooledScores {
  const layers = map.layers.map(l => ({
    ffn: new Float64Array(l.ffn.units),
    attention: new Float64Array(l.attention.units)
  }));
  const add = (into: Float64Array, scores: Float32Array) => {
    for (let u = 0; u < into.length; u++) {
      into[u] += pooling === 'sum' ? scores[u] : scores[u] * scores[u];
    }
  };
  let count = 0;
  for (const document of documents) {
    document.layers.forEach((scores, i) => {
      add(layers[i].ffn, scores.ffn);
      add(layers[i].attention, scores.attention);
    });
    count += 1;
  }
  if (pooling === 'root-sum-square') {
    for (const layer of layers) {
      layer.ffn = layer.ffn.map(Math.sqrt);
      layer.attention = layer.attention.map(Math.sqrt);
    }
  }
  return { layers, documents: count };
}
