#!/usr/bin/env node
// Entry point installed as `fvsadm`; the code lives in src/cli (compiled to dist/).
process.exitCode = require('../dist/src/cli/fvsadm.js').main(process.argv.slice(2));
