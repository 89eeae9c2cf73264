// Reads a config file (YAML or JSON) and validates it whole: the schema first, then the rules
// a schema cannot say (address syntax, duplicates, flags that need a scheduler, ...). Every
// problem is reported with its path, e.g. `services[2].realServers[0].weight: must be <= ...`,
// and a config with any problem is refused as a whole.
import fs from 'node:fs';
import { FormatRegistry } from '@sinclair/typebox';
import YAML from 'yaml';
import { schemaProblems } from './config_errors';
import { ConfigSchema, ServiceSchema, type FulcrumConfig, type RealServerConfig, type ServiceConfig } from './config_schema';
import { serverId, serviceKey } from './identity';
import { parseIpv4 } from './ipv4';
import { familyOf, isLoopbackAddress, splitHostPort, type Family } from './address';
import { ipv6UnicastProblem } from './ipv6';
import { ipv6Value, isLinkLocal6, isMulticast6, parseCidr6 } from './cidr6';
import { syncConfigProblems } from '../ha/sync_config';
import { vrrpProblems } from '../ha/vrrp_config';
import { bgpProblems } from '../ha/bgp_config';

export { parseIpv4 };

export class ConfigError extends Error {
  constructor(readonly problems: string[], source = 'config') {
    super(`${source} refused:\n  ${problems.join('\n  ')}`);
  }
}

/** Parses a.b.c.d/len; the address must not have bits beyond the prefix unless `host` allows it. */
export function parseCidr(s: string, host = false): { addr: number; len: number } | undefined {
  const m = /^([0-9.]+)\/(\d{1,2})$/.exec(s);
  if (!m) return undefined;
  const addr = parseIpv4(m[1]);
  const len = Number(m[2]);
  if (addr === undefined || len > 32) return undefined;
  const mask = len === 0 ? 0 : (~0 << (32 - len)) >>> 0;
  if (!host && (addr & ~mask) >>> 0 !== 0) return undefined;
  return { addr, len };
}

FormatRegistry.Set('ipv4', (v) => parseIpv4(v) !== undefined);
FormatRegistry.Set('ip', (v) => familyOf(v) !== undefined);
FormatRegistry.Set('ipv6', (v) => familyOf(v) === 6);

/** A service's address family: its address's, or a fwmark service's `family` (default IPv4). */
export function serviceFamily(s: Pick<ServiceConfig, 'address' | 'family'>): Family {
  if (s.address !== undefined) return familyOf(s.address) ?? 4;
  return s.family === 'ipv6' ? 6 : 4;
}

/** Why a real server of family `rf` cannot be behind a service of family `sf` with this
 * method, or undefined. The kernel mixes families only for tunnels (ip_vs_ctl.c: a dest of
 * another family must be IP_VS_CONN_F_TUNNEL); FullNAT also carries IPv6 clients to IPv4
 * servers (NAT64, as DPVS does), never the other way. */
function mixedFamilyProblem(sf: Family, rf: Family, method: string | undefined): string | undefined {
  if (sf === rf || method === 'tun' || (method === 'fullnat' && sf === 6 && rf === 4)) return undefined;
  return `an IPv${rf} real server in an IPv${sf} service: different families only with method tun` +
    (sf === 6 ? ' or fullnat (IPv6 clients to IPv4 servers)' : '');
}

/** JSON pointer (/services/2/realServers/0/weight) to the path people read. */
export function readablePath(pointer: string): string {
  return pointer.split('/').slice(1).reduce((acc, part) =>
    /^\d+$/.test(part) ? `${acc}[${part}]` : acc ? `${acc}.${part}` : part, '');
}

/** What a service's checks need from the rest of the config. */
export interface ServiceContext {
  localAddresses?: string[];
}

/** Why a service's address cannot be a VIP, or undefined. */
function vipProblem(address: string): string | undefined {
  return familyOf(address) === 6 ? ipv6UnicastProblem(address, 'service') : undefined;
}

