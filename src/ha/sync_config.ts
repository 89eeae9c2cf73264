// Connection sync settings as the kernel takes them: a daemon's options with the kernel's
// defaults and clamps (ip_vs_sync.c start_sync_thread), the sysctls' cross-field rule
// (proc_do_sync_threshold), and the rules only the whole config can check (the interface
// names a port with a kernel interface; one daemon per state).
import type { FulcrumConfig, SyncConfig, SyncDaemonConfig } from '../control/config_schema';
import { parseIpv4 } from '../control/ipv4';
import type { SyncTunables } from '../native';

/** A daemon with every option filled in, as it runs and as `ipvsadm -L --daemon` lists it. */
export interface SyncDaemon {
  state: 'master' | 'backup';
  interface: string;
  syncId: number;
  maxlen: number;
  group: string;
  port: number;
  ttl: number;
}

export type { SyncTunables };

const IP_UDP_HEADERS = 28;  // what the kernel takes off the MTU for an IPv4 group

/**
 * The kernel's defaults and clamps for a daemon on an interface of `mtu`: a master's message
 * fits one frame (maxlen at most MTU − 28, the MTU counted as at least 1472 and at most 1500); a
 * backup reads messages up to MTU − 28 by default (MTU counted as at least 1500) and takes no
 * less than 1024 when asked for less.
 */
export function filledDaemon(d: SyncDaemonConfig, mtu = 1500): SyncDaemon {
  const backup = d.state === 'backup';
  const clampedMtu = backup ? Math.min(Math.max(mtu, 1500), 65535) : Math.min(Math.max(mtu, 1500 - IP_UDP_HEADERS), 1500);
  const maxlen = d.maxlen !== undefined ? Math.min(Math.max(d.maxlen, backup ? 1024 : 1), 65535 - IP_UDP_HEADERS) : clampedMtu - IP_UDP_HEADERS;
  return {
    state: d.state, interface: d.interface, syncId: d.syncId ?? 0, maxlen,
    group: d.group ?? '224.0.0.81', port: d.port ?? 8848, ttl: d.ttl ?? 1,
  };
}

export function tunablesOf(s: SyncConfig | undefined): SyncTunables {
  return {
    threshold: s?.threshold ?? 3, period: s?.period ?? 50, refreshPeriod: s?.refreshPeriod ?? 0,
    retries: s?.retries ?? 0, persistMode: s?.persistMode ?? false, backupOnly: s?.backupOnly ?? false,
  };
}

/** Whether `group` is an IPv4 multicast address (224.0.0.0/4). */
export function isMulticast(group: string): boolean {
  const a = parseIpv4(group);
  return a !== undefined && (a >>> 28) === 0xe;
}

/** Problems of one daemon against the config's ports, paths under `at`. */
export function syncDaemonProblems(d: SyncDaemonConfig, at: string, cfg: Pick<FulcrumConfig, 'dataplane'>): string[] {
  const p: string[] = [];
  const port = cfg.dataplane.ports.find((x) => x.name === d.interface);
  if (!port) p.push(`${at}.interface: no port named '${d.interface}' (ports: ${cfg.dataplane.ports.map((x) => x.name).join(', ')})`);
  else if (port.tap === false) p.push(`${at}.interface: port '${d.interface}' has no kernel interface (tap: false); sync datagrams travel through it`);
  if (d.group !== undefined && !isMulticast(d.group)) p.push(`${at}.group: '${d.group}' is not an IPv4 multicast address (224.0.0.0/4)`);
  return p;
}

/** Problems of the whole `ha.sync` section. */
export function syncConfigProblems(cfg: FulcrumConfig): string[] {
  const s = cfg.ha?.sync;
  if (!s) return [];
  const p: string[] = [];
  const t = tunablesOf(s);
  // The kernel refuses threshold >= period unless period is 0 (then only state changes send).
  if (t.period !== 0 && t.threshold >= t.period) p.push(`ha.sync.threshold: must be less than ha.sync.period (${t.period}), or period 0`);
  const states = new Set<string>();
  (s.daemons ?? []).forEach((d, i) => {
    const at = `ha.sync.daemons[${i}]`;
    if (states.has(d.state)) p.push(`${at}.state: a ${d.state} daemon is listed twice (one master and one backup may run)`);
    states.add(d.state);
    p.push(...syncDaemonProblems(d, at, cfg));
  });
  return p;
}
