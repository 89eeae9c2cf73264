#!/usr/bin/env node
// Entry point installed as `fulcrum`; the code lives in src/cli (compiled to dist/).
require('../dist/src/cli/fulcrum.js').main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { process.stderr.write(`fulcrum: ${err && err.message ? err.message : err}\n`); process.exitCode = 1; });
