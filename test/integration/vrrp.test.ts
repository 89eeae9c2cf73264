// Two `fulcrum serve` directors as a VRRP pair (ha.vrrp: keepalived under each), on af_packet
// ports on one client segment and one real-server segment, NAT to two real servers whose
// gateway is the pair's floating address. As an operator would see it: a director alone
// becomes MASTER; the second stays BACKUP (it hears the first's adverts through its TAP);
// kill -9 of the master during a stream of short requests (one started every 25 ms, each
// answered after 50 ms, so some are in flight at the kill) hands the VIP and the gateway to
// the backup within 3 x advert_int + skew, and only requests in flight at the kill fail; the
// old master comes back and takes the VIP back (preempt) or leaves it (nopreempt); drain and
// a port going down put a director in FAULT; a killed keepalived is restarted. Both run
// both sync daemons (ha.sync): a long download made through the master completes through the
// backup after the kill, and the old master taking the VIP back breaks no connection. The same pair
// with unicast adverts and a password. Takeover times and request counts are printed.
//
//   fv-cl 198.18.0.10 ─┐                    ┌─ fv-s1 198.19.0.11:8080 (gw 198.19.0.254)
//                      ├ fv-sw br0    br1 ──┼─ fv-s2 198.19.0.12:8080
//   fv-d1 clients .1 ──┤                    ├── fv-d1 servers 198.19.0.1
//   fv-d2 clients .2 ──┘                    └── fv-d2 servers 198.19.0.2
//   VIP 198.18.0.100:80 (NAT); floating 198.19.0.254 on the servers port
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import YAML from 'yaml';
import { cannotRun, root, run, tmpFile } from './harness';

const P = 'fv';
const ADVERT_INT = 1;
const PRIO = { d1: 150, d2: 100 };
/** What VRRPv2 allows a backup before it takes over: 3 x advert_int + (256 - priority) / 256. */
const takeoverBound = (prio: number) => 3 * ADVERT_INT + (256 - prio) / 256;

const skip = cannotRun() ?? (run('sh', ['-c', 'command -v keepalived && command -v setpriv']).status !== 0
  ? 'keepalived (and setpriv) are needed: scripts/setup installs them' : undefined);

const ns = (n: string) => `${P}-${n}`;
const inNs = (n: string, cmd: string[], timeout = 30000) => run('ip', ['netns', 'exec', ns(n), ...cmd], { timeout });
const must = (r: { status: number | null; stderr: string }, what: string) => {
  if (r.status !== 0) throw new Error(`${what}: ${r.stderr}`);
};

function down(): void {
  for (const n of ['cl', 'sw', 'd1', 'd2', 's1', 's2']) {
    const pids = run('ip', ['netns', 'pids', ns(n)]).stdout.split('\n').filter(Boolean);
    for (const pid of pids) try { process.kill(Number(pid), 'SIGKILL'); } catch { /* gone */ }
    run('ip', ['netns', 'del', ns(n)]);
  }
}

