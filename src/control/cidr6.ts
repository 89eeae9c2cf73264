// IPv6 prefixes as the dataplane's config writes them (ports' address6, routes) and the
// health checks' egress guard reads the kernel's: addresses read by ipv6.ts, compared as
// 128-bit numbers.
import { parseIpv6 } from './ipv6';

/** The 128-bit value of an IPv6 address, or undefined when it is not one. */
export function ipv6Value(s: string): bigint | undefined {
  const w = parseIpv6(s);
  return w && w.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
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
