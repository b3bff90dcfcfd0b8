/**
 * What a run's dashboard and the runs list show about a run's history, computed from what the sidecar
 * answers (no science): the σ and rule the run's work was last done with, and times as "3 min ago".
 */
import type { JobInfo, RunDetail } from '../core/protocol';
import {
  DEFAULT_RULE,
  recordedRule,
  RuleSettings,
  ruleSettings
} from '../core/select/rules';

/** The slider's σ for a run nobody planned or pruned yet. */
export const DEFAULT_SIGMA = 0.5;

/** Where a run's σ view opens: the σ and the rule of its latest plan or prune. */
export interface StartView {
  sigma: number;
  rule: RuleSettings;
}

/** The rule a plan request asked for, as the sidecar read it (a done job's request was valid). */
function requestedRule(request: { rule?: unknown; q?: unknown }): RuleSettings {
  return ruleSettings({
    rule: typeof request.rule === 'string' ? request.rule : undefined,
    q: typeof request.q === 'number' ? request.q : undefined
  });
}

/** The σ and rule a plan or prune used: its result's plan, else what it asked for. */
function jobView(job: JobInfo): StartView | undefined {
  const result = job.result as
    { plan?: { sigma?: unknown; rule?: unknown; q?: unknown } } | undefined;
  const request = job.request as {
    sigma?: unknown;
    rule?: unknown;
    q?: unknown;
  };
  if (result?.plan) {
    const { plan } = result;
    return isSigma(plan.sigma)
      ? { sigma: plan.sigma, rule: recordedRule(plan) }
      : undefined;
  }
  return isSigma(request.sigma)
    ? { sigma: request.sigma, rule: requestedRule(request) }
    : undefined;
}

function isSigma(sigma: unknown): sigma is number {
  return typeof sigma === 'number' && sigma > 0 && sigma < 1;
}

/**
 * The σ and rule of the run's latest plan or prune, from the sidecar's jobs (done ones, by when
 * they ended) and the prunes run.json records (the CLI's too); `DEFAULT_SIGMA` under
 * `DEFAULT_RULE` when there is none.
 */
export function startView(
  detail: Pick<RunDetail, 'jobs' | 'record'>
): StartView {
  const seen: { at: number; view: StartView }[] = [];
  for (const job of detail.jobs) {
    const view = jobView(job);
    if (
      (job.type === 'plan' || job.type === 'prune') &&
      job.state === 'done' &&
      view !== undefined
    ) {
      seen.push({
        at: Date.parse(job.finished ?? job.started ?? job.submitted),
        view
      });
    }
  }
  for (const prune of detail.record.prunes ?? []) {
    const plan = prune.plan;
    if (plan && isSigma(plan.sigma)) {
      seen.push({
        at: Date.parse(prune.at),
        view: { sigma: plan.sigma, rule: recordedRule(plan) }
      });
    }
  }
  let latest: { at: number; view: StartView } | undefined;
  for (const entry of seen) {
    if (latest === undefined || !(entry.at < latest.at)) {
      latest = entry;
    }
  }
  return (
    latest?.view ?? { sigma: DEFAULT_SIGMA, rule: { rule: DEFAULT_RULE, q: 1 } }
  );
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/**
 * `iso` relative to `now` (ms): "just now", "3 min ago", "2 h ago", "yesterday", "5 days ago",
 * then the date (YYYY-MM-DD); '' for no time, the text itself for one that is not a time.
 */
export function relativeTime(iso: string, now: number): string {
  if (!iso) {
    return '';
  }
  const at = Date.parse(iso);
  if (Number.isNaN(at)) {
    return iso;
  }
  const ago = now - at;
  if (ago < MINUTE) {
    return ago < -MINUTE ? absoluteTime(iso) : 'just now';
  }
  if (ago < HOUR) {
    return `${Math.floor(ago / MINUTE)} min ago`;
  }
  if (ago < DAY) {
    return `${Math.floor(ago / HOUR)} h ago`;
  }
  if (ago < 2 * DAY) {
    return 'yesterday';
  }
  if (ago < 30 * DAY) {
    return `${Math.floor(ago / DAY)} days ago`;
  }
  return new Date(at).toISOString().slice(0, 10);
}

/** The tooltip of a relative time: the time itself, to the second, in UTC. */
export function absoluteTime(iso: string): string {
  const at = Date.parse(iso);
  return Number.isNaN(at)
    ? iso
    : new Date(at).toISOString().replace('T', ' ').slice(0, 19) + ' UTC';
}
