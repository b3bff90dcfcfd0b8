/// <reference lib="dom" />
import { expect, test } from '@jupyterlab/galata';
import type { APIRequestContext } from '@playwright/test';
import {
  cliOnRun,
  CORPUS,
  dashboardOf,
  MODEL,
  openPanel,
  prepareRun,
  recordTexts,
  RUN,
  keepScreenshot,
  sidecarRunning,
  sidecarStore
} from './helpers';

/** The ratio `cusprun plan --sigma S` prints for the run, as the summary line writes it. */
async function cliRatio(
  request: APIRequestContext,
  sigma: number
): Promise<string> {
  const store = await sidecarStore(request);
  const plan = JSON.parse(
    cliOnRun(store, RUN, 'plan', '--sigma', String(sigma), '--json')
  );
  return `${(100 * plan.ratio).toFixed(2)}%`;
}

test('the command palette opens the Cus-Prun panel', async ({
  page
}, testInfo) => {
  const panel = await openPanel(page);
  await expect(panel.locator('.jp-CusprunPanel-status')).toHaveText(
    /^Sidecar: (running · cusprun \S+|starting…)/
  );
  // the run store the server's sidecar runs on: the root folder's .cusprun by default
  await expect(
    panel.locator('.jp-CusprunPanel-settings dd').first()
  ).toHaveText(/^\/\S+\/\.cusprun$/);
  await keepScreenshot(testInfo, page, 'cusprun-panel');
});

test('the panel lists a scored run and its σ slider redraws the ratio', async ({
  page,
  request
}, testInfo) => {
  const started = Date.now();
  await prepareRun(request);
  const scored = Date.now();

  const panel = await openPanel(page);
  await expect(panel.locator('.jp-CusprunPanel-status')).toHaveText(
    /^Sidecar: running · cusprun \S+/,
    { timeout: 30_000 }
  );
  const row = panel.locator(`tr.jp-CusprunPanel-run[data-run="${RUN}"]`);
  await expect(row).toBeVisible();
  await expect(row.locator('td[data-key="dimensions"]')).toHaveText(
    'language, domain, task'
  );
  await expect(row.locator('td[data-key="progress"]')).toHaveText(/^\d+\/\d+$/);

  // The filter hides the run; clearing it shows it again.
  const filter = panel.locator('.jp-CusprunPanel-filter');
  await filter.fill('no-such-run');
  await expect(row).toBeHidden();
  await filter.fill('fixture');
  await expect(row).toBeVisible();

  // Sorting by a header flips its direction.
  const idHeader = panel.locator('th[data-key="id"]');
  await idHeader.locator('button').click();
  await expect(idHeader).toHaveAttribute('aria-sort', 'ascending');
  await idHeader.locator('button').click();
  await expect(idHeader).toHaveAttribute('aria-sort', 'descending');

  await row.click();
  await expect(row).toHaveAttribute('aria-selected', 'true');
  // the run opens as a dashboard in the main area
  const dashboard = dashboardOf(page);
  const sweep = dashboard.locator('.jp-CusprunSweep.jp-CusprunRun-sweep');
  const summary = sweep.locator('.jp-CusprunSweep-summary');
  // a run nobody planned opens at σ 0.5 under the default rule, as `cusprun plan --sigma 0.5`
  await expect(summary).toContainText(
    `σ 0.5000 · rank-mean · ${await cliRatio(request, 0.5)} of prunable parameters · `
  );
  const before = await summary.textContent();

  // No request may go out per slider move: count the ranks requests from here on.
  let ranksRequests = 0;
  page.on('request', r => {
    if (r.url().includes('/ranks')) {
      ranksRequests++;
    }
  });
  const slider = sweep.getByLabel('σ', { exact: true });
  await slider.focus();
  const moved = Date.now();
  await page.keyboard.press('End');
  await expect(summary).not.toHaveText(before!);
  // an upper bound (Playwright polls), not the benchmark
  const sliderToSummaryMs = Date.now() - moved;
  const after = await summary.textContent();
  expect(after).toMatch(/^σ 0\.9950 · /);
  // More σ prunes at least as much: the ratio differs from σ 0.50's.
  const ratio = (text: string | null) =>
    Number(/· ([\d.]+)% of prunable/.exec(text ?? '')![1]);
  expect(ratio(after)).toBeGreaterThan(ratio(before));
  await page.keyboard.press('ArrowLeft');
  await expect(summary).toHaveText(/^σ 0\.9900 · rank-mean · /);
  expect(ranksRequests).toBe(0);
  // Under the paper's rule (its ranks for each of the 7 dimension subsets, asked for once) the
  // view stays at σ 0.99 and the summary names the rule.
  const rule = sweep.getByRole('combobox', { name: 'rule' });
  await expect(rule.locator('option')).toHaveText([
    'rank-mean',
    'paper',
    'pooled-intersect'
  ]);
  await rule.selectOption('paper');
  await expect(summary).toHaveText(/^σ 0\.9900 · paper · /);
  expect(ranksRequests).toBe(7);
  // A dimension toggle switches to that subset's ranks, fetched with the rule: no request either.
  const toggled = await summary.textContent();
  const domain = sweep.getByRole('checkbox', { name: 'domain' });
  await domain.focus();
  await page.keyboard.press('Space');
  await expect(domain).not.toBeChecked();
  await expect(summary).not.toHaveText(toggled!);
  await page.keyboard.press('Space');
  await expect(domain).toBeChecked();
  await expect(summary).toHaveText(toggled!);
  // Back to rank-mean (its ranks kept) at σ 0.5: the view it opened on, and the CLI's ratio.
  await rule.selectOption('rank-mean');
  await expect(summary).toHaveText(/^σ 0\.9900 · rank-mean · /);
  await slider.fill('100');
  await expect(summary).toHaveText(before!);
  expect(ranksRequests).toBe(7);

  await testInfo.attach('timings', {
    body: JSON.stringify({
      scoreMs: scored - started,
      sliderToSummaryMs
    }),
    contentType: 'application/json'
  });
  await keepScreenshot(testInfo, dashboard, 'cusprun-panel-run');
});