function up(): void {
  down();
  const sh = (script: string) => must(run('bash', ['-euc', script], { timeout: 60000 }), script.slice(0, 60));
  sh(`for n in cl sw d1 d2 s1 s2; do ip netns add ${P}-$n; ip -n ${P}-$n link set lo up; done
    ip -n ${P}-sw link add br0 type bridge; ip -n ${P}-sw link add br1 type bridge
    ip -n ${P}-sw link set br0 up; ip -n ${P}-sw link set br1 up
    # client
    ip link add ${P}-c0 netns ${P}-cl type veth peer name ${P}-wc netns ${P}-sw
    ip -n ${P}-sw link set ${P}-wc master br0 up
    ip -n ${P}-cl addr add 198.18.0.10/24 dev ${P}-c0; ip -n ${P}-cl link set ${P}-c0 up
    ip netns exec ${P}-cl ethtool -K ${P}-c0 tx off >/dev/null 2>&1 || true
    # directors: their veths belong to the dataplane (af_packet); the kernel ignores them
    for d in 1 2; do
      ip link add ${P}-d\${d}c netns ${P}-d$d type veth peer name ${P}-w\${d}c netns ${P}-sw
      ip link add ${P}-d\${d}s netns ${P}-d$d type veth peer name ${P}-w\${d}s netns ${P}-sw
      ip -n ${P}-sw link set ${P}-w\${d}c master br0 up; ip -n ${P}-sw link set ${P}-w\${d}s master br1 up
      for l in ${P}-d\${d}c ${P}-d\${d}s; do
        ip netns exec ${P}-d$d sysctl -qw net.ipv4.conf.$l.rp_filter=1 net.ipv4.conf.$l.arp_ignore=8 net.ipv6.conf.$l.disable_ipv6=1
        ip -n ${P}-d$d link set $l up
        ip netns exec ${P}-d$d ethtool -K $l rx off tx off >/dev/null 2>&1 || true
      done
      ip netns exec ${P}-d$d nft -f - <<NFT
table netdev fulcrum_owned {
  chain c { type filter hook ingress device "${P}-d\${d}c" priority 0; policy drop; }
  chain s { type filter hook ingress device "${P}-d\${d}s" priority 0; policy drop; }
}
NFT
    done
    # real servers, their gateway the pair's floating address
    for i in 1 2; do
      ip link add ${P}-s$i netns ${P}-s$i type veth peer name ${P}-ws$i netns ${P}-sw
      ip -n ${P}-sw link set ${P}-ws$i master br1 up
      ip -n ${P}-s$i addr add 198.19.0.1$i/24 dev ${P}-s$i; ip -n ${P}-s$i link set ${P}-s$i up
      ip -n ${P}-s$i route add default via 198.19.0.254
      ip netns exec ${P}-s$i ethtool -K ${P}-s$i tx off >/dev/null 2>&1 || true
    done`);
  for (const i of [1, 2]) {
    spawn('ip', ['netns', 'exec', ns(`s${i}`), process.execPath, '-e',
      `const big = ${BIG_SERVER};
      require('http').createServer((q, r) => (q.url === '/big' ? big(r) : setTimeout(() => r.end('srv${i}\\n'), 50))).listen(8080, '0.0.0.0')`], { stdio: 'ignore' });
  }
  for (const i of [1, 2]) {
    for (let k = 0; k < 50; k++) {
      if (inNs(`s${i}`, ['bash', '-c', `exec 3<>/dev/tcp/198.19.0.1${i}/8080`]).status === 0) break;
      run('sleep', ['0.1']);
    }
  }
}

/** GET /big on a real server: BIG_CHUNKS chunks of 64 KiB (a known pattern), one every 20 ms
 * (about 3 MB/s, so a download runs for seconds and spans a takeover). */
const BIG_CHUNKS = 256;
const BIG_SERVER = `(r) => {
  const chunk = Buffer.alloc(65536, 0); for (let k = 0; k < chunk.length; k++) chunk[k] = k % 251;
  let n = 0; r.setHeader('content-length', ${BIG_CHUNKS} * 65536);
  const t = setInterval(() => { if (n++ < ${BIG_CHUNKS}) r.write(chunk); else { clearInterval(t); r.end(); } }, 20);
  r.on('close', () => clearInterval(t));
}`;
function bigSha256(): string {
  const chunk = Buffer.alloc(65536);
  for (let k = 0; k < chunk.length; k++) chunk[k] = k % 251;
  const h = crypto.createHash('sha256');
  for (let n = 0; n < BIG_CHUNKS; n++) h.update(chunk);
  return h.digest('hex');
}

