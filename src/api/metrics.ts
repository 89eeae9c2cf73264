// Prometheus metrics for /metrics. The node_ipvs_* families copy node_exporter's IPVS collector
// (collector/ipvs_linux.go, with the values procfs reads from /proc/net/ip_vs and
// /proc/net/ip_vs_stats) name for name, type, help text and label formatting, so dashboards and
// alerts written for a kernel director work unchanged on Fulcrum. The fulcrum_* families cover
// what the kernel has no counter for: workers, drops, events, ports and health checks.
// This file owns the mapping from a snapshot of the director to those families; the route
// gathers the snapshot at scrape time.
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { DataplaneStats, PortInfo } from '../native';
import type { ServiceView } from '../control/director';

export interface MetricsSnapshot {
  services: ServiceView[];
  stats: DataplaneStats;
  health: Array<{ service: string; address: string; port: number; state: 'up' | 'down' | 'unchecked' }>;
  healthCounters: { checks: number; failures: number; transitions: number };
  ports: PortInfo[];
}

type Labels<L extends string> = Record<L, string>;
type Sample<L extends string> = [Labels<L>, number];

/** node_exporter's backend labels, in its order (fullIpvsBackendLabels). */
const BACKEND_LABELS = ['local_address', 'local_port', 'remote_address', 'remote_port', 'proto', 'local_mark'] as const;
type BackendLabel = (typeof BACKEND_LABELS)[number];

/**
 * A backend's labels as node_exporter renders /proc/net/ip_vs: proto is the line's first word
 * ("TCP", "UDP", "SCTP", or "FWM" for a fwmark service); a fwmark service has no address
 * (net.IP nil renders as ""), port 0, and its mark as the kernel prints it, "%08X".
 */
function backendLabels(s: ServiceView, d: ServiceView['dests'][number]): Labels<BackendLabel> {
  const fwm = s.protocol === 'fwmark';
  return {
    local_address: fwm ? '' : s.address,
    local_port: String(fwm ? 0 : s.port),
    remote_address: d.address,
    remote_port: String(d.port),
    proto: fwm ? 'FWM' : s.protocol.toUpperCase(),
    local_mark: fwm ? s.fwmark.toString(16).toUpperCase().padStart(8, '0') : '',
  };
}

export function createMetrics(): { registry: Registry; update(s: MetricsSnapshot): void; text(): Promise<string> } {
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
  family('gauge', 'fulcrum_worker_connections', 'Entries (connections and persistence templates) in the worker\'s connection table.', ['worker'],
    (s) => workers(s, (w) => w.connections));
  family('gauge', 'fulcrum_worker_connection_capacity',
    'Entries the worker\'s connection table can hold; fulcrum_worker_connections over this is its occupancy.', ['worker'],
    (s) => workers(s, (w) => w.connCapacity));

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

  let big = '';
  return {
    registry,
    update(s: MetricsSnapshot): void {
      for (const refresh of refreshers) refresh(s);
      big = bigFamilies(s);
    },
    async text(): Promise<string> {
      return (await registry.metrics()) + big;
    },
  };
}

/** Prometheus text for a label value: backslash, double quote and newline escaped. */
const esc = (v: string) => (/[\\"\n]/.test(v) ? v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : v);

function labelText<L extends string>(names: readonly L[], l: Labels<L>): string {
  return names.map((n) => `${n}="${esc(l[n])}"`).join(',');
}

/** The families with a series per real server, as exposition text in one pass. */
function bigFamilies(s: MetricsSnapshot): string {
  const out: string[] = [];
  const backend: Array<[string, string, (d: ServiceView['dests'][number]) => number]> = [
    ['node_ipvs_backend_connections_active', 'The current active connections by local and remote address.', (d) => d.activeConns],
    ['node_ipvs_backend_connections_inactive', 'The current inactive connections by local and remote address.', (d) => d.inactConns],
    ['node_ipvs_backend_weight', 'The current backend weight by local and remote address.', (d) => d.weight],
  ];
  const labels: string[] = [];
  const dests: Array<ServiceView['dests'][number]> = [];
  for (const v of s.services) for (const d of v.dests) { labels.push(labelText(BACKEND_LABELS, backendLabels(v, d))); dests.push(d); }
  for (const [name, help, value] of backend) {
    out.push(`# HELP ${name} ${help}\n# TYPE ${name} gauge\n`);
    for (let i = 0; i < dests.length; i++) out.push(`${name}{${labels[i]}} ${value(dests[i])}\n`);
    out.push('\n');
  }
  const name = 'fulcrum_health_up';
  out.push(`# HELP ${name} Whether the real server passes its health check (1) or fails it (0).\n# TYPE ${name} gauge\n`);
  for (const h of s.health) {
    if (h.state === 'unchecked') continue;
    out.push(`${name}{service="${esc(h.service)}",address="${esc(h.address)}",port="${h.port}"} ${h.state === 'up' ? 1 : 0}\n`);
  }
  out.push('\n');
  return out.join('');
}
