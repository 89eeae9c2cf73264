// Prometheus metrics for /metrics. The node_ipvs_* families copy node_exporter's IPVS collector
// (collector/ipvs_linux.go, with the values procfs reads from /proc/net/ip_vs and
// /proc/net/ip_vs_stats) name for name, type, help text and label formatting, so dashboards and
// alerts written for a kernel director work unchanged on Fulcrum. The fulcrum_* families cover
// what the kernel has no counter for: workers, drops, events, ports and health checks.
// This file owns the mapping from a snapshot of the director to those families; the route
// gathers the snapshot at scrape time.
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { DataplaneStats, PortInfo, RestoreReport } from '../native';
import type { NativeService } from '../control/native_config';
import { breathe } from '../control/slices';
import { goIpv6 } from '../control/ipv6';
import { VRRP_STATES, type VrrpStatus } from '../ha/vrrp';
import type { BgpStatus } from '../ha/bgp';

export interface MetricsSnapshot {
  /** The services as the dataplane runs them. A service keeps its object while it is
   * unchanged, so its series' label text is made once, not per scrape. Their real servers'
   * counters are in stats.destCounters, by native id. */
  services: Iterable<NativeService>;
  stats: DataplaneStats;
  /** Real servers' health; only checked ones are written (the monitor's checked()). */
  health: Iterable<{ service: string; address: string; port: number; state: 'up' | 'down' | 'unchecked' }>;
  healthCounters: { checks: number; failures: number; transitions: number };
  ports: PortInfo[];
  /** ha.vrrp's state (absent without one: the director always owns its VIPs). */
  vrrp?: VrrpStatus;
  /** What this start restored from the connections the last graceful stop saved (absent or
   * null: dataplane.keepConnections off). */
  restore?: RestoreReport | null;
  /** ha.bgp's sessions and announcements (absent without one). */
  bgp?: BgpStatus;
}

type Labels<L extends string> = Record<L, string>;
type Sample<L extends string> = [Labels<L>, number];

/** node_exporter's backend labels, in its order (fullIpvsBackendLabels). */
const BACKEND_LABELS = ['local_address', 'local_port', 'remote_address', 'remote_port', 'proto', 'local_mark'] as const;
type BackendLabel = (typeof BACKEND_LABELS)[number];

/** An address as procfs hands it to node_exporter (net.IP.String()): IPv4 dotted, IPv6 as Go
 * writes it (the kernel prints [%pI6] in /proc/net/ip_vs; procfs reads it with net.ParseIP). */
const goAddress = (a: string) => (a.indexOf(':') < 0 ? a : goIpv6(a));

/**
 * A backend's labels as node_exporter renders /proc/net/ip_vs: proto is the line's first word
 * ("TCP", "UDP", "SCTP", or "FWM" for a fwmark service of either family); a fwmark service has
 * no address (net.IP nil renders as ""), port 0, and its mark as the kernel prints it, "%08X".
 */
function backendLabels(s: NativeService, d: NativeService['dests'][number]): Labels<BackendLabel> {
  const fwm = !s.protocol;
  return {
    local_address: fwm ? '' : goAddress(s.address),
    local_port: String(fwm ? 0 : s.port),
    remote_address: goAddress(d.address),
    remote_port: String(d.port),
    proto: fwm ? 'FWM' : s.protocol.toUpperCase(),
    local_mark: fwm ? s.fwmark.toString(16).toUpperCase().padStart(8, '0') : '',
  };
}

