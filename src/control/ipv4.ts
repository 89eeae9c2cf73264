// Dotted IPv4 as the config, the API and fvsadm's fast path read it. A module of its own with
// no imports: fvsadm's bundle uses it without loading the config schema.

/** Parses dotted IPv4 strictly (four decimal octets), to a host-order number. */
export function parseIpv4(s: string): number | undefined {
  // A character loop, not a regular expression: a 10,000-service restore checks 110,000
  // addresses, several times each.
  let addr = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || ++dots > 3) return undefined;
      addr = addr * 256 + octet;
      octet = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits === 1 && octet === 0) return undefined;  // no leading zeros
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return undefined;
    } else return undefined;
  }
  if (dots !== 3 || digits === 0) return undefined;
  return addr * 256 + octet;
}
