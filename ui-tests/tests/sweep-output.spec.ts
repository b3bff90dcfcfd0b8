/// <reference lib="dom" />
import { expect, test } from '@jupyterlab/galata';
import type { Locator } from '@playwright/test';
import * as path from 'path';
import { keepScreenshot } from './helpers';

const FIXTURE = path.resolve(
  __dirname,
  '..',
  'notebooks',
  'sweep-output.ipynb'
);
const NAME = 'sweep-output.ipynb';

/** Each bar's pruned count, keyed by layer and kind: what the chart shows. */
async function bars(output: Locator) {
  return output
    .locator('rect.jp-CusprunSweep-bar')
    .evaluateAll(rects =>
      rects.map(
        r =>
          `${r.getAttribute('data-layer')}:${r.getAttribute('data-kind')}=${r.getAttribute('data-pruned')}@${r.getAttribute('height')}`
      )
    );
}

test.describe('the σ-sweep output in a saved notebook', () => {
  test.beforeEach(async ({ page, tmpPath }) => {
    await page.contents.uploadFile(FIXTURE, `${tmpPath}/${NAME}`);
  });

  test('its in-cell slider and dimension toggles redraw with no kernel', async ({
    page,
    tmpPath
  }, testInfo) => {
    expect(await page.notebook.openByPath(`${tmpPath}/${NAME}`)).toBe(true);
    await page.notebook.activate(NAME);
    // Nothing runs: stop the kernel the notebook's metadata started, if any.
    await page.kernel.shutdownAll();

    const output = page.locator('.jp-CusprunSweep');
    await expect(output).toHaveCount(1);
    // The cusprun renderer outranks the Vega-Lite one carried by the same bundle.
    await expect(page.locator('.jp-RenderedVegaLite')).toHaveCount(0);

    const slider = output.getByRole('slider', { name: 'σ' });
    await expect(slider).toBeVisible();
    const summary = output.locator('.jp-CusprunSweep-summary');
    // The output's own σ (0.684, on a grid of 100), its rule (saved before outputs named one:
    // paper's) and its ratio.
    await expect(summary).toHaveText(
      /^σ 0\.6800 · paper · \d+\.\d\d% of prunable parameters · FFN \d+\.\d\d% · attention \d+\.\d\d%$/
    );
    // With no sidecar behind it the output offers its own rule only.
    const rule = output.getByRole('combobox', { name: 'rule' });
    await expect(rule).toBeDisabled();
    await expect(rule.locator('option')).toHaveText(['paper']);
    const before = await summary.textContent();
    const barsBefore = await bars(output);
    const marker = output.locator('.jp-CusprunSweep-markerDot');
    const markerBefore = await marker.getAttribute('cx');
    expect(barsBefore).toHaveLength(12);

    // Keyboard: focus and step σ up by ten grid steps.
    await slider.focus();
    for (let i = 0; i < 10; i++) {
      await slider.press('ArrowRight');
    }
    await expect(slider).toHaveValue('78');
    await expect(summary).toContainText('σ 0.7800 · ');
    const moved = await summary.textContent();
    expect(moved).not.toBe(before);
    expect(await bars(output)).not.toEqual(barsBefore);
    // The curve's marker follows σ.
    expect(await marker.getAttribute('cx')).not.toBe(markerBefore);

    // Dimension toggles: fewer dimensions, more units irrelevant to all of them.
    const task = output.getByRole('checkbox', { name: 'task' });
    await expect(task).toBeChecked();
    const curveBefore = await output
      .locator('.jp-CusprunSweep-curveLine')
      .getAttribute('points');
    await task.click();
    await expect(task).not.toBeChecked();
    await expect(summary).not.toHaveText(moved!);
    const fewer = await summary.textContent();
    const ratio = (text: string | null) =>
      Number(/· ([\d.]+)% of/.exec(text!)![1]);
    expect(ratio(fewer)).toBeGreaterThan(ratio(moved));
    // The curve is the selected dimensions' own.
    expect(
      await output.locator('.jp-CusprunSweep-curveLine').getAttribute('points')
    ).not.toBe(curveBefore);

    // At least one dimension stays on: the last checked box cannot be unchecked.
    await output.getByRole('checkbox', { name: 'domain' }).click();
    const language = output.getByRole('checkbox', { name: 'language' });
    await expect(language).toBeChecked();
    await expect(language).toBeDisabled();

    // An input event redraws at once (how fast: the panel-slider benchmark in ui-tests/bench).
    await slider.evaluate((el: HTMLInputElement) => {
      el.value = String(Number(el.value) - 20);
      el.dispatchEvent(new Event('input', { bubbles: true }));
    });
    await expect(summary).toContainText('σ 0.5800 · ');

    await keepScreenshot(testInfo, output, 'cusprun-sweep-output-light');
    await page.theme.setDarkTheme();
    await expect(page.locator('body')).toHaveAttribute(
      'data-jp-theme-light',
      'false'
    );
    await keepScreenshot(testInfo, output, 'cusprun-sweep-output-dark');
    // The text takes the theme's font colour: light on dark.
    const color = await summary.evaluate(el => getComputedStyle(el).color);
    const [r, g, b] = color.match(/\d+/g)!.map(Number);
    expect(r + g + b).toBeGreaterThan(3 * 128);
    await page.theme.setLightTheme();
  });
});
