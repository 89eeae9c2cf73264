// ipvsadm's fixed-width listing formats, reproduced byte for byte (reference §1.7): the demo
// prints its table with them, and fvsadm builds on them.
import type { TrafficCounters } from '../native';

export const IPVS_HEADER = 'IP Virtual Server version 1.2.1 (size=4096)';

/** ipvsadm's print_largenum: K/M/G/T scaling with its asymmetric thresholds, or exact. */
export function largeNum(n: number | bigint, exact = false): string {
  const v = BigInt(n);
  if (exact) {
    const s = v.toString();
    return s.padStart(s.length <= 8 ? 9 : s.length + 1);
  }
  if (v < 100_000_000n) return v.toString().padStart(9);
  if (v < 1_000_000_000n) return (v / 1_000n).toString().padStart(8) + 'K';
  if (v < 100_000_000_000n) return (v / 1_000_000n).toString().padStart(8) + 'M';
  if (v < 100_000_000_000_000n) return (v / 1_000_000_000n).toString().padStart(8) + 'G';
  return (v / 1_000_000_000_000n).toString().padStart(8) + 'T';
}

export interface ListedService {
  protocol: string; // "TCP", "UDP", "SCTP"
  address: string;
  port: number;
  scheduler: string;
  stats: TrafficCounters;
  dests: ListedDest[];
}

export interface ListedDest {
  address: string;
  port: number;
  forward: 'Masq' | 'Route' | 'Tunnel' | 'Local' | 'FullNat';
  weight: number;
  activeConns: number;
  inactConns: number;
  stats: TrafficCounters;
}

function statsCells(s: TrafficCounters, exact: boolean): string {
  return [s.conns, s.inpkts, s.outpkts, s.inbytes, s.outbytes].map((n) => largeNum(n, exact)).join('');
}

function serviceName(s: ListedService): string {
  return `${s.protocol.padEnd(4)} ${s.address}:${s.port}`;
}

/** `ipvsadm -Ln` */
export function formatList(services: ListedService[]): string {
  const lines = [IPVS_HEADER, 'Prot LocalAddress:Port Scheduler Flags',
    '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn'];
  for (const s of services) {
    lines.push(`${serviceName(s)} ${s.scheduler}`);
    for (const d of s.dests) {
      lines.push(`  -> ${`${d.address}:${d.port}`.padEnd(28)} ${d.forward.padEnd(7)} ${String(d.weight).padEnd(6)} ` +
        `${String(d.activeConns).padEnd(10)} ${String(d.inactConns).padEnd(10)}`);
    }
  }
  return lines.join('\n') + '\n';
}

/** `ipvsadm -Ln --stats` */
export function formatStats(services: ListedService[], exact = false): string {
  const lines = [IPVS_HEADER,
    'Prot LocalAddress:Port'.padEnd(33) + ['Conns', 'InPkts', 'OutPkts', 'InBytes', 'OutBytes'].map((h) => ' ' + h.padStart(8)).join(''),
    '  -> RemoteAddress:Port'];
  for (const s of services) {
    lines.push(serviceName(s).padEnd(33) + statsCells(s.stats, exact));
    for (const d of s.dests) lines.push(`  -> ${`${d.address}:${d.port}`.padEnd(28)}` + statsCells(d.stats, exact));
  }
  return lines.join('\n') + '\n';
}
