// IPv6 prefixes as the dataplane's config writes them (ports' address6, routes): parsed with
// Node's own address check, compared as 128-bit numbers. The dataplane's side only: services
// and real servers have their own address handling.
import { isIPv6 } from 'node:net';

/** The 128-bit value of an IPv6 address, or undefined when it is not one. */
export function ipv6Value(s: string): bigint | undefined {
  if (!isIPv6(s) || s.includes('%')) return undefined;
  let text = s;
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);  // ::ffff:a.b.c.d
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number);
    text = text.slice(0, dotted.index) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

/** An IPv6 prefix "address/len"; with host, the address may have host bits (a port's address). */
export function parseCidr6(s: string, host = false): { value: bigint; len: number } | undefined {
  const m = /^([0-9A-Fa-f:.]+)\/(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const value = ipv6Value(m[1]);
  const len = Number(m[2]);
  if (value === undefined || len > 128) return undefined;
  const hostBits = len === 128 ? 0n : (1n << BigInt(128 - len)) - 1n;
  if (!host && (value & hostBits) !== 0n) return undefined;
  return { value, len };
}

export const isLinkLocal6 = (v: bigint) => v >> 118n === 0x3fan;  // fe80::/10
export const isMulticast6 = (v: bigint) => v >> 120n === 0xffn;

/** Whether the address is inside the prefix. */
export function inPrefix6(addr: bigint, prefix: { value: bigint; len: number }): boolean {
  const shift = BigInt(128 - prefix.len);
  return addr >> shift === prefix.value >> shift;
}
