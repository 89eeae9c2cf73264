// An address of either family as the config, the API and fvsadm hold it: IPv4 dotted, IPv6 in
// its canonical text (ipv6.ts), and `[v6]:port` / `v4:port` where a port follows, as ipvsadm
// writes them. No imports beyond the two syntax modules: fvsadm's bundle uses it.
import { parseIpv4 } from './ipv4';
import { canonicalIpv6, parseIpv6 } from './ipv6';

export type Family = 4 | 6;

/** 4 for dotted IPv4, 6 for IPv6 (any form inet_pton takes), else undefined. */
export function familyOf(address: string): Family | undefined {
  if (address.indexOf(':') < 0) return parseIpv4(address) !== undefined ? 4 : undefined;
  return parseIpv6(address) ? 6 : undefined;
}

/** The address in its one stored form (IPv4 as it is, IPv6 canonical), or undefined. */
export function canonicalAddress(address: string): string | undefined {
  if (address.indexOf(':') < 0) return parseIpv4(address) !== undefined ? address : undefined;
  return canonicalIpv6(address);
}

/** `198.18.0.1:80` or `[2001:db8::1]:80`. */
export function hostPort(address: string, port: number | string): string {
  return address.indexOf(':') < 0 ? `${address}:${port}` : `[${address}]:${port}`;
}

/** hostPort's inverse: `[v6]:port` or `v4:port` (the address not checked), or undefined. */
export function splitHostPort(s: string): { address: string; port: number } | undefined {
  let address: string, rest: string;
  if (s.startsWith('[')) {
    const close = s.indexOf(']');
    if (close < 0 || s[close + 1] !== ':') return undefined;
    address = s.slice(1, close);
    rest = s.slice(close + 2);
  } else {
    const colon = s.lastIndexOf(':');
    if (colon < 0 || s.indexOf(':') !== colon) return undefined;
    address = s.slice(0, colon);
    rest = s.slice(colon + 1);
  }
  if (!/^\d{1,5}$/.test(rest) || Number(rest) > 65535) return undefined;
  return { address, port: Number(rest) };
}

/** 127.0.0.0/8 or ::1: only this host reaches it. */
export function isLoopbackAddress(address: string): boolean {
  if (address.indexOf(':') < 0) return address.startsWith('127.') && parseIpv4(address) !== undefined;
  return canonicalIpv6(address) === '::1';
}
