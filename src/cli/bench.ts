// `fulcrum bench <suite>`: runs a benchmark executable and passes its output through. The
// figures come from the native program; this only finds and starts it.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import fs from 'node:fs';
import { nativeBinDir } from '../native';

const SUITES: Record<string, string> = { core: 'core_bench' };

export function runBench(args: string[]): number {
  const [suite, ...rest] = args;
  const exe = suite ? SUITES[suite] : undefined;
  if (!exe) {
    process.stderr.write(`fulcrum bench: choose a suite: ${Object.keys(SUITES).join(', ')}\n`);
    return 2;
  }
  const file = path.join(nativeBinDir(), exe);
  if (!fs.existsSync(file)) {
    process.stderr.write(`fulcrum bench: ${file} is missing; run scripts/setup to build it\n`);
    return 1;
  }
  const r = spawnSync(file, rest, { stdio: 'inherit' });
  return r.status ?? 1;
}
