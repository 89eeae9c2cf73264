// Between ipvsadm's words and Fulcrum's model: a service of the config or of the API's JSON
// as the kernel would hold it (what format.ts prints), and an ipvsadm command as the config's
// service and real server (what -A/-E/-a/-e set). fvsadm and the API's ipvsadm text both go
// through here, so a service reads and writes the same way on both paths.
// Only types come from the config schema (fvsadm's bundle must not load typebox); names
// come from src/control/identity.ts, the one place that keys services and real servers.
import type { HealthCheckConfig, RealServerConfig, ServiceConfig } from '../control/config_schema';
import { serviceId as configServiceId } from '../control/identity';
import { hostPort, splitHostPort } from '../control/address';
import type { Endpoint, IpvsadmCommand, Method, ServiceRef } from './args';
import { SCHED_FLAG_1, SCHED_FLAG_2, SCHED_FLAG_3 } from './args';
import { schedFlagNames, type Counters, type IpvsConnection, type IpvsDest, type IpvsService, type RateCounters } from './format';

/** The kernel's schedulers (ip_vs_*.ko), all of which the director has; the config schema's
 * SCHEDULERS holds the same names (a unit test keeps them equal). */
export const KERNEL_SCHEDULERS: readonly string[] = ['rr', 'wrr', 'lc', 'wlc', 'sed', 'nq', 'lblc', 'lblcr', 'dh', 'sh', 'mh', 'fo', 'ovf', 'twos'];
export const knownScheduler = (s: string) => KERNEL_SCHEDULERS.includes(s);

// ---- the API's JSON (the parts fvsadm reads) ------------------------------------------------------

export interface ApiRealServer {
  id?: string;
  address: string;
  port?: number;
  method?: 'nat' | 'dr' | 'tun' | 'fullnat';
  weight?: number;
  upperThreshold?: number;
  lowerThreshold?: number;
  healthChecks?: HealthCheckConfig[];
  effectiveWeight?: number;
  inDataplane?: boolean;
  activeConns?: number;
  inactConns?: number;
  persistConns?: number;
  stats?: Partial<Counters>;
  rates?: Partial<RateCounters>;
}

/** A service of GET /v1/services; a config's ServiceConfig is one too (without counters). */
export interface ApiService extends Omit<ServiceConfig, 'realServers'> {
  id?: string;
  stats?: Partial<Counters>;
  rates?: Partial<RateCounters>;
  realServers?: ApiRealServer[];
}

export interface ApiConnection {
  protocol: string;
  expiresSeconds: number;
  state: string;
  template?: boolean;
  source: string;
  virtual: string;
  destination: string;
  local?: string;
  peName?: string;
  peData?: string;
}

// ---- Fulcrum's model → what ipvsadm prints ------------------------------------------------------------

const METHOD_FROM_API: Record<string, IpvsDest['method']> = { nat: 'masq', dr: 'route', tun: 'tunnel', fullnat: 'fullnat' };
const METHOD_TO_API: Record<Method, NonNullable<RealServerConfig['method']>> = { masq: 'nat', route: 'dr', tunnel: 'tun', fullnat: 'fullnat' };

const counters = (c: Partial<Counters> | undefined): Counters =>
  ({ conns: c?.conns ?? 0, inpkts: c?.inpkts ?? 0, outpkts: c?.outpkts ?? 0, inbytes: c?.inbytes ?? 0, outbytes: c?.outbytes ?? 0 });
const rates = (r: Partial<RateCounters> | undefined): RateCounters =>
  ({ cps: r?.cps ?? 0, inpps: r?.inpps ?? 0, outpps: r?.outpps ?? 0, inbps: r?.inbps ?? 0, outbps: r?.outbps ?? 0 });

/** schedFlags names → the kernel's bits (sh-/mh- names are aliases of bits 1 and 2). */
export function schedFlagBits(names: readonly string[] | undefined): number {
  let bits = 0;
  for (const n of names ?? []) {
    if (n === 'flag-1' || n.endsWith('-fallback')) bits |= SCHED_FLAG_1;
    else if (n === 'flag-2' || n.endsWith('-port')) bits |= SCHED_FLAG_2;
    else if (n === 'flag-3') bits |= SCHED_FLAG_3;
  }
  return bits;
}

/** The kernel's flag bits → the config's names for this scheduler. */
export function schedFlagsForApi(scheduler: string, bits: number): NonNullable<ServiceConfig['schedFlags']> {
  const names = schedFlagNames(scheduler, bits);
  // sh/mh print no name for bit 3, but it is still set: keep it as flag-3
  if ((scheduler === 'sh' || scheduler === 'mh') && bits & SCHED_FLAG_3) names.push('flag-3');
  return names as NonNullable<ServiceConfig['schedFlags']>;
}

/** A service as the kernel would hold it, newest real server first. From GET /v1/services
 * that is the dataplane's view: only the real servers it has, at the weight it uses (health
 * checks may have set it). From a config (no effectiveWeight, no inDataplane) it is the
 * configured one. */
