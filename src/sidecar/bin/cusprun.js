#!/usr/bin/env node
// The CLI is compiled to dist/ by `npm run build:node`; this shim lets npm link it as a bin.
require('../../../dist/sidecar/cli.js');
