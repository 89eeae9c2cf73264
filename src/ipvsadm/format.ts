// ipvsadm 1.31's output, reproduced byte for byte (reference §1.7; checked against the real
// binary in test/golden/ipvsadm/): every listing mode of -L (with --stats, --rate, --exact,
// --thresholds, --persistent-conn, --tun-info, --nosort, -n), -L -c, --timeout, --daemon and -S.
// Input is the kernel's view as plain data: services in the kernel's order with their real
// servers newest first, which ipvsadm sorts (with its own comparator and glibc's merge sort)
// unless --nosort. Names without -n come from an injected, synchronous lookup, so whoever
// calls resolves first and tests need no DNS. The demo prints its table with formatStats.
import type { TrafficCounters } from '../native';
import { parseIpv6 } from '../control/ipv6';
import { breathe } from '../control/slices';
import { SCHED_FLAG_1, SCHED_FLAG_2, SCHED_FLAG_3, type ListFormat, type Protocol } from './args';

export const IPVS_HEADER = 'IP Virtual Server version 1.2.1 (size=4096)';

export interface Counters {
  conns: number | bigint;
  inpkts: number | bigint;
  outpkts: number | bigint;
  inbytes: number | bigint;
  outbytes: number | bigint;
}
export interface RateCounters {
  cps: number;
  inpps: number;
  outpps: number;
  inbps: number;
  outbps: number;
}
export const NO_RATES: RateCounters = { cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 };

export interface IpvsDest {
  address: string;
  port: number;
  method: 'masq' | 'local' | 'tunnel' | 'route' | 'fullnat';
  weight: number;
  uThreshold: number;
  lThreshold: number;
  activeConns: number;
  inactConns: number;
  persistConns: number;
  stats: Counters;
  rates: RateCounters;
  /** For tunnel servers; absent means ipip. */
  tunnel?: { type: 'ipip' | 'gue' | 'gre'; port: number; csum: 'nocsum' | 'csum' | 'remcsum' };
}

export interface IpvsService {
  /** 0 for a protocol/address/port service. */
  fwmark: number;
  /** The address family (a fwmark service's own; else its address's). Absent: IPv4. */
  af?: 4 | 6;
  protocol: Protocol;
  address: string;
  port: number;
  scheduler: string;
  /** SCHED_FLAG_1..3 bits. */
  schedFlags: number;
  persistent: boolean;
  timeout: number;
  /** Dotted for IPv4 services, a prefix length ('64') for IPv6 ones. */
  netmask: string;
  pe?: string;
  onePacket: boolean;
  /** Fulcrum's SYN proxy: -S writes `-j enable` (DPVS's switch; ipvsadm -R refuses it), -L `synproxy`. */
  synproxy?: boolean;
  stats: Counters;
  rates: RateCounters;
  /** Newest first, as the kernel keeps them. */
  dests: IpvsDest[];
}

/** Reverse lookups as ipvsadm makes them without -n: gethostbyaddr, getservbyport. */
export interface Names {
  host(address: string): string | undefined;
  service(port: number, protocol: Protocol): string | undefined;
}
export const NO_NAMES: Names = { host: () => undefined, service: () => undefined };

export const NUMERIC: ListFormat = { numeric: true, stats: false, rate: false, thresholds: false, persistentConn: false, nosort: false, exact: false, tunInfo: false };

// ---- printf helpers -----------------------------------------------------------------------------

const left = (s: string | number, w: number) => String(s).padEnd(w);
const right = (s: string | number, w: number) => String(s).padStart(w);

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

// ---- sort order ---------------------------------------------------------------------------------

/** A dotted quad as its 32-bit number (read digit by digit: sorting a large table's addresses
 * with split() and Number() cost more than the sort). */
