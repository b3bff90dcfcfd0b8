/// <reference lib="dom" />
/**
 * The README's screenshots at JupyterLab's default layout (1440×900, the right side bar at its
 * default width), light and dark: the runs list, a run's dashboard, a compare tab and an executed
 * notebook. They rewrite tracked files in docs/images, so they run only with
 * CUSPRUN_SCREENSHOTS=1 (not in CI).
 */
import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';
import type { TestInfo } from '@playwright/test';
import * as fs from 'fs';
import * as path from 'path';
import {
  keepScreenshot,
  openPanel,
  prepareRun,
  REPO,
  RUN,
  showRun
} from './helpers';

const MEDICAL = path.join(REPO, 'fixtures', 'corpora', 'medical.yaml');
const THEMES = ['light', 'dark'] as const;

test.skip(
  !process.env.CUSPRUN_SCREENSHOTS,
  'rewrites docs/images: run with CUSPRUN_SCREENSHOTS=1'
);

test.beforeEach(async ({ page, request }) => {
  await prepareRun(request);
  await page.setViewportSize({ width: 1440, height: 900 });
});

/** The page in both themes, kept in test-results and copied into docs/images. */
async function bothThemes(
  page: IJupyterLabPageFixture,
  testInfo: TestInfo,
  name: string
): Promise<void> {
  for (const theme of THEMES) {
    await (theme === 'dark'
      ? page.theme.setDarkTheme()
      : page.theme.setLightTheme());
    await keepScreenshot(testInfo, page, `${name}-${theme}`);
    fs.copyFileSync(
      path.join(REPO, 'test-results', `${name}-${theme}.png`),
      path.join(REPO, 'docs', 'images', `${name}-${theme}.png`)
    );
  }
  await page.theme.setLightTheme();
}

test('the runs list in the side panel', async ({ page }, testInfo) => {
  const panel = await openPanel(page);
  await expect(panel.locator(`tr[data-run="${RUN}"]`)).toBeVisible({
    timeout: 30_000
  });
  await bothThemes(page, testInfo, 'runs-list');
});

test('a run dashboard in the main area', async ({ page }, testInfo) => {
  const { dashboard } = await showRun(page);
  await expect(
    dashboard.locator('.jp-CusprunRun-histogram .vega-embed svg.marks')
  ).toBeVisible({ timeout: 30_000 });
  await expect(dashboard.locator('.jp-CusprunRun-history li')).not.toHaveCount(
    0
  );
  await bothThemes(page, testInfo, 'run-dashboard');
});

test('two runs compared in a tab', async ({ page, request }, testInfo) => {
  await prepareRun(request, 'medical-run', MEDICAL);
  await openPanel(page);
  await page.evaluate(async run => {
    await window.jupyterapp.commands.execute('cusprun:compare-runs', {
      runs: [run, 'medical-run'],
      sigma: 0.5
    });
  }, RUN);
  const tab = page.locator('.jp-CusprunCompareTab');
  await expect(tab.locator('tbody[data-section="ratios"]')).toBeVisible({
    timeout: 30_000
  });
  await bothThemes(page, testInfo, 'compare-runs');
});

test('an executed notebook with a %cusprun plan', async ({
  page
}, testInfo) => {
  await openPanel(page);
  await page.notebook.createNew('plan.ipynb');
  await page.notebook.setCell(0, 'code', '%load_ext cusprun');
  await page.notebook.addCell('code', `%cusprun plan --run ${RUN} --sigma 0.5`);
  await page.notebook.runCell(0, true);
  await page.notebook.runCell(1, true);
  const cell = (await page.notebook.getCellLocator(1))!;
  await expect(cell.locator('.jp-CusprunSweep-summary')).toHaveText(/^σ /, {
    timeout: 60_000
  });
  await expect(cell.locator('.vega-embed').first()).toBeVisible();
  await bothThemes(page, testInfo, 'executed-notebook');
});
