#!/usr/bin/env node
// Entry point installed as `fvsadm`; the code lives in src/cli/fvsadm.ts. It runs the one-file
// bundle of it (dist/bundle/fvsadm.js, made by `npm run build:bundle`): fvsadm starts for
// every command, and one file loads faster than the modules tsc writes. Without the bundle
// it runs tsc's output (dist/src), as fast to choose: the bundle is simply not found.
// A closed pipe (`fvsadm -Ln | head`) ends the output, not the program with a stack trace.
process.stdout.on('error', (e) => { if (e.code === 'EPIPE') process.exit(0); throw e; });
let fvsadm;
try {
  fvsadm = require('../dist/bundle/fvsadm.js');
} catch (e) {
  if (e.code !== 'MODULE_NOT_FOUND' || !String(e.message).includes('dist/bundle/fvsadm.js')) throw e;
  fvsadm = require('../dist/src/cli/fvsadm.js');
}
fvsadm.main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { process.stderr.write(`fvsadm: ${err && err.message ? err.message : err}\n`); process.exitCode = 1; });
