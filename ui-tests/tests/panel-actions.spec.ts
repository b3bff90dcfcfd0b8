/// <reference lib="dom" />
/**
 * What a user does from a run's main-area dashboard: watch the Vega charts follow σ, start a
 * scoring run on the embedded model, prune with the view, insert it into a notebook, compare two
 * runs; and the JupyterLab conventions around the panel (launcher, View menu, status bar,
 * settings applied live, the dark theme).
 */
import { expect, test } from '@jupyterlab/galata';
import * as path from 'path';
import {
  openPanel,
  prepareRun,
  recordTexts,
  REPO,
  RUN,
  showRun,
  keepScreenshot,
  sidecarRunning
} from './helpers';

const DEMO_MODEL = path.join(REPO, 'demo', 'model');
const DEMO_CORPUS = path.join(REPO, 'demo', 'expert-de-computing-qa.yaml');
const MEDICAL = path.join(REPO, 'fixtures', 'corpora', 'medical.yaml');
const QA = path.join(REPO, 'fixtures', 'corpora', 'task', 'qa.jsonl');
const MC = path.join(REPO, 'fixtures', 'eval', 'mc.jsonl');

test.beforeEach(async ({ request }) => {
  await prepareRun(request);
});

test('the run dashboard draws the relevance histograms with the Vega renderer and follows σ', async ({
  page
}) => {
  const { dashboard, sweep } = await showRun(page);
  const histogram = dashboard.locator(
    '.jp-CusprunRun-histogram [data-chart="relevance-histogram"]'
  );
  await expect(histogram).toHaveAttribute('data-tag', /^0\.5:/);
  await expect(histogram.locator('.vega-embed')).toBeVisible();
  const slider = sweep.getByLabel('σ', { exact: true });
  await slider.focus();
  await page.keyboard.press('End');
  // the bars follow at once; the histogram after the slider rests
  await expect(histogram).toHaveAttribute('data-tag', /^0\.995:/);
  await expect(histogram.locator('.vega-embed')).toBeVisible();
});

test('a scoring run started from the panel on the embedded model reports its progress to the end', async ({
  page,
  request
}) => {
  const panel = await openPanel(page);
  await expect(panel.locator('.jp-CusprunPanel-status')).toHaveText(
    /^Sidecar: running/,
    { timeout: 30_000 }
  );
  const run = `demo-${Date.now()}`;
  const statusBar = await recordTexts(page, '#jp-main-statusbar');
  const progress = await recordTexts(page, '.jp-CusprunPanel-progress');
  await panel.locator('.jp-CusprunPanel-scoreForm summary').click();
  const form = panel.locator('.jp-CusprunPanel-scoreForm form');
  await form.locator('input[name="run"]').fill(run);
  await form.locator('input[name="model"]').fill(DEMO_MODEL);
  await form.locator('input[name="corpus"]').fill(DEMO_CORPUS);
  await form.getByRole('button', { name: 'Score' }).click();
  await expect(panel.locator('.jp-CusprunPanel-scoreMessage')).toHaveText(
    new RegExp(`^score \\S+ on ${run}: queued`)
  );
  await expect(panel.locator('.jp-CusprunPanel-progress')).toHaveText(
    new RegExp(`^score \\S+ on ${run}: done$`),
    { timeout: 120_000 }
  );
  const seen = await progress();
  // every document of the demo corpus (32 per dimension), the last progress line at 100%
  expect(
    seen.some(t => new RegExp(`on ${run}: 96/96 \\(100%\\)`).test(t))
  ).toBe(true);
  expect((await statusBar()).some(t => /Cus-Prun score: \d+\/96/.test(t))).toBe(
    true
  );
  await expect(
    panel.locator(
      `tr.jp-CusprunPanel-run[data-run="${run}"] td[data-key="progress"]`
    )
  ).toHaveText('96/96');
  // the relevance histograms streamed while it scored, the last one over every document
  const live = panel.locator(
    '.jp-CusprunPanel-liveHistogram [data-chart="live-relevance-histogram"]'
  );
  await expect(live).toHaveAttribute('data-tag', `${run}:96`);
  await expect(live.locator('.vega-embed')).toBeVisible();
  const detail = await (await request.get(`/cusprun/api/runs/${run}`)).json();
  expect(detail.record.model.family).toBe('llama');
});

test('Prune with the view writes the expert of its σ and dimensions', async ({
  page
}) => {
  const { dashboard, sweep } = await showRun(page);
  const prune = dashboard.locator('.jp-CusprunRun-prune');
  await prune.locator('summary').click();
  const out = prune.locator('.jp-CusprunRun-out');
  await expect(out).toHaveValue(`experts/${RUN}-sigma0.5.onnx`);
  // the proposed file follows the view: σ and the dimensions it keeps
  await sweep.getByRole('checkbox', { name: 'task' }).uncheck();
  await expect(out).toHaveValue(`experts/${RUN}-sigma0.5-language+domain.onnx`);
  // prune's default: the removed units replaced by their ridge predictions
  await expect(prune.getByLabel('Removed units')).toHaveValue('regression');
  await prune
    .getByLabel('Replace an earlier prune cusprun wrote there')
    .check();
  await prune.getByRole('button', { name: 'Prune' }).click();
  await expect(dashboard.locator('.jp-CusprunRun-status')).toHaveText(
    new RegExp(
      `^Expert written to \\S*/experts/${RUN}-sigma0\\.5-language\\+domain\\.onnx \\([\\d.]+ MB → [\\d.]+ MB\\), checked against the original with the units replaced by their ridge predictions$`
    ),
    { timeout: 60_000 }
  );
});