function ipNum(a: string): number {
  let n = 0, octet = 0;
  for (let i = 0; i < a.length; i++) {
    const c = a.charCodeAt(i);
    if (c === 46) { n = n * 256 + octet; octet = 0; } else octet = octet * 10 + (c - 48);
  }
  return n * 256 + octet;
}
/** C's `int r = (unsigned) a - (unsigned) b`: the difference wrapped to signed 32 bits. */
const diff32 = (a: number, b: number) => ((a - b) | 0);
const PROTO_NUMBER: Record<Protocol, number> = { tcp: 6, udp: 17, sctp: 132 };

const AF_INET = 2, AF_INET6 = 10;

/** An address as libipvs holds it, union nf_inet_addr's four 32-bit words in host order:
 * IPv4 in the first (the rest zero), IPv6 in all four; and whether it is IPv6. */
interface AddrWords { v6: boolean; w: [number, number, number, number] }
function addrWords(a: string): AddrWords {
  if (a.indexOf(':') < 0) return { v6: false, w: [ipNum(a), 0, 0, 0] };
  const g = parseIpv6(a) ?? [0, 0, 0, 0, 0, 0, 0, 0];
  return { v6: true, w: [g[0] * 65536 + g[1], g[2] * 65536 + g[3], g[4] * 65536 + g[5], g[6] * 65536 + g[7]] };
}
/** libipvs's address comparison: the first word only when the left one is IPv4, all four
 * (word by word, each a wrapped difference) when it is IPv6, whatever the right one is. */
function compareAddrs(a: AddrWords, b: AddrWords): number {
  if (!a.v6) return diff32(a.w[0], b.w[0]);
  for (let i = 0; i < 4; i++) {
    const r = diff32(a.w[i], b.w[i]);
    if (r) return r;
  }
  return 0;
}

/** What libipvs's ipvs_cmp_services compares: fwmark, family, protocol number, address, port. */
interface ServiceSortKey { fw: number; af: number; pr: number; ip: number; a?: AddrWords; port: number }
function sortKey(s: IpvsService): ServiceSortKey {
  const v6 = s.af === 6 || s.address.indexOf(':') >= 0;
  return v6 ? { fw: s.fwmark, af: AF_INET6, pr: PROTO_NUMBER[s.protocol], ip: 0, a: addrWords(s.address), port: s.port }
    : { fw: s.fwmark, af: AF_INET, pr: PROTO_NUMBER[s.protocol], ip: ipNum(s.address), port: s.port };
}
/** Addresses are compared by their wrapped difference, so far-apart addresses compare "backwards". */
const compareKeys = (a: ServiceSortKey, b: ServiceSortKey) => diff32(a.fw, b.fw) || (a.af - b.af) || diff32(a.pr, b.pr) ||
  (a.a ? compareAddrs(a.a, b.a ?? addrWords('::')) : diff32(a.ip, b.ip)) || (a.port - b.port);

/** libipvs's ipvs_cmp_services: fwmark, family, protocol number, address, port. */
export function compareServices(a: IpvsService, b: IpvsService): number {
  return compareKeys(sortKey(a), sortKey(b));
}

/** libipvs's ipvs_cmp_dests: address (wrapped differences), then port. */
export function compareDests(a: IpvsDest, b: IpvsDest): number {
  return compareAddrs(addrWords(a.address), addrWords(b.address)) || (a.port - b.port);
}

/** A service's real servers in ipvsadm's order, each address turned into a number once. */
function sortDests(dests: IpvsDest[]): IpvsDest[] {
  if (dests.length <= 1) return dests;
  if (dests.every((d) => d.address.indexOf(':') < 0)) {
    const keyed = dests.map((d) => ({ d, ip: ipNum(d.address) }));
    return glibcSort(keyed, (a, b) => diff32(a.ip, b.ip) || (a.d.port - b.d.port)).map((x) => x.d);
  }
  const keyed = dests.map((d) => ({ d, a: addrWords(d.address) }));
  return glibcSort(keyed, (x, y) => compareAddrs(x.a, y.a) || (x.d.port - y.d.port)).map((x) => x.d);
}

