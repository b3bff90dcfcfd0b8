/// <reference lib="dom" />
/**
 * One run store per Jupyter server: a notebook two folders below the server's root lists, with
 * `%cusprun runs`, the runs the panel lists, and plans one of them by its name and by its
 * folder's path from the notebook.
 */
import { expect, test } from '@jupyterlab/galata';
import { openPanel, prepareRun, RUN } from './helpers';

const NOTEBOOK = 'store.ipynb';

test('a notebook in a subfolder lists the panel’s runs and plans one by name', async ({
  page,
  request,
  tmpPath
}) => {
  test.setTimeout(180_000);
  await prepareRun(request);
  const panel = await openPanel(page);
  await expect(panel.locator('.jp-CusprunPanel-status')).toHaveText(
    /^Sidecar: running/,
    { timeout: 30_000 }
  );
  await panel.locator('.jp-CusprunPanel-refresh').click();
  const rows = panel.locator('tr.jp-CusprunPanel-run');
  await expect(
    panel.locator(`tr.jp-CusprunPanel-run[data-run="${RUN}"]`)
  ).toBeVisible();
  const panelRuns = (
    await rows.evaluateAll(trs => trs.map(tr => tr.getAttribute('data-run')))
  ).sort();
  expect(panelRuns).toContain(RUN);

  const folder = `${tmpPath}/notes/week1`;
  expect(await page.contents.createDirectory(folder)).toBe(true);
  expect(await page.filebrowser.openDirectory(folder)).toBe(true);
  await page.notebook.createNew(NOTEBOOK);
  await page.notebook.setCell(
    0,
    'code',
    'import os\n%load_ext cusprun\nprint(os.getcwd())\n%cusprun runs'
  );
  await page.notebook.addCell('code', `%cusprun plan --run ${RUN} --sigma 0.3`);
  // The same run by its folder's path from the notebook (tmpPath is a folder of the root).
  await page.notebook.addCell(
    'code',
    `%cusprun plan --run ../../../.cusprun/${RUN} --sigma 0.3`
  );
  await page.notebook.runCell(0, true);
  const cell = await page.notebook.getCellLocator(0);
  const output = cell!.locator('.jp-OutputArea');
  // The kernel runs in the subfolder, and still finds the server's store.
  await expect(output).toContainText('/notes/week1', { timeout: 60_000 });
  const table = output.locator('table');
  await expect(table).toBeVisible({ timeout: 60_000 });
  const listed = (
    await table
      .locator('tbody tr')
      .evaluateAll(trs =>
        trs.map(tr => tr.querySelector('td, th')?.textContent?.trim() ?? '')
      )
  ).sort();
  expect(listed).toEqual(panelRuns);

  await page.notebook.runCell(1, true);
  const plan = (await page.notebook.getCellLocator(1))!.locator(
    '.jp-OutputArea'
  );
  await expect(plan).toContainText(
    /σ = 0\.3000: ratio \d+\.\d\d% of prunable parameters/,
    { timeout: 60_000 }
  );
  await expect(plan).not.toContainText('Error');

  await page.notebook.runCell(2, true);
  const byPath = (await page.notebook.getCellLocator(2))!.locator(
    '.jp-OutputArea'
  );
  const planLine = (await plan.textContent())!.match(/σ = [^\n]*task/)?.[0];
  expect(planLine).toMatch(/^σ = 0\.3000: ratio /);
  await expect(byPath).toContainText(planLine!, { timeout: 60_000 });
});
