/// <reference lib="dom" />
/**
 * The layout of runs as main-area dashboards: the side panel fits the default side bar (nothing
 * scrolls sideways, its live chart included); a run's dashboard and its charts fill the tab
 * without clipping at 480, 800 and 1400 px; the layout restorer brings the tab back after a
 * reload; compare opens a tab of its own.
 */
import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';
import type { Locator } from '@playwright/test';
import * as path from 'path';
import {
  CORPUS,
  dashboardOf,
  MODEL,
  openPanel,
  prepareRun,
  REPO,
  RUN,
  showRun
} from './helpers';

const MEDICAL = path.join(REPO, 'fixtures', 'corpora', 'medical.yaml');

/** Width and scroll width of `locator`'s node and of every chart figure under it. */
async function measure(locator: Locator) {
  return locator.evaluate(node => {
    const box = (n: Element) => ({
      client: n.clientWidth,
      scroll: n.scrollWidth,
      name: (n as HTMLElement).dataset.chart ?? n.className
    });
    return {
      node: box(node),
      figures: [...node.querySelectorAll('.jp-CusprunCharts-figure')].map(
        figure => {
          const chart = figure.querySelector('.vega-embed svg.marks');
          return {
            ...box(figure),
            chart: chart?.getBoundingClientRect().width ?? 0
          };
        }
      )
    };
  });
}

type Sizes = Awaited<ReturnType<typeof measure>>;

/** Nothing scrolls sideways: the node and each figure, the chart inside its figure. */
function expectNoClipping(sizes: Sizes): void {
  const say = JSON.stringify(sizes);
  expect(sizes.node.scroll, say).toBeLessThanOrEqual(sizes.node.client);
  expect(sizes.figures.length, say).toBeGreaterThan(0);
  for (const figure of sizes.figures) {
    expect(figure.scroll, say).toBeLessThanOrEqual(figure.client);
    expect(figure.chart, say).toBeLessThanOrEqual(figure.client + 1);
  }
}

/** Makes the main area `width` px wide (both side bars collapsed). */
async function mainAreaWidth(page: IJupyterLabPageFixture, width: number) {
  await page.sidebar.close('left');
  await page.sidebar.close('right');
  const dock = page.locator('#jp-main-dock-panel');
  const dockWidth = () => dock.evaluate(n => n.clientWidth);
  let viewport = width + 100;
  for (let i = 0; i < 3; i++) {
    await page.setViewportSize({ width: viewport, height: 900 });
    // Lumino lays the shell out again on the next animation frame after the resize
    await page.waitForTimeout(500);
    const now = await dockWidth();
    if (now === width) {
      break;
    }
    viewport += width - now;
  }
  await expect.poll(dockWidth).toBe(width);
}

/** The dashboard's histogram, drawn (again) for the width it has now. */
async function histogramDrawn(dashboard: Locator): Promise<void> {
  const figure = dashboard.locator(
    '.jp-CusprunRun-histogram [data-chart="relevance-histogram"]'
  );
  await expect(figure.locator('.vega-embed svg.marks')).toBeVisible({
    timeout: 30_000
  });
  // the charts are refitted after a resize has rested (charts-view.ts)
  await expect
    .poll(async () => {
      const sizes = await measure(dashboard);
      return sizes.figures.every(f => f.chart <= f.client + 1);
    })
    .toBe(true);
}

test.beforeEach(async ({ request }) => {
  await prepareRun(request);
});

test('at the default side-bar width nothing in the panel scrolls sideways, its live chart included', async ({
  page,
  request
}) => {
  const panel = await openPanel(page);
  await expect(panel.locator('.jp-CusprunPanel-status')).toHaveText(
    /^Sidecar: running/,
    { timeout: 30_000 }
  );
  // a scoring job streams its relevance histogram into the panel
  const run = `layout-${Date.now()}`;
  const submitted = await request.post('/cusprun/api/jobs', {
    data: { type: 'score', run, model: MODEL, corpus: CORPUS }
  });
  expect(submitted.status(), await submitted.text()).toBe(202);
  await expect(
    panel.locator(`tr.jp-CusprunPanel-run[data-run="${run}"]`)
  ).toBeVisible({ timeout: 120_000 });
  await expect(
    panel.locator('.jp-CusprunPanel-liveHistogram .vega-embed svg.marks')
  ).toBeVisible();
  const sizes = await measure(panel);
  expect(sizes.node.client).toBeLessThan(400); // the side bar, not the main area
  expectNoClipping(sizes);
  for (const part of await panel
    .locator('.jp-CusprunPanel-settings, .jp-CusprunPanel-table')
    .all()) {
    const { client, scroll } = (await measure(part)).node;
    expect(scroll).toBeLessThanOrEqual(client);
  }
});

for (const width of [480, 800, 1400]) {
  test(`a run opens in the main area and its charts fill a ${width} px tab without clipping`, async ({
    page
  }) => {
    const { dashboard } = await showRun(page);
    await mainAreaWidth(page, width);
    await histogramDrawn(dashboard);
    const sizes = await measure(dashboard);
    expectNoClipping(sizes);
    // the charts take the tab's width, not a fixed one (a facet grid leaves some room for
    // its axes and legend)
    for (const figure of sizes.figures) {
      expect(figure.chart, JSON.stringify(sizes)).toBeGreaterThan(
        0.7 * figure.client
      );
    }
  });
}

test('after a reload the layout restorer reopens the run’s dashboard', async ({
  page
}) => {
  await showRun(page);
  // once JupyterLab saved the layout with the tab (its workspace, in Galata's memory) …
  await expect
    .poll(() =>
      page.evaluate(async () => (await fetch('/lab/api/workspaces')).text())
    )
    .toContain(`cusprun-run:${RUN}`);
  // … a reload brings it back (Galata's own reload waits for the Launcher tab: not here)
  await page.reload({ waitForIsReady: false });
  const dashboard = dashboardOf(page);
  await expect(dashboard).toBeVisible({ timeout: 30_000 });
  await expect(
    dashboard.locator('.jp-CusprunRun-sweep .jp-CusprunSweep-summary')
  ).toHaveText(/^σ /);
});

test('compare of two runs opens a main-area tab with a column per run', async ({
  page,
  request
}) => {
  await prepareRun(request, 'medical-run', MEDICAL);
  await openPanel(page);
  await page.evaluate(async run => {
    await window.jupyterapp.commands.execute('cusprun:compare-runs', {
      runs: [run, 'medical-run'],
      sigma: 0.5
    });
  }, RUN);
  const tab = page.locator('#jp-main-dock-panel .jp-CusprunCompareTab');
  await expect(tab).toBeVisible();
  const head = tab.locator('table.jp-CusprunCompare thead th[scope="col"]');
  await expect(head).toHaveText([RUN, 'medical-run']);
  await expect(tab.locator('tbody[data-section="ratios"]')).toBeVisible();
  const { client, scroll } = (await measure(tab)).node;
  expect(scroll).toBeLessThanOrEqual(client);
});