/** glibc's qsort (a top-down merge sort): the same comparisons in the same order, so a
 * comparator that is not transitive gives the same order as ipvsadm's. One scratch array,
 * no copies per level (10,000 services took 300 ms with them). */
export function glibcSort<T>(items: readonly T[], cmp: (a: T, b: T) => number): T[] {
  const a = items.slice();
  msort(a, new Array<T>(a.length), 0, a.length, cmp);
  return a;
}

function msort<T>(a: T[], tmp: T[], lo: number, n: number, cmp: (a: T, b: T) => number): void {
  if (n <= 1) return;
  const n1 = n >> 1;
  msort(a, tmp, lo, n1, cmp);
  msort(a, tmp, lo + n1, n - n1, cmp);
  merge(a, tmp, lo, n1, n, cmp);
}

function merge<T>(a: T[], tmp: T[], lo: number, n1: number, n: number, cmp: (a: T, b: T) => number): void {
  let i = lo, j = lo + n1, k = 0;
  const iEnd = lo + n1, jEnd = lo + n;
  while (i < iEnd && j < jEnd) tmp[k++] = cmp(a[i], a[j]) <= 0 ? a[i++] : a[j++];
  while (i < iEnd) tmp[k++] = a[i++];
  for (let x = 0; x < k; x++) a[lo + x] = tmp[x];  // what is left of the second half is in place
}

/** A range no larger than this is sorted in one step (well under a slice). */
const SORT_STEP = 1024;

/** msort as steps, each a whole small range or one merge: the same comparisons in the same
 * order, with a point between steps where the caller may yield. */
function* msortSteps<T>(a: T[], tmp: T[], lo: number, n: number, cmp: (a: T, b: T) => number): Generator<void> {
  if (n <= SORT_STEP) {
    msort(a, tmp, lo, n, cmp);
    yield;
    return;
  }
  const n1 = n >> 1;
  yield* msortSteps(a, tmp, lo, n1, cmp);
  yield* msortSteps(a, tmp, lo + n1, n - n1, cmp);
  merge(a, tmp, lo, n1, n, cmp);
  yield;
}

/** glibcSort in slices of the event loop: fvsadm also runs inside the director (POST
 * /v1/ipvsadm), where sorting 10,000 services in one go held its event loop for 10-20 ms. */
export async function glibcSortSliced<T>(items: readonly T[], cmp: (a: T, b: T) => number): Promise<T[]> {
  const a = items.slice();
  const slice = { start: performance.now() };
  for (const _ of msortSteps(a, new Array<T>(a.length), 0, a.length, cmp)) await breathe(slice);
  return a;
}

/** A service with its sort key, computed once (compareServices on every comparison recomputed it). */
interface Keyed { s: IpvsService; k: ServiceSortKey }
const byKey = (a: Keyed, b: Keyed) => compareKeys(a.k, b.k);

/** The services in the order a listing or -S prints them: ipvsadm's, or as they are with --nosort. */
function listingOrderNow(services: IpvsService[], format: ListFormat): IpvsService[] {
  if (format.nosort) return services;
  return glibcSort(services.map((s): Keyed => ({ s, k: sortKey(s) })), byKey).map((x) => x.s);
}

/** listingOrderNow a slice at a time, for tableParts and saveParts on the director. */
export async function listingOrder(services: IpvsService[], format: ListFormat): Promise<IpvsService[]> {
  if (format.nosort) return services;
  const slice = { start: performance.now() };
  const keyed: Keyed[] = [];
  for (const s of services) {
    keyed.push({ s, k: sortKey(s) });
    await breathe(slice);
  }
  return (await glibcSortSliced(keyed, byKey)).map((x) => x.s);
}

// ---- names --------------------------------------------------------------------------------------

/** addrport_to_anyname: `addr:port` with -n, else `host-or-addr:service-or-port`; an IPv6
 * address (or its name) in brackets. */
