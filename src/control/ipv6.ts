// IPv6 text (RFC 4291 forms: compressed, embedded IPv4 tail) to its 16 bytes, for what must hand
// an IPv6 address to native code or compare it by prefix (health checks, their egress guard).
import net from 'node:net';

/** The address's 16 bytes, or undefined when it is not an IPv6 address (no zone index). */
export function parseIpv6(s: string): Uint8Array | undefined {
  if (!net.isIPv6(s) || s.includes('%')) return undefined;
  // An embedded dotted IPv4 tail (::ffff:198.18.0.1) is written as its two words first.
  const m = /^(.*:)(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  const text = m ? `${m[1]}${((+m[2] << 8) | +m[3]).toString(16)}:${((+m[4] << 8) | +m[5]).toString(16)}` : s;
  const words = (p: string) => (p ? p.split(':').map((w) => parseInt(w, 16)) : []);
  const [head, tail] = text.split('::');
  const h = words(head);
  const t = tail === undefined ? [] : words(tail);
  const all = tail === undefined ? h : [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  const out = new Uint8Array(16);
  all.forEach((w, i) => { out[2 * i] = w >> 8; out[2 * i + 1] = w & 255; });
  return out;
}
