// /metrics as a scraper sees it: node_exporter's IPVS families with its exact names, types,
// help texts and label formatting (collector/ipvs_linux.go over procfs's /proc/net/ip_vs
// parsing), Fulcrum's own families beside them, and series that follow the director's state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMetrics, socketPieces, SOCKET_PIECE, type MetricsSnapshot } from '../../src/api/metrics';
import type { NativeService } from '../../src/control/native_config';
import type { PortInfo, TrafficCounters } from '../../src/native';

interface Family { help: string; type: string; samples: { labels: [string, string][]; value: number }[] }

/** The text exposition format, strictly: every sample belongs to the family declared above it. */
function parse(text: string): Map<string, Family> {
  const out = new Map<string, Family>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let m = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (m) {
      const f = out.get(m[2]) ?? { help: '', type: '', samples: [] };
      if (m[1] === 'HELP') f.help = m[3]; else f.type = m[3];
      out.set(m[2], f);
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    const f = out.get(m[1]);
    assert.ok(f?.type, `sample before its # TYPE: ${line}`);
    const labels: [string, string][] = [];
    if (m[2] !== undefined) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/y;
      let lm: RegExpExecArray | null;
      let end = 0;
      while ((lm = re.exec(m[2])) !== null) {
        labels.push([lm[1], lm[2].replace(/\\(.)/g, '$1')]);
        end = re.lastIndex;
      }
      assert.equal(end, m[2].length, `bad labels in: ${line}`);
    }
    f.samples.push({ labels, value: Number(m[3]) });
  }
  return out;
}

const counters = (conns: number, inpkts: number, outpkts: number, inbytes: number, outbytes: number): TrafficCounters =>
  ({ conns, inpkts, outpkts, inbytes, outbytes });
const Z = counters(0, 0, 0, 0, 0);

/** A real server in config order: address, port, weight, ActiveConn, InActConn. */
type Dest = [string, number, number, number, number];
/** Native ids are given in order; the dataplane's readings go to destCounters by id. */
let nextId = 0;
const readings = new Map<number, [number, number]>();
function service(protocol: NativeService['protocol'], address: string, port: number, fwmark: number, dests: Dest[]): NativeService {
  return {
    id: 0, protocol, address, port, fwmark, scheduler: 'wlc', flags: 0, persistTimeout: 360, netmask: '255.255.255.255', netmask6: 128, mhTableSize: 4093,
    dests: dests.map(([a, p, weight, active, inactive]) => {
      const id = nextId++;
      readings.set(id, [active, inactive]);
      return { id, address: a, port: p, method: 'nat' as const, weight, upperThreshold: 0, lowerThreshold: 0 };
    }).reverse(),  // newest first, as the dataplane keeps them
  };
}
function destCounters(): Float64Array {
  const v = new Float64Array(nextId * 8);
  for (const [id, [a, i]] of readings) { v[id * 8 + 5] = a; v[id * 8 + 6] = i; }
  return v;
}

const web = service('tcp', '10.0.0.1', 80, 0, [['192.168.1.10', 8080, 3, 57, 412], ['192.168.1.11', 8080, 1, 19, 137]]);
const dns = service('udp', '10.0.0.2', 53, 0, [['192.168.1.30', 53, 1, 0, 25]]);
const marked = service('', '0.0.0.0', 0, 255, [['192.168.1.20', 443, 2, 4, 1]]);

const port = (name: string, n: number): PortInfo => ({
  name, device: `net_null${n}`, driver: 'net_null', mac: '02:00:00:00:00:0' + n, linkUp: true, speedMbps: 10000,
  fullDuplex: true, queues: 2, rss: true,
  stats: { ipackets: 1000 + n, opackets: 2000 + n, ibytes: 3000 + n, obytes: 4000 + n, imissed: 5 + n, ierrors: 6 + n, oerrors: 7 + n, rxNombuf: 8 + n },
});