function anyName(address: string, port: number, protocol: Protocol | undefined, format: ListFormat, names: Names): string {
  const v6 = address.indexOf(':') >= 0;
  if (format.numeric) return v6 ? `[${address}]:${port}` : `${address}:${port}`;
  const host = names.host(address) ?? address;
  const service = protocol ? names.service(port, protocol) : undefined;
  return v6 ? `[${host}]:${service ?? port}` : `${host}:${service ?? port}`;
}

const FWD_NAME: Record<IpvsDest['method'], string> = { masq: 'Masq', local: 'Local', tunnel: 'Tunnel', route: 'Route', fullnat: 'FullNat' };
// -S's switches; FullNAT is Fulcrum's own (`--fullnat`), ipvsadm has none.
const FWD_SWITCH: Record<IpvsDest['method'], string> = { masq: '-m', local: '-g', tunnel: '-i', route: '-g', fullnat: '--fullnat' };
const PROTO_LABEL: Record<Protocol, string> = { tcp: 'TCP', udp: 'UDP', sctp: 'SCTP' };
const PROTO_SWITCH: Record<Protocol, string> = { tcp: '-t', udp: '-u', sctp: '--sctp-service' };
const CSUM_INFO = { nocsum: '-c', csum: '+c', remcsum: 'r+c' } as const;
const CSUM_SWITCH = { nocsum: '--tun-nocsum', csum: '--tun-csum', remcsum: '--tun-remcsum' } as const;

/** The flag names ipvsadm prints for a scheduler: sh and mh have their own for bits 1 and 2
 * and none for bit 3; the others use flag-1..3. */
export function schedFlagNames(scheduler: string, flags: number): string[] {
  const out: string[] = [];
  if (scheduler === 'sh' || scheduler === 'mh') {
    if (flags & SCHED_FLAG_1) out.push(`${scheduler}-fallback`);
    if (flags & SCHED_FLAG_2) out.push(`${scheduler}-port`);
  } else {
    if (flags & SCHED_FLAG_1) out.push('flag-1');
    if (flags & SCHED_FLAG_2) out.push('flag-2');
    if (flags & SCHED_FLAG_3) out.push('flag-3');
  }
  return out;
}

// ---- the service table --------------------------------------------------------------------------

function title(format: ListFormat, save: boolean): string {
  const head = 'Prot LocalAddress:Port'.padEnd(33);
  if (format.stats) return `${head} ${right('Conns', 8)} ${right('InPkts', 8)} ${right('OutPkts', 8)} ${right('InBytes', 8)} ${right('OutBytes', 8)}\n  -> RemoteAddress:Port\n`;
  if (format.rate) return `${head} ${right('CPS', 8)} ${right('InPPS', 8)} ${right('OutPPS', 8)} ${right('InBPS', 8)} ${right('OutBPS', 8)}\n  -> RemoteAddress:Port\n`;
  if (format.thresholds) return `${head} ${left('Uthreshold', 10)} ${left('Lthreshold', 10)} ${left('ActiveConn', 10)} ${left('InActConn', 10)}\n  -> RemoteAddress:Port\n`;
  if (format.persistentConn) return `${head} ${left('Weight', 9)} ${left('PersistConn', 11)} ${left('ActiveConn', 10)} ${left('InActConn', 10)}\n  -> RemoteAddress:Port\n`;
  if (format.tunInfo) return 'Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n';
  if (!save) return 'Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n';
  return '';
}

function tunnelInfo(d: IpvsDest): string {
  if (d.method !== 'tunnel') return 'n/a';
  const t = d.tunnel ?? { type: 'ipip', port: 0, csum: 'nocsum' };
  if (t.type === 'gue') return `gue:${t.port}:${CSUM_INFO[t.csum]}`;
  if (t.type === 'gre') return `gre:${CSUM_INFO[t.csum]}`;
  return 'ipip';
}

