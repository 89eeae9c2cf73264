// A SYN flood against the real director (DPDK on af_packet over veth, a 4096-entry table) while
// a client keeps opening connections and downloading: the flood's half-open entries are held to
// the budget and evicted oldest first, so the client is served and established connections keep
// their entries. The flood comes from the client's own namespace with spoofed sources in
// 198.18.128.0/17; the director routes their SYN-ACKs back there, where they are dropped.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FulcrumConfig, ServiceConfig } from '../../src/control/config_schema';
import type { DataplaneStats } from '../../src/native';
import { addIpv6, cannotRun, configFor, DirectorProcess, tmpFile, Topology, V6 } from './harness';

const skip = cannotRun();
const VIP = '198.18.0.100';
const TABLE = 4096;
const BODY = 256 * 1024;
const REQUESTS = 200;

/** Runs a command in a namespace without blocking the event loop; its stdout when it ends. */
function runAsync(t: Topology, node: string, cmd: string[]): { done: Promise<{ code: number | null; out: string; err: string }>; kill: (s?: NodeJS.Signals) => void; running: () => boolean } {
  const c = spawn('ip', ['netns', 'exec', t.ns(node), ...cmd]);
  let out = '', err = '';
  c.stdout.on('data', (d: Buffer) => { out += d; });
  c.stderr.on('data', (d: Buffer) => { err += d; });
  const done = new Promise<{ code: number | null; out: string; err: string }>((r) => c.once('exit', (code) => r({ code, out, err })));
  return { done, kill: (s = 'SIGTERM') => c.kill(s), running: () => c.exitCode === null && c.signalCode === null };
}

/** Writes BODY random bytes to `payload` and has srv1 and srv2 serve them on :8081 (the
 * topology's own servers answer a name), over IPv4, or with `v6` over IPv6 and IPv4 both;
 * resolves once both answer. */
async function servePayload(t: Topology, payload: string, v6 = false): Promise<void> {
  fs.writeFileSync(payload, crypto.randomBytes(BODY));
  const serve = `const b = require('fs').readFileSync(process.argv[1]);
    require('http').createServer((q, r) => r.end(b)).listen(8081, process.argv[2]);`;
  for (const s of ['srv1', 'srv2']) t.background(s, ['timeout', '300', 'node', '-e', serve, payload, v6 ? '::' : '0.0.0.0']);
  const at = v6 ? [['srv1', `[${V6.server(1)}]`], ['srv2', `[${V6.server(2)}]`]] : [['srv1', '198.19.0.11'], ['srv2', '198.19.0.12']];
  for (const s of at)
    for (let i = 0; i < 50 && t.exec(s[0], ['curl', '-gs', '-o', '/dev/null', `http://${s[1]}:8081/`]).status !== 0; i++) await sleep(100);
}