function snapshot(): MetricsSnapshot {
  return {
    services: [web, dns, marked],
    stats: {
      total: counters(1523, 45210, 40112, 2 ** 60, 58234112),
      serviceCounters: new Float64Array(0), destCounters: destCounters(),
      drops: { no_service: 17, bad_checksum: 3 },
      events: { arp_request_sent: 9 },
      workers: [0, 1].map((id) => ({ id, lcore: id + 1, cpu: id + 1, connections: 100 * (id + 1), connCapacity: 65536, connections6: 10 * (id + 1), conn6Capacity: 16384,
        tableBytes: 1 << 21, halfOpen: 7 * (id + 1), halfOpenBudget: 16384, halfOpen6: 3 * (id + 1), halfOpen6Budget: 4096, polls: 0, busyPolls: 0, rxPackets: 1111 * (id + 1), txPackets: 2222 * (id + 1), counters: Z })),
    },
    health: [
      { service: 'tcp:10.0.0.1:80', address: '192.168.1.10', port: 8080, state: 'up' },
      { service: 'tcp:10.0.0.1:80', address: '192.168.1.11', port: 8080, state: 'down' },
      { service: 'udp:10.0.0.2:53', address: '192.168.1.30', port: 53, state: 'unchecked' },
    ],
    healthCounters: { checks: 420, failures: 12, transitions: 3 },
    ports: [port('client', 0), port('servers', 1)],
  };
}

async function scrape(s: MetricsSnapshot, metrics = createMetrics()): Promise<Map<string, Family>> {
  return parse(Buffer.concat(await metrics.scrape(s)).toString());
}

/** A family's samples as label-string -> value, for order-free comparisons. */
function series(f: Family | undefined): Record<string, number> {
  assert.ok(f, 'family missing');
  return Object.fromEntries(f.samples.map((s) => [s.labels.map(([k, v]) => `${k}=${v}`).join(','), s.value]));
}

test('the global totals are node_exporter\'s counters, help texts word for word', async () => {
  const m = await scrape(snapshot());
  const expect: [string, string, number][] = [
    ['node_ipvs_connections_total', 'The total number of connections made.', 1523],
    ['node_ipvs_incoming_packets_total', 'The total number of incoming packets.', 45210],
    ['node_ipvs_outgoing_packets_total', 'The total number of outgoing packets.', 40112],
    ['node_ipvs_incoming_bytes_total', 'The total amount of incoming data.', 2 ** 60],
    ['node_ipvs_outgoing_bytes_total', 'The total amount of outgoing data.', 58234112],
  ];
  for (const [name, help, value] of expect) {
    const f = m.get(name);
    assert.ok(f, `${name} missing`);
    assert.equal(f.type, 'counter', name);
    assert.equal(f.help, help, name);
    assert.deepEqual(f.samples, [{ labels: [], value }], name);
  }
});

test('backend series carry node_exporter\'s six labels, in its order', async () => {
  const m = await scrape(snapshot());
  for (const [name, help] of [
    ['node_ipvs_backend_connections_active', 'The current active connections by local and remote address.'],
    ['node_ipvs_backend_connections_inactive', 'The current inactive connections by local and remote address.'],
    ['node_ipvs_backend_weight', 'The current backend weight by local and remote address.'],
  ]) {
    const f = m.get(name);
    assert.ok(f, `${name} missing`);
    assert.equal(f.type, 'gauge', name);
    assert.equal(f.help, help, name);
    assert.equal(f.samples.length, 4, name);
    for (const s of f.samples)
      assert.deepEqual(s.labels.map(([k]) => k), ['local_address', 'local_port', 'remote_address', 'remote_port', 'proto', 'local_mark']);
  }
  assert.deepEqual(m.get('node_ipvs_backend_connections_active')!.samples[0].labels, [
    ['local_address', '10.0.0.1'], ['local_port', '80'], ['remote_address', '192.168.1.10'], ['remote_port', '8080'],
    ['proto', 'TCP'], ['local_mark', ''],
  ]);
});

test('backend label values: protocol upper case, fwmark services as procfs reads the FWM line', async () => {
  const m = await scrape(snapshot());
  const key = 'local_address=%s,local_port=%s,remote_address=%s,remote_port=%s,proto=%s,local_mark=%s';
  const k = (...v: string[]) => v.reduce((acc, x) => acc.replace('%s', x), key);
  // A fwmark service has no address (node_exporter renders a nil net.IP as ""), port 0, and
  // the mark as /proc/net/ip_vs prints it: %08X.
  assert.deepEqual(series(m.get('node_ipvs_backend_connections_active')), {
    [k('10.0.0.1', '80', '192.168.1.10', '8080', 'TCP', '')]: 57,
    [k('10.0.0.1', '80', '192.168.1.11', '8080', 'TCP', '')]: 19,
    [k('10.0.0.2', '53', '192.168.1.30', '53', 'UDP', '')]: 0,
    [k('', '0', '192.168.1.20', '443', 'FWM', '000000FF')]: 4,
  });
  assert.deepEqual(Object.values(series(m.get('node_ipvs_backend_connections_inactive'))), [412, 137, 25, 1]);
  assert.deepEqual(Object.values(series(m.get('node_ipvs_backend_weight'))), [3, 1, 1, 2]);
});

