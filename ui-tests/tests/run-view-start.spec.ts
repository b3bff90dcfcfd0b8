/// <reference lib="dom" />
/**
 * A run's view opens where the work is: the σ and rule of its latest plan or prune (the CLI's
 * too), its last job whoever ran it, and when it changed as "just now" with the time in a tooltip.
 */
import { expect, test } from '@jupyterlab/galata';
import * as path from 'path';
import {
  cliOnRun,
  dashboardOf,
  openPanel,
  prepareRun,
  sidecarStore
} from './helpers';

const RUN = 'started-run';

test('a run opens at the σ and rule of its latest plan or prune, whoever made it', async ({
  page,
  request
}) => {
  await prepareRun(request, RUN);
  // a plan from the panel's side (the sidecar's job), then a prune from a terminal (the CLI)
  const planned = await request.post('/cusprun/api/jobs', {
    data: { type: 'plan', run: RUN, sigma: 0.3, rule: 'pooled-intersect' }
  });
  expect(planned.status(), await planned.text()).toBe(202);
  const job = await planned.json();
  await expect
    .poll(
      async () =>
        (await (await request.get(`/cusprun/api/jobs/${job.id}`)).json()).state,
      { timeout: 60_000 }
    )
    .toBe('done');
  const store = await sidecarStore(request);
  cliOnRun(
    store,
    RUN,
    'prune',
    '--sigma',
    '0.25',
    '--rule',
    'paper',
    '--out',
    path.join(path.dirname(store), 'cli-experts', RUN)
  );

  const panel = await openPanel(page);
  await expect(panel.locator('.jp-CusprunPanel-status')).toHaveText(
    /^Sidecar: running · cusprun \S+/,
    { timeout: 30_000 }
  );
  await panel.locator('.jp-CusprunPanel-refresh').click();
  const row = panel.locator(`tr.jp-CusprunPanel-run[data-run="${RUN}"]`);
  await expect(row.locator('td[data-key="lastJob"]')).toHaveText(
    'prune done (CLI)'
  );
  const updated = row.locator('td[data-key="updated"]');
  await expect(updated).toHaveText(/^(just now|\d+ min ago)$/);
  await expect(updated).toHaveAttribute(
    'title',
    /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC$/
  );

  await row.click();
  const sweep = dashboardOf(page, RUN).locator(
    '.jp-CusprunSweep.jp-CusprunRun-sweep'
  );
  await expect(sweep.locator('.jp-CusprunSweep-summary')).toHaveText(
    /^σ 0\.2500 · paper · [\d.]+% of prunable/
  );
  await expect(sweep.getByRole('combobox', { name: 'rule' })).toHaveValue(
    'paper'
  );
});