test('Insert into notebook adds a %cusprun cell whose σ view works with no kernel', async ({
  page,
  request,
  tmpPath
}, testInfo) => {
  const name = 'inserted-view.ipynb';
  await page.notebook.createNew(name, { kernel: null });
  const { dashboard, sweep } = await showRun(page);
  // the view: σ 0.5, the language and domain dimensions, the paper's rule
  await sweep.getByRole('checkbox', { name: 'task' }).uncheck();
  await sweep.getByRole('combobox', { name: 'rule' }).selectOption('paper');
  await expect(sweep.locator('.jp-CusprunSweep-summary')).toHaveText(
    /^σ 0\.5000 · paper · /
  );
  const inView = await sweep.locator('.jp-CusprunSweep-summary').textContent();
  await dashboard.locator('.jp-CusprunRun-insert').click();
  await expect(dashboard.locator('.jp-CusprunRun-status')).toHaveText(
    `Inserted into ${tmpPath}/${name} as cell 1.`
  );
  // the dashboard took the main area: back to the notebook
  await page.activity.activateTab(name);
  const cell = page.locator('.jp-Notebook .jp-CodeCell').first();
  await expect(cell.locator('.jp-InputArea')).toContainText(
    `%cusprun plan --run ${RUN} --sigma 0.5 --dims language,domain --rule paper`
  );
  const view = cell.locator('.jp-OutputArea .jp-CusprunSweep');
  const summary = view.locator('.jp-CusprunSweep-summary');
  // the cell opens on the same view, and can toggle the other dimension back
  await expect(summary).toHaveText(inView!);
  await expect(view.getByRole('checkbox', { name: 'task' })).not.toBeChecked();
  // its ranks are the output's own: the select shows their rule and cannot change it
  const rule = view.getByRole('combobox', { name: 'rule' });
  await expect(rule).toBeDisabled();
  await expect(rule).toHaveValue('paper');
  // the other charts of `%cusprun plan` come through JupyterLab's Vega renderer
  await expect(cell.locator('.jp-OutputArea .vega-embed')).toHaveCount(2);
  // no kernel: the view is computed in the browser from the output's own data
  expect(await (await request.get('/api/kernels')).json()).toHaveLength(0);
  const slider = view.getByLabel('σ', { exact: true });
  await slider.focus();
  await page.keyboard.press('End');
  await expect(summary).toHaveText(/^σ 0\.9950 · /);

  await page.notebook.save();
  const saved = await (
    await request.get(`/api/contents/${tmpPath}/${name}?content=1`)
  ).json();
  const outputs = saved.content.cells[0].outputs;
  expect(outputs).toHaveLength(3);
  const first = outputs[0].data;
  expect(first['application/vnd.cusprun.sweep+json'].run).toBe(RUN);
  expect(first['application/vnd.vegalite.v5+json']).toBeTruthy();
  expect(first['image/svg+xml']).toMatch(/^<svg/);
  await keepScreenshot(testInfo, cell, 'cusprun-inserted-view');
});

test('the palette inserts the view too, and with no notebook open says to open one', async ({
  page
}) => {
  const { dashboard } = await showRun(page);
  await page.keyboard.press('Control+Shift+c');
  const palette = page.locator('#modal-command-palette');
  await palette.locator('input').fill('Insert Cus-Prun View');
  await palette
    .locator('.lm-CommandPalette-item', {
      hasText: 'Insert Cus-Prun View into Notebook'
    })
    .click();
  await expect(dashboard.locator('.jp-CusprunRun-status')).toHaveText(
    'Open a notebook first: the view goes below its active cell.'
  );
});

test('two runs side by side: the rows where their configs differ are marked', async ({
  page,
  request
}) => {
  await prepareRun(request, 'medical-run', MEDICAL);
  const { dashboard } = await showRun(page);
  const compare = dashboard.locator('.jp-CusprunRun-compare');
  await compare.locator('summary').click();
  await compare.locator('select').selectOption('medical-run');
  await compare.getByRole('button', { name: 'Compare' }).click();
  // the comparison opens as a main-area tab of its own
  const tab = page.locator('#jp-main-dock-panel .jp-CusprunCompareTab');
  const table = tab.locator('table.jp-CusprunCompare');
  await expect(table.locator('thead')).toContainText(RUN);
  await expect(table.locator('thead')).toContainText('medical-run');
  await expect(
    table.locator('tr.jp-mod-differs[data-label="Corpus manifest"]')
  ).toBeVisible();
  await expect(
    table.locator('tr.jp-mod-differs[data-label="Truncation"]')
  ).toBeVisible();
  // the same model on both sides
  await expect(table.locator('tr[data-label="Model SHA-256"]')).not.toHaveClass(
    /jp-mod-differs/
  );
  await expect(table.locator('tbody[data-section="ratios"]')).toBeVisible();
});

