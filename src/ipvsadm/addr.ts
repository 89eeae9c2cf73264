// /etc/services, and the C library's number and address parsing as ipvsadm calls it (strtol with
// string_to_number's checks, inet_aton's lenient forms, parse_service's [v6]:port and
// host:port with port names), apart from the command-line parser that uses it.
import fs from 'node:fs';
import { parseIpv4 } from '../control/ipv4';
import { canonicalIpv6 } from '../control/ipv6';
import type { Family, Protocol, ServicesDb } from './args';

/** inet_pton(AF_INET6, …) (glibc's: no zone, no brackets). */
export const isIPv6 = (s: string): boolean =>
  // every IPv6 address has two colons at least ('::'); host:port has one
  s.indexOf(':') !== s.lastIndexOf(':') && canonicalIpv6(s) !== undefined;

const isSpace = (c: string) => c === ' ' || (c >= '\t' && c <= '\r');

function isPlainDigits(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** Four decimal octets (0..255) without leading zeros: inet_aton's answer is the string itself. */
const isDottedQuad = (s: string): boolean => parseIpv4(s) !== undefined;

/** strtol(s, &end, 10) with ipvsadm's string_to_number checks: the whole string, in range. */
export function stringToNumber(s: string, min: number, max: number): number | undefined {
  // Plain digits that a double holds exactly (every port and weight in a -S save): no BigInt.
  if (s.length > 0 && s.length <= 15 && isPlainDigits(s)) {
    const v = Number(s);
    return v < min || v > max ? undefined : v;
  }
  const m = /^[ \t\n\v\f\r]*([+-]?)(\d+)$/.exec(s);
  if (!m) return undefined;
  const v = BigInt(m[1] + m[2]);
  if (v < BigInt(min) || v > BigInt(max)) return undefined;  // also covers strtol's ERANGE
  return Number(v);
}

/** glibc inet_aton: a, a.b, a.b.c or a.b.c.d, each part decimal, 0-octal or 0x-hex, the last
 * part filling the remaining bytes; anything after a whitespace character is ignored. */
export function inetAton(s: string): string | undefined {
  // What every -S line holds: the answer is the input, copied when V8 would have made it a
  // slice of the text it came from (13 characters or more): a real server's address is kept
  // as long as the server, and a slice keeps a whole restore's input (5 MB) with it.
  if (isDottedQuad(s)) return s.length < 13 ? s : s.split('.').join('.');
  const parts: number[] = [];
  let i = 0;
  let sawDigit = false;
  let val = 0;
  for (;;) {
    if (!(s[i] >= '0' && s[i] <= '9')) return undefined;
    let base = 10;
    val = 0;
    if (s[i] === '0') {
      i++;
      if (s[i] === 'x' || s[i] === 'X') { base = 16; i++; } else { base = 8; sawDigit = true; }
    }
    for (;;) {
      const c = s[i];
      if (c !== undefined && c >= '0' && c <= '9') {
        if (base === 8 && (c === '8' || c === '9')) return undefined;
        val = (val * base + Number(c)) % 2 ** 32;  // a 32-bit accumulator, as in glibc
        i++;
        sawDigit = true;
      } else if (base === 16 && c !== undefined && /[0-9a-fA-F]/.test(c)) {
        val = (val * 16 + parseInt(c, 16)) % 2 ** 32;
        i++;
        sawDigit = true;
      } else break;
    }
    if (s[i] === '.') {
      if (parts.length > 2 || val > 0xff) return undefined;
      parts.push(val);
      i++;
    } else break;
  }
  if (i < s.length && !isSpace(s[i])) return undefined;
  if (!sawDigit) return undefined;
  const max = [0xffffffff, 0xffffff, 0xffff, 0xff][parts.length];
  if (val > max) return undefined;
  let n = 0;
  for (const p of parts) n = n * 256 + p;
  n = n * 2 ** (8 * (4 - parts.length)) + val;
  return [24, 16, 8, 0].map((sh) => Math.floor(n / 2 ** sh) % 256).join('.');
}

/** inet_pton(AF_INET, …): four decimal octets, no leading zeros. */
export function inetPton4(s: string): string | undefined {
  return /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/.test(s) ? s : undefined;
}

const isDigits = (s: string) => /^\d*$/.test(s);  // ipvsadm's str_is_digit: true for ""

/** ipvsadm's parse_service: [v6]:port, v6, v4-or-host[:port]. A bad port spoils the whole
 * argument; port names are looked up for the protocol known so far. */
export function parseService(buf: string, protocol: Protocol | undefined, services: ServicesDb,
  resolve: (host: string) => string | undefined): { af: Family; address: string; port?: number } | undefined {
  if (isDigits(buf)) return undefined;
  let host = buf;
  let portStr: string | undefined;
  if (host.startsWith('[')) {
    const close = host.indexOf(']');
    if (close < 0 || host[close + 1] !== ':') return undefined;
    portStr = host.slice(close + 2);
    host = host.slice(1, close);
  }
  let af: Family;
  let address: string;
  if (isIPv6(host)) {
    af = 6;
    address = canonicalIpv6(host)!;  // as inet_ntop will print it
  } else {
    // strrchr over what is left of the argument: `[1.2.3.4]:80` is 1.2.3.4 without a port
    const colon = host.lastIndexOf(':');
    portStr = undefined;
    if (colon >= 0) { portStr = host.slice(colon + 1); host = host.slice(0, colon); }
    const a = resolve(host);
    if (a === undefined) return undefined;
    af = 4;
    address = a;
  }
  if (portStr === undefined) return { af, address };
  let port = stringToNumber(portStr, 0, 65535);
  if (port === undefined && protocol !== undefined) port = services.portOf(portStr, protocol);
  if (port === undefined) return undefined;
  return { af, address, port };
}

export function parseServicesFile(text: string): ServicesDb {
  const byName = new Map<string, number>();
  const byPort = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) continue;
    const [name, portProto, ...aliases] = line.split(/\s+/);
    const m = /^(\d+)\/(\w+)$/.exec(portProto ?? '');
    if (!m) continue;
    const port = Number(m[1]);
    const proto = m[2];
    for (const n of [name, ...aliases]) if (!byName.has(`${n}/${proto}`)) byName.set(`${n}/${proto}`, port);
    if (!byPort.has(`${port}/${proto}`)) byPort.set(`${port}/${proto}`, name);
  }
  return {
    portOf: (name, protocol) => byName.get(`${name}/${protocol}`),
    nameOf: (port, protocol) => byPort.get(`${port}/${protocol}`),
  };
}

/** The machine's /etc/services (an empty database if it cannot be read), read when a name
 * or a port's name is first asked for: most commands (-n, numeric ports) never read it. */
export function systemServices(file = '/etc/services'): ServicesDb {
  let db: ServicesDb | undefined;
  const load = () => {
    if (db) return db;
    let text = '';
    try { text = fs.readFileSync(file, 'utf8'); } catch { /* no names then, as with an empty file */ }
    return (db = parseServicesFile(text));
  };
  return { portOf: (name, protocol) => load().portOf(name, protocol), nameOf: (port, protocol) => load().nameOf(port, protocol) };
}
