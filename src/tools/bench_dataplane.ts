// `fulcrum bench dataplane [--json] [--seconds S] [--no-e2e]`: the dataplane's figures, each
// against a baseline measured in the same run on the same ports:
//   1. net_null: one worker forwarding established NAT flows vs a plain io-forward loop
//      (dataplane_bench null); on 4 KiB pages, then again on 2 MiB hugepages when they can be
//      reserved (the bench reserves them, mounts a hugetlbfs if none is, and gives both back);
//      and the same established flows with IPv6 clients, VIP and real servers, as a ratio of
//      IPv4's in the same run;
//   2. af_xdp on veth in namespaces: a UDP generator in the client namespace, the director
//      forwarding through a NAT service vs raw io-forward on the same vdevs;
//   2b. a SYN flood on net_null: one worker taking spoofed SYNs from distinct sources (each one
//      evicting the oldest half-open entry) while legitimate clients complete handshakes: the
//      SYN rate absorbed and the share of legitimate handshakes that succeed (dataplane_bench
//      synflood), and the same against a SYN-proxied service (--synproxy 1: SYNs answered with
//      cookies, no entry);
//   3. end to end: HTTP through Fulcrum (NAT), nftables DNAT and HAProxy (scripts/bench-e2e,
//      wrk on new connections and with keep-alive).
// Figures, not tests: nothing here passes or fails on a number.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { intFlag, UsageError } from '../cli/args';

const root = path.resolve(__dirname, '../../..');
const exe = path.join(root, 'build/native/native/dpdk/dataplane_bench');
const topology = path.join(root, 'scripts/netns-topology');
const PREFIX = 'fbx';

type Peers = { fulcrum: number | null; nft: number | null; haproxy: number | null };

function lastJson(text: string): Record<string, unknown> {
  const line = text.trim().split('\n').reverse().find((l) => l.startsWith('{'));
  if (!line) throw new Error(`no result in:\n${text}`);
  return JSON.parse(line);
}

function runJson(cmd: string, args: string[], timeout: number): Record<string, unknown> {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout });
  if (r.status !== 0) throw new Error(`${[cmd, ...args].join(' ')} failed (${r.status}): ${r.stderr.trim().split('\n').slice(-3).join(' / ')}`);
  return lastJson(r.stdout);
}

async function afxdp(mode: 'io' | 'fwd', seconds: number): Promise<number> {
  const director = spawn('ip', ['netns', 'exec', `${PREFIX}-dir`, exe, 'director', '--mode', mode,
    '--in', `net_af_xdp0,iface=${PREFIX}-dc`, '--out', `net_af_xdp1,iface=${PREFIX}-ds`,
    '--warmup', '3', '--seconds', String(seconds), '--cpu', '1', '--flows', '1024']);
  let out = '', err = '';
  director.stdout.on('data', (d: Buffer) => { out += d; });
  director.stderr.on('data', (d: Buffer) => { err += d; });
  const done = new Promise<number | null>((r) => director.once('exit', r));
  await sleep(1500);
  const gen = spawnSync('ip', ['netns', 'exec', `${PREFIX}-client`, exe, 'gen', '--in', `net_af_xdp0,iface=${PREFIX}-c0`,
    '--warmup', '0', '--seconds', String(seconds + 3), '--cpu', '0', '--flows', '1024'], { encoding: 'utf8', timeout: (seconds + 30) * 1000 });
  const code = await done;
  if (code !== 0) throw new Error(`af_xdp director (${mode}) failed: ${err.trim().split('\n').slice(-2).join(' / ')}`);
  if (gen.status !== 0) throw new Error(`af_xdp generator failed: ${gen.stderr.trim().split('\n').slice(-2).join(' / ')}`);
  return Number(lastJson(out).mpps);
}

/** 2 MiB pages for the null bench (its EAL asks for 1 GiB): reserved on top of what the
 * machine has, with a hugetlbfs mounted for the time if none is, then given back. Null when
 * the kernel cannot find that much contiguous memory. */
function withHugepages<T>(log: (s: string) => void, run: () => T): T | null {
  const nrFile = '/proc/sys/vm/nr_hugepages';
  const freeNow = () => Number(/^HugePages_Free:\s*(\d+)/m.exec(fs.readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0);
  const want = 600;  // 1 GiB for the EAL, and its own overhead
  const before = Number(fs.readFileSync(nrFile, 'utf8').trim());
  const mounted = fs.readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => l.split(' ')[2] === 'hugetlbfs');
  let dir: string | null = null;
  try {
    if (freeNow() < want) fs.writeFileSync(nrFile, String(before + want - freeNow()));
    if (freeNow() < want) {
      log(`could not reserve ${want} hugepages of 2 MiB (${freeNow()} free): skipped`);
      return null;
    }
    if (!mounted) {
      dir = fs.mkdtempSync('/tmp/fulcrum-huge-');
      const m = spawnSync('mount', ['-t', 'hugetlbfs', '-o', 'pagesize=2M', 'nodev', dir], { encoding: 'utf8' });
      if (m.status !== 0) {
        log(`could not mount hugetlbfs: ${m.stderr.trim()}: skipped`);
        return null;
      }
    }
    return run();
  } finally {
    if (dir) {
      spawnSync('umount', [dir]);
      fs.rmdirSync(dir);
    }
    fs.writeFileSync(nrFile, String(before));
  }
}

