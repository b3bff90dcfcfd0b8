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
