// `fulcrum demo`: the director on real traffic. It builds a small network of namespaces
// (scripts/netns-topology: a client, the director on two veths, three real servers answering
// with their name), runs the director inside its namespace on DPDK virtual devices with the
// config in examples/demo.yaml (NAT, wrr 3/2/1), sends HTTP requests on new connections from
// the client, and prints who answered and an ipvsadm --stats table; then tears it all down.
// `--core` runs the packet-core-only demo instead (no root, no network).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { nativeAddon } from '../native';
import { levelOf } from '../server/dpdk_log';
import { loadConfigFile } from '../control/config_load';
import { Director, type ServiceView } from '../control/director';
import { formatStats, type ListedDest, type ListedService } from '../ipvsadm/format';
import { intFlag, UsageError } from '../cli/args';
import { runCoreDemo } from './core_demo';

const root = path.resolve(__dirname, '../../..');
const topology = path.join(root, 'scripts/netns-topology');
const PREFIX = 'fcd';

const FORWARD: Record<string, ListedDest['forward']> = { nat: 'Masq', dr: 'Route', tun: 'Tunnel', fullnat: 'FullNat' };

export function listed(services: ServiceView[]): ListedService[] {
  const key = (a: string) => a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
  return services.map((s) => ({
    protocol: s.protocol.toUpperCase(), address: s.address, port: s.port, scheduler: s.scheduler, stats: s.stats,
    dests: [...s.dests].sort((a, b) => key(a.address) - key(b.address) || a.port - b.port).map((d) => ({
      address: d.address, port: d.port, forward: FORWARD[d.method] ?? 'Masq', weight: d.weight,
      activeConns: d.activeConns, inactConns: d.inactConns, stats: d.stats })),
  }));
}

export async function runDemo(args: string[]): Promise<number> {
  if (args.includes('--core')) return runCoreDemo(args.filter((a) => a !== '--core'));
  let requests: number;
  try {
    requests = intFlag(args, '--requests', 600);
    if (requests > 100000) throw new UsageError('--requests must be at most 100000');
  } catch (e) {
    if (e instanceof UsageError) { process.stderr.write(`fulcrum demo: ${e.message}\n`); return 2; }
    throw e;
  }
  if (args.includes('--inside')) return inside(requests);
  if (process.getuid?.() !== 0) {
    process.stderr.write('fulcrum demo: needs root to build network namespaces (or run `fulcrum demo --core`)\n');
    return 1;
  }
  const up = spawnSync(topology, ['up', PREFIX, '3'], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (up.status !== 0) {
    spawnSync(topology, ['down', PREFIX]);
    process.stderr.write('fulcrum demo: could not build the demo network\n');
    return 1;
  }
  try {
    const r = spawnSync('ip', ['netns', 'exec', `${PREFIX}-dir`, process.execPath, path.join(root, 'bin/fulcrum.js'),
      'demo', '--inside', '--requests', String(requests)], { stdio: 'inherit' });
    return r.status ?? 1;
  } finally {
    spawnSync(topology, ['down', PREFIX]);
  }
}

// Runs in the director's namespace: the dataplane in this process, the client by ip netns exec.
async function inside(requests: number): Promise<number> {
  const cfg = loadConfigFile(path.join(root, 'examples/demo.yaml'));
  const out = process.stdout;
  // DPDK's lines that matter (warnings and errors, not the TAP driver's harmless notices)
  // are shown; the rest of its start-up chatter is not.
  const addon = nativeAddon();
  addon.captureLog();
  const dpdkWarnings = () => {
    for (const l of addon.takeLog().lines)
      if (['error', 'warn'].includes(levelOf(l.level, l.harmless))) process.stderr.write(`DPDK: ${l.text}\n`);
  };
  let director: Director;
  try {
    director = new Director(addon, cfg);
  } finally {
    dpdkWarnings();
  }
  try {
    const svc = cfg.services![0];
    out.write(`Director on ${cfg.dataplane.ports.map((p) => p.device).join(' and ')} ` +
      `(${director.startInfo.hugepages ? 'hugepages' : 'no hugepages: --no-huge'}), ` +
      `service TCP ${svc.address}:${svc.port} ${svc.scheduler}, weights ` +
      `${svc.realServers!.map((r) => `${r.address}=${r.weight}`).join(' ')}\n`);
    out.write(`Sending ${requests} HTTP requests from ${PREFIX}-client, each on a new connection...\n\n`);
    // One curl, a new connection per request (Connection: close), bodies are the servers' names.
    const url = `http://${svc.address}:${svc.port}/[1-${requests}]`;
    const t0 = process.hrtime.bigint();
    const curl = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const { spawn } = require('node:child_process') as typeof import('node:child_process');
      const c = spawn('ip', ['netns', 'exec', `${PREFIX}-client`, 'curl', '-sS', '-m', '5', '-H', 'Connection: close', url]);
      let so = '', se = '';
      c.stdout.on('data', (d: Buffer) => { so += d; });
      c.stderr.on('data', (d: Buffer) => { se += d; });
      c.on('close', (status) => resolve({ status, stdout: so, stderr: se }));
    });
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    const answers = curl.stdout.split('\n').filter(Boolean);
    const counts = new Map<string, number>();
    for (const a of answers) counts.set(a, (counts.get(a) ?? 0) + 1);
    out.write('Answered by:\n');
    const services = await director.services();
    svc.realServers!.forEach((r, i) => {
      const n = counts.get(`srv${i + 1}`) ?? 0;
      out.write(`  srv${i + 1} ${r.address.padEnd(15)} weight ${r.weight}  ${String(n).padStart(5)} ` +
        `(${answers.length ? ((100 * n) / answers.length).toFixed(1) : '0.0'}%)\n`);
    });
    out.write(`\n${answers.length} of ${requests} requests answered in ${secs.toFixed(2)} s` +
      (curl.status !== 0 ? ` (curl: ${curl.stderr.trim().split('\n')[0]})` : '') + '\n');
    const st = await director.stats();
    const drops = Object.entries(st.drops);
    out.write(`Drops: ${drops.length ? drops.map(([k, n]) => `${k}=${n}`).join(' ') : 'none'}\n\n`);
    out.write('$ fvsadm -Ln --stats\n' + formatStats(listed(services)));
    return answers.length === requests ? 0 : 1;
  } finally {
    director.stop();
  }
}
