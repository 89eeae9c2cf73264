// IPv6 as the config, the API and fvsadm read and write it: glibc's inet_pton (hex groups, one
// `::`, a dotted IPv4 tail) and inet_ntop, whose text is the one canonical form (RFC 5952:
// lower case, the longest run of two or more zero groups compressed, the first of equal runs;
// ::ffff:a.b.c.d and ::a.b.c.d with the tail dotted), so an address is stored, keyed and
// printed as ipvsadm prints it. No imports: fvsadm's bundle uses it without loading typebox.

/** inet_pton(AF_INET6, …): the eight 16-bit groups, or undefined. */
export function parseIpv6(s: string): number[] | undefined {
  if (s.length < 2 || s.length > 45) return undefined;
  const words: number[] = [];
  let gap = -1;  // where `::` stands, in words
  let i = 0;
  if (s[0] === ':') {
    if (s[1] !== ':') return undefined;
    gap = 0;
    i = 2;
    if (i === s.length) return [0, 0, 0, 0, 0, 0, 0, 0];
  }
  for (;;) {
    // a group: 1-4 hex digits, or a dotted IPv4 tail
    let j = i;
    let v = 0;
    while (j < s.length && j - i < 5) {
      const c = s.charCodeAt(j);
      const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
      if (d < 0) break;
      v = v * 16 + d;
      j++;
    }
    if (s[j] === '.') {
      const v4 = dotted(s.slice(i));
      if (v4 === undefined || words.length > 6) return undefined;
      words.push(v4 >>> 16, v4 & 0xffff);
      break;
    }
    if (j === i || j - i > 4) return undefined;
    words.push(v);
    if (words.length > 8) return undefined;
    if (j === s.length) break;
    if (s[j] !== ':') return undefined;
    if (s[j + 1] === ':') {
      if (gap >= 0) return undefined;
      gap = words.length;
      i = j + 2;
      if (i === s.length) break;
    } else {
      i = j + 1;
      if (i === s.length) return undefined;
    }
  }
  if (gap < 0) return words.length === 8 ? words : undefined;
  if (words.length > 7) return undefined;
  return [...words.slice(0, gap), ...new Array<number>(8 - words.length).fill(0), ...words.slice(gap)];
}

/** inet_pton4 as glibc's inet_pton6 calls it for the tail: four decimal octets, no leading zeros. */
function dotted(s: string): number | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!/^(0|[1-9]\d{0,2})$/.test(p) || Number(p) > 255) return undefined;
    n = n * 256 + Number(p);
  }
  return n >>> 0;
}

/** inet_ntop(AF_INET6, …) of eight groups; `dottedTail` false writes ::a.b.c.d and
 * ::ffff:a.b.c.d in hex groups too (what Go's net.IP.String does for the first). */
export function formatIpv6(w: readonly number[], dottedTail = true): string {
  let best = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (w[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  if (bestLen < 2) best = -1;
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (best >= 0 && i >= best && i < best + bestLen) {
      if (i === best) out += ':';
      continue;
    }
    if (i !== 0) out += ':';
    if (dottedTail && i === 6 && best === 0 && (bestLen === 6 || (bestLen === 5 && w[5] === 0xffff))) {
      out += `${w[6] >> 8}.${w[6] & 255}.${w[7] >> 8}.${w[7] & 255}`;
      return out;
    }
    out += w[i].toString(16);
  }
  if (best >= 0 && best + bestLen === 8) out += ':';
  return out;
}

/** The canonical text of an IPv6 address, or undefined when it is not one. */
export function canonicalIpv6(s: string): string | undefined {
  const w = parseIpv6(s);
  return w && formatIpv6(w);
}

/** The address's full form, as the kernel prints it in /proc (%pI6): eight 4-digit groups. */
export function fullIpv6(s: string): string | undefined {
  const w = parseIpv6(s);
  return w && w.map((x) => x.toString(16).padStart(4, '0')).join(':');
}

/** Why an IPv6 address cannot be a real server or VIP of the director, or undefined. The core
 * holds IPv4 as ::ffff:a.b.c.d, so that range is the IPv4 address written otherwise; the
 * kernel refuses real servers that are not unicast or are link-local (ip_vs_new_dest). */
export function ipv6UnicastProblem(s: string, what: 'real server' | 'service'): string | undefined {
  const w = parseIpv6(s);
  if (!w) return 'not an IPv6 address';
  if (w[0] === 0 && w[1] === 0 && w[2] === 0 && w[3] === 0 && w[4] === 0 && w[5] === 0xffff)
    return 'an IPv4-mapped address: write the IPv4 address';
  if (w.every((x) => x === 0)) return 'must be a unicast address (not ::)';
  if (w[0] >> 8 === 0xff) return 'must be a unicast address (not multicast)';
  if (what === 'real server' && (w[0] & 0xffc0) === 0xfe80) return 'must not be link-local (the kernel refuses those too)';
  return undefined;
}

/** 1..128, the IPv6 persistence granularity (ipvsadm -M for an IPv6 service). */
export function parsePrefixLength(s: string): number | undefined {
  if (!/^(?:[1-9]\d{0,2})$/.test(s)) return undefined;
  const n = Number(s);
  return n >= 1 && n <= 128 ? n : undefined;
}

/** The address as Go's net.IP.String() writes it (node_exporter's labels): RFC 5952 without
 * the dotted IPv4-compatible tail (IPv4-mapped addresses never reach here: they are refused). */
export function goIpv6(s: string): string {
  const w = parseIpv6(s);
  return w ? formatIpv6(w, false) : s;
}