function directorConfig(d: 1 | 2, vrrp: Record<string, unknown>) {
  return {
    dataplane: {
      eal: ['--log-level=error'], workers: [1], connTableSize: 65536, maxServices: 64, maxRealServers: 256,
      idleBackoff: { pauseAfterPolls: 64, maxSleepMicroseconds: 100 },
      ports: [
        { name: 'clients', device: `net_af_packet0,iface=${P}-d${d}c`, address: `198.18.0.${d}/24`, tap: `${P}-k${d}c` },
        { name: 'servers', device: `net_af_packet1,iface=${P}-d${d}s`, address: `198.19.0.${d}/24`, tap: `${P}-k${d}s` },
      ],
    },
    api: { listen: '127.0.0.1:9390' },
    services: [{ protocol: 'tcp', address: '198.18.0.100', port: 80, scheduler: 'rr',
      realServers: [{ address: '198.19.0.11', port: 8080, method: 'nat' }, { address: '198.19.0.12', port: 8080, method: 'nat' }] }],
    ha: {
      vrrp: { port: 'clients', virtualRouterId: 51, advertInt: ADVERT_INT,
        floatingAddresses: [{ port: 'servers', address: '198.19.0.254' }], ...vrrp },
      // Each director sends its connections and keeps the other's, as the kernel pair with
      // both daemons: whichever takes over knows the connections made through the other.
      sync: { daemons: [{ state: 'master', interface: 'clients', syncId: 51 }, { state: 'backup', interface: 'clients', syncId: 51 }] },
    },
  };
}

class Director {
  child?: ChildProcess;
  out = '';
  readonly dir = path.dirname(tmpFile('x'));
  constructor(readonly d: 1 | 2) {}
  get name() { return `d${this.d}`; }
  async start(vrrp: Record<string, unknown>): Promise<void> {
    const cfg = path.join(this.dir, 'fulcrum.yaml');
    fs.writeFileSync(cfg, YAML.stringify(directorConfig(this.d, vrrp)));
    this.out = '';
    this.child = spawn('ip', ['netns', 'exec', ns(this.name), process.execPath, path.join(root, 'bin/fulcrum.js'), 'serve',
      '--config', cfg, '--state-dir', path.join(this.dir, 'state')]);
    this.child.stdout!.on('data', (b: Buffer) => { this.out += b; });
    this.child.stderr!.on('data', (b: Buffer) => { this.out += b; });
    for (let i = 0; i < 300 && !/services applied; ready/.test(this.out); i++) {
      if (this.child.exitCode !== null) break;
      await sleep(100);
    }
    assert.match(this.out, /services applied; ready/, `${this.name} did not start:\n${this.out}`);
  }
  api(method: string, p: string, body?: unknown): any {
    const args = ['curl', '-sS', '-m', '5', '-X', method, `http://127.0.0.1:9390${p}`];
    if (body !== undefined) args.push('-H', 'content-type: application/json', '-d', JSON.stringify(body));
    const r = inNs(this.name, args);
    if (r.status !== 0) throw new Error(`${this.name} ${method} ${p}: ${r.stderr}`);
    return JSON.parse(r.stdout);
  }
  ha(): { state: string; owner: boolean; lastTransition?: { at: string }; unfit: string[]; keepalived: { pid?: number } } {
    return this.api('GET', '/v1/ha').vrrp;
  }
  async waitState(state: string, ms = 20000): Promise<number> {
    const t0 = Date.now();
    for (; Date.now() - t0 < ms; await sleep(50)) {
      const h = this.ha();
      if (h.state === state && h.owner === (state === 'MASTER')) return Date.now();
    }
    throw new Error(`${this.name} did not reach ${state} (is ${JSON.stringify(this.ha())}):\n${this.out.split('\n').filter((l) => /vrrp|keepalived/.test(l)).slice(-30).join('\n')}`);
  }
  kill9(): number {
    const t = Date.now();
    this.child!.kill('SIGKILL');
    return t;
  }
  async stop(): Promise<void> {
    if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child!.once('exit', r));
    this.child.kill('SIGTERM');
    await Promise.race([exited, sleep(15000)]);
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
  /** keepalived processes still running on this director's state directory. */
  keepalivedLeft(): number[] {
    const conf = path.join(this.dir, 'state', 'keepalived', 'keepalived.conf');
    return fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
      try {
        const cmd = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8');
        const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
        return cmd.includes('keepalived') && cmd.includes(conf) && !/\) Z /.test(stat);  // zombies hold nothing
      } catch { return false; }
    }).map(Number);
  }
  mac(port: string): string {
    return (this.api('GET', '/v1/dataplane').ports as Array<{ name: string; mac: string }>).find((p) => p.name === port)!.mac.toLowerCase();
  }
}

