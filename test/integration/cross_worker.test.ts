// Scheduling across workers: with two workers the director still makes the kernel's choices,
// because real servers' counts, thresholds, overload, the rr cursor and persistent clients'
// ties are director-wide.
// Real servers A, B, C (weights 3, 2, 1, added in that order) hold every connection open; the
// client opens connections one at a time from source ports chosen so that they alternate
// between the two workers (the steering hash, computed here as the dataplane does), and each
// case checks the kernel's outcome and that both workers really took half.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ServiceConfig } from '../../src/control/config_schema';
import { addIpv6, cannotRun, configFor, DirectorProcess, Topology, V6 } from './harness';

const skip = cannotRun();
const VIP = '198.18.0.100';
const PORT = 7100;
const CLIENT = '198.18.0.2';

/** The worker of n that owns a client's connection (native/dpdk/steer.h owner_of_client): the
 * address and port as the packet carries them, read as little-endian integers. */
function ownerOf(ip: string, port: number, n: number): number {
  const [a, b, c, d] = ip.split('.').map(Number);
  const ipLe = BigInt((a | (b << 8) | (c << 16) | (d << 24)) >>> 0);
  const portLe = BigInt(((port >> 8) | ((port & 0xff) << 8)) & 0xffff);
  const h = (((ipLe << 16n) ^ portLe) * 0x9e3779b97f4a7c15n) & 0xffffffffffffffffn;
  return Number(((h >> 32n) * BigInt(n)) >> 32n);
}

/** count source ports from `from` on, alternating worker 0, 1, 0, 1 ... */
function alternatingPorts(from: number, count: number): number[] {
  const out: number[] = [];
  for (let p = from; out.length < count; p++) if (ownerOf(CLIENT, p, 2) === out.length % 2) out.push(p);
  return out;
}

// Opens one connection per source port, one at a time, reading the server's name (or '-' when
// refused); every `closeEvery`-th is closed again, the rest are held until the script exits.
const CLIENT_SCRIPT = `
import json, socket, sys
vip, vport, close_every = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
held, names = [], []
for i, p in enumerate(json.loads(sys.argv[4])):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('0.0.0.0', p))
    s.settimeout(3)
    try:
        s.connect((vip, vport))
        names.append(s.makefile().readline().strip())
    except OSError:
        names.append('-')
    if close_every and i % close_every == close_every - 1:
        s.close()
    else:
        held.append(s)
print(json.dumps(names), flush=True)
`;

const abc = (scheduler: string, thresholds: [number, number] = [0, 0]): ServiceConfig => ({
  protocol: 'tcp', address: VIP, port: PORT, scheduler: scheduler as ServiceConfig['scheduler'],
  realServers: [3, 2, 1].map((weight, i) => ({ address: `198.19.0.${11 + i}`, port: PORT, method: 'nat' as const, weight,
    ...(thresholds[i] ? { upperThreshold: thresholds[i] } : {}) })),
});