const pct = (a: number | null, b: number | null) => (a !== null && b ? `${((100 * a) / b).toFixed(0)}%` : '-');
const fmt = (n: number | null, digits = 2) => (n === null ? 'n/a' : n.toFixed(digits));

export async function runDataplaneBench(args: string[]): Promise<number> {
  let seconds: number;
  try {
    seconds = intFlag(args, '--seconds', 5);
  } catch (e) {
    if (e instanceof UsageError) { process.stderr.write(`fulcrum bench dataplane: ${e.message}\n`); return 2; }
    throw e;
  }
  if (!fs.existsSync(exe)) { process.stderr.write(`fulcrum bench: ${exe} is missing; run scripts/setup\n`); return 1; }
  if (process.getuid?.() !== 0) { process.stderr.write('fulcrum bench dataplane: needs root (namespaces, DPDK)\n'); return 1; }
  const log = (s: string) => process.stderr.write(`bench: ${s}\n`);
  const res: Record<string, unknown> = {};

  log(`net_null: io-forward, then established NAT flows (${seconds} s each)`);
  const nul = runJson(exe, ['null', '--seconds', String(seconds), '--flows', '100000', '--cpu', '1'], (seconds * 2 + 60) * 1000);
  res.null_io_mpps = nul.null_io_mpps;
  res.null_fwd_mpps = nul.null_fwd_mpps;
  res.null_fwd6_mpps = nul.null_fwd6_mpps;

  log(`net_null on 2 MiB hugepages: the same (${seconds} s each)`);
  try {
    const huge = withHugepages(log, () =>
      runJson(exe, ['null', '--seconds', String(seconds), '--flows', '100000', '--cpu', '1'], (seconds * 2 + 60) * 1000));
    if (huge && huge.hugepages !== true) log('the EAL did not take the hugepages: figures left out');
    res.huge_null_io_mpps = huge?.hugepages === true ? huge.null_io_mpps : null;
    res.huge_null_fwd_mpps = huge?.hugepages === true ? huge.null_fwd_mpps : null;
  } catch (e) {
    log((e as Error).message);
    res.huge_null_io_mpps = res.huge_null_fwd_mpps = null;
  }

  log(`net_null: SYN flood with legitimate handshakes (${seconds} s)`);
  try {
    res.synflood = runJson(exe, ['synflood', '--seconds', String(seconds), '--flows', '100000', '--cpu', '1'], (seconds + 60) * 1000);
    res.synflood_proxy = runJson(exe, ['synflood', '--seconds', String(seconds), '--flows', '100000', '--cpu', '1', '--synproxy', '1'],
      (seconds + 60) * 1000);
  } catch (e) {
    log((e as Error).message);
    res.synflood ??= null;
    res.synflood_proxy ??= null;
  }

  log('af_xdp on veth: UDP generator -> director (io-forward, then Fulcrum NAT)');
  spawnSync(topology, ['up', PREFIX, '0'], { stdio: 'ignore' });
  try {
    res.afxdp_io_mpps = await afxdp('io', seconds);
    res.afxdp_fwd_mpps = await afxdp('fwd', seconds);
  } catch (e) {
    log((e as Error).message);
    res.afxdp_io_mpps ??= null;
    res.afxdp_fwd_mpps ??= null;
  } finally {
    spawnSync(topology, ['down', PREFIX]);
  }

  if (!args.includes('--no-e2e')) {
    log('end to end: wrk through Fulcrum, nftables DNAT and HAProxy');
    try {
      const e2e = runJson(path.join(root, 'scripts/bench-e2e'), ['--duration', String(Math.max(5, seconds * 2))], 20 * 60 * 1000);
      res.e2e_close_rps = e2e.e2e_close_rps;
      res.e2e_keepalive_rps = e2e.e2e_keepalive_rps;
    } catch (e) {
      log((e as Error).message);
    }
  }
  const n = (k: string) => (typeof res[k] === 'number' ? (res[k] as number) : null);
  const close = (res.e2e_close_rps ?? { fulcrum: null, nft: null, haproxy: null }) as Peers;
  const keep = (res.e2e_keepalive_rps ?? { fulcrum: null, nft: null, haproxy: null }) as Peers;
  res.null_v6_ratio = n('null_fwd_mpps') && n('null_fwd6_mpps') !== null ? Number((n('null_fwd6_mpps')! / n('null_fwd_mpps')!).toFixed(3)) : null;
  res.null_ratio = n('null_io_mpps') ? Number((n('null_fwd_mpps')! / n('null_io_mpps')!).toFixed(3)) : null;
  res.huge_null_ratio = n('huge_null_io_mpps') ? Number((n('huge_null_fwd_mpps')! / n('huge_null_io_mpps')!).toFixed(3)) : null;
  res.afxdp_ratio = n('afxdp_io_mpps') ? Number((n('afxdp_fwd_mpps')! / n('afxdp_io_mpps')!).toFixed(3)) : null;
  // Per packet: what balancing adds to io-forward's own cost is the difference.
  const ns = (mpps: number | null) => (mpps ? Number((1000 / mpps).toFixed(1)) : null);
  res.null_fwd_ns = ns(n('null_fwd_mpps'));
  res.null_io_ns = ns(n('null_io_mpps'));

  const o = process.stdout;
  o.write(`${'measure'.padEnd(44)}${'Fulcrum'.padStart(10)}${'baseline'.padStart(12)}${'ratio'.padStart(8)}  goal\n`);
  o.write(`${'net_null, established NAT flows (Mpps)'.padEnd(44)}${fmt(n('null_fwd_mpps')).padStart(10)}` +
    `${`io ${fmt(n('null_io_mpps'))}`.padStart(12)}${pct(n('null_fwd_mpps'), n('null_io_mpps')).padStart(8)}  >= 60%\n`);
  o.write(`${'  per packet (ns)'.padEnd(44)}${fmt(n('null_fwd_ns'), 1).padStart(10)}` +
    `${`io ${fmt(n('null_io_ns'), 1)}`.padStart(12)}${'-'.padStart(8)}  balancing adds ` +
    `${n('null_fwd_ns') !== null && n('null_io_ns') !== null ? fmt(n('null_fwd_ns')! - n('null_io_ns')!, 1) : 'n/a'} ns\n`);
  o.write(`${'  the same over IPv6 (Mpps)'.padEnd(44)}${fmt(n('null_fwd6_mpps')).padStart(10)}` +
    `${`IPv4 ${fmt(n('null_fwd_mpps'))}`.padStart(12)}${pct(n('null_fwd6_mpps'), n('null_fwd_mpps')).padStart(8)}  >= 85% of IPv4\n`);
  o.write(`${'  the same on 2 MiB hugepages (Mpps)'.padEnd(44)}${fmt(n('huge_null_fwd_mpps')).padStart(10)}` +
    `${`io ${fmt(n('huge_null_io_mpps'))}`.padStart(12)}${pct(n('huge_null_fwd_mpps'), n('huge_null_io_mpps')).padStart(8)}  >= 60%\n`);
  o.write(`${'af_xdp on veth, UDP through NAT (Mpps)'.padEnd(44)}${fmt(n('afxdp_fwd_mpps'), 3).padStart(10)}` +
    `${`io ${fmt(n('afxdp_io_mpps'), 3)}`.padStart(12)}${pct(n('afxdp_fwd_mpps'), n('afxdp_io_mpps')).padStart(8)}  >= 90%\n`);
  const f = res.synflood as Record<string, number> | null;
  if (f) {
    o.write(`${'net_null, SYN flood absorbed (M SYN/s)'.padEnd(44)}${fmt(f.synflood_syn_per_s / 1e6).padStart(10)}` +
      `${'-'.padStart(12)}${'-'.padStart(8)}  ${f.synflood_failed} flood SYNs failed\n`);
    o.write(`${'  legitimate handshakes completed'.padEnd(44)}${`${(100 * f.legit_success).toFixed(2)}%`.padStart(10)}` +
      `${'-'.padStart(12)}${'-'.padStart(8)}  >= 99% (of ${f.legit_handshakes}; ACK ${f.lag_packets} packets = ` +
      `${fmt(f.lag_us, 0)} us after the SYN)\n`);
    o.write(`${'  half-open entries at most / budget'.padEnd(44)}${`${f.half_open_max}/${f.half_open_budget}`.padStart(10)}` +
      `${'-'.padStart(12)}${'-'.padStart(8)}  a handshake has ${fmt(f.survival_ms)} ms to complete at this rate\n`);
  }
  const sp = res.synflood_proxy as Record<string, number> | null;
  if (sp) {
    o.write(`${'net_null, SYN-proxied: SYNs answered (M/s)'.padEnd(44)}${fmt(sp.synflood_syn_per_s / 1e6).padStart(10)}` +
      `${'-'.padStart(12)}${'-'.padStart(8)}  cookies, no entry (${sp.entries} entries: the clients')\n`);
    o.write(`${'  legitimate handshakes completed'.padEnd(44)}${`${(100 * sp.legit_success).toFixed(2)}%`.padStart(10)}` +
      `${'-'.padStart(12)}${'-'.padStart(8)}  >= 99% (of ${sp.legit_handshakes})\n`);
  }
  o.write(`\n${'HTTP through the director (req/s)'.padEnd(44)}${'Fulcrum'.padStart(10)}${'nft DNAT'.padStart(12)}${'HAProxy'.padStart(10)}  Fulcrum/nft (goal >= 100%)\n`);
  for (const [name, p] of [['new connection per request', close], ['keep-alive', keep]] as const)
    o.write(`${`  ${name}`.padEnd(44)}${fmt(p.fulcrum, 0).padStart(10)}${fmt(p.nft, 0).padStart(12)}${fmt(p.haproxy, 0).padStart(10)}  ${pct(p.fulcrum, p.nft)}\n`);
  if (args.includes('--json')) o.write(JSON.stringify(res) + '\n');
  return 0;
}
