// Where a health check would leave the host, decided before it is sent: a director probes its
// real servers only through its own ports (their kernel TAP interfaces) or on loopback, never
// through the host's other routes (a management network, a default route to the world). A
// config whose ports have no kernel interface therefore checks nothing outside the host, and
// says why, instead of probing from wherever the host routes.
//
// The decision is the kernel's main-table longest-prefix match (/proc/net/route, IPv4), read
// again at most every few seconds; loopback (127.0.0.0/8) stays on the host.
import fs from 'node:fs';
import { parseIpv4 } from '../ipv4';

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

export class EgressGuard {
  private routes: Route[] = [];
  private readAt = -Infinity;

  /** `ports`: the director's kernel interfaces (its ports' TAPs). */
  constructor(private readonly ports: ReadonlySet<string>,
    private readonly readRoutes: () => string = () => fs.readFileSync('/proc/net/route', 'utf8'),
    private readonly ttlMs = 5000) {}

  /** Why a check to this address must not be sent, or undefined when it may. */
  refusal(address: string, now = performance.now()): string | undefined {
    const a = parseIpv4(address);
    if (a === undefined) return undefined;  // not IPv4: the checker itself refuses it
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
    if (!r) return `no route to ${address}: not sent`;
    if (this.ports.has(r.iface)) return undefined;
    return `not sent: ${address} is reached through ${r.iface}, not through one of the director's ports` +
      (this.ports.size ? ` (${[...this.ports].join(', ')})` : ' (no port has a kernel interface: set its tap)');
  }
}