describe('two workers schedule as one director', { skip }, () => {
  const t = new Topology('fix', 3);
  const dir = new DirectorProcess();
  let nextPort = 21000;
  const cfg = (svc: ServiceConfig) => configFor(t, { workers: [0, 1], qpairs: 2, services: [svc] });

  before(async () => {
    t.up();
    for (let i = 1; i <= 3; i++)
      t.background(`srv${i}`, ['timeout', '120', 'socat', `TCP-LISTEN:${PORT},fork,reuseaddr`, `SYSTEM:echo srv${i}; sleep 60`]);
    await dir.start(t, cfg(abc('rr')));
    for (let i = 0; i < 50 && !t.exec('srv3', ['ss', '-ltn', `sport = :${PORT}`]).stdout.includes(`:${PORT}`); i++) await sleep(100);
  });
  after(async () => {
    await dir.stop();
    t.down();
  });

  /** Runs one case: the service as given, n connections; the servers' names in order, each
   * server's ActiveConn + InActConn as the director lists them, and each worker's new connections. */
  async function run(svc: ServiceConfig, n: number, closeEvery = 0) {
    await dir.request('flush');
    await dir.apply(cfg(svc));
    const base = (await dir.stats()).workers.map((w) => w.counters.conns);
    const ports = alternatingPorts(nextPort, n);
    nextPort = ports[n - 1] + 1;
    const r = t.exec('client', ['python3', '-c', CLIENT_SCRIPT, VIP, String(PORT), String(closeEvery), JSON.stringify(ports)],
      { timeout: 60000 });
    assert.equal(r.status, 0, r.stderr);
    const names: string[] = JSON.parse(r.stdout);
    const view = (await dir.services()).find((s) => s.port === PORT)!;
    const held = Object.fromEntries(view.dests.map((d) => [`srv${Number(d.address.split('.')[3]) - 10}`, d.activeConns + d.inactConns]));
    const persistConns = view.dests.reduce((sum, d) => sum + d.persistConns, 0);
    const perWorker = (await dir.stats()).workers.map((w, i) => w.counters.conns - base[i]);
    const tally: Record<string, number> = {};
    for (const x of names) tally[x] = (tally[x] ?? 0) + 1;
    return { names, tally, held, perWorker, persistConns };
  }

  test('fo: A holds its 4 (-x 4), then B takes the rest', async () => {
    const r = await run(abc('fo', [4, 0]), 12);
    assert.deepEqual(r.tally, { srv1: 4, srv2: 8 }, JSON.stringify(r));
    assert.equal(r.held.srv1, 4);
    assert.deepEqual(r.perWorker, [6, 6], 'the connections alternated between the workers');
  });

  test('wlc: no server holds more than its -x (active + inactive) while every third connection closes', async () => {
    const r = await run(abc('wlc', [4, 3]), 12, 3);
    assert.ok(r.held.srv1 <= 4 && r.held.srv2 <= 3, JSON.stringify(r));
    assert.equal(r.held.srv1 + r.held.srv2 + r.held.srv3, 12, 'closed connections still count until they expire');
    assert.deepEqual(r.perWorker, [6, 6]);
  });

  test('ovf: A 4, B 3, C 2 on director-wide active counts, then the rest are refused', async () => {
    const r = await run(abc('ovf'), 12);
    assert.deepEqual(r.tally, { srv1: 4, srv2: 3, srv3: 2, '-': 3 }, JSON.stringify(r));
    assert.deepEqual(r.perWorker.reduce((a, b) => a + b), 9);
  });

  test('rr walks the kernel\'s one cycle (newest first) across both workers', async () => {
    const r = await run(abc('rr'), 24);
    assert.deepEqual(r.names, Array.from({ length: 24 }, (_, i) => `srv${3 - (i % 3)}`), JSON.stringify(r));
    assert.deepEqual(r.perWorker, [12, 12]);
  });

  test('lc shares connections 8 / 8 / 8', async () => {
    const r = await run(abc('lc'), 24);
    assert.deepEqual(r.tally, { srv1: 8, srv2: 8, srv3: 8 }, JSON.stringify(r));
    assert.deepEqual(r.perWorker, [12, 12]);
  });

  test('persistence: every connection of a client reaches one real server, whichever worker owns it', async () => {
    const r = await run({ ...abc('rr'), persistence: { timeout: 300 } }, 12);
    assert.equal(Object.keys(r.tally).length, 1, JSON.stringify(r));
    assert.deepEqual(r.perWorker, [6, 6]);
    assert.equal(r.persistConns, 1, 'one client, one template (PersistConn), as the kernel counts it');
  });
});

