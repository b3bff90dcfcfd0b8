#!/usr/bin/env node
// Writes the generated copies of the core's contract (scripts/contract.js says what and why).
// Reads the core's values from the Node build: run after `npm run build:node`.
const fs = require('node:fs');
const path = require('node:path');
const { FILES, schemaText, pythonText, pythonConstants } = require('./contract');

const dist = path.resolve(__dirname, '..', 'dist', 'core');
const core = {
  protocol: require(path.join(dist, 'protocol')),
  experiment: require(path.join(dist, 'experiment')),
  grid: require(path.join(dist, 'grid')),
  planView: require(path.join(dist, 'plan-view')),
  format: require(path.join(dist, 'format'))
};
fs.writeFileSync(FILES.schema, schemaText(core.protocol));
fs.writeFileSync(FILES.python, pythonText(pythonConstants(core)));
for (const file of Object.values(FILES)) {
  process.stdout.write(`wrote ${path.relative(process.cwd(), file)}\n`);
}