export function createMetrics(): { registry: Registry;
  /** The exposition of this snapshot, in chunks (each scrape its own). */
  scrape(s: MetricsSnapshot): Promise<Buffer[]>;
  /** The chunks of a scrape that has gone out (or was abandoned): the next one reuses them. */
  release(sent: Buffer[]): void } {
  const registry = new Registry();
  // The process's own health, event-loop delay above all: a control plane that stalls shows here.
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 1 });
  // Every family is rebuilt from the snapshot on each update: label sets that are gone (a
  // removed real server, a stopped port) disappear. The dataplane hands absolute readings and
  // prom-client counters have no set(), so a counter is reset and then incremented by the
  // reading: the exposition still says `# TYPE ... counter`, as node_exporter's const metrics do.
  const refreshers: Array<(s: MetricsSnapshot) => void> = [];

  function family<L extends string>(type: 'counter' | 'gauge', name: string, help: string, labelNames: readonly L[],
    read: (s: MetricsSnapshot) => Sample<L>[]): void {
    if (type === 'counter') {
      const m = new Counter<L>({ name, help, labelNames, registers: [registry] });
      refreshers.push((s) => { m.reset(); for (const [labels, v] of read(s)) m.inc(labels, v); });
    } else {
      const m = new Gauge<L>({ name, help, labelNames, registers: [registry] });
      refreshers.push((s) => { m.reset(); for (const [labels, v] of read(s)) m.set(labels, v); });
    }
  }
  const none = [] as const;

  // node_exporter: the global totals, from /proc/net/ip_vs_stats.
  family('counter', 'node_ipvs_connections_total', 'The total number of connections made.', none, (s) => [[{}, s.stats.total.conns]]);
  family('counter', 'node_ipvs_incoming_packets_total', 'The total number of incoming packets.', none, (s) => [[{}, s.stats.total.inpkts]]);
  family('counter', 'node_ipvs_outgoing_packets_total', 'The total number of outgoing packets.', none, (s) => [[{}, s.stats.total.outpkts]]);
  family('counter', 'node_ipvs_incoming_bytes_total', 'The total amount of incoming data.', none, (s) => [[{}, s.stats.total.inbytes]]);
  family('counter', 'node_ipvs_outgoing_bytes_total', 'The total amount of outgoing data.', none, (s) => [[{}, s.stats.total.outbytes]]);

  // node_exporter: one series per (service, real server), from /proc/net/ip_vs. Written as
  // text directly (bigFamilies below): at 10,000 services × 10 real servers prom-client's
  // label maps took seconds a scrape (measured by `fulcrum bench control`).
  // Workers: the dataplane's lcores, by worker id.
  const workers = (s: MetricsSnapshot, value: (w: DataplaneStats['workers'][number]) => number): Sample<'worker'>[] =>
    s.stats.workers.map((w) => [{ worker: String(w.id) }, value(w)]);
  family('counter', 'fulcrum_worker_rx_packets_total', 'Packets received by the worker.', ['worker'],
    (s) => workers(s, (w) => w.rxPackets));
  family('counter', 'fulcrum_worker_tx_packets_total', 'Packets sent by the worker.', ['worker'],
    (s) => workers(s, (w) => w.txPackets));
  family('gauge', 'fulcrum_worker_connections', 'Entries (connections and persistence templates) in the worker\'s connection tables (IPv4 and IPv6).', ['worker'],
    (s) => workers(s, (w) => w.connections));
  family('gauge', 'fulcrum_worker_connection_capacity',
    'Entries the worker\'s connection tables can hold (IPv4 and IPv6); fulcrum_worker_connections over this is their occupancy.', ['worker'],
    (s) => workers(s, (w) => w.connCapacity));
  family('gauge', 'fulcrum_worker_ipv6_connections', 'The IPv6 table\'s share of fulcrum_worker_connections.', ['worker'],
    (s) => workers(s, (w) => w.connections6));
  family('gauge', 'fulcrum_worker_ipv6_connection_capacity', 'Entries the worker\'s IPv6 table can hold (dataplane.connTable6Size).', ['worker'],
    (s) => workers(s, (w) => w.conn6Capacity));
  family('gauge', 'fulcrum_worker_half_open_connections',
    'Half-open (SYN_RECV) entries in the worker\'s connection table; past the budget the oldest is evicted (fulcrum_events_total{event="half_open_evicted"}).', ['worker'],
    (s) => workers(s, (w) => w.halfOpen));
  family('gauge', 'fulcrum_worker_half_open_budget', 'Half-open entries the worker keeps at most.', ['worker'],
    (s) => workers(s, (w) => w.halfOpenBudget));
  family('gauge', 'fulcrum_worker_ipv6_half_open_connections', 'Half-open entries in the worker\'s IPv6 table (its own budget and eviction order).', ['worker'],
    (s) => workers(s, (w) => w.halfOpen6));
  family('gauge', 'fulcrum_worker_ipv6_half_open_budget', 'Half-open entries the worker\'s IPv6 table keeps at most.', ['worker'],
    (s) => workers(s, (w) => w.halfOpen6Budget));

  family('counter', 'fulcrum_drops_total', 'Packets dropped, by reason (packet core and dataplane).', ['reason'],
    (s) => Object.entries(s.stats.drops).map(([reason, v]) => [{ reason }, v]));
  family('counter', 'fulcrum_events_total', 'Dataplane events, by name.', ['event'],
    (s) => Object.entries(s.stats.events).map(([event, v]) => [{ event }, v]));

  // Ports: the NIC's own counters (rte_eth_stats), by configured port name.
  const portStat = (key: keyof PortInfo['stats']) => (s: MetricsSnapshot): Sample<'port'>[] =>
    s.ports.map((p) => [{ port: p.name }, p.stats[key]]);
  family('counter', 'fulcrum_port_rx_packets_total', 'Packets received by the port.', ['port'], portStat('ipackets'));
  family('counter', 'fulcrum_port_tx_packets_total', 'Packets sent by the port.', ['port'], portStat('opackets'));
  family('counter', 'fulcrum_port_rx_bytes_total', 'Bytes received by the port.', ['port'], portStat('ibytes'));
  family('counter', 'fulcrum_port_tx_bytes_total', 'Bytes sent by the port.', ['port'], portStat('obytes'));
  family('counter', 'fulcrum_port_rx_missed_total', 'Packets the port dropped because its receive queues were full.', ['port'], portStat('imissed'));
  family('counter', 'fulcrum_port_rx_errors_total', 'Erroneous packets received by the port.', ['port'], portStat('ierrors'));
  family('counter', 'fulcrum_port_tx_errors_total', 'Packets the port failed to send.', ['port'], portStat('oerrors'));
  family('counter', 'fulcrum_port_rx_nombuf_total', 'Receive failures for want of an mbuf.', ['port'], portStat('rxNombuf'));

  // Health: one series per checked real server (fulcrum_health_up, in bigFamilies below).
  family('counter', 'fulcrum_health_checks_total', 'Health checks run.', none, (s) => [[{}, s.healthCounters.checks]]);
  family('counter', 'fulcrum_health_check_failures_total', 'Health checks that failed.', none, (s) => [[{}, s.healthCounters.failures]]);
  family('counter', 'fulcrum_health_transitions_total', 'Real servers going from up to down or back.', none,
    (s) => [[{}, s.healthCounters.transitions]]);

  // VIP ownership (ha.vrrp): keepalived's state as one series per state (1 for the current
  // one, as node_exporter's systemd unit states), and whether the dataplane answers for the VIPs.
  family('gauge', 'fulcrum_vrrp_state', 'The VRRP state of this director (1 for the current one); absent without ha.vrrp.', ['state'],
    (s) => (s.vrrp ? VRRP_STATES.map((st) => [{ state: st }, s.vrrp!.state === st ? 1 : 0]) : []));
  family('gauge', 'fulcrum_vrrp_priority', 'The VRRP priority keepalived last reported (else the configured one).', none,
    (s) => (s.vrrp ? [[{}, s.vrrp.reportedPriority ?? s.vrrp.priority]] : []));
  family('counter', 'fulcrum_vrrp_transitions_total', 'VRRP state changes since start.', none,
    (s) => (s.vrrp ? [[{}, s.vrrp.transitions]] : []));
  family('gauge', 'fulcrum_vip_owner', 'Whether the dataplane answers for the VIPs (1; always without ha.vrrp) or leaves them to the peer (0).', none,
    (s) => [[{}, s.vrrp ? Number(s.vrrp.owner) : 1]]);

  // A restart that kept connections: what this start put back, and what it could not, by reason.
  family('gauge', 'fulcrum_restart_restored_connections', 'Connections and templates this start restored from the last graceful stop.', none,
    (s) => (s.restore ? [[{}, s.restore.restored]] : []));
  family('gauge', 'fulcrum_restart_skipped_connections',
    'Saved entries this start did not restore, by reason (expired while down, service or real server gone, ...).', ['reason'],
    (s) => (s.restore ? Object.entries(s.restore.skipped).map(([reason, v]) => [{ reason }, v]) : []));
  family('gauge', 'fulcrum_restart_refused', 'Whether this start refused the saved connections file (1: it started empty).', none,
    (s) => (s.restore ? [[{}, s.restore.refused ? 1 : 0]] : []));
  family('gauge', 'fulcrum_restart_down_seconds', 'Time between the last graceful stop\'s save and this start\'s restore.', none,
    (s) => (s.restore?.found && !s.restore.refused ? [[{}, s.restore.downMs / 1000]] : []));
  // VIP announcement (ha.bgp): each session, what is announced, how often it changed.
  family('gauge', 'fulcrum_bgp_session_established', 'Whether the BGP session with the neighbour is established (1) or not (0); absent without ha.bgp.', ['neighbor'],
    (s) => (s.bgp ? s.bgp.sessions.map((x) => [{ neighbor: x.neighbor }, Number(x.established)]) : []));
  family('gauge', 'fulcrum_bgp_announced', 'Whether this director announces the VIP (1) or withholds it (0: no quorum, drained, stopping).', ['prefix'],
    (s) => (s.bgp ? [...s.bgp.announced.map((a): Sample<'prefix'> => [{ prefix: a.prefix }, 1]),
      ...s.bgp.withheld.map((w): Sample<'prefix'> => [{ prefix: w.prefix }, 0])] : []));
  family('counter', 'fulcrum_bgp_announcement_changes_total', 'Changes of the announced VIPs BIRD took since start.', none,
    (s) => (s.bgp ? [[{}, s.bgp.changes]] : []));

  const labelCache = new WeakMap<NativeService, BackendLabels>();
  // Chunks of scrapes that went out, written again by the next: fresh memory costs a page
  // fault per 4 KiB, a third of a large scrape's time on this VM.
  const free: Buffer[] = [];
  return {
    registry,
    async scrape(s: MetricsSnapshot): Promise<Buffer[]> {
      for (const refresh of refreshers) refresh(s);
      const head = Buffer.from(await registry.metrics());
      return [head, ...await bigFamilies(s, labelCache, free)];
    },
    release(sent: Buffer[]): void {
      for (const b of sent) if (b.buffer.byteLength === CHUNK && free.length < 256) free.push(Buffer.from(b.buffer, b.byteOffset, CHUNK));
    },
  };
}

