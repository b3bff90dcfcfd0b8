/**
 * Relative times that stay true while a view is open: a cell shows "3 min ago" with the absolute
 * time on hover, and a refresher re-renders every such cell under its root on a timer.
 */
import { absoluteTime, relativeTime } from './run-view-model';

/** "3 min ago" is minute-grained: half a minute keeps it at most 30 s behind. */
const REFRESH_MS = 30_000;

/** Shows `iso` relative to `now` in `node` and marks it for the refresher. */
export function showRelativeTime(
  node: HTMLElement,
  iso: string,
  now: number
): void {
  node.textContent = relativeTime(iso, now);
  if (iso) {
    node.dataset.time = iso;
    node.title = absoluteTime(iso);
  }
}

/** Re-renders the relative times under a root while started. */
export class RelativeTimeRefresher {
  private timer: number | null = null;

  constructor(private readonly root: HTMLElement) {}

  start(): void {
    this.stop();
    this.refresh();
    this.timer = window.setInterval(() => this.refresh(), REFRESH_MS);
  }

  stop(): void {
    if (this.timer !== null) {
      window.clearInterval(this.timer);
      this.timer = null;
    }
  }

  refresh(now = Date.now()): void {
    for (const node of this.root.querySelectorAll<HTMLElement>('[data-time]')) {
      node.textContent = relativeTime(node.dataset.time ?? '', now);
    }
  }
}