/** The SYN proxy shifts sequence numbers both ways, so only servers whose replies come back
 * through the director can be behind it. */
const proxiable = (r: RealServerConfig) => r.method === 'nat' || r.method === 'fullnat';
const PROXY_NEEDS_NAT = 'the SYN proxy needs NAT or FullNAT real servers (it shifts sequence numbers both ways)';

/** The rules a schema cannot say about one service (its real servers with it). */
export function serviceProblems(s: ServiceConfig, at: string, cfg: ServiceContext): string[] {
  const p: string[] = [];
  const named = s.fwmark !== undefined;
  if (named && (s.protocol || s.address || s.port !== undefined))
    p.push(`${at}: a service is named by protocol/address/port or by fwmark, not both`);
  if (!named && (!s.protocol || !s.address || s.port === undefined))
    p.push(`${at}: needs protocol, address and port (or fwmark)`);
  if (!named && s.port === 0 && !s.persistence)
    p.push(`${at}.port: zero port specified for non-persistent service`);
  if (s.onePacket && !named && s.protocol !== 'udp')
    p.push(`${at}.onePacket: one-packet scheduling is only for UDP virtual services`);
  if (s.synproxy && (named || s.protocol !== 'tcp'))
    p.push(`${at}.synproxy: the SYN proxy is only for TCP virtual services`);
  if (s.synproxy && (s.realServers ?? []).some((r) => !proxiable(r)))
    p.push(`${at}.synproxy: ${PROXY_NEEDS_NAT}`);
  const sched = s.scheduler ?? 'wlc';
  for (const f of s.schedFlags ?? []) {
    if ((f.startsWith('sh-') && sched !== 'sh') || (f.startsWith('mh-') && sched !== 'mh'))
      p.push(`${at}.schedFlags: incompatible scheduler flag '${f}' for scheduler ${sched}`);
  }
  if (s.mhTableSize !== undefined && sched !== 'mh') p.push(`${at}.mhTableSize: only for the mh scheduler`);
  const family = serviceFamily(s);
  if (s.family !== undefined && s.address !== undefined && familyOf(s.address) !== (s.family === 'ipv6' ? 6 : 4))
    p.push(`${at}.family: the address ${s.address} is IPv${familyOf(s.address)}, not ${s.family}`);
  if (s.address !== undefined) {
    const vip = vipProblem(s.address);
    if (vip) p.push(`${at}.address: ${vip}`);
  }
  const mask = s.persistence?.netmask;
  if (typeof mask === 'string') {
    if (family === 6) p.push(`${at}.persistence.netmask: an IPv6 service's netmask is a prefix length 1..128, not ${mask}`);
    const m = parseIpv4(mask)!;
    if (m === 0 || ((~m >>> 0) & ((~m >>> 0) + 1)) !== 0) p.push(`${at}.persistence.netmask: must be a contiguous netmask`);
  } else if (mask !== undefined && family === 4) {
    p.push(`${at}.persistence.netmask: an IPv4 service's netmask is dotted (a.b.c.d), not a prefix length`);
  }
  if (s.sorryServer) {
    const mixed = mixedFamilyProblem(family, familyOf(s.sorryServer.address) ?? 4, s.sorryServer.method ?? 'nat');
    if (mixed) p.push(`${at}.sorryServer.address: ${mixed}`);
  }
  const seen = new Set<string>();
  (s.realServers ?? []).forEach((r, j) => {
    const rat = `${at}.realServers[${j}]`;
    const key = serverId(s, r);
    if (seen.has(key)) p.push(`${rat}: real server ${key} already exists`);
    seen.add(key);
    p.push(...serverProblems(r, rat, cfg));
    const mixed = mixedFamilyProblem(family, familyOf(r.address) ?? 4, r.method ?? 'dr');
    if (mixed) p.push(`${rat}.address: ${mixed}`);
  });
  return p;
}

/** The rules a schema cannot say about one real server on its own (not its place among the
 * service's others: serviceProblems checks those). `svc`, for a write of this one server:
 * what it needs of its service (serviceProblems says it for the whole service). */
