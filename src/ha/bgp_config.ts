// ha.bgp as BIRD 2 takes it: the section's problems (`fulcrum check` and serve refuse a config
// with any), its settings with the defaults filled in, and the bird.conf `fulcrum serve` writes
// into the state directory. BIRD only speaks BGP: it imports nothing and has no kernel protocol,
// so it never touches this host's routes; it exports the VIPs a static protocol lists, which
// Fulcrum rewrites (vips.conf, included) and reconfigures as quorum and drain change. Each
// neighbour is reached through a port's kernel interface (TAP), directly connected, with the
// port's address as the session's source and so as the next hop the routers install.
import type { BgpConfig, FulcrumConfig } from '../control/config_schema';

export interface BgpNeighbor {
  /** bird.conf's protocol name for it (n0, n1, ...). */
  name: string;
  address: string;
  as: number;
  port: string;
  /** The port's kernel interface and its own address. */
  iface: string;
  source: string;
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

/** The static protocol whose routes are the announced VIPs. */
export const VIPS_PROTOCOL = 'fulcrum_vips';

const portTap = (p: FulcrumConfig['dataplane']['ports'][number]) => (p.tap === false ? undefined : p.tap ?? p.name);
const hostOf = (cidr: string | undefined) => cidr?.split('/')[0];

function inSubnet(addr: string, cidr: string): boolean {
  const [net, len] = cidr.split('/');
  const n = (a: string) => a.split('.').reduce((x, o) => x * 256 + Number(o), 0);
  const bits = Number(len ?? 32);
  const size = 2 ** (32 - bits);
  return Math.floor(n(addr) / size) === Math.floor(n(net) / size);
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
      if (portTap(port) === undefined) out.push(`${at}.port: port '${n.port}' has no kernel interface (tap: false); BIRD needs one for the session`);
      if (port.address === undefined) out.push(`${at}.port: port '${n.port}' has no address; the session and the announced next hop need one`);
      else if (hostOf(port.address) === n.address) out.push(`${at}.address: ${n.address} is port '${n.port}''s own address`);
      else if (!inSubnet(n.address, port.address)) out.push(`${at}.address: ${n.address} is not on port '${n.port}''s segment (${port.address}); neighbours are directly connected`);
    }
    if (seen.has(n.address)) out.push(`${at}.address: ${n.address} is listed twice`);
    seen.add(n.address);
  });
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
    return { name: `n${i}`, address: n.address, as: n.as, port: n.port, iface: portTap(port)!, source: hostOf(port.address)!,
      ...(n.password !== undefined ? { password: n.password } : {}) };
  });
  const holdTime = b.holdTime ?? 9;
  return {
    localAs: b.localAs,
    routerId: b.routerId ?? neighbors[0].source,
    neighbors,
    holdTime,
    keepaliveTime: b.keepaliveTime ?? Math.max(1, Math.floor(holdTime / 3)),
    withdrawDelay: b.withdrawDelay ?? 2,
  };
}

/** bird.conf for these settings; `vipsFile` is the static protocol's routes (vipsConfig). */
export function birdConfig(s: BgpSettings, vipsFile: string): string {
  const lines = [
    '# Written by fulcrum serve from ha.bgp at every start: edits here are overwritten.',
    '# BIRD speaks BGP only: no kernel protocol (this host\'s routes are never touched), nothing',
    `# imported; the VIPs Fulcrum announces are ${VIPS_PROTOCOL}'s routes, rewritten in`,
    `# ${vipsFile} and reconfigured as quorum and drain change.`,
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
    `include "${vipsFile}";`,
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
      '  ipv4 {',
      '    import none;',
      `    export where proto = "${VIPS_PROTOCOL}" && net.len = 32;`,
      '    next hop self;',
      '  };',
      '}',
      '',
    );
  }
  return lines.join('\n');
}

/** The static protocol's routes: one /32 per announced VIP (a blackhole in BIRD's own table
 * only; nothing here reaches the kernel). */
export function vipsConfig(vips: readonly string[]): string {
  return ['# The VIPs this director announces now (fulcrum serve rewrites this file).',
    ...vips.map((v) => `route ${v}/32 blackhole;`), ''].join('\n');
}
