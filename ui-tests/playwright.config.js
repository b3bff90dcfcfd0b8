/**
 * Galata in Debian's chromium (Playwright cannot download its own browser here). The config
 * starts JupyterLab from the project venv, on port CUSPRUN_UI_PORT (default 8899).
 */
const path = require('path');
const baseConfig = require('@jupyterlab/galata/lib/playwright-config');

const venv = path.resolve(__dirname, '..', '.venv', 'bin');
const port = Number(process.env.CUSPRUN_UI_PORT || 8899);
const url = `http://127.0.0.1:${port}`;

module.exports = {
  ...baseConfig,
  testDir: './tests',
  // Playwright empties its output folder first: keep it apart from the suites' results.
  outputDir: './test-output',
  workers: 1,
  retries: 0,
  reporter: [['list'], ['json', { outputFile: '../test-results/playwright.json' }]],
  use: {
    ...baseConfig.use,
    baseURL: url,
    trace: 'off',
    video: 'off',
    launchOptions: {
      executablePath: '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync'
      ]
    }
  },
  webServer: {
    command: `${venv}/jupyter lab --config jupyter_server_test_config.py --ServerApp.port=${port}`,
    url: `${url}/lab`,
    timeout: 120 * 1000,
    reuseExistingServer: false
  }
};