export function serviceFromApi(s: ApiService): IpvsService {
  const fwmark = s.fwmark ?? 0;
  const scheduler = s.scheduler ?? 'wlc';
  const v6 = s.address !== undefined ? s.address.indexOf(':') >= 0 : s.family === 'ipv6';
  const mask = s.persistence?.netmask;
  return {
    fwmark,
    af: v6 ? 6 : 4,
    protocol: s.protocol ?? 'tcp',
    address: fwmark ? (v6 ? '::' : '0.0.0.0') : s.address ?? '0.0.0.0',
    port: fwmark ? 0 : s.port ?? 0,
    scheduler,
    schedFlags: schedFlagBits(s.schedFlags),
    persistent: s.persistence !== undefined,
    timeout: s.persistence ? s.persistence.timeout ?? 360 : 0,
    netmask: mask !== undefined ? String(mask) : v6 ? '128' : '255.255.255.255',
    onePacket: s.onePacket ?? false,
    synproxy: s.synproxy ?? false,
    stats: counters(s.stats),
    rates: rates(s.rates),
    dests: (s.realServers ?? []).filter((r) => r.inDataplane !== false).map((r): IpvsDest => ({
      address: r.address,
      port: r.port ?? s.port ?? 0,
      method: METHOD_FROM_API[r.method ?? 'dr'],
      weight: r.effectiveWeight ?? r.weight ?? 1,
      uThreshold: r.upperThreshold ?? 0,
      lThreshold: r.lowerThreshold ?? 0,
      activeConns: r.activeConns ?? 0,
      inactConns: r.inactConns ?? 0,
      persistConns: r.persistConns ?? 0,
      stats: counters(r.stats),
      rates: rates(r.rates),
    })).reverse(),
  };
}

/** `addr:port` or `[v6]:port` as the API writes a connection's ends. */
function splitAddrPort(s: string): { address: string; port: number } {
  const hp = splitHostPort(s);
  if (hp) return hp;
  const i = s.lastIndexOf(':');
  return { address: s.slice(0, i), port: Number(s.slice(i + 1)) };
}

export function connectionFromApi(c: ApiConnection): IpvsConnection {
  return {
    protocol: c.protocol, expires: c.expiresSeconds, state: c.state,
    source: splitAddrPort(c.source), virtual: splitAddrPort(c.virtual), destination: splitAddrPort(c.destination),
    ...(c.peName !== undefined ? { peName: c.peName, peData: c.peData ?? '' } : {}),
  };
}

// ---- what ipvsadm sends → the model's names and bodies -------------------------------------------------

/** How the API names the service ipvsadm named (tcp:VIP:port, udp:…, sctp:… or fwmark:N;
 * ipvsadm's fwmark 0 means none). */
export function serviceId(s: ServiceRef): string {
  return configServiceId(s.fwmark ? { fwmark: s.fwmark, ...(s.af === 6 ? { family: 'ipv6' as const } : {}) }
    : { protocol: s.protocol, address: s.address, port: s.port });
}
/** The real server ipvsadm named, within its service (the parser has already put DR and TUN
 * servers at the service's port, as identity.ts keys them). */
export const serverId = (e: Endpoint) => hostPort(e.address, e.port);

/** What -A/-E set: every kernel attribute of the service (the rest of the config is not ipvsadm's). */
export function serviceBody(c: Extract<IpvsadmCommand, { cmd: 'add-service' | 'edit-service' }>): ServiceConfig {
  const s = c.service;
  const body: ServiceConfig = s.fwmark ? { fwmark: s.fwmark } : { protocol: s.protocol, address: s.address, port: s.port };
  if (s.fwmark && s.af === 6) body.family = 'ipv6';
  body.scheduler = c.scheduler as ServiceConfig['scheduler'];
  if (c.schedFlags) body.schedFlags = schedFlagsForApi(c.scheduler, c.schedFlags);
  if (c.persistence) {
    body.persistence = { timeout: c.persistence.timeout };
    // IPv4: a dotted mask; IPv6: a prefix length (what -M was read as, by the service's family)
    if (s.af === 6) {
      if (c.persistence.netmask !== '128') body.persistence.netmask = Number(c.persistence.netmask);
    } else if (c.persistence.netmask !== '255.255.255.255') body.persistence.netmask = c.persistence.netmask;
  }
  if (c.onePacket) body.onePacket = true;
  if (c.synproxy) body.synproxy = true;
  return body;
}

/** What -a/-e set: every kernel attribute of the real server (thresholds 0 mean none). */
export function serverBody(c: Extract<IpvsadmCommand, { cmd: 'add-server' | 'edit-server' }>): RealServerConfig {
  const body: RealServerConfig = { address: c.server.address, port: c.server.port, method: METHOD_TO_API[c.method], weight: c.weight };
  if (c.uThreshold) body.upperThreshold = c.uThreshold;
  if (c.lThreshold) body.lowerThreshold = c.lThreshold;
  return body;
}
