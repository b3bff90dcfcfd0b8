/// <reference lib="dom" />
/**
 * "3 min ago" stays true while the panel is open: the runs list re-renders its relative times on
 * a timer, without a refresh by the user.
 */
import { expect, test } from '@jupyterlab/galata';
import { openPanel, prepareRun } from './helpers';

const RUN = 'aging-run';

test('the runs list re-renders relative times on a timer', async ({
  page,
  request
}) => {
  await prepareRun(request, RUN);
  const panel = await openPanel(page);
  await panel.locator('.jp-CusprunPanel-refresh').click();
  const updated = panel.locator(
    `tr.jp-CusprunPanel-run[data-run="${RUN}"] td[data-key="updated"]`
  );
  await expect(updated).toHaveText(/^(just now|\d+ min ago)$/);
  // The run "changed" five minutes earlier than it did: only the timer can rewrite the text.
  await updated.evaluate(node => {
    const cell = node as HTMLElement;
    cell.dataset.time = new Date(Date.now() - 5 * 60_000).toISOString();
  });
  await expect(updated).toHaveText('5 min ago', { timeout: 45_000 });
});