test('IPv6 backends are labelled as procfs hands node_exporter /proc/net/ip_vs\'s [%pI6] (net.IP.String()); an IPv6 fwmark service as any FWM line', async () => {
  const v6 = service('tcp', '2001:db8::100', 80, 0, [['2001:db8::10', 8080, 2, 5, 6], ['198.18.2.10', 80, 1, 1, 0], ['::1.2.3.4', 80, 1, 0, 0]]);
  const fwm6 = service('', '::', 0, 5, [['2001:db8::11', 0, 1, 3, 0]]);
  const m = await scrape({ ...snapshot(), services: [v6, fwm6], stats: { ...snapshot().stats, destCounters: destCounters() } });
  const labels = m.get('node_ipvs_backend_connections_active')!.samples.map((x) => [Object.fromEntries(x.labels), x.value]);
  assert.deepEqual(labels, [
    [{ local_address: '2001:db8::100', local_port: '80', remote_address: '2001:db8::10', remote_port: '8080', proto: 'TCP', local_mark: '' }, 5],
    [{ local_address: '2001:db8::100', local_port: '80', remote_address: '198.18.2.10', remote_port: '80', proto: 'TCP', local_mark: '' }, 1],
    // Go writes an IPv4-compatible address in hex groups, where inet_ntop writes ::1.2.3.4
    [{ local_address: '2001:db8::100', local_port: '80', remote_address: '::102:304', remote_port: '80', proto: 'TCP', local_mark: '' }, 0],
    [{ local_address: '', local_port: '0', remote_address: '2001:db8::11', remote_port: '0', proto: 'FWM', local_mark: '00000005' }, 3],
  ]);
});

test('Fulcrum\'s own families: workers, drops, events, ports, health', async () => {
  const m = await scrape(snapshot());
  const check = (name: string, type: string, want: Record<string, number>) => {
    assert.equal(m.get(name)?.type, type, `${name} type`);
    assert.ok(m.get(name)!.help.length > 0, `${name} help`);
    assert.deepEqual(series(m.get(name)), want, name);
  };
  check('fulcrum_worker_rx_packets_total', 'counter', { 'worker=0': 1111, 'worker=1': 2222 });
  check('fulcrum_worker_tx_packets_total', 'counter', { 'worker=0': 2222, 'worker=1': 4444 });
  check('fulcrum_worker_connections', 'gauge', { 'worker=0': 100, 'worker=1': 200 });
  check('fulcrum_worker_connection_capacity', 'gauge', { 'worker=0': 65536, 'worker=1': 65536 });
  check('fulcrum_worker_ipv6_connections', 'gauge', { 'worker=0': 10, 'worker=1': 20 });
  check('fulcrum_worker_ipv6_connection_capacity', 'gauge', { 'worker=0': 16384, 'worker=1': 16384 });
  check('fulcrum_worker_half_open_connections', 'gauge', { 'worker=0': 7, 'worker=1': 14 });
  check('fulcrum_worker_half_open_budget', 'gauge', { 'worker=0': 16384, 'worker=1': 16384 });
  check('fulcrum_worker_ipv6_half_open_connections', 'gauge', { 'worker=0': 3, 'worker=1': 6 });
  check('fulcrum_worker_ipv6_half_open_budget', 'gauge', { 'worker=0': 4096, 'worker=1': 4096 });
  check('fulcrum_drops_total', 'counter', { 'reason=no_service': 17, 'reason=bad_checksum': 3 });
  check('fulcrum_events_total', 'counter', { 'event=arp_request_sent': 9 });
  check('fulcrum_port_rx_packets_total', 'counter', { 'port=client': 1000, 'port=servers': 1001 });
  check('fulcrum_port_tx_packets_total', 'counter', { 'port=client': 2000, 'port=servers': 2001 });
  check('fulcrum_port_rx_bytes_total', 'counter', { 'port=client': 3000, 'port=servers': 3001 });
  check('fulcrum_port_tx_bytes_total', 'counter', { 'port=client': 4000, 'port=servers': 4001 });
  check('fulcrum_port_rx_missed_total', 'counter', { 'port=client': 5, 'port=servers': 6 });
  check('fulcrum_port_rx_errors_total', 'counter', { 'port=client': 6, 'port=servers': 7 });
  check('fulcrum_port_tx_errors_total', 'counter', { 'port=client': 7, 'port=servers': 8 });
  check('fulcrum_port_rx_nombuf_total', 'counter', { 'port=client': 8, 'port=servers': 9 });
  // The unchecked real server has no check result, so no series.
  check('fulcrum_health_up', 'gauge', {
    'service=tcp:10.0.0.1:80,address=192.168.1.10,port=8080': 1,
    'service=tcp:10.0.0.1:80,address=192.168.1.11,port=8080': 0,
  });
  check('fulcrum_health_checks_total', 'counter', { '': 420 });
  check('fulcrum_health_check_failures_total', 'counter', { '': 12 });
  check('fulcrum_health_transitions_total', 'counter', { '': 3 });
});