function saveDest(svcName: string, dname: string, d: IpvsDest): string {
  let line = `-a ${svcName} -r ${dname} ${FWD_SWITCH[d.method]} -w ${d.weight}`;
  if (d.method === 'tunnel') {
    const t = d.tunnel ?? { type: 'ipip', port: 0, csum: 'nocsum' };
    line += ` --tun-type ${t.type}`;
    if (t.type === 'gue') line += ` --tun-port ${t.port} ${CSUM_SWITCH[t.csum]}`;
    if (t.type === 'gre') line += ` ${CSUM_SWITCH[t.csum]}`;
  }
  return line + '\n';
}

const statsCells = (c: Counters, exact: boolean) =>
  [c.conns, c.inpkts, c.outpkts, c.inbytes, c.outbytes].map((n) => largeNum(n, exact)).join('');
const rateCells = (r: RateCounters, exact: boolean) =>
  [r.cps, r.inpps, r.outpps, r.inbps, r.outbps].map((n) => largeNum(n, exact)).join('');

/** ipvsadm's print_service_entry: the service's line and its real servers'. */
function serviceEntry(s: IpvsService, format: ListFormat, save: boolean, names: Names): string {
  let svcName: string;
  const v6 = s.af === 6 || s.address.indexOf(':') >= 0;
  if (s.fwmark) {
    // printed with %d: marks above 2^31 come out negative
    svcName = save ? `-f ${s.fwmark | 0}` : `FWM  ${s.fwmark | 0}`;
    if (v6) svcName += save ? ' -6' : ' IPv6';
  } else {
    const vname = anyName(s.address, s.port, s.protocol, format, names);
    // IPv4 names are cut to the column, IPv6 ones are not (the columns shift)
    svcName = save ? `${PROTO_SWITCH[s.protocol]} ${vname}` : `${left(PROTO_LABEL[s.protocol], 4)} ${vname}`;
    if (!save && !v6) svcName = svcName.slice(0, 33);
  }
  const fullMask = v6 ? '128' : '255.255.255.255';
  const flags = s.schedFlags & (SCHED_FLAG_1 | SCHED_FLAG_2 | SCHED_FLAG_3);
  let out: string;
  if (save) {
    out = `-A ${svcName} -s ${s.scheduler}`;
    if (s.persistent) {
      out += ` -p ${s.timeout}`;
      if (s.netmask !== fullMask) out += ` -M ${s.netmask}`;
      if (s.pe) out += ` --pe ${s.pe}`;
    }
    if (s.onePacket) out += ' -o';
    if (flags) out += ` -b ${schedFlagNames(s.scheduler, flags).join(',')}`;
    if (s.synproxy) out += ' -j enable';
  } else if (format.stats) {
    out = left(svcName, 33) + statsCells(s.stats, format.exact);
  } else if (format.rate) {
    out = left(svcName, 33) + rateCells(s.rates, format.exact);
  } else {
    out = `${svcName} ${s.scheduler}`;
    if (flags) out += ` (${schedFlagNames(s.scheduler, flags).join(',')})`;
    if (s.persistent) {
      out += ` persistent ${s.timeout}`;
      if (s.netmask !== fullMask) out += ` mask ${s.netmask}`;
      if (s.pe) out += ` pe ${s.pe}`;
    }
    if (s.onePacket) out += ' ops';
    if (s.synproxy) out += ' synproxy';
  }
  out += '\n';

  const dests = format.nosort ? s.dests : sortDests(s.dests);
  for (const d of dests) {
    // a fwmark service has no protocol to name its real servers' ports by
    let dname = anyName(d.address, d.port, s.fwmark ? undefined : s.protocol, format, names);
    if (save) { out += saveDest(svcName, dname, d); continue; }
    if (d.address.indexOf(':') < 0) dname = dname.slice(0, 28);
    if (format.stats) out += `  -> ${left(dname, 28)}${statsCells(d.stats, format.exact)}\n`;
    else if (format.rate) {
      // the real server's CPS and PPS are printed unscaled, only its byte rates scaled
      out += `  -> ${left(dname, 28)} ${right(d.rates.cps, 8)} ${right(d.rates.inpps, 8)} ${right(d.rates.outpps, 8)}` +
        `${largeNum(d.rates.inbps, format.exact)}${largeNum(d.rates.outbps, format.exact)}\n`;
    } else if (format.thresholds) {
      out += `  -> ${left(dname, 28)} ${left(d.uThreshold, 10)} ${left(d.lThreshold, 10)} ${left(d.activeConns, 10)} ${left(d.inactConns, 10)}\n`;
    } else if (format.persistentConn) {
      out += `  -> ${left(dname, 28)} ${left(d.weight, 9)} ${left(d.persistConns, 11)} ${left(d.activeConns, 10)} ${left(d.inactConns, 10)}\n`;
    } else if (format.tunInfo) {
      out += `  -> ${left(dname, 28)} ${left(FWD_NAME[d.method], 7)} ${left(tunnelInfo(d), 13)} ${left(d.weight, 6)} ${left(d.activeConns, 10)} ${left(d.inactConns, 10)}\n`;
    } else {
      out += `  -> ${left(dname, 28)} ${left(FWD_NAME[d.method], 7)} ${left(d.weight, 6)} ${left(d.activeConns, 10)} ${left(d.inactConns, 10)}\n`;
    }
  }
  return out;
}