describe('a SYN flood of many times the table', { skip }, () => {
  const t = new Topology('fsyn', 2);
  const dir = new DirectorProcess();
  const payload = tmpFile('payload.bin');
  let cfg: FulcrumConfig;
  let svc: ServiceConfig;

  before(async () => {
    t.up();
    await servePayload(t, payload);
    svc = { protocol: 'tcp', address: VIP, port: 80, scheduler: 'wlc',
      realServers: ['198.19.0.11', '198.19.0.12'].map((address) => ({ address, port: 8081, method: 'nat' as const })) };
    cfg = configFor(t, { services: [svc], localAddresses: ['198.19.0.200'] });  // FullNAT's, for the last test
    cfg.dataplane.connTableSize = TABLE;
    // The flood's sources: their SYN-ACKs go back to the client's namespace, which drops them.
    cfg.dataplane.routes = [{ prefix: '198.18.128.0/17', via: '198.18.0.2' }];
    await dir.start(t, cfg);
  });
  after(async () => {
    await dir.stop();
    t.down();
  });

  test('≥ 99% of a client\'s downloads succeed, half-open entries stay within the budget, evictions and drops are counted', async () => {
    const mac = dir.ports.find((p) => p.name === 'clients')!.mac;
    const py = path.join(__dirname, '../../../test/integration/syn_flood.py');
    // A slow download (about 5 s at 50 kB/s) established before the flood and still running in it.
    const slowFile = tmpFile('slow.bin');
    const slow = runAsync(t, 'client', ['curl', '-sS', '-m', '30', '--limit-rate', '50k', '-o', slowFile, '-H', 'Connection: close', `http://${VIP}/slow`]);
    for (let i = 0; i < 50 && !(await dir.request<{ state: string }[]>('connections')).some((c) => c.state === 'ESTABLISHED'); i++) await sleep(100);
    // 50,000 SYNs a second (12 times the table a second; the flood was 62,000/s), for
    // 90 s or 5M SYNs at most; stopped as soon as the client is done.
    const flood = runAsync(t, 'client', ['python3', py, 'fsyn-c0', mac, VIP, '80', '5000000', '90', '50000']);
    const samples: DataplaneStats['workers'][number][] = [];
    const sample = async () => { samples.push((await dir.stats()).workers[0]); };
    // The flood has filled the budget before the client starts.
    for (let i = 0; i < 100 && !(samples.length && samples[samples.length - 1].halfOpen === samples[samples.length - 1].halfOpenBudget); i++) {
      await sleep(100);
      await sample();
    }
    const budget = samples[samples.length - 1].halfOpenBudget;
    assert.equal(budget, TABLE / 4, 'the default budget: a quarter of the table');
    assert.equal(samples[samples.length - 1].halfOpen, budget, `the flood filled the budget: ${JSON.stringify(samples.slice(-3))}`);
    const before = await dir.stats();

    const t0 = Date.now();
    const client = runAsync(t, 'client', ['curl', '-sS', '-m', '5', '-o', '/dev/null', '-H', 'Connection: close',
      '-w', '%{http_code} %{size_download}\\n', `http://${VIP}/[1-${REQUESTS}]`]);
    let clientDone = false;
    void client.done.then(() => { clientDone = true; });
    while (!clientDone) {  // bounded by curl's -m 5 per request
      await sample();
      await sleep(200);
    }
    const { out, err } = await client.done;
    const seconds = (Date.now() - t0) / 1000;
    const floodLasted = flood.running();
    flood.kill();
    const sent = JSON.parse((await flood.done).out) as { sent: number; seconds: number };
    const st = await dir.stats();
    const slowDone = await slow.done;
    const ports = await dir.request<{ name: string; stats: { imissed: number; ipackets: number } }[]>('ports');

    const ok = out.split('\n').filter((l) => l === `200 ${BODY}`).length;
    const evicted = (st.events.half_open_evicted ?? 0) - (before.events.half_open_evicted ?? 0);
    console.log(`# ${ok}/${REQUESTS} downloads in ${seconds.toFixed(1)} s under ${sent.sent} SYNs in ${sent.seconds} s ` +
      `(${Math.round(sent.sent / sent.seconds)}/s offered); ${evicted} evicted while the client ran ` +
      `(${Math.round(evicted / seconds)}/s absorbed); drops ${JSON.stringify(st.drops)}; ` +
      `client port rx ${ports[0].stats.ipackets}, missed ${ports[0].stats.imissed}`);
    assert.ok(floodLasted, 'the flood went on for the whole client run');
    assert.ok(ok >= 0.99 * REQUESTS, `${ok} of ${REQUESTS} downloads succeeded: ${err.slice(0, 500)}`);
    assert.ok(samples.every((w) => w.halfOpen <= w.halfOpenBudget), `half-open over the budget: ${JSON.stringify(samples.filter((w) => w.halfOpen > w.halfOpenBudget))}`);
    assert.ok(sent.sent >= 5 * TABLE, `the flood offered ${sent.sent} SYNs, several times the table`);
    assert.ok(evicted >= TABLE, `half-open entries were evicted: ${evicted}`);
    // No new connection was refused for want of room, and the flood's SYN-ACKs (to sources the
    // client's namespace drops) and any packets of evicted entries are counted by reason.
    assert.equal(st.drops.table_full ?? 0, 0, JSON.stringify(st.drops));
    assert.ok(st.workers[0].connections <= TABLE);
    assert.equal(slowDone.code, 0, `the connection established before the flood: ${slowDone.err}`);
    assert.ok(fs.readFileSync(slowFile).equals(fs.readFileSync(payload)), 'it got the whole body, byte for byte');
  });

  test('with the SYN proxy: downloads are byte-exact, and the flood costs no table entry while ≥ 99% of downloads succeed', async () => {
    await dir.apply({ ...cfg, services: [{ ...svc, synproxy: true }] });
    await dir.request('flush');
    // Byte for byte through the proxied handshake and the shifted sequence numbers.
    const out = path.dirname(tmpFile('x'));
    const r = t.exec('client', ['curl', '-sS', '-m', '5', '-H', 'Connection: close', '-o', `${out}/f#1`, `http://${VIP}/[1-20]`], { timeout: 120000 });
    assert.equal(r.status, 0, r.stderr);
    const want = fs.readFileSync(payload);
    for (let i = 1; i <= 20; i++) assert.ok(fs.readFileSync(`${out}/f${i}`).equals(want), `download ${i} is byte-exact`);
    const before = await dir.stats();
    assert.ok((before.events.synproxy_joined ?? 0) >= 20, JSON.stringify(before.events));

    const mac = dir.ports.find((p) => p.name === 'clients')!.mac;
    const py = path.join(__dirname, '../../../test/integration/syn_flood.py');
    const flood = runAsync(t, 'client', ['python3', py, 'fsyn-c0', mac, VIP, '80', '5000000', '90', '50000']);
    // The flood is under way (the director has answered thousands of it) before the client starts.
    for (let i = 0; i < 100 && ((await dir.stats()).events.synproxy_syn_ack ?? 0) - (before.events.synproxy_syn_ack ?? 0) < 10000; i++)
      await sleep(100);
    const samples: DataplaneStats['workers'][number][] = [];
    const t0 = Date.now();
    const client = runAsync(t, 'client', ['curl', '-sS', '-m', '5', '-o', '/dev/null', '-H', 'Connection: close',
      '-w', '%{http_code} %{size_download}\\n', `http://${VIP}/[1-${REQUESTS}]`]);
    let clientDone = false;
    void client.done.then(() => { clientDone = true; });
    while (!clientDone) {
      samples.push((await dir.stats()).workers[0]);
      await sleep(200);
    }
    const { out: lines, err } = await client.done;
    const seconds = (Date.now() - t0) / 1000;
    const floodLasted = flood.running();
    flood.kill();
    const sent = JSON.parse((await flood.done).out) as { sent: number; seconds: number };
    const st = await dir.stats();
    const ok = lines.split('\n').filter((l) => l === `200 ${BODY}`).length;
    const answered = (st.events.synproxy_syn_ack ?? 0) - (before.events.synproxy_syn_ack ?? 0);
    console.log(`# synproxy: ${ok}/${REQUESTS} downloads in ${seconds.toFixed(1)} s under ${sent.sent} SYNs in ${sent.seconds} s; ` +
      `${answered} SYNs answered with cookies; most entries ${Math.max(...samples.map((w) => w.connections))}, ` +
      `most half-open ${Math.max(...samples.map((w) => w.halfOpen))}; drops ${JSON.stringify(st.drops)}; events ${JSON.stringify(st.events)}`);
    assert.ok(floodLasted, 'the flood went on for the whole client run');
    assert.ok(ok >= 0.99 * REQUESTS, `${ok} of ${REQUESTS} downloads succeeded: ${err.slice(0, 500)}`);
    assert.ok(sent.sent >= 5 * TABLE, `the flood offered ${sent.sent} SYNs, several times the table`);
    assert.ok(answered >= sent.sent / 2, `the flood's SYNs were answered by the director: ${answered} of ${sent.sent}`);
    // The table holds the client's own connections (and their TIME_WAIT), nothing of the flood.
    assert.ok(samples.every((w) => w.connections <= REQUESTS + 20), `entries: ${samples.map((w) => w.connections)}`);
    assert.ok(samples.every((w) => w.halfOpen <= 5), `half-open: ${samples.map((w) => w.halfOpen)}`);
    assert.equal((st.events.half_open_evicted ?? 0) - (before.events.half_open_evicted ?? 0), 0, 'nothing needed evicting');
  });

  test('with the SYN proxy and FullNAT real servers: downloads are byte-exact, from the local address', async () => {
    const fnat: ServiceConfig = { ...svc, synproxy: true, realServers: svc.realServers!.map((r) => ({ ...r, method: 'fullnat' as const })) };
    await dir.apply({ ...cfg, services: [fnat] });
    await dir.request('flush');
    const before = await dir.stats();
    const out = path.dirname(tmpFile('x'));
    const r = t.exec('client', ['curl', '-sS', '-m', '5', '-H', 'Connection: close', '-o', `${out}/f#1`, `http://${VIP}/[1-20]`], { timeout: 120000 });
    assert.equal(r.status, 0, r.stderr);
    const want = fs.readFileSync(payload);
    for (let i = 1; i <= 20; i++) assert.ok(fs.readFileSync(`${out}/f${i}`).equals(want), `download ${i} is byte-exact`);
    const st = await dir.stats();
    assert.equal((st.events.synproxy_joined ?? 0) - (before.events.synproxy_joined ?? 0), 20, JSON.stringify(st.events));
    assert.equal((st.events.toa_inserted ?? 0) - (before.events.toa_inserted ?? 0), 20, 'TOA rode on each completing ACK');
    const conns = await dir.request<{ localAddress?: string }[]>('connections');
    assert.ok(conns.length > 0 && conns.every((c) => c.localAddress === '198.19.0.200'), JSON.stringify(conns.slice(0, 3)));
  });
});

