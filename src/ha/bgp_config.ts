// ha.bgp as BIRD 2 takes it: the section's problems (`fulcrum check` and serve refuse a config
// with any), its settings with the defaults filled in, and the bird.conf `fulcrum serve` writes
// into the state directory. BIRD only speaks BGP: it imports nothing and has no kernel protocol,
// so it never touches this host's routes; it exports the VIPs a static protocol lists, which
// Fulcrum rewrites (vips.conf, included) and reconfigures as quorum and drain change. Each
// neighbour is reached through a port's kernel interface (TAP), directly connected, with the
// port's address as the session's source and so as the next hop the routers install.
// Dual stack: IPv4 VIPs (/32) and IPv6 VIPs (/128) are each a static protocol's routes
// (vips.conf, vips6.conf). A session of either family carries both (multiprotocol BGP) where
// its port has an address of each: its own family's next hop is the session's source (next hop
// self), the other family's the port's address of that family.
import type { BgpConfig, FulcrumConfig } from '../control/config_schema';
import { canonicalAddress, familyOf } from '../control/address';
import { inPrefix6, ipv6Value, parseCidr6 } from '../control/cidr6';

export interface BgpNeighbor {
  /** bird.conf's protocol name for it (n0, n1, ...). */
  name: string;
  address: string;
  as: number;
  port: string;
  /** The port's kernel interface and its own address of the neighbour's family (the
   * session's source). */
  iface: string;
  source: string;
  /** The port's IPv4 and first IPv6 address: the next hops of each family the session carries
   * (a family without one is not carried). */
  nextHop4?: string;
  nextHop6?: string;
  password?: string;
}

export interface BgpSettings {
  localAs: number;
  routerId: string;
  neighbors: BgpNeighbor[];
  holdTime: number;
  keepaliveTime: number;
  /** Seconds a graceful stop waits between the withdrawal and the dataplane stopping. */
  withdrawDelay: number;
}

/** The static protocols whose routes are the announced VIPs, IPv4 and IPv6. */
export const VIPS_PROTOCOL = 'fulcrum_vips';
export const VIPS6_PROTOCOL = 'fulcrum_vips6';

const portTap = (p: FulcrumConfig['dataplane']['ports'][number]) => (p.tap === false ? undefined : p.tap ?? p.name);
const hostOf = (cidr: string | undefined) => cidr?.split('/')[0];

function inSubnet(addr: string, cidr: string): boolean {
  const [net, len] = cidr.split('/');
  const n = (a: string) => a.split('.').reduce((x, o) => x * 256 + Number(o), 0);
  const bits = Number(len ?? 32);
  const size = 2 ** (32 - bits);
  return Math.floor(n(addr) / size) === Math.floor(n(net) / size);
}

type Port = FulcrumConfig['dataplane']['ports'][number];

/** The port's address of a family, with its prefix (IPv6: the first of address6). */
function portCidr(port: Port, family: 4 | 6): string | undefined {
  return family === 4 ? port.address : port.address6?.[0];
}

function onSegment(addr: string, cidr: string): boolean {
  if (familyOf(addr) === 4) return inSubnet(addr, cidr);
  const p = parseCidr6(cidr, true);
  const v = ipv6Value(addr);
  return p !== undefined && v !== undefined && inPrefix6(v, p);
}

/** Every problem of the config's ha.bgp (none without one), by its path. */
export function bgpProblems(cfg: FulcrumConfig): string[] {
  const b = cfg.ha?.bgp;
  if (!b) return [];
  const out: string[] = [];
  const ports = new Map(cfg.dataplane.ports.map((p) => [p.name, p]));
  const seen = new Set<string>();
  b.neighbors.forEach((n, i) => {
    const at = `ha.bgp.neighbors[${i}]`;
    const port = ports.get(n.port);
    if (!port) {
      out.push(`${at}.port: no port named '${n.port}'`);
    } else {
      const family = familyOf(n.address) ?? 4;
      const own = portCidr(port, family);
      if (portTap(port) === undefined) out.push(`${at}.port: port '${n.port}' has no kernel interface (tap: false); BIRD needs one for the session`);
      if (own === undefined) out.push(`${at}.port: port '${n.port}' has no IPv${family} address${family === 6 ? ' (address6)' : ''}; the session and the announced next hop need one`);
      else if (canonicalAddress(hostOf(own)!) === canonicalAddress(n.address)) out.push(`${at}.address: ${n.address} is port '${n.port}''s own address`);
      else if (!onSegment(n.address, own)) out.push(`${at}.address: ${n.address} is not on port '${n.port}''s segment (${own}); neighbours are directly connected`);
    }
    if (seen.has(n.address)) out.push(`${at}.address: ${n.address} is listed twice`);
    seen.add(n.address);
  });
  if (b.routerId === undefined && b.neighbors.every((n) => ports.has(n.port)) && !b.neighbors.some((n) => ports.get(n.port)!.address !== undefined))
    out.push('ha.bgp.routerId: needed when no neighbour\'s port has an IPv4 address (a router id is an IPv4 address; it defaults to the first such port\'s)');
  const hold = b.holdTime ?? 9;
  if (b.keepaliveTime !== undefined && b.keepaliveTime * 3 > hold) out.push(`ha.bgp.keepaliveTime: at most a third of holdTime (${hold} s)`);
  return out;
}

