// IPv6 through the director, end to end, per forwarding method: the real director (DPDK on
// af_packet over veth) between a client and real servers on IPv6 links, each method carrying a
// file byte for byte: NAT (both ways), DR, TUN (IPv6-in-IPv6 on the wire), FullNAT with TOA's
// IPv6 form, and FullNAT from IPv6 clients to IPv4 real servers (NAT64), whose ICMP errors are
// translated both ways. Addresses in 2001:db8::/32 and 198.18.0.0/15 only, in the topology's
// namespaces.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FulcrumConfig, ServiceConfig } from '../../src/control/config_schema';
import { addIpv6, cannotRun, configFor, DirectorProcess, sha256, tmpFile, Topology, V6 } from './harness';
import { readPcap, toaOf } from './pcap';

const skip = cannotRun();
const VIP6 = '2001:db8:18::100';
const LOCAL6 = '2001:db8:19::200';  // FullNAT's IPv6 local address
const LOCAL4 = '198.19.0.200';      // and its IPv4 one (NAT64)

async function listening(t: Topology, node: string, port: number, udp = false) {
  for (let i = 0; i < 50; i++) {
    if (t.exec(node, ['ss', udp ? '-lun' : '-ltn', `sport = :${port}`]).stdout.includes(`:${port}`)) return;
    await sleep(100);
  }
  throw new Error(`nothing listens on ${node}:${port}`);
}

function randomFile(mb: number): string {
  const f = tmpFile('payload.bin');
  fs.writeFileSync(f, crypto.randomBytes(mb << 20));
  return f;
}

/** socat writes an IPv6 peer in full and in brackets; RFC 5952's form, as the tests name addresses. */
const canonical = (a: string) => (a.startsWith('[') ? new URL(`http://${a}/`).hostname.slice(1, -1) : a);

/** socat's address of a TCP peer: TCP6:[a]:p, or TCP4:a:p. */
const tcp = (host: string, port: number) => (host.includes(':') ? `TCP6:[${host}]:${port}` : `TCP4:${host}:${port}`);
const tcpListen = (port: number, v6: boolean) => `${v6 ? 'TCP6' : 'TCP4'}-LISTEN:${port},reuseaddr`;

/** The client sends `src` to vip:vport; the server on `node` keeps it (and the peer it saw). */
async function upload(t: Topology, node: string, port: number, v6Server: boolean, vport: number, src: string) {
  const dst = tmpFile('received.bin');
  const peer = `${dst}.peer`;
  const srv = t.background(node, ['timeout', '30', 'socat', '-u', tcpListen(port, v6Server),
    `SYSTEM:echo $SOCAT_PEERADDR > ${peer}; cat > ${dst}`]);
  const done = new Promise((r) => srv.once('exit', r));
  await listening(t, node, port);
  const c = t.exec('client', ['timeout', '30', 'socat', '-u', `FILE:${src}`, tcp(VIP6, vport)], { timeout: 40000 });
  assert.equal(c.status, 0, `client socat failed: ${c.stderr}`);
  await done;
  await sleep(100);
  return { file: dst, peer: canonical(fs.readFileSync(peer, 'utf8').trim()) };
}

/** The server on `node` sends `src` to whoever connects; the client downloads it through the VIP. */
async function download(t: Topology, node: string, port: number, v6Server: boolean, vport: number, src: string) {
  const srv = t.background(node, ['timeout', '30', 'socat', '-u', `FILE:${src}`, tcpListen(port, v6Server)]);
  await listening(t, node, port);
  const dst = tmpFile('downloaded.bin');
  const c = t.exec('client', ['timeout', '30', 'socat', '-u', tcp(VIP6, vport), `OPEN:${dst},creat,trunc`], { timeout: 40000 });
  srv.kill();
  assert.equal(c.status, 0, c.stderr);
  return dst;
}

