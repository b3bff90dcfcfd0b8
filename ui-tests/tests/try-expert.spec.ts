/// <reference lib="dom" />
/**
 * "Try the expert" on the demo model: a run scored and pruned through the server's API, its tab
 * opened by the `cusprun:try-expert` command, one prompt generating from the dense model and the
 * expert side by side; screenshots at JupyterLab's default 1440×900, light and dark.
 */
import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';
import type { APIRequestContext } from '@playwright/test';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { keepScreenshot, REPO, sidecarRunning } from './helpers';

const RUN = 'try-demo';
const DEMO = path.join(REPO, 'demo');

/** The quick start's manifest cut to 4 short documents per dimension, with absolute sources. */
function smallDemoManifest(): string {
  const full = fs.readFileSync(
    path.join(DEMO, 'expert-de-computing-qa.yaml'),
    'utf8'
  );
  const file = path.join(
    fs.mkdtempSync(path.join(os.tmpdir(), 'cusprun-try-')),
    'expert.yaml'
  );
  fs.writeFileSync(
    file,
    full
      .replace(/data\/corpora\//g, `${DEMO}/data/corpora/`)
      .replace(/^truncation: \d+$/m, 'truncation: 32')
      .replace(/^documents: \d+$/m, 'documents: 4')
  );
  return file;
}

/** Submits a job through the server's API and waits until it is done. */
async function runJob(request: APIRequestContext, data: object) {
  const submitted = await request.post('/cusprun/api/jobs', { data });
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

type WithApp = Window & {
  jupyterapp: {
    commands: { execute(id: string, args: object): Promise<unknown> };
  };
};

/** What the run dashboard's button does: the command with the run's name. */
async function openTryExpert(page: IJupyterLabPageFixture, run: string) {
  await page.evaluate(async name => {
    await (window as unknown as WithApp).jupyterapp.commands.execute(
      'cusprun:try-expert',
      { run: name }
    );
  }, run);
}

test('try the expert: one prompt, the dense and the pruned generation side by side', async ({
  page,
  request
}, testInfo) => {
  await sidecarRunning(request);
  await runJob(request, {
    type: 'score',
    run: RUN,
    model: path.join(DEMO, 'model-kv'),
    corpus: smallDemoManifest()
  });
  await runJob(request, {
    type: 'prune',
    run: RUN,
    targetRatio: 0.25,
    out: `try-experts/${RUN}`,
    overwrite: true
  });

  await page.setViewportSize({ width: 1440, height: 900 });
  await openTryExpert(page, RUN);
  const tab = page.locator('.jp-CusprunTry');
  await expect(tab).toBeVisible();
  const expert = tab.locator('.jp-CusprunTry-column[data-model="expert"]');
  await expect(expert.locator('.jp-CusprunTry-heading')).toHaveText(
    /^expert \(2\d\.\d\d% removed\)$/
  );
  await tab.getByLabel('Prompt').fill('Die Datenbank speichert');
  await tab.getByLabel('New tokens').fill('24');
  await tab.getByRole('button', { name: 'Generate' }).click();
  for (const model of ['dense', 'expert']) {
    const column = tab.locator(`.jp-CusprunTry-column[data-model="${model}"]`);
    await expect(column.locator('.jp-CusprunTry-speed')).toHaveText(
      /^[\d,]+ tokens\/s · ([1-9]|1\d|2[0-4]) tokens · KV cache$/,
      { timeout: 60_000 }
    );
    await expect(column.locator('.jp-CusprunTry-text')).not.toHaveText('');
  }
  await expect(tab.getByRole('button', { name: 'Generate' })).toBeEnabled();

  // Two columns side by side at this width; stacked in a narrow tab.
  const [dense, expertBox] = await Promise.all(
    ['dense', 'expert'].map(m =>
      tab.locator(`.jp-CusprunTry-column[data-model="${m}"]`).boundingBox()
    )
  );
  expect(expertBox!.y).toBe(dense!.y);
  expect(await tab.evaluate(n => n.scrollWidth <= n.clientWidth)).toBe(true);

  await keepScreenshot(testInfo, page, 'try-expert-light');
  await page.theme.setDarkTheme();
  await keepScreenshot(testInfo, page, 'try-expert-dark');
  await page.theme.setLightTheme();
});

test('the try-the-expert tab fits 250 px with its columns stacked, and comes back after a reload', async ({
  page,
  request
}) => {
  await sidecarRunning(request);
  await page.setViewportSize({ width: 1440, height: 900 });
  await openTryExpert(page, RUN);
  const tab = page.locator('.jp-CusprunTry');
  await expect(tab).toBeVisible();
  await tab.evaluate(n => {
    (n as HTMLElement).style.width = '250px';
  });
  const [dense, expert] = await Promise.all(
    ['dense', 'expert'].map(m =>
      tab.locator(`.jp-CusprunTry-column[data-model="${m}"]`).boundingBox()
    )
  );
  expect(expert!.y).toBeGreaterThan(dense!.y);
  expect(await tab.evaluate(n => n.scrollWidth <= n.clientWidth)).toBe(true);

  // The layout restorer reopens the run's tab after a reload.
  // Once JupyterLab saved the layout with the tab (its workspace, in Galata's memory) …
  await expect
    .poll(() =>
      page.evaluate(async () => (await fetch('/lab/api/workspaces')).text())
    )
    .toContain(`cusprun-try-expert:${RUN}`);
  // … a reload brings it back (Galata's own reload waits for the Launcher tab: not here).
  await page.reload({ waitForIsReady: false });
  await expect(page.locator('.jp-CusprunTry')).toBeVisible({ timeout: 30_000 });
  await expect(page.getByRole('tab', { name: `Try ${RUN}` })).toBeVisible();
});