/** ownerOf for an IPv6 client: steer.h's fold_v6 (the four words XORed, read little-endian). */
function ownerOf6(ip: string, port: number, n: number): number {
  const b = Buffer.alloc(16);
  const [head, tail = ''] = ip.split('::');
  const hs = head ? head.split(':') : [], ts = tail ? tail.split(':') : [];
  [...hs, ...Array(8 - hs.length - ts.length).fill('0'), ...ts].forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), 2 * i));
  const w = b.readUInt32LE(0) ^ b.readUInt32LE(4) ^ b.readUInt32LE(8) ^ b.readUInt32LE(12);
  const portLe = BigInt(((port >> 8) | ((port & 0xff) << 8)) & 0xffff);
  const h = (((BigInt(w >>> 0) << 16n) ^ portLe) * 0x9e3779b97f4a7c15n) & 0xffffffffffffffffn;
  return Number(((h >> 32n) * BigInt(n)) >> 32n);
}

describe('two workers tie an IPv6 client prefix to one real server', { skip }, () => {
  const VIP6 = '2001:db8:18::100';
  // Four clients in the client link's /64.
  const CLIENTS6 = [V6.client, '2001:db8:18::3', '2001:db8:18:0:ffff::4', '2001:db8:18::5'];
  const t = new Topology('fix6', 3);
  const dir = new DirectorProcess();

  before(async () => {
    t.up();
    const a6 = addIpv6(t, 3);
    for (const a of CLIENTS6.slice(1)) t.exec('client', ['ip', '-6', 'addr', 'add', `${a}/64`, 'dev', `${t.prefix}-c0`, 'nodad']);
    for (let i = 1; i <= 3; i++)
      t.background(`srv${i}`, ['timeout', '120', 'socat', `TCP6-LISTEN:${PORT},fork,reuseaddr`, `SYSTEM:echo srv${i}; sleep 60`]);
    const svc: ServiceConfig = { protocol: 'tcp', address: VIP6, port: PORT, scheduler: 'rr', persistence: { timeout: 300, netmask: 64 },
      realServers: [3, 2, 1].map((weight, i) => ({ address: V6.server(i + 1), port: PORT, method: 'nat' as const, weight })) };
    const cfg = configFor(t, { workers: [0, 1], qpairs: 2, services: [svc] });
    cfg.dataplane.ports[0].address6 = a6.clients;
    cfg.dataplane.ports[1].address6 = a6.servers;
    await dir.start(t, cfg);
    for (let i = 0; i < 50 && !t.exec('srv3', ['ss', '-ltn', `sport = :${PORT}`]).stdout.includes(`:${PORT}`); i++) await sleep(100);
  });
  after(async () => {
    await dir.stop();
    t.down();
  });

  test('every connection from the /64 reaches one real server, whichever client address and worker', async () => {
    // 12 connections, one at a time, from the four addresses in turn, alternating workers.
    const pairs: [string, number][] = [];
    for (let p = 23000; pairs.length < 12; p++) {
      const a = CLIENTS6[pairs.length % CLIENTS6.length];
      if (ownerOf6(a, p, 2) === pairs.length % 2) pairs.push([a, p]);
    }
    const script = `
import json, socket, sys
held, names = [], []
for a, p in json.loads(sys.argv[1]):
    s = socket.socket(socket.AF_INET6)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((a, p))
    s.settimeout(3)
    try:
        s.connect(('${VIP6}', ${PORT}))
        names.append(s.makefile().readline().strip())
    except OSError:
        names.append('-')
    held.append(s)
print(json.dumps(names), flush=True)
`;
    const base = (await dir.stats()).workers.map((w) => w.counters.conns);
    const r = t.exec('client', ['python3', '-c', script, JSON.stringify(pairs)], { timeout: 60000 });
    assert.equal(r.status, 0, r.stderr);
    const names: string[] = JSON.parse(r.stdout);
    const perWorker = (await dir.stats()).workers.map((w, i) => w.counters.conns - base[i]);
    const view = (await dir.services()).find((s) => s.port === PORT)!;
    const persistConns = view.dests.reduce((sum, d) => sum + d.persistConns, 0);
    assert.equal(new Set(names).size, 1, JSON.stringify(names));
    assert.notEqual(names[0], '-', JSON.stringify(names));
    assert.deepEqual(perWorker, [6, 6], 'both workers owned half of them');
    assert.equal(persistConns, 1, 'one prefix, one template (PersistConn), as the kernel counts it');
  });
});