test('a σ sweep started from the panel uses the σ grid and truncation of the settings', async ({
  page,
  request
}) => {
  const { dashboard } = await showRun(page);
  await page.evaluate(async () => {
    const registry = await window.galata.getPlugin(
      '@jupyterlab/apputils-extension:settings'
    );
    await registry!.set('cusprun:plugin', 'sigmaGrid', [0.3, 0.7]);
    await registry!.set('cusprun:plugin', 'truncation', 48);
  });
  const form = dashboard.locator('.jp-CusprunRun-sweepForm');
  await form.locator('summary').click();
  await expect(form.locator('.jp-CusprunRun-grid')).toHaveText(
    /^σ grid 0\.3, 0\.7 · truncation 48/
  );
  await form.locator('.jp-CusprunRun-evalSets').fill(`qa=${QA}, mc=${MC}`);
  // zeroed unless asked, as the CLI's sweep; asked here for prune's compensation
  const removed = form.getByLabel('Removed units');
  await expect(removed).toHaveValue('none');
  await removed.selectOption('regression');
  await form.getByRole('button', { name: 'Sweep' }).click();
  await expect(dashboard.locator('.jp-CusprunRun-status')).toHaveText(
    new RegExp(`^sweep \\S+ on ${RUN}: done$`),
    { timeout: 120_000 }
  );
  // the σ-sweep curves of the new sweep, through JupyterLab's Vega renderer
  const charts = dashboard.locator('.jp-CusprunRun-sweepCharts [data-chart]');
  await expect(charts.first().locator('.vega-embed')).toBeVisible();
  const detail = await (await request.get(`/cusprun/api/runs/${RUN}`)).json();
  const file = detail.sweeps[detail.sweeps.length - 1];
  await expect(charts.first()).toHaveAttribute('data-tag', file);
  const record = await (
    await request.get(`/cusprun/api/runs/${RUN}/sweeps/${file}`)
  ).json();
  expect(record.grid).toEqual({ sigmas: [0.3, 0.7] });
  expect(record.truncation).toBe(48);
  expect(record.compensation.ridge).toBe(0.1);
});

test('the launcher and the View menu open the panel', async ({ page }) => {
  await page.menu.clickMenuItem('View>Open Cus-Prun Panel');
  await expect(page.locator('#cusprun-panel')).toBeVisible();
  await page.sidebar.close('right');
  await expect(page.locator('#cusprun-panel')).toBeHidden();
  await page.evaluate(async () => {
    await window.jupyterapp.commands.execute('launcher:create');
  });
  const card = page.locator('.jp-LauncherCard:visible', {
    hasText: 'Cus-Prun'
  });
  await card.click();
  await expect(page.locator('#cusprun-panel')).toBeVisible();
});

test('settings apply live: the σ grid of sweeps and the run store', async ({
  page
}) => {
  const { panel, dashboard } = await showRun(page);
  const setting = async (key: string, value: unknown) =>
    page.evaluate(
      async ([k, v]) => {
        const registry = await window.galata.getPlugin(
          '@jupyterlab/apputils-extension:settings'
        );
        await registry!.set('cusprun:plugin', k as string, v as never);
      },
      [key, value]
    );
  await dashboard.locator('.jp-CusprunRun-sweepForm summary').click();
  const grid = dashboard.locator('.jp-CusprunRun-grid');
  await expect(grid).toHaveText(
    /^σ grid 0\.5, 0\.6, 0\.7, 0\.8, 0\.9, 0\.95 · truncation 128/
  );
  await setting('sigmaGrid', [0.3, 0.7]);
  await setting('truncation', 64);
  await expect(grid).toHaveText(/^σ grid 0\.3, 0\.7 · truncation 64/);

  const row = panel.locator(`tr.jp-CusprunPanel-run[data-run="${RUN}"]`);
  const store = panel.locator('.jp-CusprunPanel-settings dd').first();
  const own = await store.textContent();
  try {
    await setting('runStore', 'another-store');
    await expect(store).toHaveText(/^\/\S+\/another-store$/);
    await expect(row).toBeHidden({ timeout: 60_000 });
    await expect(panel.locator('.jp-CusprunPanel-runsMessage')).toHaveText(
      /no runs yet/,
      { timeout: 60_000 }
    );
  } finally {
    // empty: back to the store the server started with
    await setting('runStore', '');
  }
  await expect(store).toHaveText(own!);
  await expect(row).toBeVisible({ timeout: 60_000 });
});

test('the panel in the dark theme', async ({ page, request }, testInfo) => {
  await sidecarRunning(request);
  await page.theme.setDarkTheme();
  await page.setViewportSize({ width: 1400, height: 1500 });
  const { dashboard } = await showRun(page);
  await expect(
    dashboard.locator('.jp-CusprunRun-histogram .vega-embed')
  ).toBeVisible();
  await keepScreenshot(testInfo, dashboard, 'cusprun-run-dashboard-dark');
  await page.theme.setLightTheme();
});
