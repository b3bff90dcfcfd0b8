/** `cusprun plan`: the expert's plan as a table, or as JSON for scripts and `cusprun prune`. */
import { ExpertPlan } from '../../core/select';
import { formatCount, formatRatio, formatSigma } from '../../core/format';
import { formatTable } from './table';

/** How the plan's rule decided, after its dimensions. */
function ruleText(plan: ExpertPlan): string {
  switch (plan.rule) {
    case 'pooled-intersect':
      return `${plan.dimensions.join(' ∩ ')} (each dimension's scores pooled, rule pooled-intersect)`;
    case 'rank-mean':
      return `${plan.dimensions.join(' + ')} (mean rank over their documents, rule rank-mean)`;
    default:
      return `${plan.dimensions.join(' ∩ ')}${plan.q < 1 ? ` (relaxed, q = ${plan.q})` : ' (strict)'}`;
  }
}

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
  const target = plan.allocation
    ? ` (one σ's at a target of ${formatRatio(plan.targetRatio ?? 0)}; the counts were allocated by sensitivity)`
    : plan.targetRatio !== undefined
      ? ` (solved for a target of ${formatRatio(plan.targetRatio)})`
      : '';
  return [
    `dimensions   ${ruleText(plan)}`,
    `sigma        ${formatSigma(plan.sigma)}${target}`,
    `ratio        ${formatRatio(plan.ratio)} of prunable parameters (${formatCount(plan.removedParams)} of ${formatCount(plan.prunableParams)}), ${formatRatio(plan.wholeModelRatio)} of the whole model`,
    `guards       min_keep ${plan.minKeep}, widths rounded to multiples of ${plan.multipleOf}${plan.keepAttention ? ', attention groups kept' : ''}`,
    '',
    table,
    ''
  ].join('\n');
}
