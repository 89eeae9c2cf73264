// IPv6 around the packet core, end to end: the director's ports hold IPv6 addresses (and their
// automatic link-local ones), the dataplane answers neighbour discovery for them and for the
// addresses it owns, the kernel behind the TAP answers what is addressed to it and reaches
// real servers over IPv6, and a takeover is announced with an unsolicited advertisement.
// Addresses in 2001:db8::/32 only, in the topology's namespaces.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { NeighbourInfo } from '../../src/native';
import type { FulcrumConfig, ServiceConfig } from '../../src/control/config_schema';
import { ipv6Value } from '../../src/control/cidr6';
import { addIpv6, cannotRun, configFor, DirectorProcess, tmpFile, Topology, V6 } from './harness';

const skip = cannotRun();
const PORT_C = V6.portClients;  // the director on the clients' link (2001:db8:18::1)
const PORT_S = V6.portServers;  // and on the servers' (2001:db8:19::1)
const SRV1 = V6.server(1);
const LOCAL6 = '2001:db8:18::200';  // a FullNAT local address: answered only while owned
const FLOAT6 = '2001:db8:19::fe';   // a floating address on the servers' port (ha.vrrp)

/** fe80:: and the MAC's modified EUI-64, as the kernel makes it. */
function linkLocal(mac: string): string {
  const b = mac.split(':').map((x) => parseInt(x, 16));
  b[0] ^= 2;
  const h = (x: number, y: number) => ((x << 8) | y).toString(16);
  return `fe80::${h(b[0], b[1])}:${h(b[2], 0xff)}:${h(0xfe, b[3])}:${h(b[4], b[5])}`;
}

/** A solicitation for `target` from the client, multicast with the given hop limit (RFC 4861
 * wants 255), sent by the client's kernel (which computes the checksum). */
function solicitFromClient(t: Topology, target: string, hops: number) {
  const py = `
import socket, struct
ifx = socket.if_nametoindex('${t.prefix}-c0')
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, ${hops})
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifx)
t = socket.inet_pton(socket.AF_INET6, '${target}')
msg = bytes([135, 0, 0, 0, 0, 0, 0, 0]) + t
group = 'ff02::1:ff' + t[13:14].hex() + ':' + t[14:16].hex()
s.sendto(msg, (group, 0, 0, ifx))
`;
  return t.exec('client', ['python3', '-c', py]);
}

/** One UDP datagram from a node to addr (its kernel resolves addr first); nothing need answer. */
function poke(t: Topology, node: string, addr: string) {
  const py = `import socket; s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.sendto(b'x', ('${addr}', 9))`;
  return t.exec(node, ['python3', '-c', py]);
}

/** A TCP exchange from a node to the director's kernel (a listener on every address of its
 * namespace): what SSH or BGP to the director needs. Returns what came back. */
async function toDirectorKernel(t: Topology, node: string, target: string, port: number) {
  const srv = t.background('dir', ['timeout', '10', 'socat', `TCP6-LISTEN:${port},reuseaddr`, 'SYSTEM:echo director']);
  for (let i = 0; i < 50 && !t.exec('dir', ['ss', '-ltn', `sport = :${port}`]).stdout.includes(`:${port}`); i++) await sleep(100);
  const r = t.exec(node, ['socat', '-T', '3', '-', `TCP6:[${target}]:${port}`], { input: '' });
  srv.kill();
  return r;
}

/** A router advertisement from the client's link-local address to all nodes. */
function advertiseRouter(t: Topology) {
  const py = `
import socket
ifx = socket.if_nametoindex('${t.prefix}-c0')
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifx)
msg = bytes([134, 0, 0, 0, 64, 0, 0x07, 0x08]) + bytes(8)  # router lifetime 1800 s
s.sendto(msg, ('ff02::1', 0, 0, ifx))
`;
  return t.exec('client', ['python3', '-c', py]);
}