/** The client's idea of who holds the VIP: the MAC its neighbour table has for it. */
const clientVipMac = () => /lladdr ([0-9a-f:]+)/.exec(inNs('cl', ['ip', 'neigh', 'show', '198.18.0.100']).stdout)?.[1];

/** One request to the VIP from the client (a new connection): the server's name or ''. */
const request = () => inNs('cl', ['curl', '-sS', '-m', '5', 'http://198.18.0.100/']).stdout.trim();

/** A stream of short requests from the client: one started every 25 ms whatever the others
 * do (so requests keep starting through a takeover), each on a new connection with up to 10 s
 * to finish (a SYN sent during the takeover is retransmitted until the new MASTER answers):
 * every request's start and end, and whether it got a server's answer. */
function startStream(file: string): ChildProcess {
  const script = `
    const http = require('http'); const fs = require('fs');
    const out = fs.openSync(${JSON.stringify(file)}, 'w');
    let pending = 0, stopping = false;
    const one = () => {
      const start = Date.now();
      pending++;
      let done = false;
      const finish = (ok) => {
        if (done) return;
        done = true;
        fs.writeSync(out, JSON.stringify({ start, end: Date.now(), ok }) + '\\n');
        if (--pending === 0 && stopping) process.exit(0);
      };
      const req = http.get({ host: '198.18.0.100', port: 80, path: '/', agent: false, timeout: 10000 }, (r) => {
        let b = ''; r.on('data', (c) => b += c); r.on('end', () => finish(/^srv/.test(b))); r.on('error', () => finish(false));
      });
      req.on('timeout', () => { req.destroy(); finish(false); });
      req.on('error', () => finish(false));
    };
    const timer = setInterval(one, 25);
    process.on('SIGTERM', () => { clearInterval(timer); stopping = true; if (pending === 0) process.exit(0); });`;
  return spawn('ip', ['netns', 'exec', ns('cl'), process.execPath, '-e', script], { stdio: 'ignore' });
}

async function stopStream(c: ChildProcess, file: string) {
  const exited = new Promise((r) => c.once('exit', r));
  c.kill('SIGTERM');
  await Promise.race([exited, sleep(12000)]);
  return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { start: number; end: number; ok: boolean });
}

