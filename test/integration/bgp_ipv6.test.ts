// A dual-stack director announced with BGP: `fulcrum serve` with an IPv4 VIP and an IPv6 VIP
// (direct routing to one real server) behind a router running BIRD with IPv4 and IPv6 kernel
// tables. One session carries both families (multiprotocol BGP): first over IPv4, then, after a
// restart with the neighbour named by its IPv6 address, over IPv6. Each time the router installs
// 198.18.72.100/32 via the director's IPv4 address and 2001:db8:72::100/128 via its IPv6 one,
// and a client behind the router fetches a page through each VIP. Drain withdraws both.
//
//   b6-cl 198.18.70.10, 2001:db8:70::10 ── b6-rt (BIRD, AS 65000) 198.18.71.1, 2001:db8:71::1
//     ── b6-sw br0 ─┬─ b6-d1 198.18.71.11, 2001:db8:71::11 (AS 65001)
//                    └─ b6-s1 198.18.71.21, 2001:db8:71::21 (the VIPs on lo)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import YAML from 'yaml';
import { cannotRun, root, run, tmpFile } from './harness';

const P = 'b6';
const VIP4 = '198.18.72.100';
const VIP6 = '2001:db8:72::100';
const DIR4 = '198.18.71.11';
const DIR6 = '2001:db8:71::11';
const NAMESPACES = ['cl', 'rt', 'sw', 'd1', 's1'];

const skip = cannotRun() ?? (run('sh', ['-c', 'command -v bird && command -v birdc && command -v setpriv']).status !== 0
  ? 'BIRD 2 (bird2) and setpriv are needed: scripts/setup installs them' : undefined);

const ns = (n: string) => `${P}-${n}`;
const inNs = (n: string, cmd: string[], timeout = 30000) => run('ip', ['netns', 'exec', ns(n), ...cmd], { timeout });
const dir = path.dirname(tmpFile('x'));
const children: ChildProcess[] = [];

function down(): void {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  for (const n of NAMESPACES) {
    for (const pid of run('ip', ['netns', 'pids', ns(n)]).stdout.split('\n').filter(Boolean))
      try { process.kill(Number(pid), 'SIGKILL'); } catch { /* gone */ }
    run('ip', ['netns', 'del', ns(n)]);
  }
}

