#!/usr/bin/env node
// npm links this shim as the `cusprun` bin (node_modules/.bin/cusprun, npx cusprun). The CLI is
// compiled to dist/ by `npm run build:node`; requiring it is not enough, because cli.js runs
// only as the main module, so the shim calls its entry itself.
require('../../../dist/sidecar/cli.js').main();
