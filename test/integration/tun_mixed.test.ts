// Tunnels across families on real traffic, as the kernel's IPVS has them: an IPv6 service with
// an IPv4 tunnel server (IPv6 in IPv4, protocol 41, what a `sit` device takes) and an IPv4
// service with an IPv6 one (IPv4 in IPv6, next header 4, what an ip6tnl device in mode ipip6
// takes), and beside them IPv6 in IPv6 (ip6tnl's ip6ip6). The real server holds the VIP on lo
// and answers the client directly, as with DR; a 4 MB file goes each way byte for byte, and the outer headers on the wire
// come from the director's port address of the outer family. Where the kernel here has no
// sit/ip6tnl (a kernel built without them), a small decapsulator stands in for the device: a
// raw socket for the outer protocol, writing each inner packet into a TUN interface, which is
// what the tunnel device does in the kernel.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FulcrumConfig, ServiceConfig } from '../../src/control/config_schema';
import type { DataplaneStats } from '../../src/native';
import { addIpv6, cannotRun, configFor, DirectorProcess, sha256, tmpFile, Topology, V6 } from './harness';
import { readPcap, type WirePacket } from './pcap';

const skip = cannotRun();
const VIP6 = '2001:db8:18::100';
const VIP4 = '198.18.0.100';
const CLIENT4 = '198.18.0.2';
const PORT_SERVERS4 = '198.19.0.1';

/** The stand-in for a tunnel device: protocol 41 (IPv6 in IPv4 or, `ip6ip6`, in IPv6) or 4
 * (IPv4 in IPv6) taken off a raw socket, the inner packet written into TUN interface `dev`. */
const DECAP = `
import fcntl, os, socket, struct, subprocess, sys
kind, dev = sys.argv[1], sys.argv[2]
fd = os.open('/dev/net/tun', os.O_RDWR)
fcntl.ioctl(fd, 0x400454ca, struct.pack('16sH', dev.encode(), 0x0001 | 0x1000))  # TUNSETIFF: IFF_TUN|IFF_NO_PI
subprocess.run(['ip', 'link', 'set', dev, 'up'], check=True)
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 41) if kind == 'sit' else socket.socket(socket.AF_INET6, socket.SOCK_RAW, 41 if kind == 'ip6ip6' else 4)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
while True:
    p = s.recv(65535)
    if kind == 'sit':
        p = p[(p[0] & 15) * 4:]  # an IPv4 raw socket hands the outer header too; IPv6's does not
    os.write(fd, p)
`;

function must(t: Topology, node: string, cmd: string[]): void {
  const r = t.exec(node, cmd);
  if (r.status !== 0) throw new Error(`${node}: ${cmd.join(' ')}: ${r.stderr}`);
}

async function listening(t: Topology, node: string, port: number) {
  for (let i = 0; i < 50; i++) {
    if (t.exec(node, ['ss', '-ltn', `sport = :${port}`]).stdout.includes(`:${port}`)) return;
    await sleep(100);
  }
  throw new Error(`nothing listens on ${node}:${port}`);
}

/** The tunnel device of `kind` on `node` (local: the server's own outer address), the kernel's
 * when it has one, else the stand-in; returns what to stop. */
async function tunnelDevice(t: Topology, node: string, kind: 'sit' | 'ipip6' | 'ip6ip6', local: string): Promise<() => void> {
  const dev = `${kind}x`;
  const add = kind === 'sit'
    ? t.exec(node, ['ip', 'tunnel', 'add', dev, 'mode', 'sit', 'remote', 'any', 'local', local])
    : t.exec(node, ['ip', '-6', 'tunnel', 'add', dev, 'mode', kind, 'remote', '::', 'local', local]);
  if (add.status === 0) {
    must(t, node, ['ip', 'link', 'set', dev, 'up']);
    return () => t.exec(node, ['ip', 'link', 'del', dev]);
  }
  const p = t.background(node, ['python3', '-c', DECAP, kind, dev]);
  for (let i = 0; i < 50 && !t.exec(node, ['ip', 'link', 'show', dev, 'up']).stdout.includes('UP'); i++) await sleep(100);
  return () => p.kill();
}

/** Packets that did not fit the link with their outer header, each answered to the client. */
const tooBig = (st: DataplaneStats) => st.drops.tun_too_big_df ?? 0;

/** socat's address of a TCP peer. */
const tcp = (host: string, port: number) => (host.includes(':') ? `TCP6:[${host}]:${port}` : `TCP4:${host}:${port}`);

