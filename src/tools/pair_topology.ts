// The segments a director pair shares, in namespaces of the test's own (prefix P):
//
//   P-cli 198.18.41.1 ── brc ─┬─ director A's client port      (VIP 198.18.41.100)
//                             ├─ director B's client port
//                             └─ the kernel VM's eth0 (optional)
//   P-srv 198.18.42.1 ── brs ─┬─ director A's server port
//                             ├─ director B's server port
//                             └─ the kernel VM's eth1
//
// IPv6 alike on the same segments: client 2001:db8:41::1, VIP 2001:db8:41::100, server
// 2001:db8:42::1 (its echo server takes both families); a director serves the IPv6 VIP when
// its config asks for it (directorConfig's ipv6), and route6 points the client and the
// server at one director for IPv6 as route does for IPv4.
// Bridges live in P-lan. A Fulcrum director runs in P-dA / P-dB on two af_packet veths (their
// kernel side fenced off as scripts/netns-topology does), with a TAP on the client port that
// carries the sync datagrams. Which director the client and the server talk to is set by the
// test (the client's neighbour entry for the VIP, the server's default route), so a "VIP move"
// is a precise step, not a race of ARP answers; or, with VRRP (ha.vrrp), the directors move the
// VIP and the servers' floating gateway themselves. The server echoes each line it gets.
// Used by the sync tests (test/integration/sync_pair.test.ts) and `fulcrum bench ha`.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import readline from 'node:readline';
import { spawnSync } from 'node:child_process';

function run(cmd: string, args: string[], opts: { timeout?: number } = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: opts.timeout ?? 30000 });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

export const VIP = '198.18.41.100';
export const CLIENT = '198.18.41.1';
export const SERVER = '198.18.42.1';
export const directorAddr = (d: 'A' | 'B') => ({ A: { c: '198.18.41.251', s: '198.18.42.251' }, B: { c: '198.18.41.252', s: '198.18.42.252' } }[d]);
export const VM_ADDR = { c: '198.18.41.254', s: '198.18.42.254' };
/** The servers' gateway that moves with the VIP when the directors run VRRP. */
export const FLOATING_GW = '198.18.42.250';
export const VIP6 = '2001:db8:41::100';
export const CLIENT6 = '2001:db8:41::1';
export const SERVER6 = '2001:db8:42::1';
export const directorAddr6 = (d: 'A' | 'B') => ({ A: { c: '2001:db8:41::251', s: '2001:db8:42::251' }, B: { c: '2001:db8:41::252', s: '2001:db8:42::252' } }[d]);
export const VM_ADDR6 = { c: '2001:db8:41::254', s: '2001:db8:42::254' };

function sh(script: string): void {
  const r = run('bash', ['-euo', 'pipefail', '-c', script], { timeout: 60000 });
  if (r.status !== 0) throw new Error(`${script.split('\n')[0]}...: ${r.stderr}`);
}

export class PairTopology {
  constructor(readonly p: string) {}
  ns(n: string): string { return `${this.p}-${n}`; }