describe('IPv6 neighbour discovery and the exception path', { skip }, () => {
  const t = new Topology('fv6', 1);
  const dir = new DirectorProcess();
  const mac = (port: string) => dir.ports.find((p) => p.name === port)!.mac;
  const neighbours = async () => (await dir.request<{ neighbours: NeighbourInfo[] }>('neighbours')).neighbours;
  const clientNeigh = (addr: string) => t.exec('client', ['ip', '-6', 'neigh', 'show', addr]).stdout;
  let cfg: FulcrumConfig;
  /** tcpdump of the client's ICMPv6 (or another node's, on its link) while fn runs; its text (-v). */
  const capture = async (fn: () => Promise<void>, node = 'client', iface = `${t.prefix}-c0`) => {
    const cap = tmpFile('nd.pcap');
    const dump = t.background(node, ['tcpdump', '--immediate-mode', '-U', '-n', '-i', iface, '-w', cap, 'icmp6']);
    await sleep(800);
    try {
      await fn();
      await sleep(500);
    } finally {
      dump.kill('SIGINT');
      await new Promise((r) => dump.once('exit', r));
    }
    return t.exec(node, ['tcpdump', '-n', '-v', '-r', cap]).stdout;
  };
  const advertised = (text: string, addr: string) =>
    text.split(/\n(?=\d)/).filter((l) => l.includes('neighbor advertisement') && l.includes(`tgt is ${addr}`));

  before(async () => {
    t.up();
    const a6 = addIpv6(t, 1);
    cfg = configFor(t, { services: [], localAddresses: ['198.19.0.200', LOCAL6] });
    cfg.dataplane.ports[0].address6 = a6.clients;
    cfg.dataplane.ports[1].address6 = a6.servers;
    // The IPv6 gateway of NAT real servers, which moves with the VIPs (ha.vrrp): the director
    // starts as a backup under ha.vrrp and is handed its addresses at once here.
    cfg.dataplane.connTable6Size = 8192;
    cfg.ha = { vrrp: { port: 'clients', virtualRouterId: 61, floatingAddresses: [{ port: 'servers', address: FLOAT6 }] } };
    await dir.start(t, cfg);
    await dir.request('setVipOwner', true);
  });
  after(async () => {
    await dir.stop();
    t.down();
  });

  test('TCP over IPv6 to a port address reaches the director\'s kernel through the TAP', async () => {
    const r = await toDirectorKernel(t, 'client', PORT_C, 2222);
    assert.equal(r.stdout.trim(), 'director', r.stderr);
    const st = await dir.stats();
    assert.ok((st.events.nd_na_out ?? 0) >= 1, 'the dataplane answered the client\'s solicitation');
    assert.ok((st.events.to_tap ?? 0) > 0 && (st.events.from_tap ?? 0) > 0);
  });

  test('the client knows the port address at the port\'s MAC, from the dataplane\'s advertisement', () => {
    assert.match(clientNeigh(PORT_C), new RegExp(`lladdr ${mac('clients')}`));
  });

  test('the port\'s link-local address (the MAC\'s EUI-64, the TAP\'s too) is answered and reaches the kernel', async () => {
    const ll = linkLocal(mac('clients'));
    const r = await toDirectorKernel(t, 'client', `${ll}%${t.prefix}-c0`, 2223);
    assert.equal(r.stdout.trim(), 'director', r.stderr);
    assert.match(t.exec('client', ['ip', '-6', 'neigh', 'show', ll, 'dev', `${t.prefix}-c0`]).stdout, new RegExp(`lladdr ${mac('clients')}`));
  });

  test('an address the director owns is answered while it owns it, and not after', async () => {
    poke(t, 'client', LOCAL6);  // the client resolves it; nothing answers the datagram
    await sleep(300);
    assert.match(clientNeigh(LOCAL6), new RegExp(`lladdr ${mac('clients')}`));
    await dir.request('setVipOwner', false);
    t.exec('client', ['ip', '-6', 'neigh', 'flush', 'dev', `${t.prefix}-c0`]);
    poke(t, 'client', LOCAL6);
    await sleep(1500);
    assert.doesNotMatch(clientNeigh(LOCAL6), /lladdr/);
    // The port's own address is the director's whatever it owns.
    assert.equal((await toDirectorKernel(t, 'client', PORT_C, 2224)).stdout.trim(), 'director');
  });

  test('taking over announces the owned addresses with an unsolicited, overriding advertisement', async () => {
    const text = await capture(async () => { await dir.request('setVipOwner', true); });
    const nas = advertised(text, LOCAL6);
    assert.ok(nas.length >= 1, text);
    assert.match(nas[0], /ff02::1/);
    assert.match(nas[0], /Flags \[override\]/);
    assert.match(nas[0], new RegExp(mac('clients')));
    // And solicitations for it are answered again.
    t.exec('client', ['ip', '-6', 'neigh', 'flush', 'dev', `${t.prefix}-c0`]);
    poke(t, 'client', LOCAL6);
    await sleep(300);
    assert.match(clientNeigh(LOCAL6), new RegExp(`lladdr ${mac('clients')}`));
    const st = await dir.stats();
    assert.ok((st.events.nd_unsolicited_na ?? 0) >= 1);
  });

  test('a new IPv6 VIP is announced at once and answered while owned, not while the peer owns it', async () => {
    const VIP6 = '2001:db8:18::100';
    const svc = { protocol: 'tcp', address: VIP6, port: 80, scheduler: 'rr',
      realServers: [{ address: SRV1, port: 8080, method: 'nat' }] } as ServiceConfig;
    const text = await capture(async () => { await dir.apply({ ...cfg, services: [svc] }); });
    try {
      assert.equal(advertised(text, VIP6).length, 1, text);
      t.exec('client', ['ip', '-6', 'neigh', 'flush', 'dev', `${t.prefix}-c0`]);
      poke(t, 'client', VIP6);
      await sleep(300);
      assert.match(clientNeigh(VIP6), new RegExp(`lladdr ${mac('clients')}`));
      await dir.request('setVipOwner', false);
      t.exec('client', ['ip', '-6', 'neigh', 'flush', 'dev', `${t.prefix}-c0`]);
      poke(t, 'client', VIP6);
      await sleep(1500);
      assert.doesNotMatch(clientNeigh(VIP6), /lladdr/);
    } finally {
      await dir.request('setVipOwner', true);
      await dir.apply(cfg);
    }
  });

  test('a floating IPv6 address (the NAT servers\' gateway) is answered on its port while owned, and announced on takeover', async () => {
    const srvNeigh = () => t.exec('srv1', ['ip', '-6', 'neigh', 'show', FLOAT6]).stdout;
    poke(t, 'srv1', FLOAT6);
    await sleep(300);
    assert.match(srvNeigh(), new RegExp(`lladdr ${mac('servers')}`));
    // only on its own port: a solicitation for it on the clients' link is not answered
    const other = await capture(async () => { solicitFromClient(t, FLOAT6, 255); });
    assert.deepEqual(advertised(other, FLOAT6), [], other);
    await dir.request('setVipOwner', false);
    try {
      t.exec('srv1', ['ip', '-6', 'neigh', 'flush', 'dev', `${t.prefix}-s1`]);
      poke(t, 'srv1', FLOAT6);
      await sleep(1500);
      assert.doesNotMatch(srvNeigh(), /lladdr/, 'a backup does not answer for the floating address');
    } finally {
      const text = await capture(async () => { await dir.request('setVipOwner', true); }, 'srv1', `${t.prefix}-s1`);
      const nas = advertised(text, FLOAT6);
      assert.ok(nas.length >= 1, text);
      assert.match(nas[0], /Flags \[override\]/);
      assert.match(nas[0], new RegExp(mac('servers')));
    }
  });

  test('IPv6 NAT end to end: the director resolves the real server with a solicitation and forwards (Transmit6)', async () => {
    const VIP6 = '2001:db8:18::101';
    const svc = { protocol: 'tcp', address: VIP6, port: 80, scheduler: 'rr',
      realServers: [{ address: SRV1, port: 8083, method: 'nat' }] } as ServiceConfig;
    await dir.apply({ ...cfg, services: [svc] });
    const srv = t.background('srv1', ['timeout', '15', 'socat', `TCP6-LISTEN:8083,bind=[${SRV1}],reuseaddr,fork`, 'SYSTEM:echo srv1']);
    try {
      for (let i = 0; i < 50 && !t.exec('srv1', ['ss', '-ltn', 'sport = :8083']).stdout.includes(':8083'); i++) await sleep(100);
      t.exec('srv1', ['ip', '-6', 'neigh', 'flush', 'all']);
      const before = await dir.stats();
      const answers = [1, 2, 3].map(() => t.exec('client', ['socat', '-T', '3', '-', `TCP6:[${VIP6}]:80`], { input: '' }).stdout.trim());
      assert.deepEqual(answers, ['srv1', 'srv1', 'srv1']);
      const st = await dir.stats();
      assert.ok((st.events.nd_ns_out ?? 0) > (before.events.nd_ns_out ?? 0) || (await neighbours()).some((n) => n.address === SRV1),
        'the director solicited the real server (or knew it already)');
      const n = (await neighbours()).find((x) => x.address === SRV1);
      assert.ok(n && n.state === 'REACHABLE' && n.port === 'servers', JSON.stringify(await neighbours()));
      assert.equal(st.drops.no_route6 ?? 0, 0);
      // The IPv6 table is connTable6Size's, and its entries are reported as their share.
      const w = st.workers[0];
      assert.equal(w.conn6Capacity, 8192);
      assert.equal(w.connections6, 3, 'three IPv6 connections (in TIME_WAIT)');
      assert.ok(w.connections >= w.connections6 && w.connCapacity === 65536 + 8192, JSON.stringify(w));
      assert.deepEqual([w.halfOpen6, w.halfOpen6Budget], [0, 2048], 'its own half-open count and budget (a quarter)');
    } finally {
      srv.kill();
      await dir.apply(cfg);
    }
  });

  test('IPv6 FullNAT: the real server sees the director\'s IPv6 local address, and the reply finds its way back', async () => {
    const VIP6 = '2001:db8:18::103';
    const svc = { protocol: 'tcp', address: VIP6, port: 80, scheduler: 'rr',
      realServers: [{ address: SRV1, port: 8085, method: 'fullnat' }] } as ServiceConfig;
    await dir.apply({ ...cfg, services: [svc] });
    const srv = t.background('srv1', ['timeout', '15', 'socat', `TCP6-LISTEN:8085,bind=[${SRV1}],reuseaddr,fork`, 'SYSTEM:echo peer $SOCAT_PEERADDR']);
    try {
      for (let i = 0; i < 50 && !t.exec('srv1', ['ss', '-ltn', 'sport = :8085']).stdout.includes(':8085'); i++) await sleep(100);
      const r = t.exec('client', ['socat', '-T', '3', '-', `TCP6:[${VIP6}]:80`], { input: '' });
      const peer = /peer \[?([0-9a-fA-F:]+)\]?/.exec(r.stdout)?.[1];  // socat writes it in full
      assert.ok(peer !== undefined && ipv6Value(peer) === ipv6Value(LOCAL6), r.stdout + r.stderr);
    } finally {
      srv.kill();
      await dir.apply(cfg);
    }
  });

  test('a packet to an IPv6 destination without a route is counted (no_route6)', async () => {
    const VIP6 = '2001:db8:18::102';
    const svc = { protocol: 'tcp', address: VIP6, port: 80, scheduler: 'rr',
      realServers: [{ address: '2001:db8:99::1', port: 80, method: 'nat' }] } as ServiceConfig;
    await dir.apply({ ...cfg, services: [svc] });
    try {
      const before = await dir.stats();
      t.exec('client', ['socat', '-T', '1', '-', `TCP6:[${VIP6}]:80,connect-timeout=1`], { input: '' });
      const st = await dir.stats();
      assert.ok((st.drops.no_route6 ?? 0) > (before.drops.no_route6 ?? 0), JSON.stringify(st.drops));
    } finally {
      await dir.apply(cfg);
    }
  });

  test('the director learns a real server\'s IPv6 address from its solicitation and lists it', async () => {
    t.exec('srv1', ['ip', '-6', 'neigh', 'flush', 'all']);
    const r = await toDirectorKernel(t, 'srv1', PORT_S, 2225);
    assert.equal(r.stdout.trim(), 'director', r.stderr);
    const srvMac = t.exec('srv1', ['cat', `/sys/class/net/${t.prefix}-s1/address`]).stdout.trim();
    const n = (await neighbours()).find((x) => x.address === SRV1);
    assert.ok(n, JSON.stringify(await neighbours()));
    assert.equal(n.family, 6);
    assert.equal(n.mac, srvMac);
    assert.equal(n.port, 'servers');
    assert.ok(['REACHABLE', 'STALE'].includes(n.state), n.state);
  });

  test('the director\'s own traffic (a health check) reaches a real server over IPv6 through its TAP', async () => {
    const srv = t.background('srv1', ['timeout', '10', 'socat', `TCP6-LISTEN:8081,bind=[${SRV1}],reuseaddr,fork`, 'SYSTEM:echo srv1']);
    for (let i = 0; i < 50 && !t.exec('srv1', ['ss', '-ltn', 'sport = :8081']).stdout.includes(':8081'); i++) await sleep(100);
    const r = t.exec('dir', ['socat', '-T', '3', '-', `TCP6:[${SRV1}]:8081`], { input: '' });
    assert.equal(r.stdout.trim(), 'srv1', r.stderr);
    // The health monitor's own TCP_CHECK, with its rule that checks leave through a port's TAP.
    const taps = cfg.dataplane.ports.map((p) => p.tap as string);
    const c = await dir.request<{ refusal?: string; check?: { ok: boolean; detail: string } }>('checkTcp', { address: SRV1, port: 8081, taps });
    srv.kill();
    assert.equal(c.refusal, undefined);
    assert.deepEqual(c.check, { ok: true, detail: `connected to [${SRV1}]:8081` });
    const closed = await dir.request<{ check?: { ok: boolean; detail: string } }>('checkTcp', { address: SRV1, port: 8082, taps });
    assert.equal(closed.check?.ok, false);
    assert.match(closed.check!.detail, /ECONNREFUSED/);
  });

  test('a solicitation with a hop limit other than 255 is counted and dropped, unanswered', async () => {
    const before = await dir.stats();
    const r = solicitFromClient(t, PORT_C, 64);
    assert.equal(r.status, 0, r.stderr);
    await sleep(300);
    const st = await dir.stats();
    assert.equal((st.drops.nd_bad ?? 0) - (before.drops.nd_bad ?? 0), 1);
    assert.equal(st.events.nd_na_out ?? 0, before.events.nd_na_out ?? 0);
  });

  test('router advertisements are ignored unless acceptRa is set (counted)', async () => {
    const before = await dir.stats();
    assert.equal(advertiseRouter(t).status, 0);
    await sleep(300);
    const st = await dir.stats();
    assert.equal((st.drops.nd_ra_ignored ?? 0) - (before.drops.nd_ra_ignored ?? 0), 1);
  });
});

