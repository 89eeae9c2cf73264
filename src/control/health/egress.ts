// Where a health check would leave the host, decided before it is sent: a director probes its
// real servers only through its own ports (their kernel TAP interfaces) or on loopback, never
// through the host's other routes (a management network, a default route to the world). A
// config whose ports have no kernel interface therefore checks nothing outside the host, and
// says why, instead of probing from wherever the host routes.
//
// The decision is the kernel's longest-prefix match over its main table (/proc/net/route for
// IPv4, /proc/net/ipv6_route for IPv6), read again at most every few seconds; loopback
// (127.0.0.0/8, ::1) and the host's own IPv6 addresses (local routes) stay on the host.
import fs from 'node:fs';
import { parseIpv4 } from '../ipv4';
import { inPrefix6, ipv6Value } from '../cidr6';

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

interface Route6 { value: bigint; len: number; iface: string; local: boolean }

const RTF_UP = 0x1;
const RTF_REJECT = 0x200;
const RTF_LOCAL = 0x80000000;

/** The IPv6 routes from /proc/net/ipv6_route that carry traffic (up, not reject), longest
 * prefix first; `local` ones are the host's own addresses. */
export function parseRoutes6(text: string): Route6[] {
  const routes: Route6[] = [];
  for (const line of text.split('\n')) {
    const w = line.trim().split(/\s+/);
    if (w.length < 10 || !/^[0-9a-f]{32}$/i.test(w[0]) || !/^[0-9a-f]{2}$/i.test(w[1]) || !/^[0-9a-f]{8}$/i.test(w[8])) continue;
    const flags = parseInt(w[8], 16) >>> 0;
    if (!(flags & RTF_UP) || (flags & RTF_REJECT)) continue;
    routes.push({ value: BigInt(`0x${w[0]}`), len: parseInt(w[1], 16), iface: w[9], local: (flags & RTF_LOCAL) !== 0 });
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

  /** Why a check to this address must not be sent, or undefined when it may. */
  refusal(address: string, now = performance.now()): string | undefined {
    const a = parseIpv4(address);
    if (a === undefined) return this.refusal6(address, now);
    if (a >>> 24 === 127) return undefined;
    if (now - this.readAt > this.ttlMs) {
      try {
        this.routes = parseRoutes(this.readRoutes());
      } catch (e) {
        this.routes = [];
        return cannotRead(e);
      }
      this.readAt = now;
    }
    const r = this.routes.find((x) => ((a & x.mask) >>> 0) === x.dest);
    return r ? this.through(address, r.iface) : `no route to ${address}: not sent`;
  }

  private refusal6(address: string, now: number): string | undefined {
    const a = ipv6Value(address);
    if (a === undefined) return undefined;  // not an address: the checker itself refuses it
    if (a === 1n) return undefined;  // ::1
    // IPv4-mapped (::ffff:a.b.c.d): a socket sends it as IPv4, so IPv4's routes decide.
    if (a >> 32n === 0xffffn) {
      const v4 = Number(a & 0xffffffffn);
      return this.refusal(`${v4 >>> 24}.${(v4 >>> 16) & 255}.${(v4 >>> 8) & 255}.${v4 & 255}`, now);
    }
    if (now - this.readAt6 > this.ttlMs) {
      try {
        this.routes6 = parseRoutes6(this.readRoutes6());
      } catch (e) {
        this.routes6 = [];
        return cannotRead(e);
      }
      this.readAt6 = now;
    }
    const r = this.routes6.find((x) => inPrefix6(a, x));
    if (!r) return `no route to ${address}: not sent`;
    return r.local ? undefined : this.through(address, r.iface);
  }

  private through(address: string, iface: string): string | undefined {
    if (this.ports.has(iface)) return undefined;
    return `not sent: ${address} is reached through ${iface}, not through one of the director's ports` +
      (this.ports.size ? ` (${[...this.ports].join(', ')})` : ' (no port has a kernel interface: set its tap)');
  }
}

const cannotRead = (e: unknown) => `cannot read the host's routes (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): not sent`;
