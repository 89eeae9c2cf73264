#!/usr/bin/env node
// Entry point installed as `fvsadm`; the code lives in src/cli (compiled to dist/).
// A closed pipe (`fvsadm -Ln | head`) ends the output, not the program with a stack trace.
process.stdout.on('error', (e) => { if (e.code === 'EPIPE') process.exit(0); throw e; });
require('../dist/src/cli/fvsadm.js').main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { process.stderr.write(`fvsadm: ${err && err.message ? err.message : err}\n`); process.exitCode = 1; });