/** A solicitation for `target` from the client's address `src`, with its MAC as the source
 * link-layer option, as a host resolving the director would send it. */
function solicitFrom(t: Topology, src: string, target: string, clientMac: string) {
  const py = `
import socket
ifx = socket.if_nametoindex('${t.prefix}-c0')
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.bind(('${src}', 0, 0, ifx))
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifx)
t = socket.inet_pton(socket.AF_INET6, '${target}')
msg = bytes([135, 0, 0, 0, 0, 0, 0, 0]) + t + bytes([1, 1]) + bytes.fromhex('${clientMac.replace(/:/g, '')}')
s.sendto(msg, ('ff02::1:ff' + t[13:14].hex() + ':' + t[14:16].hex(), 0, 0, ifx))
`;
  return t.exec('client', ['python3', '-c', py]);
}

describe('IPv6 neighbours with two workers, and router advertisements taken (acceptRa)', { skip }, () => {
  const t = new Topology('fv6w', 1);
  const dir = new DirectorProcess();
  const sources = Array.from({ length: 8 }, (_, i) => `2001:db8:18::${(0x10 + i).toString(16)}`);
  let clientMac = '';
  let cfg: FulcrumConfig;

  before(async () => {
    t.up();
    const a6 = addIpv6(t, 1);
    for (const a of sources) t.exec('client', ['ip', '-6', 'addr', 'add', `${a}/64`, 'dev', `${t.prefix}-c0`, 'nodad']);
    clientMac = t.exec('client', ['cat', `/sys/class/net/${t.prefix}-c0/address`]).stdout.trim();
    cfg = configFor(t, { workers: [0, 1], qpairs: 2, services: [] });
    cfg.dataplane.ports[0].address6 = a6.clients;
    cfg.dataplane.ports[1].address6 = a6.servers;
    cfg.dataplane.acceptRa = true;
    await dir.start(t, cfg);
  });
  after(async () => {
    await dir.stop();
    t.down();
  });

  test('what either worker learns from solicitations is in every worker\'s table (the listing is worker 0\'s)', async () => {
    for (const a of sources) assert.equal(solicitFrom(t, a, PORT_C, clientMac).status, 0);
    await sleep(500);
    const st = await dir.stats();
    assert.equal(st.events.nd_na_out, sources.length, 'each solicitation answered once');
    const listed = (await dir.request<{ neighbours: NeighbourInfo[] }>('neighbours')).neighbours;
    for (const a of sources)
      assert.ok(listed.some((n) => n.address === a && n.mac === clientMac && n.port === 'clients'), `${a}: ${JSON.stringify(listed)}`);
  });

  test('a router advertisement is taken: counted, and its router (link-local, from its option) listed', async () => {
    const py = `
import socket
ifx = socket.if_nametoindex('${t.prefix}-c0')
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifx)
msg = bytes([134, 0, 0, 0, 64, 0, 0x07, 0x08]) + bytes(8) + bytes([1, 1]) + bytes.fromhex('${clientMac.replace(/:/g, '')}')
s.sendto(msg, ('ff02::1', 0, 0, ifx))
`;
    assert.equal(t.exec('client', ['python3', '-c', py]).status, 0);
    await sleep(300);
    const st = await dir.stats();
    assert.equal(st.events.nd_ra_accepted, 1);
    assert.equal(st.drops.nd_ra_ignored ?? 0, 0);
    const listed = (await dir.request<{ neighbours: NeighbourInfo[] }>('neighbours')).neighbours;
    assert.ok(listed.some((n) => n.address === linkLocal(clientMac) && n.mac === clientMac), JSON.stringify(listed));
  });

  test('IPv6 NAT with two workers: every connection is answered, replies reaching either worker', async () => {
    const VIP6 = '2001:db8:18::100';
    const svc = { protocol: 'tcp', address: VIP6, port: 80, scheduler: 'rr',
      realServers: [{ address: SRV1, port: 8084, method: 'nat' }] } as ServiceConfig;
    await dir.apply({ ...cfg, services: [svc] });
    const srv = t.background('srv1', ['timeout', '30', 'socat', `TCP6-LISTEN:8084,bind=[${SRV1}],reuseaddr,fork`, 'SYSTEM:echo srv1']);
    try {
      for (let i = 0; i < 50 && !t.exec('srv1', ['ss', '-ltn', 'sport = :8084']).stdout.includes(':8084'); i++) await sleep(100);
      const answers = Array.from({ length: 24 }, (_, i) =>
        t.exec('client', ['socat', '-T', '3', '-', `TCP6:[${VIP6}]:80,bind=[${sources[i % sources.length]}]`], { input: '' }).stdout.trim());
      assert.deepEqual(answers, Array(24).fill('srv1'));
      const st = await dir.stats();
      assert.equal(st.drops.handover_full ?? 0, 0);
      assert.ok(st.workers.every((w) => w.counters.conns > 0), 'both workers own IPv6 connections');
      assert.ok((st.events.handed_over ?? 0) > 0, 'packets that reached the other worker were handed to the owner');
    } finally {
      srv.kill();
      await dir.apply(cfg);
    }
  });
});