export function serverProblems(r: RealServerConfig, at: string, cfg: ServiceContext, svc?: ServiceConfig): string[] {
  const p: string[] = [];
  if (svc?.synproxy && !proxiable(r)) p.push(`${at}.method: ${PROXY_NEEDS_NAT}`);
  if ((r.lowerThreshold ?? 0) > (r.upperThreshold ?? 0))
    p.push(`${at}.lowerThreshold: must not exceed upperThreshold`);
  const rf = familyOf(r.address);
  if (rf === 6) {
    const why = ipv6UnicastProblem(r.address, 'real server');
    if (why) p.push(`${at}.address: ${why}`);
  } else {
    const a = parseIpv4(r.address)!;
    if (a === 0 || a >= 0xe0000000) p.push(`${at}.address: must be a unicast address`);
  }
  if (svc) {
    const mixed = mixedFamilyProblem(serviceFamily(svc), rf ?? 4, r.method ?? 'dr');
    if (mixed) p.push(`${at}.address: ${mixed}`);
  }
  // FullNAT's local address is the source toward the real server: of the server's family.
  if (r.method === 'fullnat' && !(cfg.localAddresses ?? []).some((l) => familyOf(l) === rf))
    p.push(`${at}.method: fullnat needs localAddresses` + (rf === 6 ? ' with an IPv6 address (the source toward an IPv6 real server)' : ''));
  return p;
}

/** Every problem of one service (schema, then the rules beyond it), paths under `at`. */
export function validateService(s: unknown, at: string, ctx: ServiceContext): string[] {
  const schema = schemaProblems(ServiceSchema, s);
  if (schema.length) return schema.map((p) => `${at}${p.path ? (readablePath(p.path).startsWith('[') ? '' : '.') + readablePath(p.path) : ''}: ${p.message}`);
  return serviceProblems(s as ServiceConfig, at, ctx);
}

/** Why a config whose dataplane is a stand-in does not start. */
export const placeholderProblem = (what: string) =>
  `dataplane.placeholder: this dataplane section is a placeholder (${what}); replace it with the director's ports, ` +
  `their addresses and routes and the worker lcores (examples/bare-metal.yaml shows them), then delete the placeholder line`;

