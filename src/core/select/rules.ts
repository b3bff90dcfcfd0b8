/**
 * The selection rules: how one dimension's per-document scores become one deciding rank per unit
 * (ranks.ts), and how the dimensions' deciding ranks combine into the expert's. Every rule ends
 * in the same form — a unit is pruned at σ iff its deciding rank is below ⌊σ·n⌋ — so σ, a target
 * ratio, min_keep and the width multiple apply to all of them alike (selection.ts).
 *
 * - `paper`: irrelevant (bottom ⌊σ·n⌋) to every document of every dimension (q = 1).
 * - `q`: irrelevant to at least a fraction q of each dimension's documents, and to every
 *   dimension.
 * - `pooled-intersect`: per dimension the scores pooled over its documents, as general
 *   calibration pools over all of them (root of the summed squares: the dimension's corpus
 *   scored as one document); pruned if in the bottom ⌊σ·n⌋ of every dimension's pooled scores.
 * - `rank-mean`: each document ranks the units; a unit's score is its mean rank over every
 *   document of every requested dimension; the bottom ⌊σ·n⌋ of those are pruned.
 */
import { CusprunError } from '../errors';

export const RULES = ['paper', 'q', 'pooled-intersect', 'rank-mean'] as const;
export type Rule = (typeof RULES)[number];

/**
 * The rule a plan uses when none is named. The paper's rule stays one `--rule paper` away; on
 * SmolLM2-135M and Gemma-3-270M rank-mean kept the expert's perplexity lowest over both ratios
 * and both document samples, and alone beat both baselines by ≥ 5% (README, "Selection rules").
 */
export const DEFAULT_RULE: Rule = 'rank-mean';

/** A rule with the q it runs at (1 for every rule but `q`). */
export interface RuleSettings {
  rule: Rule;
  q: number;
}

/** How an interface spells the two options, for its messages. */
export const CLI_RULE_NAMES = { rule: '--rule', q: '--q' };

function isRule(name: unknown): name is Rule {
  return (RULES as readonly unknown[]).includes(name);
}

/**
 * The rule and q that `given` asks for, checked: no rule means DEFAULT_RULE, or with a q the rule
 * of q documents as it was asked for before rules had names (`paper` at q 1, `q` below); only the
 * `q` rule takes a q, and it needs one.
 */
export function ruleSettings(
  given: { rule?: string; q?: number },
  names: { rule: string; q: string } = CLI_RULE_NAMES
): RuleSettings {
  const { rule, q } = given;
  if (q !== undefined && !(q > 0 && q <= 1)) {
    throw new CusprunError(
      'bad-argument',
      `${names.q} must lie in (0, 1], got ${q}`
    );
  }
  if (rule === undefined) {
    if (q === undefined) {
      return { rule: DEFAULT_RULE, q: 1 };
    }
    return q < 1 ? { rule: 'q', q } : { rule: 'paper', q: 1 };
  }
  if (!isRule(rule)) {
    throw new CusprunError(
      'bad-argument',
      `${names.rule}: unknown rule '${rule}'; choose from ${RULES.join(', ')}`
    );
  }
  if (rule === 'q') {
    if (q === undefined) {
      throw new CusprunError(
        'bad-argument',
        `${names.rule} q needs ${names.q} Q, a fraction of each dimension's documents in (0, 1]`
      );
    }
    return { rule, q };
  }
  if (q !== undefined && q !== 1) {
    throw new CusprunError(
      'bad-argument',
      `${names.q} applies only to ${names.rule} q; drop it or use ${names.rule} q`
    );
  }
  return { rule, q: 1 };
}

/**
 * The rule a plan or ranks record states (read from JSON, so unchecked): records made before
 * rules had names were the paper's rule's, or the q rule's below q 1.
 */
export function recordedRule(record: {
  rule?: unknown;
  q?: unknown;
}): RuleSettings {
  const q = typeof record.q === 'number' ? record.q : 1;
  if (isRule(record.rule)) {
    return { rule: record.rule, q: record.rule === 'q' ? q : 1 };
  }
  return q < 1 ? { rule: 'q', q } : { rule: 'paper', q: 1 };
}

/** A rule's short name in tables: `paper`, `q0.75`, `pooled-intersect`, `rank-mean`. */
export function ruleLabel({ rule, q }: RuleSettings): string {
  return rule === 'q' ? `q${q}` : rule;
}
