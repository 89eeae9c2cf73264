// Turns the config file's `dataplane` section (plus localAddresses) into what the addon's
// start() takes, with Fulcrum's defaults filled in, so the addon never guesses.
import type { DataplaneStartOptions } from '../native';
import type { FulcrumConfig, PortConfig } from './config_schema';

export const DEFAULT_LIMITS = { maxServices: 1024, maxDests: 8192 };

export function limitsOf(cfg: FulcrumConfig): { maxServices: number; maxDests: number } {
  return {
    maxServices: cfg.dataplane.maxServices ?? DEFAULT_LIMITS.maxServices,
    maxDests: cfg.dataplane.maxRealServers ?? DEFAULT_LIMITS.maxDests,
  };
}

export const isPci = (d: string) => /^([0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$/.test(d);
/** A bare interface name, as an operator used to ip(8) writes it: no driver, no arguments. */
export const isInterfaceName = (d: string) => !isPci(d) && !d.startsWith('net_') && /^[A-Za-z0-9_.:@-]{1,15}$/.test(d);

/** The DPDK device a port's `device` means: `eth0` is shorthand for af_packet on eth0. */
export function portDevice(p: PortConfig, index: number): string {
  return isInterfaceName(p.device) ? `net_af_packet_p${index},iface=${p.device}` : p.device;
}

export function dataplaneOptions(cfg: FulcrumConfig): DataplaneStartOptions {
  const dp = cfg.dataplane;
  const backoff = dp.idleBackoff === false ? false : {
    pauseAfterPolls: dp.idleBackoff?.pauseAfterPolls ?? 64,
    maxSleepMicroseconds: dp.idleBackoff?.maxSleepMicroseconds ?? 200,
  };
  // With ha.vrrp the director starts as a backup: keepalived's MASTER hands it the VIPs.
  const floating = new Map<string, string[]>();
  for (const f of cfg.ha?.vrrp?.floatingAddresses ?? []) floating.set(f.port, [...(floating.get(f.port) ?? []), f.address]);
  return {
    vipOwner: cfg.ha?.vrrp === undefined,
    eal: dp.eal ?? [],
    workers: dp.workers ?? [1],
    connTableSize: dp.connTableSize ?? 1 << 20,
    ...(dp.connTable6Size !== undefined ? { connTable6Size: dp.connTable6Size } : {}),
    halfOpenBudget: dp.halfOpenBudget ?? Math.max(1, Math.floor((dp.connTableSize ?? 1 << 20) / 4)),
    idleBackoff: backoff,
    limits: limitsOf(cfg),
    ports: dp.ports.map((p, i) => ({
      name: p.name,
      device: portDevice(p, i),
      ...(p.address !== undefined ? { address: p.address } : {}),
      ...(p.address6?.length ? { address6: p.address6 } : {}),
      ...(p.tap === false ? {} : { tap: p.tap ?? p.name }),
      ...(floating.has(p.name) ? { floating: floating.get(p.name)! } : {}),
    })),
    routes: (dp.routes ?? []).map((r) => ({ prefix: r.prefix, ...(r.via ? { via: r.via } : {}), ...(r.port ? { port: r.port } : {}) })),
    localAddresses: cfg.localAddresses ?? [],
    ...(dp.acceptRa ? { acceptRa: true } : {}),
  };
}
