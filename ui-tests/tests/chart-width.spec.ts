/// <reference lib="dom" />
/**
 * The run view's charts fit the panel at JupyterLab's default layout (the right side bar, about
 * 250 px): none is wider than the panel, none scrolls or clips.
 */
import { expect, test } from '@jupyterlab/galata';
import { prepareRun, showRun } from './helpers';

test('at the default side-bar width no chart of the run view is wider than its panel', async ({
  page,
  request
}) => {
  await prepareRun(request);
  const { panel } = await showRun(page);
  const figures = panel.locator('.jp-CusprunCharts-figure');
  await expect(figures.first().locator('svg').first()).toBeVisible({
    timeout: 30_000
  });
  const sizes = await panel.evaluate(node => {
    const edge = node.getBoundingClientRect();
    return {
      panel: { left: edge.left, right: edge.right, width: node.clientWidth },
      figures: [...node.querySelectorAll('.jp-CusprunCharts-figure')].map(
        figure => {
          const chart = figure.querySelector(
            '.vega-embed svg, .vega-embed canvas'
          );
          const box = chart?.getBoundingClientRect();
          return {
            name: (figure as HTMLElement).dataset.chart,
            left: box?.left ?? 0,
            right: box?.right ?? 0,
            width: box?.width ?? 0,
            overflow: figure.scrollWidth - figure.clientWidth
          };
        }
      )
    };
  });
  expect(sizes.panel.width).toBeLessThan(400); // the side bar, not the main area
  expect(sizes.figures.length).toBeGreaterThan(0);
  for (const figure of sizes.figures) {
    expect(figure.width, JSON.stringify(figure)).toBeGreaterThan(100);
    expect(figure.width, JSON.stringify(figure)).toBeLessThanOrEqual(
      sizes.panel.width
    );
    expect(figure.left).toBeGreaterThanOrEqual(sizes.panel.left - 1);
    expect(figure.right).toBeLessThanOrEqual(sizes.panel.right + 1);
    expect(figure.overflow, JSON.stringify(figure)).toBeLessThanOrEqual(1);
  }
});
