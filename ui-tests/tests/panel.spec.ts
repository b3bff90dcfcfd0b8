import { expect, test } from '@jupyterlab/galata';

test('the command palette opens the Cus-Prun panel', async ({ page }) => {
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
  await expect(panel.locator('.jp-CusprunPanel-status')).toHaveText(
    'Sidecar: not connected'
  );
  await expect(
    panel.locator('.jp-CusprunPanel-settings dd').first()
  ).toHaveText('.cusprun');
  await page.screenshot({ path: '../test-results/cusprun-panel.png' });
});
