/** Removes the benchmark's generated store, when playwright.bench.config.js made the folder. */
const fs = require('fs');

module.exports = async () => {
  const dir = process.env.CUSPRUN_BENCH_DIR;
  if (dir && process.env.CUSPRUN_BENCH_DIR_REMOVE === '1') {
    fs.rmSync(dir, { recursive: true, force: true });
  }
};