/** Validates a parsed document; returns the config or throws ConfigError listing every problem. */
export function validateConfig(doc: unknown, source = 'config'): FulcrumConfig {
  const problems: string[] = [];
  for (const p of schemaProblems(ConfigSchema, doc)) problems.push(`${readablePath(p.path) || '(top)'}: ${p.message}`);
  if (problems.length) throw new ConfigError(problems, source);
  const cfg = doc as FulcrumConfig;

  const dp = cfg.dataplane;
  if (dp.placeholder !== undefined) problems.push(placeholderProblem(dp.placeholder));
  const names = new Set<string>();
  dp.ports.forEach((port, i) => {
    if (names.has(port.name)) problems.push(`dataplane.ports[${i}].name: duplicate port name '${port.name}'`);
    names.add(port.name);
    if (port.address !== undefined && !parseCidr(port.address, true))
      problems.push(`dataplane.ports[${i}].address: must be a.b.c.d/len`);
    (port.address6 ?? []).forEach((a, j) => {
      const c = parseCidr6(a, true);
      if (!c) problems.push(`dataplane.ports[${i}].address6[${j}]: must be an IPv6 address/len`);
      else if (isLinkLocal6(c.value) || isMulticast6(c.value) || c.value === 0n)
        problems.push(`dataplane.ports[${i}].address6[${j}]: ${a} is not a global unicast address (the link-local one is automatic)`);
    });
    if (port.tap === undefined && port.name.length > 15)
      problems.push(`dataplane.ports[${i}].tap: the port name is too long for a kernel interface; name its TAP (at most 15 characters) or set tap: false`);
  });
  (dp.routes ?? []).forEach((r, i) => {
    if (r.prefix.includes(':')) {
      if (!parseCidr6(r.prefix)) problems.push(`dataplane.routes[${i}].prefix: must be an IPv6 network address/len`);
      const via = r.via === undefined ? undefined : ipv6Value(r.via);
      if (r.via !== undefined && via === undefined) problems.push(`dataplane.routes[${i}].via: an IPv6 route's gateway must be an IPv6 address`);
      else if (via !== undefined && isLinkLocal6(via) && r.port === undefined)
        problems.push(`dataplane.routes[${i}].port: a link-local gateway needs the port it is on`);
    } else {
      if (!parseCidr(r.prefix)) problems.push(`dataplane.routes[${i}].prefix: must be a network a.b.c.d/len`);
      if (r.via !== undefined && parseIpv4(r.via) === undefined) problems.push(`dataplane.routes[${i}].via: an IPv4 route's gateway must be an IPv4 address`);
    }
    if (r.port !== undefined && !names.has(r.port)) problems.push(`dataplane.routes[${i}].port: no port named '${r.port}'`);
    if (r.via === undefined && r.port === undefined) problems.push(`dataplane.routes[${i}]: needs via or port`);
  });
  (cfg.localAddresses ?? []).forEach((a, i) => {
    if (parseIpv4(a) === undefined && ipv6Value(a) === undefined) problems.push(`localAddresses[${i}]: '${a}' is not an IPv4 or IPv6 address`);
  });
  if (dp.workers && new Set(dp.workers).size !== dp.workers.length) problems.push('dataplane.workers: an lcore is listed twice');
  const taps = dp.ports.filter((p) => p.tap !== false).map((p) => p.tap ?? p.name);
  if (new Set(taps).size !== taps.length) problems.push('dataplane.ports: two ports have the same TAP name');
  const listen = cfg.api?.listen;
  if (listen !== undefined) {
    const hp = splitHostPort(listen);
    if (!hp || familyOf(hp.address) === undefined || (familyOf(hp.address) === 6) !== listen.startsWith('['))
      problems.push(`api.listen: '${listen}' is not address:port (IPv6 as [address]:port)`);
    else if (!isLoopbackAddress(hp.address) && !cfg.api?.tokenFile) problems.push('api.tokenFile: a non-loopback api.listen needs a token file');
  }
  problems.push(...vrrpProblems(cfg));
  problems.push(...bgpProblems(cfg));
  if (cfg.api?.metricsTokenFile !== undefined && cfg.api.tokenFile === undefined)
    problems.push('api.metricsTokenFile: needs api.tokenFile (without a token every route is open, /metrics included)');

  const services = new Set<string>();
  (cfg.services ?? []).forEach((s, i) => {
    const at = `services[${i}]`;
    problems.push(...serviceProblems(s, at, cfg));
    const key = serviceKey(s);
    if (services.has(key)) problems.push(`${at}: service ${key} already exists`);
    services.add(key);
  });
  (cfg.matchRules ?? []).forEach((r, i) => {
    if (!parseCidr(r.prefix) && !parseCidr6(r.prefix))
      problems.push(`matchRules[${i}].prefix: must be a network, IPv4 a.b.c.d/len or IPv6 addr/len (no host bits)`);
    if (r.ports) {
      const [lo, hi = lo] = r.ports.split('-').map(Number);
      if (lo > 65535 || hi > 65535 || lo > hi) problems.push(`matchRules[${i}].ports: must be a port or low-high within 0..65535`);
    }
  });
  problems.push(...syncConfigProblems(cfg));
  if (problems.length) throw new ConfigError(problems, source);
  return cfg;
}

/** Reads and validates a YAML or JSON file (JSON is YAML, so one parser serves both). */
export function loadConfigFile(file: string): FulcrumConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError([`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`], file);
  }
  let doc: unknown;
  try {
    doc = YAML.parse(text, { prettyErrors: true });
  } catch (e) {
    throw new ConfigError([`not valid YAML/JSON: ${(e as Error).message.split('\n')[0]}`], file);
  }
  return validateConfig(doc, file);
}
