/**
 * A run's config and history in its dashboard: what it scored (model, corpus, scoring, versions)
 * as a definition list, and every job its event log knows plus the prunes its run.json records
 * (the CLI's too), newest first, with times as "3 min ago" (the time itself on hover).
 */
import { TranslationBundle } from '@jupyterlab/translation';
import type { RunDetail } from '../core/protocol';
import { shortSha } from './compare-model';
import { el } from './dom';
import { showRelativeTime } from './relative-times';

function configEntries(
  detail: RunDetail,
  trans: TranslationBundle
): [string, string][] {
  const { model, corpus, scoring, versions } = detail.record;
  return [
    [trans.__('Model'), model.file],
    [trans.__('Family'), model.family],
    [trans.__('Model SHA-256'), shortSha(model.sha256)],
    [trans.__('Corpus'), corpus.manifest],
    [trans.__('Dimensions'), detail.corpus.dimensions.join(', ')],
    [trans.__('Documents'), `${detail.scored}/${detail.documents}`],
    [trans.__('Truncation'), String(corpus.truncation)],
    [trans.__('Score form'), scoring.scoreForm],
    [
      trans.__('Versions'),
      `cusprun ${versions.cusprun} · ORT ${versions.onnxruntime}`
    ]
  ];
}

interface HistoryEntry {
  at: string;
  what: string;
}

function historyEntries(
  detail: RunDetail,
  trans: TranslationBundle
): HistoryEntry[] {
  const jobs = detail.jobs.map(job => ({
    at: job.finished ?? job.started ?? job.submitted,
    what: trans.__('%1 %2 (%3)', job.type, job.state, job.id)
  }));
  const prunes = detail.record.prunes.map(prune => ({
    at: prune.at,
    what: trans.__('prune → %1', prune.out)
  }));
  return [...jobs, ...prunes].sort((a, b) => b.at.localeCompare(a.at));
}

/** Replaces `host`'s content with the run's config and history. */
export function renderHistory(
  host: HTMLElement,
  detail: RunDetail,
  trans: TranslationBundle
): void {
  const config = el('dl', 'jp-CusprunRun-config');
  for (const [term, value] of configEntries(detail, trans)) {
    const dd = el('dd', undefined, value);
    dd.title = value;
    config.append(el('dt', undefined, term), dd);
  }
  const history = el('ol', 'jp-CusprunRun-history');
  const now = Date.now();
  for (const entry of historyEntries(detail, trans)) {
    const time = el('time');
    showRelativeTime(time, entry.at, now);
    const item = el('li');
    item.append(time, ' ', el('span', undefined, entry.what));
    history.appendChild(item);
  }
  if (history.childElementCount === 0) {
    history.appendChild(el('li', undefined, trans.__('No jobs yet.')));
  }
  host.replaceChildren(
    el('h3', 'jp-CusprunPanel-subheading', trans.__('Config')),
    config,
    el('h3', 'jp-CusprunPanel-subheading', trans.__('History')),
    history
  );
}