function up(): void {
  down();
  const r = run('bash', ['-euc', `
    for n in ${NAMESPACES.join(' ')}; do ip netns add ${P}-$n; ip -n ${P}-$n link set lo up; done
    ip -n ${P}-sw link add br0 type bridge; ip -n ${P}-sw link set br0 up
    ip link add ${P}-c0 netns ${P}-cl type veth peer name ${P}-rc netns ${P}-rt
    ip -n ${P}-cl addr add 198.18.70.10/24 dev ${P}-c0; ip -n ${P}-cl addr add 2001:db8:70::10/64 dev ${P}-c0 nodad
    ip -n ${P}-cl link set ${P}-c0 up
    ip -n ${P}-cl route add default via 198.18.70.1; ip -n ${P}-cl -6 route add default via 2001:db8:70::1
    ip -n ${P}-rt addr add 198.18.70.1/24 dev ${P}-rc; ip -n ${P}-rt addr add 2001:db8:70::1/64 dev ${P}-rc nodad
    ip -n ${P}-rt link set ${P}-rc up
    ip link add ${P}-rl netns ${P}-rt type veth peer name ${P}-wr netns ${P}-sw
    ip -n ${P}-sw link set ${P}-wr master br0 up
    ip -n ${P}-rt addr add 198.18.71.1/24 dev ${P}-rl; ip -n ${P}-rt addr add 2001:db8:71::1/64 dev ${P}-rl nodad
    ip -n ${P}-rt link set ${P}-rl up
    ip netns exec ${P}-rt sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 net.ipv4.conf.all.rp_filter=0
    # the director's veth belongs to the dataplane (af_packet); its kernel stays off it
    ip link add ${P}-d1 netns ${P}-d1 type veth peer name ${P}-w1 netns ${P}-sw
    ip -n ${P}-sw link set ${P}-w1 master br0 up
    ip netns exec ${P}-d1 sysctl -qw net.ipv4.conf.${P}-d1.arp_ignore=8 net.ipv6.conf.${P}-d1.disable_ipv6=1
    ip -n ${P}-d1 link set ${P}-d1 up
    # the real server: both VIPs on lo (DR), replies through the router
    ip link add ${P}-s1 netns ${P}-s1 type veth peer name ${P}-ws1 netns ${P}-sw
    ip -n ${P}-sw link set ${P}-ws1 master br0 up
    ip netns exec ${P}-s1 sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 net.ipv4.conf.all.rp_filter=0
    ip -n ${P}-s1 addr add 198.18.71.21/24 dev ${P}-s1; ip -n ${P}-s1 addr add 2001:db8:71::21/64 dev ${P}-s1 nodad
    ip -n ${P}-s1 link set ${P}-s1 up
    ip -n ${P}-s1 addr add ${VIP4}/32 dev lo; ip -n ${P}-s1 addr add ${VIP6}/128 dev lo nodad
    ip -n ${P}-s1 route add default via 198.18.71.1; ip -n ${P}-s1 -6 route add default via 2001:db8:71::1
    for n in cl rt s1; do for l in $(ip -n ${P}-$n -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep ${P}-); do
      ip netns exec ${P}-$n ethtool -K $l tx off >/dev/null 2>&1 || true; done; done
    ip netns exec ${P}-d1 ethtool -K ${P}-d1 rx off tx off >/dev/null 2>&1 || true`], { timeout: 60000 });
  if (r.status !== 0) throw new Error(`topology: ${r.stderr}`);
  // The real server answers on both families (one socket, IPv4-mapped too).
  children.push(spawn('ip', ['netns', 'exec', ns('s1'), 'python3', '-c', `
import socket, threading
s = socket.socket(socket.AF_INET6); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0); s.bind(("::", 80)); s.listen(64)
while True:
    c, a = s.accept(); c.recv(1024)
    c.sendall(b"HTTP/1.0 200 OK\\r\\n\\r\\ns1 " + c.getsockname()[0].encode() + b"\\n"); c.close()
`], { stdio: 'ignore' }));
  // The router: one protocol per transport of the director's session, both families in each.
  const conf = path.join(dir, 'b6-router.conf');
  const channels = 'ipv4 { import all; export none; }; ipv6 { import all; export none; };';
  const opts = 'direct; hold time 3; keepalive time 1; connect delay time 1; connect retry time 1; error wait time 1, 2;';
  fs.writeFileSync(conf, ['log stderr all;', 'router id 198.18.71.1;', 'protocol device { scan time 10; }',
    'protocol kernel { ipv4 { import none; export all; }; }', 'protocol kernel { ipv6 { import none; export all; }; }',
    `protocol bgp over4 { local 198.18.71.1 as 65000; neighbor ${DIR4} as 65001; ${opts} ${channels} }`,
    `protocol bgp over6 { local 2001:db8:71::1 as 65000; neighbor ${DIR6} as 65001; ${opts} ${channels} }`, ''].join('\n'));
  children.push(spawn('ip', ['netns', 'exec', ns('rt'), 'bird', '-f', '-c', conf, '-s', path.join(dir, 'b6-router.ctl')], { stdio: 'ignore' }));
}

const birdc = (...args: string[]) => inNs('rt', ['birdc', '-s', path.join(dir, 'b6-router.ctl'), ...args]).stdout;

/** The router's kernel next hop for a VIP, or ''. */
function hop(vip: string): string {
  const six = vip.includes(':');
  const out = inNs('rt', ['ip', ...(six ? ['-6'] : []), 'route', 'show', `${vip}/${six ? 128 : 32}`]).stdout;
  return /via (\S+)/.exec(out)?.[1] ?? '';
}

async function waitHop(vip: string, want: string): Promise<void> {
  for (let i = 0; i < 300 && hop(vip) !== want; i++) await sleep(100);
  assert.equal(hop(vip), want, `the router's route to ${vip}:\n${birdc('show', 'protocols')}\n${birdc('show', 'route', 'all')}`);
}

function fetch(vip: string): string {
  const url = vip.includes(':') ? `http://[${vip}]/` : `http://${vip}/`;
  return inNs('cl', ['curl', '-sS', '-m', '3', url]).stdout.trim();
}