test('every family is node_ipvs_ or fulcrum_ (or the Prometheus client\'s process_/nodejs_), and counters (only they) end in _total', async () => {
  const m = await scrape(snapshot());
  for (const [name, f] of m) {
    assert.match(name, /^(node_ipvs|fulcrum|process|nodejs)_/);
    if (/^(process|nodejs)_/.test(name)) continue;  // the client library's standard families
    assert.equal(f.type === 'counter', name.endsWith('_total'), `${name} is a ${f.type}`);
  }
  assert.ok(m.has('nodejs_eventloop_lag_max_seconds'), 'the event loop delay is exported');
});

test('values are the dataplane\'s readings, not accumulated across updates', async () => {
  const metrics = createMetrics();
  await scrape(snapshot(), metrics);
  const again = await scrape(snapshot(), metrics);
  assert.deepEqual(again.get('node_ipvs_connections_total')!.samples[0].value, 1523);
  assert.deepEqual(series(again.get('fulcrum_drops_total')), { 'reason=no_service': 17, 'reason=bad_checksum': 3 });
  // A restarted dataplane counts from zero again; the counter says so and Prometheus sees a reset.
  const restarted = snapshot();
  restarted.stats.total = counters(2, 10, 8, 900, 700);
  assert.equal((await scrape(restarted, metrics)).get('node_ipvs_connections_total')!.samples[0].value, 2);
});

test('a real server, worker, port or health entry that goes away leaves the output', async () => {
  const metrics = createMetrics();
  const before = await scrape(snapshot(), metrics);
  assert.equal(before.get('node_ipvs_backend_weight')!.samples.length, 4);

  const s = snapshot();
  s.services = [{ ...web, dests: web.dests.slice(1) }, marked];   // 192.168.1.11 and the UDP service removed
  s.stats.workers = s.stats.workers.slice(0, 1);
  s.stats.drops = { no_service: 20 };
  s.ports = s.ports.slice(0, 1);
  s.health = [...s.health].slice(0, 1);
  const after = await scrape(s, metrics);

  for (const name of ['node_ipvs_backend_connections_active', 'node_ipvs_backend_connections_inactive', 'node_ipvs_backend_weight']) {
    const remotes = after.get(name)!.samples.map((x) => Object.fromEntries(x.labels).remote_address);
    assert.deepEqual(remotes, ['192.168.1.10', '192.168.1.20'], name);
  }
  assert.deepEqual(Object.keys(series(after.get('fulcrum_worker_rx_packets_total'))), ['worker=0']);
  assert.deepEqual(series(after.get('fulcrum_drops_total')), { 'reason=no_service': 20 });
  assert.deepEqual(Object.keys(series(after.get('fulcrum_port_rx_bytes_total'))), ['port=client']);
  assert.deepEqual(Object.keys(series(after.get('fulcrum_health_up'))), ['service=tcp:10.0.0.1:80,address=192.168.1.10,port=8080']);
  // A service kept as it was keeps its labels; its values are the new readings.
  const moved = snapshot();
  moved.stats.destCounters = destCounters().map((x, i) => (i % 8 === 5 ? x + 1000 : x));
  assert.deepEqual(Object.values(series((await scrape(moved, metrics)).get('node_ipvs_backend_connections_active'))), [1057, 1019, 1000, 1004]);
  moved.stats.destCounters = destCounters().map((x, i) => (i % 8 === 6 ? [10, Number.MAX_SAFE_INTEGER, 2 ** 60, 0.5][i >> 3] : x));
  const text = Buffer.concat(await metrics.scrape(moved)).toString();
  assert.match(text, /^node_ipvs_backend_connections_inactive\{local_address="10\.0\.0\.1",.*remote_address="192\.168\.1\.10".*\} 10$/m);
  assert.deepEqual(Object.values(series(parse(text).get('node_ipvs_backend_connections_inactive'))), [10, Number.MAX_SAFE_INTEGER, 2 ** 60, 0.5]);
  // Families with no series left keep their HELP and TYPE, as prom-client writes them.
  const empty = createMetrics();
  const none = await scrape({ ...snapshot(), services: [], health: [] }, empty);
  assert.deepEqual(none.get('node_ipvs_backend_weight')!.samples, []);
  assert.equal(none.get('node_ipvs_backend_weight')!.type, 'gauge');
});