/** `src` from the client to vip:port, kept by the server on `node`; then `src` back from it. */
async function bothWays(t: Topology, node: string, vip: string, port: number, src: string): Promise<{ up: string; down: string }> {
  const listen = `${vip.includes(':') ? 'TCP6' : 'TCP4'}-LISTEN:${port},reuseaddr`;
  const up = tmpFile('received.bin');
  const srv = t.background(node, ['timeout', '60', 'socat', '-u', listen, `OPEN:${up},creat,trunc`]);
  const done = new Promise((r) => srv.once('exit', r));
  await listening(t, node, port);
  const c = t.exec('client', ['timeout', '60', 'socat', '-u', `FILE:${src}`, tcp(vip, port)], { timeout: 70000 });
  assert.equal(c.status, 0, `client socat failed: ${c.stderr}`);
  await done;
  const srv2 = t.background(node, ['timeout', '60', 'socat', '-u', `FILE:${src}`, listen]);
  await listening(t, node, port);
  const down = tmpFile('downloaded.bin');
  const d = t.exec('client', ['timeout', '60', 'socat', '-u', tcp(vip, port), `OPEN:${down},creat,trunc`], { timeout: 70000 });
  srv2.kill();
  assert.equal(d.status, 0, d.stderr);
  return { up, down };
}

/** Captures on srvN's link while `fn` runs; the tunnelled packets of protocol `proto`. */
async function captured(t: Topology, i: number, filter: string, fn: () => Promise<void>): Promise<WirePacket[]> {
  const cap = tmpFile('tun.pcap');
  const dump = t.background(`srv${i}`, ['tcpdump', '--immediate-mode', '-U', '-s', '200', '-i', `${t.prefix}-s${i}`, '-w', cap, filter]);
  await sleep(800);
  try {
    await fn();
  } finally {
    await sleep(300);
    dump.kill('SIGINT');
    await new Promise((r) => dump.once('exit', r));
  }
  return readPcap(fs.readFileSync(cap));
}