/** `ipvsadm -L [options]`: the version header, the column titles, every service. */
export function formatTable(services: IpvsService[], format: ListFormat, names: Names = NO_NAMES): string {
  return [...tableParts(listingOrderNow(services, format), format, names)].join('');
}

/** formatTable's text a part at a time (the head, then a service each), for a caller that
 * writes a large table in slices; the services come in listing order (listingOrder). */
export function* tableParts(ordered: IpvsService[], format: ListFormat, names: Names = NO_NAMES): Generator<string> {
  yield IPVS_HEADER + '\n' + title(format, false);
  for (const s of ordered) yield flat(serviceEntry(s, format, false, names));
}

/** A service's entry as one flat string. `+=` makes a tree of pieces, and 10,000 entries' trees
 * kept until they are joined cost the garbage collector more than the formatting did (1.6 of
 * 2.2 s); reading a character makes V8 flatten a string in place, the tree becoming garbage
 * while it is young. */
function flat(text: string): string {
  text.charCodeAt(0);
  return text;
}

/** `ipvsadm -L -t|-u|-f SERVICE [options]`: no version header. */
export function formatOneService(service: IpvsService, format: ListFormat, names: Names = NO_NAMES): string {
  return title(format, false) + serviceEntry(service, format, false, names);
}

/** `ipvsadm -S [-n]`: the table as -A/-a lines (thresholds are not saved, as in ipvsadm). */
export function formatSave(services: IpvsService[], format: ListFormat, names: Names = NO_NAMES): string {
  return [...saveParts(listingOrderNow(services, format), format, names)].join('');
}

/** formatSave's text a service at a time; the services come in listing order (listingOrder). */
export function* saveParts(ordered: IpvsService[], format: ListFormat, names: Names = NO_NAMES): Generator<string> {
  for (const s of ordered) yield flat(serviceEntry(s, format, true, names));
}

// ---- connections, timeouts, daemons -------------------------------------------------------------

export interface IpvsConnection {
  /** As /proc/net/ip_vs_conn names it: TCP, UDP, SCTP, or IP for fwmark templates. */
  protocol: string;
  expires: number;
  state: string;
  source: { address: string; port: number };
  virtual: { address: string; port: number };
  destination: { address: string; port: number };
  peName?: string;
  peData?: string;
}