describe('IPv6 forwarding on real traffic', { skip }, () => {
  const t = new Topology('f6f', 3);
  const dir = new DirectorProcess();
  let payload = '';
  let cfg: FulcrumConfig;
  const apply = (services: ServiceConfig[]) => dir.apply({ ...cfg, services });
  const svc = (port: number, servers: ServiceConfig['realServers'], protocol: 'tcp' | 'udp' = 'tcp'): ServiceConfig =>
    ({ protocol, address: VIP6, port, scheduler: 'rr', realServers: servers });

  before(async () => {
    t.up();
    const address6 = addIpv6(t, 3);
    payload = randomFile(4);
    cfg = configFor(t, { services: [], localAddresses: [LOCAL4, LOCAL6] });
    cfg.dataplane.ports[0].address6 = address6.clients;
    cfg.dataplane.ports[1].address6 = address6.servers;
    await dir.start(t, cfg);
  });
  after(async () => {
    await dir.stop();
    t.down();
  });

  test('NAT: a 4 MB file goes to an IPv6 real server byte for byte, and another comes back', async () => {
    await apply([svc(9000, [{ address: V6.server(2), port: 9001, method: 'nat' }])]);
    const up = await upload(t, 'srv2', 9001, true, 9000, payload);
    assert.equal(sha256(up.file), sha256(payload));
    assert.equal(up.peer, V6.client, 'NAT keeps the client\'s address');
    assert.equal(sha256(await download(t, 'srv2', 9001, true, 9000, payload)), sha256(payload));
  });

  test('NAT: UDP request and answer, both real servers in turn', async () => {
    await apply([svc(5300, [1, 2].map((i) => ({ address: V6.server(i), port: 5301, method: 'nat' as const })), 'udp')]);
    const srvs = [1, 2].map((i) => t.background(`srv${i}`, ['timeout', '20', 'socat', 'UDP6-RECVFROM:5301,fork', `SYSTEM:echo udp${i}`]));
    await listening(t, 'srv1', 5301, true);
    await listening(t, 'srv2', 5301, true);
    const answers: string[] = [];
    for (let i = 0; i < 4; i++)
      answers.push(t.exec('client', ['socat', '-t', '1', '-T', '2', '-', `UDP6:[${VIP6}]:5300`], { input: 'q\n' }).stdout.trim());
    srvs.forEach((s) => s.kill());
    assert.deepEqual([...new Set(answers)].sort(), ['udp1', 'udp2'], JSON.stringify(answers));
  });

  test('the VIP answers an echo request', async () => {
    await apply([svc(80, [{ address: V6.server(1), port: 8080, method: 'nat' }])]);
    // An ICMPv6 echo from the client's kernel (raw socket: it fills the checksum in), and the reply.
    const py = `
import os, socket
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.settimeout(3)
ident = (os.getpid() & 0xffff).to_bytes(2, 'big')
s.sendto(bytes([128, 0, 0, 0]) + ident + bytes([0, 1]) + b'fulcrum', ('${VIP6}', 0))
while True:
    data, frm = s.recvfrom(1500)
    if data[0] == 129 and data[4:6] == ident:
        print(frm[0], data[8:].decode())
        break
`;
    const r = t.exec('client', ['python3', '-c', py]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), `${VIP6} fulcrum`);
  });

  test('DR: the real server holds the VIP on lo, a 4 MB file arrives byte for byte', async () => {
    t.exec('srv3', ['ip', '-6', 'addr', 'add', `${VIP6}/128`, 'dev', 'lo', 'nodad']);
    try {
      await apply([svc(9200, [{ address: V6.server(3), method: 'dr' }])]);
      const got = await upload(t, 'srv3', 9200, true, 9200, payload);
      assert.equal(sha256(got.file), sha256(payload));
      assert.equal(got.peer, V6.client);
    } finally {
      t.exec('srv3', ['ip', '-6', 'addr', 'del', `${VIP6}/128`, 'dev', 'lo']);
    }
  });

  test('TUN: packets reach the real server IPv6-in-IPv6, outer to the server, inner to the VIP', async () => {
    await apply([svc(9300, [{ address: V6.server(1), method: 'tun' }])]);
    const cap = tmpFile('tun6.pcap');
    const dump = t.background('srv1', ['tcpdump', '--immediate-mode', '-U', '-i', `${t.prefix}-s1`, '-w', cap, 'ip6 proto 41']);
    await sleep(800);
    t.exec('client', ['curl', '-s', '-m', '2', `http://[${VIP6}]:9300/`]);
    dump.kill('SIGINT');
    await new Promise((r) => dump.once('exit', r));
    const pkts = readPcap(fs.readFileSync(cap)).filter((p) => p.family === 6 && p.proto === 41);
    assert.ok(pkts.length >= 1, 'IPv6-in-IPv6 packets were captured');
    for (const p of pkts) {
      assert.equal(p.dst, V6.server(1));
      assert.equal(p.inner?.family, 6);
      assert.equal(p.inner?.dst, VIP6);
      assert.equal(p.inner?.src, V6.client);
      assert.equal(p.inner?.dport, 9300);
    }
  });

  test('FullNAT: the real server sees the IPv6 local address, TOA carries the client on the wire', async () => {
    await apply([svc(9100, [{ address: V6.server(2), port: 9100, method: 'fullnat' }])]);
    const cap = tmpFile('fnat6.pcap');
    const dump = t.background('srv2', ['tcpdump', '--immediate-mode', '-U', '-s', '160', '-i', `${t.prefix}-s2`, '-w', cap, 'ip6 and tcp port 9100']);
    await sleep(800);
    const got = await upload(t, 'srv2', 9100, true, 9100, payload);
    await sleep(300);
    dump.kill('SIGINT');
    await new Promise((r) => dump.once('exit', r));
    assert.equal(sha256(got.file), sha256(payload));
    assert.equal(got.peer, LOCAL6);
    const pkts = readPcap(fs.readFileSync(cap)).filter((p) => p.dport === 9100);
    assert.ok(pkts.length > 10);
    assert.ok(pkts.every((p) => p.src === LOCAL6));
    const toa = pkts.map(toaOf).find(Boolean);
    assert.ok(toa, 'a segment carries TOA');
    assert.equal(toa!.address, V6.client);
  });

  test('NAT64: an IPv6 client reaches an IPv4 real server through FullNAT, a file each way byte for byte', async () => {
    await apply([svc(9500, [{ address: '198.19.0.12', port: 9501, method: 'fullnat' }])]);
    const up = await upload(t, 'srv2', 9501, false, 9500, payload);
    assert.equal(sha256(up.file), sha256(payload));
    assert.equal(up.peer, LOCAL4, 'the IPv4 server sees the IPv4 local address');
    assert.equal(sha256(await download(t, 'srv2', 9501, false, 9500, payload)), sha256(payload));
  });

  test('a match rule on an IPv6 prefix marks packets for an IPv6 fwmark service; outside it nothing is served', async () => {
    await dir.apply({ ...cfg, matchRules: [{ prefix: '2001:db8:1a::/64', protocol: 'tcp', ports: '8080', mark: 7 }],
      services: [{ fwmark: 7, family: 'ipv6', scheduler: 'rr',
        realServers: [1, 2].map((i) => ({ address: V6.server(i), port: 8080, method: 'nat' as const })) }] });
    const srvs = [1, 2].map((i) => t.background(`srv${i}`, ['timeout', '20', 'socat', 'TCP6-LISTEN:8080,fork,reuseaddr,ipv6only=1', `SYSTEM:echo v6srv${i}`]));
    try {
      await listening(t, 'srv1', 8080);
      await listening(t, 'srv2', 8080);
      const get = (addr: string) => t.exec('client', ['curl', '-sS', '--http0.9', '-m', '2', `http://[${addr}]:8080/`]).stdout.trim();
      const answers = ['2001:db8:1a::5', '2001:db8:1a::6', '2001:db8:1a::5', '2001:db8:1a::6'].map(get);
      assert.deepEqual([...new Set(answers)].sort(), ['v6srv1', 'v6srv2'], JSON.stringify(answers));
      assert.equal(get('2001:db8:1b::5'), '', 'an address outside the rule\'s prefix is no service');
    } finally {
      srvs.forEach((s) => s.kill());
    }
  });

  test('NAT64: ICMP errors cross the families, port unreachable each way', async () => {
    await apply([svc(9600, [{ address: '198.19.0.12', port: 9601, method: 'fullnat' }], 'udp')]);
    const before = await dir.stats();
    // Nothing listens on srv2:9601: its kernel's ICMP port unreachable reaches the client as
    // ICMPv6 port unreachable, which its connected UDP socket reads as a refusal.
    const refused = `
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.settimeout(3)
s.connect(('${VIP6}', 9600))
s.send(b'anyone?')
try:
    s.recv(100)
    print('answered')
except ConnectionRefusedError:
    print('refused')
except socket.timeout:
    print('timeout')
`;
    const c = t.exec('client', ['python3', '-c', refused]);
    assert.equal(c.stdout.trim(), 'refused', c.stderr);
    // The other way: the client sends and closes its socket; the server's answer finds the port
    // closed, and the client's ICMPv6 port unreachable reaches the server as ICMP, which its
    // connected socket reads as a refusal of its next receive.
    const result = tmpFile('udp-result.txt');
    const server = `
import socket, sys, time
out = open(sys.argv[1], 'w')
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('0.0.0.0', 9601))
s.settimeout(5)
data, peer = s.recvfrom(100)
s.connect(peer)
time.sleep(0.5)
s.send(b'late answer')
try:
    s.recv(100)
    print('answered', peer[0], file=out)
except ConnectionRefusedError:
    print('refused', peer[0], file=out)
except socket.timeout:
    print('timeout', peer[0], file=out)
`;
    const srv = t.background('srv2', ['timeout', '10', 'python3', '-c', server, result]);
    const ended = new Promise((r) => srv.once('exit', r));
    await listening(t, 'srv2', 9601, true);
    const gone = t.exec('client', ['python3', '-c', `
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.sendto(b'hello', ('${VIP6}', 9600))
s.close()
`]);
    assert.equal(gone.status, 0, gone.stderr);
    await ended;
    assert.equal(fs.readFileSync(result, 'utf8').trim(), `refused ${LOCAL4}`);
    const st = await dir.stats();
    assert.equal((st.events.icmp_related ?? 0) - (before.events.icmp_related ?? 0), 2, JSON.stringify(st.events));
    assert.equal(st.drops.nat64_icmp ?? 0, 0, JSON.stringify(st.drops));
  });

  test('IPv6 and IPv4 services side by side: each keeps working', async () => {
    await apply([svc(80, [{ address: V6.server(1), port: 8080, method: 'nat' }]),
      { protocol: 'tcp', address: '198.18.0.100', port: 80, scheduler: 'rr', realServers: [{ address: '198.19.0.11', port: 8080, method: 'nat' }] }]);
    // The topology's servers listen on 0.0.0.0 only: an IPv6 one of our own on srv1.
    const srv = t.background('srv1', ['timeout', '20', 'socat', 'TCP6-LISTEN:8080,fork,reuseaddr,ipv6only=1', 'SYSTEM:echo v6srv1']);
    await sleep(300);
    const v6 = t.exec('client', ['curl', '-sS', '--http0.9', '-m', '3', `http://[${VIP6}]/`]);
    const v4 = t.exec('client', ['curl', '-sS', '-m', '3', 'http://198.18.0.100/']);
    srv.kill();
    assert.equal(v6.stdout.trim(), 'v6srv1', v6.stderr);
    assert.equal(v4.stdout.trim(), 'srv1', v4.stderr);
  });
});