  up(): void {
    this.down();
    const p = this.p;
    sh(`
      for n in lan cli srv dA dB; do ip netns add ${p}-$n; ip -n ${p}-$n link set lo up; done
      for b in brc brs; do
        ip -n ${p}-lan link add $b type bridge mcast_snooping 0 forward_delay 0
        ip -n ${p}-lan link set $b up
      done
      ip link add ${p}c0 netns ${p}-cli type veth peer name ${p}cp netns ${p}-lan
      ip -n ${p}-lan link set ${p}cp master brc up
      ip -n ${p}-cli addr add ${CLIENT}/24 dev ${p}c0
      ip -n ${p}-cli addr add ${CLIENT6}/64 dev ${p}c0 nodad
      ip -n ${p}-cli link set ${p}c0 up
      ip netns exec ${p}-cli ethtool -K ${p}c0 tx off >/dev/null 2>&1 || true
      ip link add ${p}s0 netns ${p}-srv type veth peer name ${p}sp netns ${p}-lan
      ip -n ${p}-lan link set ${p}sp master brs up
      ip -n ${p}-srv addr add ${SERVER}/24 dev ${p}s0
      ip -n ${p}-srv addr add ${SERVER6}/64 dev ${p}s0 nodad
      ip -n ${p}-srv link set ${p}s0 up
      ip netns exec ${p}-srv ethtool -K ${p}s0 tx off >/dev/null 2>&1 || true
      for d in A B; do
        ns=${p}-d$d
        for side in c s; do
          ip link add ${p}$d$side netns $ns type veth peer name ${p}$d$side'p' netns ${p}-lan
          ip -n ${p}-lan link set ${p}$d$side'p' master br$side up
          ip netns exec $ns sysctl -qw net.ipv4.conf.${p}$d$side.rp_filter=1 net.ipv4.conf.${p}$d$side.arp_ignore=8 net.ipv6.conf.${p}$d$side.disable_ipv6=1
          ip -n $ns link set ${p}$d$side up
          ip netns exec $ns ethtool -K ${p}$d$side rx off tx off >/dev/null 2>&1 || true
        done
        ip netns exec $ns nft -f - <<NFT
table netdev fulcrum_owned {
  chain c { type filter hook ingress device "${p}\${d}c" priority 0; policy drop; }
  chain s { type filter hook ingress device "${p}\${d}s" priority 0; policy drop; }
}
NFT
      done
    `);
    // The real server: echoes every line, one thread per connection, IPv4 and IPv6 (a
    // dual-stack socket).
    spawn('ip', ['netns', 'exec', this.ns('srv'), 'python3', '-c', `
import socket, socketserver
class H(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            self.wfile.write(b"echo " + line)
class S(socketserver.ThreadingTCPServer):
    address_family = socket.AF_INET6
    allow_reuse_address = True
    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()
S(("::", 80), H).serve_forever()
`], { stdio: 'ignore' });
    for (let i = 0; i < 50; i++) {
      if (run('ip', ['netns', 'exec', this.ns('srv'), 'bash', '-c', `exec 3<>/dev/tcp/${SERVER}/80`]).status === 0) return;
      run('sleep', ['0.1']);
    }
    throw new Error('the echo server did not start');
  }

  /** Puts the kernel VM's TAPs on the bridges (run.sh placed them in P-lan). */
  attachVm(tap0: string, tap1: string): void {
    sh(`ip -n ${this.p}-lan link set ${tap0} master brc up; ip -n ${this.p}-lan link set ${tap1} master brs up`);
  }

  /** The VIP's traffic goes to `mac` (the client's neighbour entry) and the server's replies
   * through `gateway`: where a VIP and the inside floating address would be after a move. */
  route(mac: string, gateway: string): void {
    sh(`ip -n ${this.p}-cli neigh replace ${VIP} lladdr ${mac} dev ${this.p}c0 nud permanent
        ip -n ${this.p}-srv route replace default via ${gateway}`);
  }

  /** route's IPv6 form: the client's neighbour entry for the IPv6 VIP, the server's IPv6
   * default route. */
  route6(mac: string, gateway: string): void {
    sh(`ip -n ${this.p}-cli -6 neigh replace ${VIP6} lladdr ${mac} dev ${this.p}c0 nud permanent
        ip -n ${this.p}-srv -6 route replace default via ${gateway}`);
  }

  down(): void {
    for (const n of ['lan', 'cli', 'srv', 'dA', 'dB']) {
      const ns = this.ns(n);
      run('bash', ['-c', `ip netns pids ${ns} 2>/dev/null | xargs -r kill -9 2>/dev/null; ip netns del ${ns} 2>/dev/null; true`]);
    }
  }

  /** The servers reach the client through the gateway VRRP moves, and the client finds the
   * VIP by ARP (whoever owns it answers). */
  routeByVrrp(): void {
    sh(`ip -n ${this.p}-cli neigh del ${VIP} dev ${this.p}c0 2>/dev/null || true
        ip -n ${this.p}-srv route replace default via ${FLOATING_GW}`);
  }