describe('TUN across families on real traffic', { skip }, () => {
  const t = new Topology('tmx', 2);
  const dir = new DirectorProcess();
  let payload = '';
  let cfg: FulcrumConfig;
  const apply = (services: ServiceConfig[]) => dir.apply({ ...cfg, services });

  before(async () => {
    t.up();
    const address6 = addIpv6(t, 2);
    payload = tmpFile('payload.bin');
    fs.writeFileSync(payload, crypto.randomBytes(4 << 20));
    cfg = configFor(t, { services: [] });
    cfg.dataplane.ports[0].address6 = address6.clients;
    cfg.dataplane.ports[1].address6 = address6.servers;
    await dir.start(t, cfg);
  });
  after(async () => {
    await dir.stop();
    t.down();
  });

  test('IPv6 service, IPv4 tunnel server: IPv6 in IPv4 from the port\'s IPv4 address, 4 MB each way byte for byte', async () => {
    const rs = t.serverAddress(1);
    must(t, 'srv1', ['ip', '-6', 'addr', 'add', `${VIP6}/128`, 'dev', 'lo', 'nodad']);
    const stop = await tunnelDevice(t, 'srv1', 'sit', rs);
    try {
      await apply([{ protocol: 'tcp', address: VIP6, port: 9600, scheduler: 'rr', realServers: [{ address: rs, method: 'tun' }] }]);
      const before = await dir.stats();
      let got = { up: '', down: '' };
      const pkts = await captured(t, 1, 'ip proto 41', async () => { got = await bothWays(t, 'srv1', VIP6, 9600, payload); });
      assert.equal(sha256(got.up), sha256(payload));
      assert.equal(sha256(got.down), sha256(payload));
      assert.ok(pkts.length > 10, `IPv6-in-IPv4 packets were captured: ${pkts.length}`);
      for (const p of pkts) {
        assert.deepEqual([p.family, p.proto, p.src, p.dst], [4, 41, PORT_SERVERS4, rs]);
        assert.deepEqual([p.inner?.family, p.inner?.src, p.inner?.dst, p.inner?.dport], [6, V6.client, VIP6, 9600]);
      }
      // The client's full-size segments did not fit with the outer header: packet too big
      // (MTU 1480) taught the client's stack the tunnel's path MTU.
      assert.ok(tooBig(await dir.stats()) > tooBig(before), 'packet too big was sent');
      const listed = await dir.services();
      assert.deepEqual([listed[0].dests[0].address, listed[0].dests[0].method, listed[0].dests[0].stats.conns], [rs, 'tun', 2]);
    } finally {
      stop();
      t.exec('srv1', ['ip', '-6', 'addr', 'del', `${VIP6}/128`, 'dev', 'lo']);
    }
  });

  test('IPv4 service, IPv6 tunnel server: IPv4 in IPv6 from the port\'s IPv6 address, 4 MB each way byte for byte', async () => {
    const rs = V6.server(2);
    must(t, 'srv2', ['ip', 'addr', 'add', `${VIP4}/32`, 'dev', 'lo']);
    // The decapsulated packets come in on the tunnel device, the route back to the client is
    // the link's: strict reverse-path filtering would drop them (as for a kernel tunnel device).
    must(t, 'srv2', ['sysctl', '-qw', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0']);
    const stop = await tunnelDevice(t, 'srv2', 'ipip6', rs);
    try {
      await apply([{ protocol: 'tcp', address: VIP4, port: 9700, scheduler: 'rr', realServers: [{ address: rs, method: 'tun' }] }]);
      const before = await dir.stats();
      let got = { up: '', down: '' };
      const pkts = await captured(t, 2, 'ip6 proto 4', async () => { got = await bothWays(t, 'srv2', VIP4, 9700, payload); });
      assert.equal(sha256(got.up), sha256(payload));
      assert.equal(sha256(got.down), sha256(payload));
      assert.ok(pkts.length > 10, `IPv4-in-IPv6 packets were captured: ${pkts.length}`);
      for (const p of pkts) {
        assert.deepEqual([p.family, p.proto, p.src, p.dst], [6, 4, V6.portServers, rs]);
        assert.deepEqual([p.inner?.family, p.inner?.src, p.inner?.dst, p.inner?.dport], [4, CLIENT4, VIP4, 9700]);
      }
      // As above with fragmentation needed (MTU 1460) for the client's DF segments.
      assert.ok(tooBig(await dir.stats()) > tooBig(before), 'fragmentation needed was sent');
    } finally {
      stop();
      t.exec('srv2', ['ip', 'addr', 'del', `${VIP4}/32`, 'dev', 'lo']);
    }
  });
  test('IPv6 service, IPv6 tunnel server (same family): IPv6 in IPv6 from the VIP, 4 MB each way byte for byte', async () => {
    const rs = V6.server(1);
    must(t, 'srv1', ['ip', '-6', 'addr', 'add', `${VIP6}/128`, 'dev', 'lo', 'nodad']);
    const stop = await tunnelDevice(t, 'srv1', 'ip6ip6', rs);
    try {
      await apply([{ protocol: 'tcp', address: VIP6, port: 9650, scheduler: 'rr', realServers: [{ address: rs, method: 'tun' }] }]);
      let got = { up: '', down: '' };
      const pkts = await captured(t, 1, 'ip6 proto 41', async () => { got = await bothWays(t, 'srv1', VIP6, 9650, payload); });
      assert.equal(sha256(got.up), sha256(payload));
      assert.equal(sha256(got.down), sha256(payload));
      assert.ok(pkts.length > 10, `IPv6-in-IPv6 packets were captured: ${pkts.length}`);
      for (const p of pkts) {
        assert.deepEqual([p.family, p.proto, p.src, p.dst], [6, 41, VIP6, rs]);
        assert.deepEqual([p.inner?.family, p.inner?.src, p.inner?.dst, p.inner?.dport], [6, V6.client, VIP6, 9650]);
      }
    } finally {
      stop();
      t.exec('srv1', ['ip', '-6', 'addr', 'del', `${VIP6}/128`, 'dev', 'lo']);
    }
  });

  test('tunnelSource6, when set, is the outer source of IPv4 in IPv6 instead of the port\'s address', async () => {
    const rs = V6.server(2);
    const source = '2001:db8:19::99';
    must(t, 'srv2', ['ip', 'addr', 'add', `${VIP4}/32`, 'dev', 'lo']);
    must(t, 'srv2', ['sysctl', '-qw', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0']);
    const stop = await tunnelDevice(t, 'srv2', 'ipip6', rs);
    try {
      await dir.apply({ ...cfg, tunnelSource6: source,
        services: [{ protocol: 'tcp', address: VIP4, port: 9800, scheduler: 'rr', realServers: [{ address: rs, method: 'tun' }] }] });
      const small = tmpFile('small.bin');
      fs.writeFileSync(small, crypto.randomBytes(64 << 10));
      let got = { up: '', down: '' };
      const pkts = await captured(t, 2, 'ip6 proto 4', async () => { got = await bothWays(t, 'srv2', VIP4, 9800, small); });
      assert.equal(sha256(got.up), sha256(small));
      assert.equal(sha256(got.down), sha256(small));
      assert.ok(pkts.length > 3, `IPv4-in-IPv6 packets were captured: ${pkts.length}`);
      assert.ok(pkts.every((p) => p.src === source && p.dst === rs), JSON.stringify(pkts.slice(0, 2)));
    } finally {
      stop();
      t.exec('srv2', ['ip', 'addr', 'del', `${VIP4}/32`, 'dev', 'lo']);
    }
  });
});