test('a scrape\'s chunks are reused only once it is released: a scrape still going out never changes', async () => {
  const metrics = createMetrics();
  const first = await metrics.scrape(snapshot());
  const firstText = Buffer.concat(first).toString();
  const other = snapshot();
  other.services = [dns];
  const second = await metrics.scrape(other);
  assert.equal(Buffer.concat(first).toString(), firstText, 'the unreleased scrape is its own');
  const secondText = Buffer.concat(second).toString();
  metrics.release(first);
  const third = await metrics.scrape(snapshot());
  assert.ok(third.some((b) => first.some((f) => f.buffer === b.buffer)), 'released chunks are written again');
  assert.equal(Buffer.concat(second).toString(), secondText);
  assert.deepEqual(series(parse(Buffer.concat(third).toString()).get('node_ipvs_backend_connections_active')),
    series(parse(firstText).get('node_ipvs_backend_connections_active')));
});

test('a scrape goes to the socket as views of its chunks, none larger than a piece, in order, with turns of the event loop between', async () => {
  const chunks = [Buffer.alloc((1 << 20) + 5, 1), Buffer.alloc(3, 2), Buffer.alloc(0), Buffer.alloc(SOCKET_PIECE * 2, 3)];
  const pieces: Buffer[] = [];
  let turns = 0;
  const counting = setInterval(() => { turns++; }, 0);
  const slow = () => { const t = performance.now(); while (performance.now() - t < 2); };  // a reader that takes its time
  for await (const p of socketPieces(chunks)) { pieces.push(p); slow(); }
  clearInterval(counting);
  assert.ok(pieces.every((p) => p.length > 0 && p.length <= SOCKET_PIECE));
  assert.ok(pieces.every((p) => chunks.some((c) => c.buffer === p.buffer)), 'views, not copies');
  assert.deepEqual(Buffer.concat(pieces), Buffer.concat(chunks));
  assert.ok(turns > 0, 'the event loop ran while the pieces went out');
});

test('a start that restored connections says how many, what it skipped by reason and how long the director was down', async () => {
  const restore = { file: '/var/lib/fulcrum/connections.bin', found: true, savedAt: 1, downMs: 2500, savedWorkers: 1, entries: 10, restored: 7,
    skipped: { expired: 1, noService: 0, noRealServer: 2, fullnatPortElsewhere: 0, tableFull: 0, badRecord: 0 }, ms: 3 };
  const m = await scrape({ ...snapshot(), restore });
  assert.deepEqual(series(m.get('fulcrum_restart_restored_connections')), { '': 7 });
  assert.deepEqual(series(m.get('fulcrum_restart_skipped_connections')), {
    'reason=expired': 1, 'reason=noService': 0, 'reason=noRealServer': 2, 'reason=fullnatPortElsewhere': 0, 'reason=tableFull': 0, 'reason=badRecord': 0 });
  assert.deepEqual(series(m.get('fulcrum_restart_refused')), { '': 0 });
  assert.deepEqual(series(m.get('fulcrum_restart_down_seconds')), { '': 2.5 });
  const refused = await scrape({ ...snapshot(), restore: { ...restore, refused: 'checksum mismatch (corrupt)', restored: 0 } });
  assert.deepEqual(series(refused.get('fulcrum_restart_refused')), { '': 1 });
  assert.equal(refused.get('fulcrum_restart_down_seconds')?.samples[0]?.value ?? 0, 0, 'no time down from a file not read');
  const off = await scrape({ ...snapshot(), restore: null });
  assert.equal(off.get('fulcrum_restart_skipped_connections')?.samples.length ?? 0, 0, 'keepConnections off: no series');
  assert.equal(off.get('fulcrum_restart_restored_connections')?.samples[0]?.value ?? 0, 0);
});
