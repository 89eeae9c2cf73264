// Identity, once: how services and real servers are named and keyed everywhere (API ids, the
// desired state's keys, health entries, native ids, listings). The one rule that shapes it is
// ipvsadm's: a DR or TUN real server cannot change the port, so it IS at the service's port
// (reference §1.2) — it is stored, keyed, checked and shown there, as the kernel shows it.
import type { RealServerConfig, ServiceConfig } from './config_schema';

type Named = Pick<ServiceConfig, 'protocol' | 'address' | 'port' | 'fwmark'>;

// Service names are kept as map keys in several places per service: they are made with
// join(), which gives one flat string, where a template literal gives a tree of pieces
// (four to six strings each, 3.8 MB over 10,000 services).

/** `tcp:198.18.0.100:80`, `udp:…`, `sctp:…` or `fwmark:5`: how the API (and the desired
 * state) names a service. */
export function serviceId(s: Named): string {
  return s.fwmark !== undefined ? ['fwmark', String(s.fwmark)].join(':') : [String(s.protocol), String(s.address), String(s.port)].join(':');
}

/** `tcp 198.18.0.100:80` or `fwmark 5`: how logs, health status and metrics name a service. */
export function serviceKey(s: Named): string {
  return s.fwmark !== undefined ? ['fwmark', String(s.fwmark)].join(' ') : [String(s.protocol), ' ', String(s.address), ':', String(s.port)].join('');
}

/** serviceKey from an API id (`tcp:1.2.3.4:80` → `tcp 1.2.3.4:80`). */
export function keyOfId(id: string): string {
  const i = id.indexOf(':');
  return `${id.slice(0, i)} ${id.slice(i + 1)}`;
}

/** API id from a serviceKey (`tcp 1.2.3.4:80` → `tcp:1.2.3.4:80`). */
export function idOfKey(key: string): string {
  return key.replace(' ', ':');
}

/** DR and TUN keep the service's port, except under a fwmark service (which has none). */
export function forcesServicePort(s: Named, method: string | undefined): boolean {
  const m = method ?? 'dr';
  return s.fwmark === undefined && (m === 'dr' || m === 'tun');
}

/** The port a real server is at: the service's for DR/TUN, else its own, else the service's. */
export function serverPort(s: Named, r: Pick<RealServerConfig, 'port' | 'method'>): number {
  return forcesServicePort(s, r.method) ? s.port ?? 0 : r.port ?? s.port ?? 0;
}

/** `198.18.1.11:8080`: how the API names a real server within its service. */
export function serverId(s: Named, r: Pick<RealServerConfig, 'address' | 'port' | 'method'>): string {
  return `${r.address}:${serverPort(s, r)}`;
}

/** A real server across the whole director: `tcp 198.18.0.100:80 -> 198.18.1.11:80`. */
export function serverKey(s: Named, r: Pick<RealServerConfig, 'address' | 'port' | 'method'>): string {
  return `${serviceKey(s)} -> ${serverId(s, r)}`;
}

/** The real server as it is stored: at its real port (DR/TUN at the service's), the port
 * written out unless it is the service's implied one. */
export function normalizeServer(s: Named, r: RealServerConfig): RealServerConfig {
  if (!forcesServicePort(s, r.method) || r.port === undefined || r.port === s.port) return r;
  return { ...r, port: s.port };
}

/** The service with every real server normalized (a new object only when something changed). */
export function normalizeService(s: ServiceConfig): ServiceConfig {
  if (!s.realServers) return s;
  let changed = false;
  const realServers = s.realServers.map((r) => {
    const n = normalizeServer(s, r);
    if (n !== r) changed = true;
    return n;
  });
  return changed ? { ...s, realServers } : s;
}
