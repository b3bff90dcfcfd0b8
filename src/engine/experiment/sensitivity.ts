/**
 * The probe behind allocation by sensitivity (core/select/allocation.ts): for each layer's module
 * (FFN, attention) alone, remove a fixed fraction of its lowest-ranked units, and measure how
 * much the loss (mean negative log-likelihood per token) rises on the expert's documents. One
 * evaluation per module, each cached like any other by the exact units removed.
 */
import { CusprunError } from '../../core/errors';
import { ModelMap } from '../../core/model/model-map';
import { UnitPlan } from '../../core/model/unit-plan';
import { Expert, GroupSensitivity, probeCount } from '../../core/select';
import { readCorpusTexts, sha256Hex } from '../corpus';
import { EvalMetric, EvalSet } from './eval-sets';
import { Evaluator } from './evaluator';

/** The run's documents of the expert's dimensions, as a perplexity set the probe scores. */
export function probeSet(manifest: string, dimensions: string[]): EvalSet {
  const texts = readCorpusTexts(manifest)
    .filter(d => dimensions.includes(d.dimension))
    .flatMap(d => d.documents.map(doc => doc.text));
  return {
    name: 'probe',
    file: manifest,
    task: 'perplexity',
    sha256: sha256Hex(JSON.stringify(texts)),
    texts,
    items: []
  };
}

/** Mean NLL per token over the perplexity sets: ln(perplexity), token-weighted. */
function meanLoss(metrics: EvalMetric[]): number {
  const sets = metrics.filter(m => m.metric === 'perplexity');
  const tokens = sets.reduce((n, m) => n + m.count, 0);
  if (tokens === 0) {
    throw new CusprunError(
      'bad-argument',
      'the sensitivity probe needs documents with tokens to predict'
    );
  }
  return sets.reduce((sum, m) => sum + m.count * Math.log(m.value), 0) / tokens;
}

/** Group `g`'s probe: its lowest-ranked units, nothing removed elsewhere. */
function probePlan(expert: Expert, map: ModelMap, g: number): UnitPlan {
  const { selection } = expert;
  const group = selection.groups[g];
  const units = selection.lowest(
    g,
    probeCount(group.ranks.length, selection.guardsOf(g).minKeep)
  );
  return {
    layers: map.layers.map(layer => ({
      index: layer.index,
      ffn: layer.index === group.layer && group.kind === 'ffn' ? units : [],
      attention:
        layer.index === group.layer && group.kind === 'attention' ? units : []
    }))
  };
}

/** Every group's loss rise when the probe removes its lowest units, in the selection's order. */
export async function probeSensitivities(
  expert: Expert,
  map: ModelMap,
  evaluator: Evaluator,
  onProbe?: (done: number, total: number) => void
): Promise<GroupSensitivity[]> {
  const dense = meanLoss((await evaluator.evaluate()).metrics);
  const { groups } = expert.selection;
  const out: GroupSensitivity[] = [];
  for (let g = 0; g < groups.length; g++) {
    const plan = probePlan(expert, map, g);
    const removed = plan.layers.reduce(
      (n, l) => n + l.ffn.length + l.attention.length,
      0
    );
    const lossIncrease =
      removed === 0
        ? 0
        : meanLoss((await evaluator.evaluate(plan)).metrics) - dense;
    out.push({ removed, lossIncrease });
    onProbe?.(g + 1, groups.length);
  }
  return out;
}
