// Identity, once: how services and real servers are named and keyed everywhere (API ids, the
// desired state's keys, health entries, native ids, listings). The one rule that shapes it is
// ipvsadm's: a DR or TUN real server cannot change the port, so it IS at the service's port
// (reference §1.2) — it is stored, keyed, checked and shown there, as the kernel shows it.
// IPv6 addresses are named in their canonical text and bracketed before a port, as ipvsadm
// writes them (`tcp:[2001:db8::1]:80`, `[2001:db8::10]:80`); an IPv6 fwmark service is
// `fwmark6:5` (the kernel keeps fwmark 5 of each family apart).
import { canonicalAddress, hostPort, splitHostPort } from './address';
import type { RealServerConfig, ServiceConfig } from './config_schema';

type Named = Pick<ServiceConfig, 'protocol' | 'address' | 'port' | 'fwmark' | 'family'>;

/** An address as names use it: IPv4 as it is, IPv6 canonical (what is not an address, as it is). */
const canon = (a: string): string => (a.indexOf(':') < 0 ? a : canonicalAddress(a) ?? a);

/** `fwmark` or `fwmark6`: the word naming a fwmark service of the family. */
const markWord = (s: Named) => (s.family === 'ipv6' ? 'fwmark6' : 'fwmark');

// Service names are kept as map keys in several places per service: they are made with
// join(), which gives one flat string, where a template literal gives a tree of pieces
// (four to six strings each, 3.8 MB over 10,000 services).

/** `tcp:198.18.0.100:80`, `tcp:[2001:db8::1]:80`, `udp:…`, `sctp:…`, `fwmark:5` or `fwmark6:5`:
 * how the API (and the desired state) names a service. */
export function serviceId(s: Named): string {
  if (s.fwmark !== undefined) return [markWord(s), String(s.fwmark)].join(':');
  const a = canon(String(s.address));
  return a.indexOf(':') < 0 ? [String(s.protocol), a, String(s.port)].join(':') : [String(s.protocol), ':[', a, ']:', String(s.port)].join('');
}

/** `tcp 198.18.0.100:80`, `tcp [2001:db8::1]:80` or `fwmark 5`: how logs, health status and
 * metrics name a service. */
export function serviceKey(s: Named): string {
  if (s.fwmark !== undefined) return [markWord(s), String(s.fwmark)].join(' ');
  const a = canon(String(s.address));
  return a.indexOf(':') < 0 ? [String(s.protocol), ' ', a, ':', String(s.port)].join('') : [String(s.protocol), ' [', a, ']:', String(s.port)].join('');
}

/** A service id as the API was given it (a path, a query) in its canonical form: the IPv6
 * address canonical (`tcp:[2001:DB8:0::1]:80` → `tcp:[2001:db8::1]:80`); anything else as it is. */
export function canonicalServiceId(id: string): string {
  if (id.indexOf('[') < 0) return id;
  const i = id.indexOf(':');
  const hp = splitHostPort(id.slice(i + 1));
  return hp ? `${id.slice(0, i)}:${hostPort(canon(hp.address), hp.port)}` : id;
}

/** A real server id (`[2001:DB8::10]:80`) in its canonical form; anything else as it is. */
export function canonicalServerId(id: string): string {
  if (id.indexOf('[') < 0) return id;
  const hp = splitHostPort(id);
  return hp ? hostPort(canon(hp.address), hp.port) : id;
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

/** `198.18.1.11:8080` or `[2001:db8::10]:8080`: how the API names a real server within its service. */
export function serverId(s: Named, r: Pick<RealServerConfig, 'address' | 'port' | 'method'>): string {
  return hostPort(canon(r.address), serverPort(s, r));
}

/** A real server across the whole director: `tcp 198.18.0.100:80 -> 198.18.1.11:80`. */
export function serverKey(s: Named, r: Pick<RealServerConfig, 'address' | 'port' | 'method'>): string {
  return `${serviceKey(s)} -> ${serverId(s, r)}`;
}

/** The real server as it is stored: its address canonical, at its real port (DR/TUN at the
 * service's), the port written out unless it is the service's implied one. */
export function normalizeServer(s: Named, r: RealServerConfig): RealServerConfig {
  const address = canon(r.address);
  const movePort = forcesServicePort(s, r.method) && r.port !== undefined && r.port !== s.port;
  if (!movePort && address === r.address) return r;
  return { ...r, address, ...(movePort ? { port: s.port } : {}) };
}

/** The service with its address and every real server normalized (a new object only when
 * something changed). */
export function normalizeService(s: ServiceConfig): ServiceConfig {
  const address = s.address === undefined ? undefined : canon(s.address);
  const sorry = s.sorryServer && canon(s.sorryServer.address);
  let changed = address !== s.address || sorry !== s.sorryServer?.address;
  const realServers = s.realServers?.map((r) => {
    const n = normalizeServer(s, r);
    if (n !== r) changed = true;
    return n;
  });
  if (!changed) return s;
  return { ...s, ...(address !== undefined ? { address } : {}), ...(realServers ? { realServers } : {}),
    ...(s.sorryServer ? { sorryServer: { ...s.sorryServer, address: sorry! } } : {}) };
}