test('the panel shows the progress of a scoring job live', async ({
  page,
  request
}) => {
  await sidecarRunning(request);
  const panel = await openPanel(page);
  await expect(panel.locator('.jp-CusprunPanel-status')).toHaveText(
    /^Sidecar: running/
  );
  const progressTexts = await recordTexts(page, '.jp-CusprunPanel-progress');
  const submitted = await request.post('/cusprun/api/jobs', {
    data: { type: 'score', run: 'live-run', model: MODEL, corpus: CORPUS }
  });
  expect(submitted.status(), await submitted.text()).toBe(202);
  const job = await submitted.json();

  const progress = panel.locator('.jp-CusprunPanel-progress');
  await expect(progress).toHaveText(`score ${job.id} on live-run: done`, {
    timeout: 120_000
  });
  const seen = await progressTexts();
  expect(
    seen.some(t => /^score \S+ on live-run: \d+\/\d+ \(\d+%\)/.test(t))
  ).toBe(true);
  // the finished job lists its run
  await expect(
    panel.locator('tr.jp-CusprunPanel-run[data-run="live-run"]')
  ).toBeVisible();
});

test('the panel shows the sidecar restarting, then works again without a reload', async ({
  page,
  request
}, testInfo) => {
  await prepareRun(request);
  const panel = await openPanel(page);
  const status = panel.locator('.jp-CusprunPanel-status');
  await expect(status).toHaveText(/^Sidecar: running/);
  const row = panel.locator(`tr.jp-CusprunPanel-run[data-run="${RUN}"]`);
  await expect(row).toBeVisible();

  const before = (await (await request.get('/cusprun/version')).json()).sidecar;
  expect(before.pid).toBeGreaterThan(0);
  const statusTexts = await recordTexts(page, '.jp-CusprunPanel-status');
  process.kill(before.pid, 'SIGKILL');
  // the next request of the panel finds no sidecar
  await panel.locator('.jp-CusprunPanel-refresh').click();
  await expect(status).toHaveText(/^Sidecar: running/, { timeout: 60_000 });
  await expect
    .poll(async () =>
      (await statusTexts()).some(t =>
        /not answering|restarting|starting/.test(t)
      )
    )
    .toBe(true);
  await testInfo.attach('status-texts', {
    body: JSON.stringify(await statusTexts()),
    contentType: 'application/json'
  });
  // the server notices the death within its watch interval and starts a new sidecar
  await expect
    .poll(
      async () => {
        const { sidecar } = await (
          await request.get('/cusprun/version')
        ).json();
        return sidecar.state === 'running' && sidecar.pid !== before.pid;
      },
      { timeout: 60_000 }
    )
    .toBe(true);
  await expect(status).toHaveText(/^Sidecar: running/, { timeout: 60_000 });
  await panel.locator('.jp-CusprunPanel-refresh').click();
  await expect(row).toBeVisible();
  await row.click();
  await expect(
    dashboardOf(page).locator('.jp-CusprunRun-sweep .jp-CusprunSweep-summary')
  ).toHaveText(/^σ 0\.5000 · /);
});

test.describe('the version handshake', () => {
  test('a missing server extension gets an actionable message', async ({
    page
  }) => {
    await page.route('**/cusprun/version*', route =>
      route.fulfill({ status: 404, body: 'Not Found' })
    );
    await page.reload();
    const panel = await openPanel(page);
    await expect(panel.locator('.jp-CusprunPanel-status')).toHaveText(
      /server extension is not running: install cusprun .*pip install/
    );
    await expect(panel.locator('.jp-CusprunPanel-runs')).toBeHidden();
  });

  test('a protocol mismatch says what to do', async ({ page }) => {
    await page.route('**/cusprun/version*', route =>
      route.fulfill({
        status: 200,
        contentType: 'application/json',
        body: JSON.stringify({
          version: '9.9.9',
          protocol: 99,
          sidecar: { state: 'running' }
        })
      })
    );
    await page.reload();
    const panel = await openPanel(page);
    await expect(panel.locator('.jp-CusprunPanel-status')).toHaveText(
      /speaks protocol 99.*restart JupyterLab/
    );
    await expect(panel.locator('.jp-CusprunPanel-runs')).toBeHidden();
  });
});
