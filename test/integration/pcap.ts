// Reads what tcpdump wrote (classic pcap, Ethernet) into the few fields the integration tests
// check on the wire: addresses (IPv4, or IPv6 in RFC 5952 form), ports, TCP flags and options
// (FullNAT's TOA, both forms), and a tunnelled packet's inner header (TUN: IPIP, IPv6-in-IPv6).
export interface WirePacket {
  src: string;
  dst: string;
  proto: number;
  sport?: number;
  dport?: number;
  tcpFlags?: number;
  /** TCP options as [kind, bytes] pairs (bytes after kind and length). */
  tcpOptions?: Array<[number, Buffer]>;
  /** 4 or 6. */
  family?: 4 | 6;
  /** For IP-in-IP and IPv6-in-IPv6: the inner packet. */
  inner?: WirePacket;
}

const ip = (b: Buffer, o: number) => `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
/** 16 bytes as RFC 5952 text (the URL parser writes IPv6 hosts in that form). */
const ip6 = (b: Buffer, o: number) => {
  const words: string[] = [];
  for (let i = 0; i < 16; i += 2) words.push(b.readUInt16BE(o + i).toString(16));
  return new URL(`http://[${words.join(':')}]/`).hostname.slice(1, -1);
};

function parseTcpOptions(b: Buffer): Array<[number, Buffer]> {
  const out: Array<[number, Buffer]> = [];
  for (let i = 0; i < b.length;) {
    const kind = b[i];
    if (kind === 0) break;
    if (kind === 1) { i++; continue; }
    const len = b[i + 1];
    if (len === undefined || len < 2 || i + len > b.length) break;
    out.push([kind, b.subarray(i + 2, i + len)]);
    i += len;
  }
  return out;
}

/** An IPv4 packet (from its header on), or undefined when it is not one we can read. */
export function parseIpv4(b: Buffer): WirePacket | undefined {
  if (b.length < 20 || b[0] >> 4 !== 4) return undefined;
  const ihl = (b[0] & 15) * 4;
  const total = Math.min(b.readUInt16BE(2), b.length);
  const p: WirePacket = { src: ip(b, 12), dst: ip(b, 16), proto: b[9], family: 4 };
  readL4(p, b.subarray(ihl, total));
  return p;
}

/** IPv6 extension headers the reader steps over to reach the upper layer. */
const EXTENSIONS = new Set([0, 43, 44, 60]);

/** An IPv6 packet (from its header on), or undefined when it is not one we can read. */
export function parseIpv6(b: Buffer): WirePacket | undefined {
  if (b.length < 40 || b[0] >> 4 !== 6) return undefined;
  const end = Math.min(40 + b.readUInt16BE(4), b.length);
  let next = b[6];
  let o = 40;
  while (EXTENSIONS.has(next) && o + 8 <= end) {
    const len = next === 44 ? 8 : (b[o + 1] + 1) * 8;
    next = b[o];
    o += len;
  }
  const p: WirePacket = { src: ip6(b, 8), dst: ip6(b, 24), proto: next, family: 6 };
  readL4(p, b.subarray(Math.min(o, end), end));
  return p;
}

function readL4(p: WirePacket, l4: Buffer): void {
  if ((p.proto === 6 || p.proto === 17) && l4.length >= 8) {
    p.sport = l4.readUInt16BE(0);
    p.dport = l4.readUInt16BE(2);
    if (p.proto === 6 && l4.length >= 20) {
      p.tcpFlags = l4[13];
      p.tcpOptions = parseTcpOptions(l4.subarray(20, Math.min((l4[12] >> 4) * 4, l4.length)));
    }
  }
  if (p.proto === 4) p.inner = parseIpv4(l4);
  if (p.proto === 41) p.inner = parseIpv6(l4);
}

/** Every IP packet of a pcap file's bytes (Ethernet link type, optional 802.1Q tag). */
export function readPcap(file: Buffer): WirePacket[] {
  if (file.length < 24) return [];
  const magic = file.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  if (!le && file.readUInt32BE(0) !== 0xa1b2c3d4 && file.readUInt32BE(0) !== 0xa1b23c4d) throw new Error('not a pcap file');
  const u32 = (o: number) => (le ? file.readUInt32LE(o) : file.readUInt32BE(o));
  if (u32(20) !== 1) throw new Error(`pcap link type ${u32(20)} is not Ethernet`);
  const out: WirePacket[] = [];
  for (let o = 24; o + 16 <= file.length;) {
    const caplen = u32(o + 8);
    const frame = file.subarray(o + 16, o + 16 + caplen);
    o += 16 + caplen;
    let et = frame.length >= 14 ? frame.readUInt16BE(12) : 0;
    let l3 = 14;
    if (et === 0x8100 && frame.length >= 18) { et = frame.readUInt16BE(16); l3 = 18; }
    const p = et === 0x0800 ? parseIpv4(frame.subarray(l3)) : et === 0x86dd ? parseIpv6(frame.subarray(l3)) : undefined;
    if (p) out.push(p);
  }
  return out;
}

/** FullNAT's TOA option (kind 254): the client's address and port, if the packet has one. Its
 * IPv4 form is 8 bytes long, its IPv6 form (DPVS's TCPOLEN_ADDR_V6) 20. */
export function toaOf(p: WirePacket): { address: string; port: number } | undefined {
  const opt = p.tcpOptions?.find(([kind, body]) => kind === 254 && (body.length === 6 || body.length === 18));
  if (!opt) return undefined;
  return { port: opt[1].readUInt16BE(0), address: opt[1].length === 6 ? ip(opt[1], 2) : ip6(opt[1], 2) };
}