const CHUNK = 1 << 20;

/** A scrape's chunks handed to the socket a piece at a time (views, no copies), yielding to the
 * event loop once a slice has run: the socket takes each write at once while the reader keeps
 * up and the writes' completions chain through the tick queue, so a 47 MB scrape went out in
 * one turn of the event loop (100-230 ms measured, nearly all of it the kernel's copy). */
export const SOCKET_PIECE = 1 << 18;
export async function* socketPieces(chunks: readonly Buffer[]): AsyncGenerator<Buffer> {
  const slice = { start: performance.now() };
  for (const c of chunks) {
    for (let at = 0; at < c.length; at += SOCKET_PIECE) {
      yield c.subarray(at, Math.min(c.length, at + SOCKET_PIECE));
      await breathe(slice);
    }
  }
}

/** Exposition text written as bytes into 1 MiB chunks, never copied again on its way out: at
 * 10,000 services × 10 real servers a scrape is 300,000 lines (45 MB). Numbers are written as
 * digits directly; every label set comes from a cache (bytes made once per service). */
class ByteOut {
  private readonly chunks: Buffer[] = [];
  private cur: Buffer;
  private len = 0;
  constructor(private readonly free: Buffer[]) {
    this.cur = this.chunk();
  }
  private chunk(): Buffer { return this.free.pop() ?? Buffer.allocUnsafeSlow(CHUNK); }
  private room(n: number): void {
    if (this.len + n <= this.cur.length) return;
    this.chunks.push(this.cur.subarray(0, this.len));
    this.cur = n <= CHUNK ? this.chunk() : Buffer.allocUnsafe(n);
    this.len = 0;
  }
  text(s: string): void {
    this.room(s.length * 3);
    this.len += this.cur.write(s, this.len);
  }
  bytes(b: Buffer, start: number, end: number): void {
    this.room(end - start);
    this.len += b.copy(this.cur, this.len, start, end);
  }
  /** A sample's value and the line's end. */
  value(v: number): void {
    if (!(v >= 0 && v <= Number.MAX_SAFE_INTEGER && Number.isInteger(v))) return this.text(`${v}\n`);
    this.room(17);
    let digits = 1;
    for (let x = v; x >= 10; x = Math.floor(x / 10)) digits++;
    let at = this.len + digits;
    this.cur[at] = 10;  // '\n'
    for (let x = v, i = 0; i < digits; i++, x = Math.floor(x / 10)) this.cur[--at] = 48 + (x % 10);
    this.len += digits + 1;
  }
  done(): Buffer[] {
    this.chunks.push(this.cur.subarray(0, this.len));
    return this.chunks;
  }
}

