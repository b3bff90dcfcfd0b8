/**
 * From per-document relevance scores to the deciding rank of every unit (see ranks.ts), per layer
 * and unit kind, over the requested dimensions; then to the unit groups a Selection queries.
 * The strict rule keeps a running maximum, so memory does not grow with the number of documents.
 */
import { ModelMap } from '../model/model-map';
import { CusprunError } from '../errors';
import { ascendingRanks, dimensionRanks, expertRanks } from './ranks';
import { UnitGroup, UnitKind } from './selection';

/** One document's scores: per layer, one score per FFN channel and per attention group. */
export interface DocumentScores {
  layers: Record<UnitKind, Float32Array>[];
}

export type LayerRanks = Record<UnitKind, Uint32Array>;

const KINDS: UnitKind[] = ['ffn', 'attention'];

/** Deciding ranks of one dimension: irrelevant to all of its documents (q = 1) or to a fraction q. */
export function dimensionLayerRanks(
  documents: Iterable<DocumentScores>,
  q = 1
): LayerRanks[] {
  let running: LayerRanks[] | undefined;
  const all: DocumentScores[] = [];
  for (const doc of documents) {
    if (q < 1) {
      all.push(doc);
      continue;
    }
    const ranks = doc.layers.map(l => ({
      ffn: ascendingRanks(l.ffn),
      attention: ascendingRanks(l.attention)
    }));
    running = running
      ? running.map((r, i) => ({
          ffn: expertRanks([r.ffn, ranks[i].ffn]),
          attention: expertRanks([r.attention, ranks[i].attention])
        }))
      : ranks;
  }
  if (q < 1) {
    if (all.length === 0) {
      throw new CusprunError(
        'bad-argument',
        'a dimension has no scored documents'
      );
    }
    return all[0].layers.map(
      (_, i) =>
        Object.fromEntries(
          KINDS.map(kind => [
            kind,
            dimensionRanks(
              all.map(d => ascendingRanks(d.layers[i][kind])),
              q
            )
          ])
        ) as LayerRanks
    );
  }
  if (!running) {
    throw new CusprunError(
      'bad-argument',
      'a dimension has no scored documents'
    );
  }
  return running;
}

/** Per layer and unit kind, one float64 value per unit. */
export type LayerSums = Record<UnitKind, Float64Array>;

/**
 * Adds `term(scores)[u]` over the documents into one float64 sum per unit; no document is kept,
 * so memory does not grow with the corpus.
 */
function sumOverDocuments(
  documents: Iterable<DocumentScores>,
  term: (scores: Float32Array) => ArrayLike<number>
): { sums: LayerSums[]; documents: number } {
  let sums: LayerSums[] | undefined;
  let count = 0;
  for (const doc of documents) {
    sums ??= doc.layers.map(l => ({
      ffn: new Float64Array(l.ffn.length),
      attention: new Float64Array(l.attention.length)
    }));
    doc.layers.forEach((layer, i) => {
      for (const kind of KINDS) {
        const into = (sums as LayerSums[])[i][kind];
        const values = term(layer[kind]);
        for (let u = 0; u < into.length; u++) {
          into[u] += values[u];
        }
      }
    });
    count += 1;
  }
  if (!sums) {
    throw new CusprunError(
      'bad-argument',
      'a dimension has no scored documents'
    );
  }
  return { sums, documents: count };
}

function ranksOf(sums: LayerSums[]): LayerRanks[] {
  return sums.map(l => ({
    ffn: ascendingRanks(l.ffn),
    attention: ascendingRanks(l.attention)
  }));
}

/**
 * The `pooled-intersect` rule's ranks of one dimension: of each unit's score pooled over the
 * dimension's documents as general calibration pools them (the root of the summed squares, the
 * corpus scored as one document).
 */
export function pooledLayerRanks(
  documents: Iterable<DocumentScores>
): LayerRanks[] {
  const { sums } = sumOverDocuments(documents, scores =>
    Float64Array.from(scores, v => v * v)
  );
  for (const layer of sums) {
    layer.ffn = layer.ffn.map(Math.sqrt);
    layer.attention = layer.attention.map(Math.sqrt);
  }
  return ranksOf(sums);
}

/**
 * The `rank-mean` rule's sums of one dimension: each unit's ranks summed over the documents
 * (exact in float64), with the document count; dimensions combine by adding both, and the mean
 * rank orders units as the sum does.
 */
export function rankSumLayers(documents: Iterable<DocumentScores>): {
  sums: LayerSums[];
  documents: number;
} {
  return sumOverDocuments(documents, ascendingRanks);
}

/** Units ranked by their summed ranks over every dimension's documents (the mean rank). */
export function rankMeanLayerRanks(dimensions: LayerSums[][]): LayerRanks[] {
  return ranksOf(
    dimensions[0].map((_, i) => ({
      ffn: addAll(dimensions.map(d => d[i].ffn)),
      attention: addAll(dimensions.map(d => d[i].attention))
    }))
  );
}

function addAll(arrays: Float64Array[]): Float64Array {
  const out = new Float64Array(arrays[0].length);
  for (const values of arrays) {
    values.forEach((v, u) => (out[u] += v));
  }
  return out;
}

/** Irrelevant on every requested dimension: the largest deciding rank over dimensions. */
export function expertLayerRanks(dimensions: LayerRanks[][]): LayerRanks[] {
  return dimensions[0].map((_, i) => ({
    ffn: expertRanks(dimensions.map(d => d[i].ffn)),
    attention: expertRanks(dimensions.map(d => d[i].attention))
  }));
}

/** The groups a Selection queries, two per layer in order (FFN, then attention), with each unit's parameter count from the model map. */
export function unitGroups(map: ModelMap, ranks: LayerRanks[]): UnitGroup[] {
  if (ranks.length !== map.layers.length) {
    throw new CusprunError(
      'bad-argument',
      `scores cover ${ranks.length} layers but the model has ${map.layers.length}`
    );
  }
  return map.layers.flatMap((layer, i) => [
    {
      layer: layer.index,
      kind: 'ffn' as const,
      paramsPerUnit: layer.ffn.paramsPerUnit,
      ranks: ranks[i].ffn
    },
    {
      layer: layer.index,
      kind: 'attention' as const,
      paramsPerUnit: layer.attention.paramsPerUnit,
      ranks: ranks[i].attention
    }
  ]);
}