describe('the SYN proxy with two workers', { skip }, () => {
  const t = new Topology('fsy2', 2);
  const dir = new DirectorProcess();
  const payload = tmpFile('payload.bin');

  before(async () => {
    t.up();
    await servePayload(t, payload);
    const svc: ServiceConfig = { protocol: 'tcp', address: VIP, port: 80, scheduler: 'rr', synproxy: true,
      realServers: ['198.19.0.11', '198.19.0.12'].map((address) => ({ address, port: 8081, method: 'nat' as const })) };
    await dir.start(t, configFor(t, { workers: [0, 1], qpairs: 2, services: [svc] }));
  });
  after(async () => {
    await dir.stop();
    t.down();
  });

  test('every download is byte-exact whichever worker each packet of a proxied connection reaches', async () => {
    const out = path.dirname(tmpFile('x'));
    const r = t.exec('client', ['curl', '-sS', '-m', '5', '-H', 'Connection: close', '-o', `${out}/f#1`, `http://${VIP}/[1-40]`], { timeout: 240000 });
    assert.equal(r.status, 0, r.stderr);
    const want = fs.readFileSync(payload);
    for (let i = 1; i <= 40; i++) assert.ok(fs.readFileSync(`${out}/f${i}`).equals(want), `download ${i} is byte-exact`);
    const st = await dir.stats();
    assert.equal(st.events.synproxy_joined, 40, JSON.stringify(st.events));
    assert.ok(st.workers.every((w) => w.counters.conns > 0), `both workers own proxied connections: ${JSON.stringify(st.workers.map((w) => w.counters.conns))}`);
  });
});

