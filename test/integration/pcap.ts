// Reads what tcpdump wrote (classic pcap, Ethernet) into the few fields the integration tests
// check on the wire: addresses, ports, TCP flags and options (FullNAT's TOA), and an IPIP
// packet's inner header (TUN).
export interface WirePacket {
  src: string;
  dst: string;
  proto: number;
  sport?: number;
  dport?: number;
  tcpFlags?: number;
  /** TCP options as [kind, bytes] pairs (bytes after kind and length). */
  tcpOptions?: Array<[number, Buffer]>;
  /** For IP-in-IP: the inner packet. */
  inner?: WirePacket;
}

const ip = (b: Buffer, o: number) => `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;

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
  const p: WirePacket = { src: ip(b, 12), dst: ip(b, 16), proto: b[9] };
  const l4 = b.subarray(ihl, total);
  if ((p.proto === 6 || p.proto === 17) && l4.length >= 8) {
    p.sport = l4.readUInt16BE(0);
    p.dport = l4.readUInt16BE(2);
    if (p.proto === 6 && l4.length >= 20) {
      p.tcpFlags = l4[13];
      p.tcpOptions = parseTcpOptions(l4.subarray(20, Math.min((l4[12] >> 4) * 4, l4.length)));
    }
  }
  if (p.proto === 4) p.inner = parseIpv4(l4);
  return p;
}

/** Every IPv4 packet of a pcap file's bytes (Ethernet link type, optional 802.1Q tag). */
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
    if (et !== 0x0800) continue;
    const p = parseIpv4(frame.subarray(l3));
    if (p) out.push(p);
  }
  return out;
}

/** FullNAT's TOA option (kind 254): the client's address and port, if the packet has one. */
export function toaOf(p: WirePacket): { address: string; port: number } | undefined {
  const opt = p.tcpOptions?.find(([kind, body]) => kind === 254 && body.length === 6);
  if (!opt) return undefined;
  return { port: opt[1].readUInt16BE(0), address: ip(opt[1], 2) };
}
