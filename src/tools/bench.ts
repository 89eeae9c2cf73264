// `fulcrum bench <suite>`: `core` runs the packet core's benchmark executable and passes its
// output through; `dataplane` runs bench_dataplane.ts, which drives several and compares;
// `control` runs bench_control.ts (the control plane and fvsadm at a large site's size);
// `health` runs bench_health.ts (100,000 health checks on loopback); `ha` runs bench_ha.ts (a
// VRRP pair's failover with and without connection sync); `restart` runs the restart_bench
// executable (save and restore of 1M connections).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import fs from 'node:fs';
import { nativeBinDir } from '../native';
import { runDataplaneBench } from './bench_dataplane';

const SUITES: Record<string, string> = { core: 'core_bench', restart: 'restart_bench' };

export async function runBench(args: string[]): Promise<number> {
  const [suite, ...rest] = args;
  if (suite === 'dataplane') return runDataplaneBench(rest);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  if (suite === 'control') return (require('./bench_control') as typeof import('./bench_control')).runControlBench(rest);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  if (suite === 'ha') return (require('./bench_ha') as typeof import('./bench_ha')).runHaBench(rest);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  if (suite === 'health') return (require('./bench_health') as typeof import('./bench_health')).runHealthBenchCli(rest);
  const exe = suite ? SUITES[suite] : undefined;
  if (!exe) {
    process.stderr.write(`fulcrum bench: choose a suite: ${[...Object.keys(SUITES), 'dataplane', 'control', 'health', 'ha'].join(', ')}\n`);
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
