/**
 * The panel's slider benchmark (ui-tests/bench, not part of the Galata suite): Galata in Debian's
 * chromium as in playwright.config.js, but on port CUSPRUN_BENCH_PORT (default 8898) and on a run
 * store that bench/panel-store.ts generates first (a 1,000,256-unit run and a 1,024-unit
 * baseline) in a temporary folder, removed at the end. CUSPRUN_BENCH_DIR names a folder to use
 * (and keep) instead.
 *
 *   cd ui-tests && npx playwright test -c playwright.bench.config.js
 */
const fs = require('fs');
const os = require('os');
const path = require('path');
const baseConfig = require('./playwright.config');

const venv = path.resolve(__dirname, '..', '.venv', 'bin');
const port = Number(process.env.CUSPRUN_BENCH_PORT || 8898);
const url = `http://127.0.0.1:${port}`;
// Set once, in the runner process: the workers inherit it and load this file with it set.
if (!process.env.CUSPRUN_BENCH_DIR) {
  process.env.CUSPRUN_BENCH_DIR = fs.mkdtempSync(
    path.join(os.tmpdir(), 'cusprun-bench-panel-')
  );
  process.env.CUSPRUN_BENCH_DIR_REMOVE = '1';
}
const dir = process.env.CUSPRUN_BENCH_DIR;

module.exports = {
  ...baseConfig,
  testDir: './bench',
  // Apart from the Galata suite's output folder (Playwright empties it) and its JSON report.
  outputDir: '../test-results/bench-panel-output',
  reporter: [['list']],
  timeout: 300 * 1000,
  globalTeardown: './bench/global-teardown.js',
  use: { ...baseConfig.use, baseURL: url },
  webServer: {
    // Builds the benchmarks (incremental), writes the store, then serves it.
    command: [
      'cd .. && npx tsc -p bench',
      'cp src/engine/onnx/onnx.proto dist-bench/src/engine/onnx/',
      `node dist-bench/bench/panel-store.js --out '${dir}'`,
      `cd ui-tests && '${venv}/jupyter' lab --config jupyter_server_test_config.py --ServerApp.port=${port} '--Cusprun.store=${dir}/store'`
    ].join(' && '),
    url: `${url}/lab`,
    timeout: 240 * 1000,
    reuseExistingServer: false
  }
};