/** One service's backend label sets as bytes, `{...} ` each, in config order, and where each
 * starts (one more entry: the end). */
interface BackendLabels { bytes: Buffer; at: Uint32Array }

function backendLabelBytes(v: NativeService): BackendLabels {
  const texts = v.dests.map((d) => `{${labelText(BACKEND_LABELS, backendLabels(v, d))}} `).reverse();
  const bytes = Buffer.from(texts.join(''));
  const at = new Uint32Array(texts.length + 1);
  for (let i = 0; i < texts.length; i++) at[i + 1] = at[i] + Buffer.byteLength(texts[i]);
  return { bytes, at };
}

/** Prometheus text for a label value: backslash, double quote and newline escaped. */
const esc = (v: string) => (/[\\"\n]/.test(v) ? v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : v);

function labelText<L extends string>(names: readonly L[], l: Labels<L>): string {
  return names.map((n) => `${n}="${esc(l[n])}"`).join(',');
}

/** The families with a series per real server, as exposition text in one pass, in slices: at
 * 10,000 services × 10 real servers the pass is 100-200 ms, which held every API request,
 * change and health check behind a scrape. The counters were read once, before the pass. */
async function bigFamilies(s: MetricsSnapshot, cache: WeakMap<NativeService, BackendLabels>, free: Buffer[]): Promise<Buffer[]> {
  const out = new ByteOut(free);
  const slice = { start: performance.now() };
  const dv = s.stats.destCounters;
  // [name, help, field of the 8 per-id counters, or -1 for the weight]
  const backend: Array<[string, string, number]> = [
    ['node_ipvs_backend_connections_active', 'The current active connections by local and remote address.', 5],
    ['node_ipvs_backend_connections_inactive', 'The current inactive connections by local and remote address.', 6],
    ['node_ipvs_backend_weight', 'The current backend weight by local and remote address.', -1],
  ];
  const services = [...s.services];
  for (const [name, help, field] of backend) {
    out.text(`# HELP ${name} ${help}\n# TYPE ${name} gauge\n`);
    const head = Buffer.from(name);
    for (const v of services) {
      await breathe(slice);
      let labels = cache.get(v);
      if (!labels) cache.set(v, labels = backendLabelBytes(v));
      // config order: the native list is newest first
      for (let i = 0, n = v.dests.length; i < n; i++) {
        const d = v.dests[n - 1 - i];
        const at = d.id * 8 + field;
        out.bytes(head, 0, head.length);
        out.bytes(labels.bytes, labels.at[i], labels.at[i + 1]);
        out.value(field < 0 ? d.weight : at < dv.length ? dv[at] : 0);
      }
    }
    out.text('\n');
  }
  const name = 'fulcrum_health_up';
  out.text(`# HELP ${name} Whether the real server passes its health check (1) or fails it (0).\n# TYPE ${name} gauge\n`);
  let n = 0;
  for (const h of s.health) {
    if (++n % 64 === 0) await breathe(slice);
    if (h.state === 'unchecked') continue;
    out.text(`${name}{service="${esc(h.service)}",address="${esc(h.address)}",port="${h.port}"} ${h.state === 'up' ? 1 : 0}\n`);
  }
  out.text('\n');
  return out.done();
}
