/// <reference lib="dom" />
/**
 * "3 min ago" stays true while the panel is open: the runs list re-renders its relative times on
 * a timer, without a refresh by the user. The page's clock is Playwright's, moved five minutes on.
 */
import { expect, test } from '@jupyterlab/galata';
import { openPanel, prepareRun } from './helpers';

const RUN = 'aging-run';

test('the runs list re-renders relative times on a timer', async ({
  page,
  request
}) => {
  await prepareRun(request, RUN);
  // The fake clock must be in place before the lab's code starts its timers.
  await page.clock.install();
  await page.reload();
  const panel = await openPanel(page);
  const updated = panel.locator(
    `tr.jp-CusprunPanel-run[data-run="${RUN}"] td[data-key="updated"]`
  );
  await expect(updated).toHaveText(/^(just now|[1-4] min ago)$/);
  await page.clock.fastForward('05:00');
  await expect(updated).toHaveText(/^([5-9]|1\d) min ago$/);
});