test('two directors fail a VIP over with keepalived\'s VRRP', { skip, timeout: 240000 }, async (t) => {
  up();
  const d1 = new Director(1);
  const d2 = new Director(2);
  try {
    await t.test('a director started alone becomes MASTER and serves the VIP', async () => {
      await d1.start({ priority: PRIO.d1 });
      const t0 = Date.now();
      await d1.waitState('MASTER');
      console.log(`# d1 alone: MASTER ${Date.now() - t0} ms after ready (3 x advert_int + skew = ${(takeoverBound(PRIO.d1) * 1000).toFixed(0)} ms)`);
      assert.match(request(), /^srv[12]$/);
      assert.equal(clientVipMac(), d1.mac('clients'));
      // what an operator reads: fulcrum ha, the metrics
      const v = inNs('d1', [process.execPath, path.join(root, 'bin/fulcrum.js'), 'ha']);
      assert.equal(v.status, 0, v.stderr);
      assert.match(v.stdout, /^state MASTER \(since .*\), owns the VIPs\nvirtual router 51 on port clients \(fv-k1c\), priority 150, advert 1 s, preempt\nfit to be MASTER\n/);
      const m = inNs('d1', ['curl', '-sS', 'http://127.0.0.1:9390/metrics']).stdout;
      assert.match(m, /\nfulcrum_vrrp_state\{state="MASTER"\} 1\n/);
      assert.match(m, /\nfulcrum_vrrp_state\{state="BACKUP"\} 0\n/);
      assert.match(m, /\nfulcrum_vip_owner 1\n/);
      assert.match(m, /\nfulcrum_vrrp_priority 150\n/);
    });

    await t.test('the second director hears the master through its TAP and stays BACKUP', async () => {
      await d2.start({ priority: PRIO.d2 });
      await d2.waitState('BACKUP');
      await sleep(takeoverBound(PRIO.d2) * 1000 + 1000);  // long enough to have taken over had it heard nothing
      assert.equal(d2.ha().state, 'BACKUP');
      assert.equal(d1.ha().state, 'MASTER');
      // the backup's dataplane leaves the VIP alone: the client still reaches d1
      inNs('cl', ['ip', 'neigh', 'flush', 'dev', `${P}-c0`]);
      assert.match(request(), /^srv[12]$/);
      assert.equal(clientVipMac(), d1.mac('clients'));
      assert.match(inNs('d2', ['curl', '-sS', 'http://127.0.0.1:9390/metrics']).stdout, /\nfulcrum_vip_owner 0\n/);
      // a frame to the VIP sent to the backup's MAC anyway (a stale neighbour entry) is dropped
      // and counted, not balanced: the client's entry pointed at d2 for one request
      inNs('cl', ['ip', 'neigh', 'replace', '198.18.0.100', 'lladdr', d2.mac('clients'), 'dev', `${P}-c0`, 'nud', 'permanent']);
      assert.equal(inNs('cl', ['curl', '-sS', '-m', '1', 'http://198.18.0.100/']).stdout, '');
      inNs('cl', ['ip', 'neigh', 'del', '198.18.0.100', 'dev', `${P}-c0`]);
      assert.ok((d2.api('GET', '/v1/dataplane').drops.not_vip_owner ?? 0) >= 1, JSON.stringify(d2.api('GET', '/v1/dataplane').drops));
      assert.match(request(), /^srv[12]$/);
    });

    await t.test('kill -9 of the master: the backup takes over; only requests in flight at the kill fail; a download goes on', async () => {
      const file = path.join(d1.dir, 'stream.jsonl');
      const stream = startStream(file);
      // A long download through d1, synced to d2 (it runs for seconds: see BIG_SERVER).
      const bigFile = path.join(d1.dir, 'big.bin');
      const download = spawn('ip', ['netns', 'exec', ns('cl'), 'curl', '-sS', '-m', '60', '-o', bigFile, '-w', '%{http_code}', 'http://198.18.0.100/big']);
      let downloadOut = '';
      download.stdout!.on('data', (b: Buffer) => { downloadOut += b; });
      download.stderr!.on('data', (b: Buffer) => { downloadOut += b; });
      const downloaded = new Promise<number | null>((r) => download.once('exit', r));
      await sleep(2000);
      const killedAt = d1.kill9();
      const masterAt = await d2.waitState('MASTER');
      const transitionAt = Date.parse(d2.ha().lastTransition!.at);
      // keepalived died with serve (PDEATHSIG): nothing keeps adverts or the VIP for d1
      let left: number[] = [];
      for (let i = 0; i < 40 && (left = d1.keepalivedLeft()).length; i++) await sleep(50);
      assert.deepEqual(left, [], 'a keepalived outlived its kill -9\'d serve');
      // until 40 requests started after the kill have been answered (bounded: 30 s)
      const answeredAfter = () => fs.readFileSync(file, 'utf8').split('\n').filter(Boolean)
        .map((l) => JSON.parse(l) as { start: number; ok: boolean }).filter((r) => r.start > killedAt && r.ok).length;
      for (let i = 0; i < 300 && answeredAfter() < 40; i++) await sleep(100);
      const reqs = await stopStream(stream, file);
      const inFlight = reqs.filter((r) => r.start <= killedAt && r.end >= killedAt);
      const failed = reqs.filter((r) => !r.ok);
      const after = reqs.filter((r) => r.start > killedAt);
      const firstOk = after.find((r) => r.ok);
      console.log(`# takeover: d2 MASTER ${transitionAt - killedAt} ms after kill -9 of d1 (seen by the test at ${masterAt - killedAt} ms; ` +
        `bound 3 x advert_int + skew = ${(takeoverBound(PRIO.d2) * 1000).toFixed(0)} ms); first request after the kill answered at ` +
        `${firstOk ? firstOk.end - killedAt : -1} ms`);
      console.log(`# requests: ${reqs.length} total, ${reqs.filter((r) => r.ok).length} answered, ${failed.length} failed, ` +
        `${inFlight.length} in flight at the kill, ${after.length} started after it (${after.filter((r) => !r.ok).length} failed)`);
      assert.ok(after.length > 0 && firstOk, 'requests after the kill were answered');
      assert.deepEqual(failed.filter((r) => !inFlight.includes(r)), [], 'only requests in flight at the kill may fail');
      assert.equal(clientVipMac(), d2.mac('clients'), 'the client moved to the backup (gratuitous ARP)');
      for (const s of ['s1', 's2']) {
        const gw = /lladdr ([0-9a-f:]+)/.exec(inNs(s, ['ip', 'neigh', 'show', '198.19.0.254']).stdout)?.[1];
        assert.equal(gw, d2.mac('servers'), `${s}'s gateway moved to the backup (gratuitous ARP on the servers port)`);
      }
      // The download started through d1 finishes through d2, byte for byte.
      const code = await Promise.race([downloaded, sleep(60000).then(() => 'timeout')]);
      const synced = (d2.api('GET', '/v1/sync').daemons as Array<{ state: string; stats: Record<string, number> }>).find((x) => x.state === 'backup')!.stats;
      console.log(`# download across the takeover: curl ${String(code)} ${downloadOut}; d2's backup daemon: ${synced.conns_received} connections received, ${synced.installed} installed`);
      assert.equal(code, 0, `the download failed: ${downloadOut}`);
      assert.equal(downloadOut, '200');
      assert.equal(crypto.createHash('sha256').update(fs.readFileSync(bigFile)).digest('hex'), bigSha256(), 'the file arrived whole');
    });

    await t.test('the old master comes back and, with preempt, takes the VIP back', async () => {
      const file = path.join(d1.dir, 'stream2.jsonl');
      const stream = startStream(file);
      const t0 = Date.now();
      await d1.start({ priority: PRIO.d1 });
      const ready = Date.now();
      await d1.waitState('MASTER');
      await d2.waitState('BACKUP');
      console.log(`# preempt: d1 MASTER again ${Date.now() - ready} ms after its restart was ready (${ready - t0} ms to start)`);
      await sleep(1500);
      const reqs = await stopStream(stream, file);
      // d1 learnt d2's connections from d2's master daemon (a connection is sent at its 3rd
      // packet from the client), so taking the VIP back breaks none of them; only one whose
      // first packets were crossing at the switch could be unknown to d1 (as in the kernel).
      const switchedAt = Date.parse(d1.ha().lastTransition!.at);
      const failed = reqs.filter((r) => !r.ok);
      console.log(`# requests during the preemption: ${reqs.length} total, ${failed.length} failed` +
        (failed.length ? ` (started ${failed.map((r) => r.start - switchedAt).join(', ')} ms from the switch)` : ''));
      assert.deepEqual(failed.filter((r) => Math.abs(r.start - switchedAt) > 1000), [], 'a connection made well before the switch broke');
      assert.match(request(), /^srv[12]$/);
      assert.equal(clientVipMac(), d1.mac('clients'));
    });

    await t.test('with nopreempt the old master comes back as BACKUP and leaves the VIP', async () => {
      d1.kill9();
      await d2.waitState('MASTER');
      await d1.start({ priority: PRIO.d1, preempt: false });
      await d1.waitState('BACKUP');
      await sleep(takeoverBound(PRIO.d1) * 1000 + 1500);  // it would have preempted by now
      assert.equal(d1.ha().state, 'BACKUP');
      assert.equal(d2.ha().state, 'MASTER');
      assert.match(request(), /^srv[12]$/);
    });

    await t.test('drain puts the master in FAULT and the peer takes the VIP, across a restart too; undrain makes it BACKUP', async () => {
      const r = run('ip', ['netns', 'exec', ns('d2'), process.execPath, path.join(root, 'bin/fulcrum.js'), 'drain']);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /drained/);
      await d2.waitState('FAULT');
      await d1.waitState('MASTER');
      assert.match(d2.ha().unfit.join(), /drained/);
      assert.match(request(), /^srv[12]$/);
      // A drain is kept: restarted while drained (maintenance), d2 comes back in FAULT and
      // leaves the VIP where it is until the operator undoes it.
      await d2.stop();
      await d2.start({ priority: PRIO.d2 });
      assert.match(d2.out, /this director was left drained/);
      await d2.waitState('FAULT');
      assert.match(d2.ha().unfit.join(), /drained/);
      assert.equal(d1.ha().state, 'MASTER');
      const u = run('ip', ['netns', 'exec', ns('d2'), process.execPath, path.join(root, 'bin/fulcrum.js'), 'drain', '--undo']);
      assert.equal(u.status, 0, u.stderr);
      await d2.waitState('BACKUP');
    });

    await t.test('the VRRP port going down puts the master in FAULT', async () => {
      must(inNs('d1', ['ip', 'link', 'set', `${P}-d1c`, 'down']), 'link down');
      await d1.waitState('FAULT');
      await d2.waitState('MASTER');
      assert.match(d1.ha().unfit.join(), /no link/);
      must(inNs('d1', ['ip', 'link', 'set', `${P}-d1c`, 'up']), 'link up');
      await d1.waitState('BACKUP');  // nopreempt: d2 keeps the VIP
      assert.match(request(), /^srv[12]$/);
    });

    await t.test('a keepalived that dies gives up the VIPs and is started again', async () => {
      const pid = d2.ha().keepalived.pid!;
      process.kill(pid, 'SIGKILL');
      await d1.waitState('MASTER');
      // its VRRP child's last word (priority 0, STOP) or the parent's death (DOWN), whichever is read first
      assert.match(d2.out, /"from":"MASTER","to":"(DOWN|STOP)".*this director gives up the VIPs/);
      assert.match(d2.out, /"msg":"keepalived stopped; this director gives up its VIPs until it runs again"/);
      await d2.waitState('BACKUP');  // restarted after 1 s; d1 outranks it
      const h = d2.api('GET', '/v1/ha').vrrp;
      assert.equal(h.keepalived.restarts, 1);
      assert.notEqual(h.keepalived.pid, pid);
      assert.match(request(), /^srv[12]$/);
    });

    await t.test('a graceful stop hands the VIP over and leaves no keepalived', async () => {
      await d1.stop();
      await d2.waitState('MASTER');
      assert.deepEqual(d1.keepalivedLeft(), []);
      assert.match(request(), /^srv[12]$/);
    });

  } finally {
    await d1.stop();
    await d2.stop();
    if (process.env.FULCRUM_TEST_KEEP_LOGS) console.log(d1.out, d2.out);
    down();
  }
});

test('unicast adverts with a password pass the exception path both ways', { skip, timeout: 120000 }, async () => {
  up();
  const d1 = new Director(1);
  const d2 = new Director(2);
  try {
    const auth = { authentication: { password: 'fulcrum' } };
    await d1.start({ priority: PRIO.d1, unicastPeers: ['198.18.0.2'], ...auth });
    await d1.waitState('MASTER');
    await d2.start({ priority: PRIO.d2, unicastPeers: ['198.18.0.1'], ...auth });
    await d2.waitState('BACKUP');
    await sleep(takeoverBound(PRIO.d2) * 1000 + 1000);  // it would have taken over had it heard nothing
    assert.equal(d2.ha().state, 'BACKUP');
    assert.equal(d1.ha().state, 'MASTER');
    // and back: d1 stopped, d2 takes over; d1 again, preempt, d2 hears it and gives way
    await d1.stop();
    await d2.waitState('MASTER');
    await d1.start({ priority: PRIO.d1, unicastPeers: ['198.18.0.2'], ...auth });
    await d1.waitState('MASTER');
    await d2.waitState('BACKUP');
    assert.match(request(), /^srv[12]$/);
  } finally {
    await d1.stop();
    await d2.stop();
    down();
  }
});