class Director {
  child?: ChildProcess;
  out = '';
  readonly dir = path.join(dir, 'b6-d1');
  async start(neighbor: string): Promise<void> {
    fs.mkdirSync(this.dir, { recursive: true });
    const cfg = path.join(this.dir, 'fulcrum.yaml');
    fs.writeFileSync(cfg, YAML.stringify({
      dataplane: {
        eal: ['--log-level=error'], workers: [1], connTableSize: 4096, maxServices: 16, maxRealServers: 64,
        idleBackoff: { pauseAfterPolls: 64, maxSleepMicroseconds: 100 },
        ports: [{ name: 'lan', device: `net_af_packet0,iface=${P}-d1`, address: `${DIR4}/24`, address6: [`${DIR6}/64`], tap: `${P}-k1` }],
      },
      api: { listen: '127.0.0.1:9390' },
      services: [
        { protocol: 'tcp', address: VIP4, port: 80, scheduler: 'rr', realServers: [{ address: '198.18.71.21', method: 'dr' }] },
        { protocol: 'tcp', address: VIP6, port: 80, scheduler: 'rr', realServers: [{ address: '2001:db8:71::21', method: 'dr' }] },
      ],
      ha: { bgp: { localAs: 65001, neighbors: [{ address: neighbor, as: 65000, port: 'lan' }], holdTime: 3, keepaliveTime: 1, withdrawDelay: 0 } },
    }));
    this.out = '';
    this.child = spawn('ip', ['netns', 'exec', ns('d1'), process.execPath, path.join(root, 'bin/fulcrum.js'), 'serve',
      '--config', cfg, '--state-dir', path.join(this.dir, 'state')]);
    this.child.stdout!.on('data', (b: Buffer) => { this.out += b; });
    this.child.stderr!.on('data', (b: Buffer) => { this.out += b; });
    for (let i = 0; i < 300 && !/services applied; ready/.test(this.out) && this.child.exitCode === null; i++) await sleep(100);
    assert.match(this.out, /services applied; ready/, `the director did not start:\n${this.out}`);
  }
  api(method: string, p: string): any {
    const r = inNs('d1', ['curl', '-sS', '-m', '10', '-X', method, `http://127.0.0.1:9390${p}`]);
    if (r.status !== 0) throw new Error(`${method} ${p}: ${r.stderr}`);
    return JSON.parse(r.stdout);
  }
  fulcrum(...args: string[]) {
    return inNs('d1', [process.execPath, path.join(root, 'bin/fulcrum.js'), ...args]);
  }
  async stop(): Promise<void> {
    if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child!.once('exit', r));
    this.child.kill('SIGTERM');
    await Promise.race([exited, sleep(15000)]);
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

test('a dual-stack director announces its IPv4 and IPv6 VIPs over one BGP session of either family', { skip, timeout: 180000 }, async (t) => {
  up();
  const d = new Director();
  try {
    for (const [transport, neighbor] of [['IPv4', '198.18.71.1'], ['IPv6', '2001:db8:71::1']] as const) {
      await t.test(`a session over ${transport}: the router routes each VIP to the director's address of its family, a client reaches both`, async () => {
        await d.start(neighbor);
        await waitHop(VIP4, DIR4);
        await waitHop(VIP6, DIR6);
        const ha = d.api('GET', '/v1/ha').bgp;
        assert.deepEqual(ha.announced.map((a: { prefix: string }) => a.prefix), [`${VIP4}/32`, `${VIP6}/128`]);
        assert.deepEqual(ha.withheld, []);
        assert.equal(fetch(VIP4), `s1 ::ffff:${VIP4}`);  // the server's dual-stack socket
        assert.equal(fetch(VIP6), `s1 ${VIP6}`);
        const metrics = inNs('d1', ['curl', '-sS', 'http://127.0.0.1:9390/metrics']).stdout;
        assert.match(metrics, /\nfulcrum_bgp_announced\{prefix="2001:db8:72::100\/128"\} 1\n/);
        if (transport === 'IPv4') {
          // drain withdraws both families; undrain brings both back
          assert.equal(d.fulcrum('drain').status, 0);
          await waitHop(VIP4, '');
          await waitHop(VIP6, '');
          assert.match(d.api('GET', '/v1/ha').bgp.withheld[1].reason, /drained/);
          assert.equal(d.fulcrum('drain', '--undo').status, 0);
          await waitHop(VIP4, DIR4);
          await waitHop(VIP6, DIR6);
        }
        await d.stop();
        await waitHop(VIP6, '');
      });
    }
  } finally {
    await d.stop();
    down();
  }
});