/** The settings of a config's ha.bgp (checked by bgpProblems), or undefined without one. */
export function bgpSettings(cfg: FulcrumConfig): BgpSettings | undefined {
  const b: BgpConfig | undefined = cfg.ha?.bgp;
  if (!b) return undefined;
  const problems = bgpProblems(cfg);
  if (problems.length) throw new Error(problems.join('; '));
  const neighbors = b.neighbors.map((n, i): BgpNeighbor => {
    const port = cfg.dataplane.ports.find((p) => p.name === n.port)!;
    const nextHop4 = hostOf(port.address);
    const nextHop6 = hostOf(port.address6?.[0]);
    return { name: `n${i}`, address: n.address, as: n.as, port: n.port, iface: portTap(port)!,
      source: (familyOf(n.address) === 6 ? nextHop6 : nextHop4)!,
      ...(nextHop4 !== undefined ? { nextHop4 } : {}), ...(nextHop6 !== undefined ? { nextHop6 } : {}),
      ...(n.password !== undefined ? { password: n.password } : {}) };
  });
  const holdTime = b.holdTime ?? 9;
  return {
    localAs: b.localAs,
    routerId: b.routerId ?? neighbors.find((n) => n.nextHop4 !== undefined)!.nextHop4!,
    neighbors,
    holdTime,
    keepaliveTime: b.keepaliveTime ?? Math.max(1, Math.floor(holdTime / 3)),
    withdrawDelay: b.withdrawDelay ?? 2,
  };
}

/** The files of the static protocols' routes (vipsConfig's two texts). */
export interface VipsFiles {
  v4: string;
  v6: string;
}

/** One family's channel of a session: its VIPs exported, nothing imported; the next hop the
 * session's own (self) or the port's address of the other family. */
function channel(n: BgpNeighbor, family: 4 | 6): string[] {
  const hop = family === 4 ? n.nextHop4 : n.nextHop6;
  if (hop === undefined) return [];
  const self = (familyOf(n.address) ?? 4) === family;
  return [
    `  ipv${family} {`,
    '    import none;',
    `    export where proto = "${family === 4 ? VIPS_PROTOCOL : VIPS6_PROTOCOL}" && net.len = ${family === 4 ? 32 : 128};`,
    self ? '    next hop self;' : `    next hop address ${hop};`,
    '  };',
  ];
}

/** bird.conf for these settings; `files` are the static protocols' routes (vipsConfig). */
export function birdConfig(s: BgpSettings, files: VipsFiles): string {
  const lines = [
    '# Written by fulcrum serve from ha.bgp at every start: edits here are overwritten.',
    '# BIRD speaks BGP only: no kernel protocol (this host\'s routes are never touched), nothing',
    `# imported; the VIPs Fulcrum announces are ${VIPS_PROTOCOL}'s (IPv4) and ${VIPS6_PROTOCOL}'s (IPv6)`,
    `# routes, rewritten in ${files.v4} and ${files.v6} and reconfigured as quorum and drain change.`,
    'log stderr all;',
    `router id ${s.routerId};`,
    '',
    '# Interfaces and their addresses, for the directly connected neighbours.',
    'protocol device {',
    '  scan time 10;',
    '}',
    '',
    `protocol static ${VIPS_PROTOCOL} {`,
    '  ipv4;',
    // BIRD reads an include only at the start of a line.
    `include "${files.v4}";`,
    '}',
    '',
    `protocol static ${VIPS6_PROTOCOL} {`,
    '  ipv6;',
    `include "${files.v6}";`,
    '}',
    '',
  ];
  for (const n of s.neighbors) {
    lines.push(
      `protocol bgp ${n.name} {`,
      `  description "${n.address} AS ${n.as} on port ${n.port}";`,
      `  local ${n.source} as ${s.localAs};`,
      `  neighbor ${n.address} as ${n.as};`,
      `  interface "${n.iface}";`,
      '  direct;',
      `  hold time ${s.holdTime};`,
      `  keepalive time ${s.keepaliveTime};`,
      // The first session comes up within a second of serve's start, not BIRD's default 5 s.
      '  connect delay time 1;',
      '  connect retry time 2;',
      '  error wait time 1, 10;',
      ...(n.password !== undefined ? [`  password "${n.password}";`] : []),
      ...channel(n, 4),
      ...channel(n, 6),
      '}',
      '',
    );
  }
  return lines.join('\n');
}

/** The families some session carries (a session carries each its port has an address of). */
export function carriedFamilies(s: BgpSettings): Set<4 | 6> {
  const out = new Set<4 | 6>();
  for (const n of s.neighbors) {
    if (n.nextHop4 !== undefined) out.add(4);
    if (n.nextHop6 !== undefined) out.add(6);
  }
  return out;
}

/** A VIP's announced prefix: /32 or /128. */
export const vipPrefix = (vip: string) => `${vip}/${familyOf(vip) === 6 ? 128 : 32}`;

/** The static protocols' routes: one /32 per announced IPv4 VIP, one /128 per IPv6 one (a
 * blackhole in BIRD's own table only; nothing here reaches the kernel). */
export function vipsConfig(vips: readonly string[]): VipsFiles {
  const file = (family: 4 | 6) => ['# The VIPs this director announces now (fulcrum serve rewrites this file).',
    ...vips.filter((v) => (familyOf(v) ?? 4) === family).map((v) => `route ${vipPrefix(v)} blackhole;`), ''].join('\n');
  return { v4: file(4), v6: file(6) };
}