  /** Director A or B's config: its two ports, the service, the given sync daemons, and VRRP
   * (`vrrp`: its priority and more) when given; with `ipv6`, IPv6 addresses on both ports and
   * the same service on the IPv6 VIP to the server's IPv6 address. */
  directorConfig(d: 'A' | 'B', api: number, sync: object, vrrp?: Record<string, unknown>, ipv6 = false): object {
    const a = directorAddr(d);
    const a6 = directorAddr6(d);
    const v6svc = { protocol: 'tcp', address: VIP6, port: 80, scheduler: 'rr', realServers: [{ address: SERVER6, port: 80, method: 'nat', weight: 1 }] };
    return {
      dataplane: {
        eal: ['--log-level=error'], workers: [1], connTableSize: 4096, maxServices: 16, maxRealServers: 64,
        idleBackoff: { pauseAfterPolls: 64, maxSleepMicroseconds: 100 },
        ports: [
          { name: 'outside', device: `net_af_packet${d === 'A' ? 0 : 2},iface=${this.p}${d}c`, address: `${a.c}/24`, tap: `${this.p}${d}k`,
            ...(ipv6 ? { address6: [`${a6.c}/64`] } : {}) },
          { name: 'inside', device: `net_af_packet${d === 'A' ? 1 : 3},iface=${this.p}${d}s`, address: `${a.s}/24`, tap: false,
            ...(ipv6 ? { address6: [`${a6.s}/64`] } : {}) },
        ],
      },
      api: { listen: `127.0.0.1:${api}` },
      services: [{ protocol: 'tcp', address: VIP, port: 80, scheduler: 'rr', realServers: [{ address: SERVER, port: 80, method: 'nat', weight: 1 }] },
        ...(ipv6 ? [v6svc] : [])],
      ha: {
        sync,
        ...(vrrp ? { vrrp: { port: 'outside', virtualRouterId: 61, floatingAddresses: [{ port: 'inside', address: FLOATING_GW }], ...vrrp } } : {}),
      },
    };
  }
}

/** A Python script run in a namespace that is talked to a line at a time: lines written to
 * its stdin, its stdout read a line per answer (its last stderr line, as "ERR ...", when it
 * fails). */
export class NsScript {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: string[] = [];
  private readonly waiters: Array<(l: string) => void> = [];
  constructor(ns: string, script: string) {
    this.child = spawn('ip', ['netns', 'exec', ns, 'python3', '-u', '-c', script]);
    readline.createInterface({ input: this.child.stdout }).on('line', (l) => {
      const w = this.waiters.shift();
      if (w) w(l); else this.lines.push(l);
    });
    this.child.stderr.on('data', (d: Buffer) => {
      const w = this.waiters.shift();
      if (w) w(`ERR ${String(d).trim().split('\n').pop()}`);
    });
  }
  /** Its next line. */
  next(): Promise<string> {
    const l = this.lines.shift();
    return l !== undefined ? Promise.resolve(l) : new Promise((r) => this.waiters.push(r));
  }
  write(line: string): void { this.child.stdin.write(line + '\n'); }
  /** The client port of a script whose first line is "port N". */
  async port(): Promise<number> {
    const l = await this.next();
    const m = /^port (\d+)$/.exec(l);
    if (!m) throw new Error(`the client did not connect: ${l}`);
    return Number(m[1]);
  }
  close(): void { this.child.stdin.end(); this.child.kill(); }
  kill(): void { this.child.kill(); }
}

/** One TCP connection from the client namespace, held open: each line sent is answered by
 * the server's echo (or an error line when no answer comes within 5 s). */
export class HeldConnection {
  private readonly script: NsScript;
  /** `vip`: the address to connect to (VIP6 for an IPv6 connection). */
  constructor(ns: string, vip: string = VIP) {
    this.script = new NsScript(ns, `
import socket, sys
s = socket.create_connection(("${vip}", 80), timeout=5)
f = s.makefile("rb")
print("port", s.getsockname()[1], flush=True)
for line in sys.stdin:
    try:
        s.sendall(line.encode())
        r = f.readline()
        print(r.decode().rstrip("\\n") if r else "ERR closed", flush=True)
    except Exception as e:
        print("ERR", type(e).__name__, flush=True)
`);
  }
  /** The client port, once connected. */
  port(): Promise<number> { return this.script.port(); }
  async say(text: string): Promise<string> {
    this.script.write(text);
    return this.script.next();
  }
  close(): void { this.script.close(); }
}
