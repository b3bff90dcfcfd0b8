/** `cusprun plan`: the expert's plan as a table, or as JSON for scripts and `cusprun prune`. */
import { ExpertPlan } from '../../core/select';
import { formatTable } from './table';

const percent = (x: number) => `${(100 * x).toFixed(2)}%`;
const count = (n: number) => n.toLocaleString('en-US');

export function formatPlan(plan: ExpertPlan): string {
  const rows = [
    ['layer', 'ffn pruned', 'ffn kept', 'groups pruned', 'groups kept'],
    ...plan.layers.map(l => [
      String(l.index),
      String(l.ffn.pruned.length),
      `${l.ffn.width - l.ffn.pruned.length}/${l.ffn.width}`,
      String(l.attention.prunedGroups.length),
      `${l.attention.groups - l.attention.prunedGroups.length}/${l.attention.groups}`
    ])
  ];
  const table = formatTable(rows);
  const target =
    plan.targetRatio !== undefined
      ? ` (solved for a target of ${percent(plan.targetRatio)})`
      : '';
  return [
    `dimensions   ${plan.dimensions.join(' ∩ ')}${plan.q < 1 ? ` (relaxed, q = ${plan.q})` : ' (strict)'}`,
    `sigma        ${plan.sigma.toFixed(6)}${target}`,
    `ratio        ${percent(plan.ratio)} of prunable parameters (${count(plan.removedParams)} of ${count(plan.prunableParams)}), ${percent(plan.wholeModelRatio)} of the whole model`,
    `guards       min_keep ${plan.minKeep}, widths rounded to multiples of ${plan.multipleOf}`,
    '',
    table,
    ''
  ].join('\n');
}
