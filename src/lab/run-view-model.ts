/**
 * What a run's dashboard and the runs list show about a run's history, computed from what the sidecar
 * answers (no science): the σ the run's work was last done at, and times as "3 min ago".
 */
import type { JobInfo, RunDetail } from '../core/protocol';

/** The slider's σ for a run nobody planned or pruned yet. */
export const DEFAULT_SIGMA = 0.5;

/** The σ a plan or prune used: its result's plan, else the σ it asked for. */
function jobSigma(job: JobInfo): number | undefined {
  const result = job.result as { plan?: { sigma?: unknown } } | undefined;
  const sigma =
    result?.plan?.sigma ?? (job.request as { sigma?: unknown }).sigma;
  return typeof sigma === 'number' && sigma > 0 && sigma < 1
    ? sigma
    : undefined;
}

/**
 * The σ of the run's latest plan or prune, from the sidecar's jobs (done ones, by when they
 * ended) and the prunes run.json records (the CLI's too); `DEFAULT_SIGMA` when there is none.
 */
export function startSigma(detail: Pick<RunDetail, 'jobs' | 'record'>): number {
  const seen: { at: number; sigma: number }[] = [];
  for (const job of detail.jobs) {
    const sigma = jobSigma(job);
    if (
      (job.type === 'plan' || job.type === 'prune') &&
      job.state === 'done' &&
      sigma !== undefined
    ) {
      seen.push({
        at: Date.parse(job.finished ?? job.started ?? job.submitted),
        sigma
      });
    }
  }
  for (const prune of detail.record.prunes ?? []) {
    const sigma = prune.plan?.sigma;
    if (typeof sigma === 'number' && sigma > 0 && sigma < 1) {
      seen.push({ at: Date.parse(prune.at), sigma });
    }
  }
  let latest: { at: number; sigma: number } | undefined;
  for (const entry of seen) {
    if (latest === undefined || !(entry.at < latest.at)) {
      latest = entry;
    }
  }
  return latest?.sigma ?? DEFAULT_SIGMA;
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
