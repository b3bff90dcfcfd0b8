/// <reference lib="dom" />
/**
 * What the Galata suites share: the repository's fixtures, opening the panel the way a user
 * does, preparing a scored run through the server's own API, running the CLI on it as a user in
 * a terminal would, and recording transient texts.
 */
import { expect, IJupyterLabPageFixture } from '@jupyterlab/galata';
import type { APIRequestContext, Locator, TestInfo } from '@playwright/test';
import { execFileSync } from 'child_process';
import * as path from 'path';

export const REPO = path.resolve(__dirname, '..', '..');
export const MODEL = path.join(
  REPO,
  'fixtures',
  'models',
  'llama',
  'torchscript'
);
export const CORPUS = path.join(REPO, 'fixtures', 'corpora', 'corpus.yaml');
export const RUN = 'fixture-run';

export async function openPanel(page: IJupyterLabPageFixture) {
  await page.keyboard.press('Control+Shift+c');
  const palette = page.locator('#modal-command-palette');
  await expect(palette).toBeVisible();
  await palette.locator('input').fill('Cus-Prun');
  const item = palette.locator('.lm-CommandPalette-item', {
    hasText: 'Open Cus-Prun Panel'
  });
  await expect(item).toBeVisible();
  await item.click();
  const panel = page.locator('#cusprun-panel');
  await expect(panel).toBeVisible();
  return panel;
}

/** Waits until the server's sidecar runs. */
export async function sidecarRunning(
  request: APIRequestContext
): Promise<void> {
  await expect
    .poll(
      async () => {
        const r = await request.get('/cusprun/version');
        return r.ok() ? (await r.json()).sidecar.state : `HTTP ${r.status()}`;
      },
      { timeout: 60_000 }
    )
    .toBe('running');
}

/** Scores a model into the served run store (once: a scored run is resumed at no cost). */
export async function prepareRun(
  request: APIRequestContext,
  run = RUN,
  corpus = CORPUS
): Promise<void> {
  await sidecarRunning(request);
  const submitted = await request.post('/cusprun/api/jobs', {
    data: { type: 'score', run, model: MODEL, corpus }
  });
  expect(submitted.status(), await submitted.text()).toBe(202);
  const job = await submitted.json();
  await expect
    .poll(
      async () =>
        (await (await request.get(`/cusprun/api/jobs/${job.id}`)).json()).state,
      { timeout: 120_000 }
    )
    .toBe('done');
}

/** A run's dashboard in the main area. */
export function dashboardOf(page: IJupyterLabPageFixture, run = RUN) {
  return page.locator(
    `#jp-main-dock-panel .jp-CusprunRunDashboard[data-run="${run}"]`
  );
}

/**
 * Opens the panel and a run's dashboard from its row; returns the panel, the row, the dashboard
 * (in the main area) and its σ-sweep widget.
 */
export async function showRun(page: IJupyterLabPageFixture, run = RUN) {
  const panel = await openPanel(page);
  await expect(panel.locator('.jp-CusprunPanel-status')).toHaveText(
    /^Sidecar: running · cusprun \S+/,
    { timeout: 30_000 }
  );
  const row = panel.locator(`tr.jp-CusprunPanel-run[data-run="${run}"]`);
  await row.click();
  await expect(row).toHaveAttribute('aria-selected', 'true');
  const dashboard = dashboardOf(page, run);
  await expect(dashboard).toBeVisible();
  const sweep = dashboard.locator('.jp-CusprunSweep.jp-CusprunRun-sweep');
  await expect(sweep.locator('.jp-CusprunSweep-summary')).toHaveText(/^σ /);
  return { panel, row, dashboard, sweep };
}

/** Where recordTexts keeps what it saw, in the page. */
type Recorder = Window & { __cusprunSeen?: Record<string, string[]> };

/** Records every text an element shows from now on (transient states included). */
export async function recordTexts(
  page: IJupyterLabPageFixture,
  selector: string
) {
  await page.evaluate(sel => {
    const node = document.querySelector(sel)!;
    const seen: string[] = [node.textContent ?? ''];
    const w = window as Recorder;
    w.__cusprunSeen = { ...(w.__cusprunSeen ?? {}), [sel]: seen };
    new MutationObserver(() => seen.push(node.textContent ?? '')).observe(
      node,
      { childList: true, characterData: true, subtree: true }
    );
  }, selector);
  return async (): Promise<string[]> =>
    page.evaluate(sel => (window as Recorder).__cusprunSeen![sel], selector);
}

/** A screenshot of `what` kept in test-results/ and attached to the test's report. */
export async function keepScreenshot(
  testInfo: TestInfo,
  what: Locator | IJupyterLabPageFixture,
  name: string
): Promise<void> {
  const file = `../test-results/${name}.png`;
  await what.screenshot({ path: file });
  await testInfo.attach(name, { path: file, contentType: 'image/png' });
}

/** The run store the server's sidecar uses. */
export async function sidecarStore(
  request: APIRequestContext
): Promise<string> {
  return (await (await request.get('/cusprun/version')).json()).sidecar.store;
}

/**
 * `cusprun COMMAND --run STORE/RUN ARGS…` with the repository's CLI on run `run` in `store` (a
 * user's terminal beside the lab); its stdout.
 */
export function cliOnRun(
  store: string,
  run: string,
  command: string,
  ...args: string[]
): string {
  return execFileSync(
    'node',
    [
      path.join(REPO, 'dist', 'sidecar', 'cli.js'),
      command,
      '--run',
      path.join(store, run),
      ...args
    ],
    { encoding: 'utf8' }
  );
}
