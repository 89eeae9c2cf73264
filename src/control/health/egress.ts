// Where a health check would leave the host, decided before it is sent: a director probes its
// real servers only through its own ports (their kernel TAP interfaces) or on loopback, never
// through the host's other routes (a management network, a default route to the world). A
// config whose ports have no kernel interface therefore checks nothing outside the host, and
// says why, instead of probing from wherever the host routes.
//
// The decision is the kernel's longest-prefix match (/proc/net/route for IPv4,
// /proc/net/ipv6_route for IPv6), read again at most every few seconds; loopback (127.0.0.0/8,
// ::1) stays on the host.
import fs from 'node:fs';
import { parseIpv4 } from '../ipv4';
import { ipv6Value, isLinkLocal6 } from '../cidr6';

interface Route { dest: number; mask: number; len: number; iface: string }

/** The main table's IPv4 routes from /proc/net/route, longest prefix first. */
export function parseRoutes(text: string): Route[] {
  const le = (hex: string) => {
    const v = parseInt(hex, 16) >>> 0;  // the kernel writes the address as a little-endian word
    return (((v & 0xff) << 24) | ((v >>> 8 & 0xff) << 16) | ((v >>> 16 & 0xff) << 8) | (v >>> 24)) >>> 0;
  };
  const routes: Route[] = [];
  for (const line of text.split('\n').slice(1)) {
    const w = line.trim().split(/\s+/);
    if (w.length < 8 || !/^[0-9A-Fa-f]{8}$/.test(w[1]) || !/^[0-9A-Fa-f]{8}$/.test(w[7])) continue;
    const flags = parseInt(w[3], 16);
    if (!(flags & 0x1)) continue;  // RTF_UP
    const mask = le(w[7]);
    let len = 0;
    for (let m = mask; m & 0x80000000; m = (m << 1) >>> 0) len++;
    routes.push({ dest: le(w[1]), mask, len, iface: w[0] });
  }
  return routes.sort((a, b) => b.len - a.len);
}

interface Route6 { dest: bigint; len: number; iface: string }

/** The IPv6 routes from /proc/net/ipv6_route (every table the kernel lists), longest prefix
 * first; unreachable/blackhole routes (RTF_REJECT) are left out. */
export function parseRoutes6(text: string): Route6[] {
  const routes: Route6[] = [];
  for (const line of text.split('\n')) {
    const w = line.trim().split(/\s+/);
    if (w.length < 10 || !/^[0-9a-fA-F]{32}$/.test(w[0])) continue;
    const flags = parseInt(w[8], 16);
    if (!(flags & 0x1) || flags & 0x200) continue;  // RTF_UP, not RTF_REJECT
    routes.push({ dest: BigInt(`0x${w[0]}`), len: parseInt(w[1], 16), iface: w[9] });
  }
  return routes.sort((a, b) => b.len - a.len);
}

export class EgressGuard {
  private routes: Route[] = [];
  private routes6: Route6[] = [];
  private readAt = -Infinity;
  private readAt6 = -Infinity;

  /** `ports`: the director's kernel interfaces (its ports' TAPs). */
  constructor(private readonly ports: ReadonlySet<string>,
    private readonly readRoutes: () => string = () => fs.readFileSync('/proc/net/route', 'utf8'),
    private readonly ttlMs = 5000,
    private readonly readRoutes6: () => string = () => fs.readFileSync('/proc/net/ipv6_route', 'utf8')) {}

  /** Why a check to this IPv6 address must not be sent, or undefined when it may. */
  private refusal6(address: string, a: bigint, now: number): string | undefined {
    if (a === 1n) return undefined;  // ::1
    if (isLinkLocal6(a)) return `not sent: ${address} is link-local, which names no port`;
    if (now - this.readAt6 > this.ttlMs) {
      try {
        this.routes6 = parseRoutes6(this.readRoutes6());
      } catch (e) {
        this.routes6 = [];
        return `cannot read the host's IPv6 routes (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): not sent`;
      }
      this.readAt6 = now;
    }
    const r = this.routes6.find((x) => x.len === 0 || a >> BigInt(128 - x.len) === x.dest >> BigInt(128 - x.len));
    return this.verdict(address, r?.iface);
  }

  private verdict(address: string, iface: string | undefined): string | undefined {
    if (iface === undefined) return `no route to ${address}: not sent`;
    if (this.ports.has(iface)) return undefined;
    return `not sent: ${address} is reached through ${iface}, not through one of the director's ports` +
      (this.ports.size ? ` (${[...this.ports].join(', ')})` : ' (no port has a kernel interface: set its tap)');
  }

  /** Why a check to this address must not be sent, or undefined when it may. */
  refusal(address: string, now = performance.now()): string | undefined {
    const a = parseIpv4(address);
    if (a === undefined) {
      const a6 = ipv6Value(address);
      return a6 === undefined ? undefined : this.refusal6(address, a6, now);  // neither: the checker refuses it
    }
    if (a >>> 24 === 127) return undefined;
    if (now - this.readAt > this.ttlMs) {
      try {
        this.routes = parseRoutes(this.readRoutes());
      } catch (e) {
        this.routes = [];
        return `cannot read the host's routes (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): not sent`;
      }
      this.readAt = now;
    }
    const r = this.routes.find((x) => ((a & x.mask) >>> 0) === x.dest);
    return this.verdict(address, r?.iface);
  }
}