// The same flood from IPv6 sources (2001:db8:8000::/33, random) against a SYN-proxied IPv6
// service: the director answers it with cookies over the 128-bit addresses and keeps no entry
// for it, while a client downloads over IPv6. Its SYN-ACKs are routed back to the client's
// namespace, which drops them.
describe('an IPv6 SYN flood against a SYN-proxied IPv6 service', { skip }, () => {
  const VIP6 = '2001:db8:18::100';
  const FLOOD6 = '2001:db8:8000::/33';
  const t = new Topology('fsy6', 2);
  const dir = new DirectorProcess();
  const payload = tmpFile('payload.bin');
  let cfg: FulcrumConfig;
  let svc: ServiceConfig;
  const fromFlood = (a: string) => /^2001:db8:[89a-f][0-9a-f]{3}:/.test(a);
  const fetchMany = (n: number, out: string) =>
    t.exec('client', ['curl', '-sS', '-m', '5', '-H', 'Connection: close', '-o', `${out}/f#1`, `http://[${VIP6}]/[1-${n}]`], { timeout: 240000 });

  before(async () => {
    t.up();
    const a6 = addIpv6(t, 2);
    await servePayload(t, payload, true);
    svc = { protocol: 'tcp', address: VIP6, port: 80, scheduler: 'wlc', synproxy: true,
      realServers: [1, 2].map((i) => ({ address: V6.server(i), port: 8081, method: 'nat' as const })) };
    cfg = configFor(t, { services: [svc], localAddresses: ['198.19.0.200', '2001:db8:19::200'] });
    cfg.dataplane.ports[0].address6 = a6.clients;
    cfg.dataplane.ports[1].address6 = a6.servers;
    cfg.dataplane.connTableSize = TABLE;  // the IPv6 table: a quarter of it, at least 1024
    cfg.dataplane.routes = [{ prefix: FLOOD6, via: V6.client }];
    await dir.start(t, cfg);
  });
  after(async () => {
    await dir.stop();
    t.down();
  });

  test('downloads through the proxied IPv6 handshake are byte-exact', async () => {
    const out = path.dirname(tmpFile('x'));
    const r = fetchMany(20, out);
    assert.equal(r.status, 0, r.stderr);
    const want = fs.readFileSync(payload);
    for (let i = 1; i <= 20; i++) assert.ok(fs.readFileSync(`${out}/f${i}`).equals(want), `download ${i} is byte-exact`);
    const st = await dir.stats();
    assert.equal(st.events.synproxy_joined, 20, JSON.stringify(st.events));
  });

  test('≥ 99% of the client\'s IPv6 downloads succeed under the flood, which leaves no entry in the table', async () => {
    await dir.request('flush');
    const before = await dir.stats();
    const mac = dir.ports.find((p) => p.name === 'clients')!.mac;
    const py = path.join(__dirname, '../../../test/integration/syn_flood.py');
    const flood = runAsync(t, 'client', ['python3', py, 'fsy6-c0', mac, VIP6, '80', '5000000', '90', '50000']);
    for (let i = 0; i < 100 && ((await dir.stats()).events.synproxy_syn_ack ?? 0) - (before.events.synproxy_syn_ack ?? 0) < 10000; i++)
      await sleep(100);
    // half-open: the IPv6 table's reported count, or what its listing shows in SYN_RECV
    const samples: { connections: number; fromFlood: number; halfOpen: number }[] = [];
    const sample = async () => {
      const conns = await dir.request<{ clientAddress: string; state: string }[]>('connections');
      const w = (await dir.stats()).workers[0];
      samples.push({ connections: w.connections, fromFlood: conns.filter((c) => fromFlood(c.clientAddress)).length,
        halfOpen: Math.max(w.halfOpen6, conns.filter((c) => c.state === 'SYN_RECV').length) });
    };
    const t0 = Date.now();
    const client = runAsync(t, 'client', ['curl', '-sS', '-m', '5', '-o', '/dev/null', '-H', 'Connection: close',
      '-w', '%{http_code} %{size_download}\\n', `http://[${VIP6}]/[1-${REQUESTS}]`]);
    let clientDone = false;
    void client.done.then(() => { clientDone = true; });
    while (!clientDone) {
      await sample();
      await sleep(200);
    }
    const { out: lines, err } = await client.done;
    const seconds = (Date.now() - t0) / 1000;
    const floodLasted = flood.running();
    flood.kill();
    const sent = JSON.parse((await flood.done).out) as { sent: number; seconds: number };
    const st = await dir.stats();
    const ok = lines.split('\n').filter((l) => l === `200 ${BODY}`).length;
    const answered = (st.events.synproxy_syn_ack ?? 0) - (before.events.synproxy_syn_ack ?? 0);
    const joined = (st.events.synproxy_joined ?? 0) - (before.events.synproxy_joined ?? 0);
    console.log(`# synproxy IPv6: ${ok}/${REQUESTS} downloads in ${seconds.toFixed(1)} s under ${sent.sent} SYNs in ${sent.seconds} s; ` +
      `${answered} SYNs answered with cookies, ${joined} connections joined; most entries ${Math.max(...samples.map((w) => w.connections))}, ` +
      `most half-open ${Math.max(...samples.map((w) => w.halfOpen))}; drops ${JSON.stringify(st.drops)}; events ${JSON.stringify(st.events)}`);
    assert.ok(floodLasted, 'the flood went on for the whole client run');
    assert.ok(ok >= 0.99 * REQUESTS, `${ok} of ${REQUESTS} downloads succeeded: ${err.slice(0, 500)}`);
    assert.ok(sent.sent >= 5 * TABLE, `the flood offered ${sent.sent} SYNs, several times the table`);
    assert.ok(answered >= sent.sent / 2, `the flood's SYNs were answered by the director: ${answered} of ${sent.sent}`);
    assert.ok(joined >= ok, `each download was a proxied connection: ${joined}`);
    // The table holds the client's own connections (and their TIME_WAIT), nothing of the flood.
    assert.ok(samples.length > 0 && samples.every((w) => w.fromFlood === 0), `flood entries: ${samples.map((w) => w.fromFlood)}`);
    assert.ok(samples.every((w) => w.connections <= REQUESTS + 20), `entries: ${samples.map((w) => w.connections)}`);
    assert.ok(samples.every((w) => w.halfOpen <= 5), `half-open: ${samples.map((w) => w.halfOpen)}`);
    // No connection was refused for want of room (drops are counted by reason, logged above).
    assert.equal(st.drops.table_full ?? 0, 0, JSON.stringify(st.drops));
    assert.equal(st.drops.synproxy_table_full ?? 0, 0, JSON.stringify(st.drops));
  });

  test('FullNAT with an IPv6 local address and NAT64 to IPv4 servers: proxied downloads are byte-exact', async () => {
    const want = fs.readFileSync(payload);
    for (const [name, servers] of [
      ['FullNAT', [1, 2].map((i) => ({ address: V6.server(i), port: 8081, method: 'fullnat' as const }))],
      ['NAT64', ['198.19.0.11', '198.19.0.12'].map((address) => ({ address, port: 8081, method: 'fullnat' as const }))],
    ] as const) {
      await dir.apply({ ...cfg, services: [{ ...svc, realServers: [...servers] }] });
      await dir.request('flush');
      const before = await dir.stats();
      const out = path.dirname(tmpFile('x'));
      const r = fetchMany(10, out);
      assert.equal(r.status, 0, `${name}: ${r.stderr}`);
      for (let i = 1; i <= 10; i++) assert.ok(fs.readFileSync(`${out}/f${i}`).equals(want), `${name}: download ${i} is byte-exact`);
      const st = await dir.stats();
      assert.equal((st.events.synproxy_joined ?? 0) - (before.events.synproxy_joined ?? 0), 10, `${name}: ${JSON.stringify(st.events)}`);
      assert.equal((st.events.toa_inserted ?? 0) - (before.events.toa_inserted ?? 0), 10, `${name}: TOA rode on each completing ACK`);
      const conns = await dir.request<{ localAddress?: string }[]>('connections');
      const local = name === 'NAT64' ? '198.19.0.200' : '2001:db8:19::200';
      assert.ok(conns.length > 0 && conns.every((c) => c.localAddress === local), `${name}: ${JSON.stringify(conns.slice(0, 3))}`);
    }
  });
});
