/** `cusprun plan`: the expert's plan as a table, or as JSON for scripts and `cusprun prune`. */
import { ExpertPlan } from '../../core/select';
import { formatCount, formatRatio, formatSigma } from '../../core/format';
import { formatTable } from './table';

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
      ? ` (solved for a target of ${formatRatio(plan.targetRatio)})`
      : '';
  return [
    `dimensions   ${plan.dimensions.join(' ∩ ')}${plan.q < 1 ? ` (relaxed, q = ${plan.q})` : ' (strict)'}`,
    `sigma        ${formatSigma(plan.sigma)}${target}`,
    `ratio        ${formatRatio(plan.ratio)} of prunable parameters (${formatCount(plan.removedParams)} of ${formatCount(plan.prunableParams)}), ${formatRatio(plan.wholeModelRatio)} of the whole model`,
    `guards       min_keep ${plan.minKeep}, widths rounded to multiples of ${plan.multipleOf}`,
    '',
    table,
    ''
  ].join('\n');
}