/** `ipvsadm -L -c [-n] [--persistent-conn]`. */
export function formatConnections(conns: IpvsConnection[], format: ListFormat, names: Names = NO_NAMES): string {
  let out = 'IPVS connection entries\n';
  out += format.persistentConn
    ? `pro expire ${left('state', 11)} ${left('source', 18)} ${left('virtual', 18)} ${left('destination', 18)} ${left('pe name', 16)} pe_data\n`
    : `pro expire ${left('state', 11)} ${left('source', 18)} ${left('virtual', 18)} destination\n`;
  for (const c of conns) {
    const proto = ({ TCP: 'tcp', UDP: 'udp', SCTP: 'sctp' } as Record<string, Protocol>)[c.protocol];
    const name = (e: { address: string; port: number }) => anyName(e.address, e.port, proto, format, names);
    const expire = `${String(Math.floor(c.expires / 60)).padStart(2, '0')}:${String(c.expires % 60).padStart(2, '0')}`;
    const head = `${left(c.protocol, 3)} ${left(expire, 6)} ${left(c.state, 11)} ${left(name(c.source), 18)} ${left(name(c.virtual), 18)} `;
    // The title pads "destination" to 18 and "pe name" to 16, the rows use 16 and 18.
    out += format.persistentConn && c.peName !== undefined
      ? `${head}${left(name(c.destination), 16)} ${left(c.peName, 18)} ${c.peData ?? ''}\n`
      : `${head}${name(c.destination)}\n`;
  }
  return out;
}

/** `ipvsadm -L --timeout`. */
export function formatTimeouts(t: { tcp: number; tcpfin: number; udp: number }): string {
  return `Timeout (tcp tcpfin udp): ${t.tcp} ${t.tcpfin} ${t.udp}\n`;
}

export interface SyncDaemon {
  state: 'master' | 'backup';
  mcastInterface: string;
  syncId: number;
  maxlen?: number;
  group?: string;
  port?: number;
  ttl?: number;
}

/** `ipvsadm -L --daemon`: one line per running sync daemon, master first (nothing when none). */
export function formatDaemons(daemons: SyncDaemon[]): string {
  return ['master', 'backup'].flatMap((state) => daemons.filter((d) => d.state === state)).map((d) => {
    let line = `${d.state} sync daemon (mcast=${d.mcastInterface}, syncid=${d.syncId}`;
    if (d.maxlen) line += `, maxlen=${d.maxlen}`;
    if (d.group) line += `, group=${d.group}`;
    if (d.port) line += `, port=${d.port}`;
    if (d.ttl) line += `, ttl=${d.ttl}`;
    return line + ')\n';
  }).join('');
}

// ---- the demo's table ---------------------------------------------------------------------------

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

const FORWARD_METHOD: Record<ListedDest['forward'], IpvsDest['method']> = { Masq: 'masq', Route: 'route', Tunnel: 'tunnel', Local: 'local', FullNat: 'fullnat' };

function fromListed(s: ListedService): IpvsService {
  return {
    fwmark: 0, protocol: s.protocol.toLowerCase() as Protocol, address: s.address, port: s.port, scheduler: s.scheduler,
    schedFlags: 0, persistent: false, timeout: 0, netmask: '255.255.255.255', onePacket: false, stats: s.stats, rates: NO_RATES,
    dests: s.dests.map((d) => ({
      address: d.address, port: d.port, method: FORWARD_METHOD[d.forward], weight: d.weight, uThreshold: 0, lThreshold: 0,
      activeConns: d.activeConns, inactConns: d.inactConns, persistConns: 0, stats: d.stats, rates: NO_RATES,
    })),
  };
}

/** `ipvsadm -Ln` */
export function formatList(services: ListedService[]): string {
  return formatTable(services.map(fromListed), NUMERIC);
}

/** `ipvsadm -Ln --stats` (or `--exact` too) */
export function formatStats(services: ListedService[], exact = false): string {
  return formatTable(services.map(fromListed), { ...NUMERIC, stats: true, exact });
}
