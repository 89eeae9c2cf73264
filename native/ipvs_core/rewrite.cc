// Implementation of the forwarding-method rewrites declared in rewrite.h. The hot ones (tuple
// rewrites, TOA, TUN) touch only the words that change and patch checksums by RFC 1624 deltas.
#include "rewrite.h"

namespace fulcrum {

DropReason rewrite_tuple_v4(uint8_t* f, Parsed& p, be32 saddr, be16 sport, be32 daddr, be16 dport) {
  if (p.family != 4) return DropReason::WrongFamily;
  if (p.proto == kProtoSctp) return DropReason::L4Unsupported;
  uint8_t* ip = f + p.l3_off;
  uint8_t* l4 = f + p.l4_off;
  CsumDelta addr;
  addr.add32(p.saddr, saddr);
  addr.add32(p.daddr, daddr);
  if (p.proto == kProtoTcp || p.proto == kProtoUdp) {
    CsumDelta d = addr;  // the pseudo-header carries the addresses
    d.add16(p.sport, sport);
    d.add16(p.dport, dport);
    if (p.proto == kProtoTcp) {
      d.apply_at(l4 + 16);
    } else {
      d.apply_udp_at(l4 + 6);
    }
    store16(l4, sport);
    store16(l4 + 2, dport);
    p.sport = sport;
    p.dport = dport;
  }
  store32(ip + 12, saddr);
  store32(ip + 16, daddr);
  addr.apply_at(ip + 10);
  p.saddr = saddr;
  p.daddr = daddr;
  return DropReason::None;
}

DropReason rewrite_tuple_v6(uint8_t* f, Parsed& p, const uint8_t* saddr, be16 sport,
                            const uint8_t* daddr, be16 dport) {
  if (p.family != 6) return DropReason::WrongFamily;
  if (p.proto == kProtoSctp) return DropReason::L4Unsupported;
  uint8_t* l4 = f + p.l4_off;
  uint8_t* s = f + p.v6_saddr_off();
  uint8_t* d = f + p.v6_daddr_off();
  CsumDelta delta;
  delta.add128(s, saddr);
  delta.add128(d, daddr);
  if (p.proto == kProtoTcp || p.proto == kProtoUdp) {
    delta.add16(p.sport, sport);
    delta.add16(p.dport, dport);
    if (p.proto == kProtoTcp) {
      delta.apply_at(l4 + 16);
    } else {
      delta.apply_udp_at(l4 + 6);
    }
    store16(l4, sport);
    store16(l4 + 2, dport);
    p.sport = sport;
    p.dport = dport;
  } else if (p.proto == kProtoIcmpv6) {
    delta.apply_at(l4 + 2);  // ICMPv6 has a pseudo-header too
  }
  std::memmove(s, saddr, 16);  // memmove: callers may pass pointers into the frame itself
  std::memmove(d, daddr, 16);
  return DropReason::None;
}

DropReason toa_insert_v4(PacketBuf& b, Parsed& p, be32 client_ip, be16 client_port, uint32_t mtu) {
  if (p.family != 4) return DropReason::WrongFamily;
  if (p.proto != kProtoTcp) return DropReason::ToaNotTcp;
  const uint32_t doff = p.payload_off - p.l4_off;
  if (doff + kTcpOptToaLen > 60) return DropReason::ToaOptionsFull;
  if (p.ip_tot_len + kTcpOptToaLen > mtu) return DropReason::ToaMtu;

  const uint32_t ip_end = p.frame_ip_end();
  const uint32_t opt_at = p.l4_off + 20;                 // where TOA goes
  const uint32_t head_bytes = opt_at;                    // L2 + IP + fixed TCP
  const uint32_t tail_bytes = ip_end - opt_at;           // options + payload
  const uint32_t tail_space = b.len + b.tailroom - ip_end;
  const bool head_ok = b.headroom >= kTcpOptToaLen;
  const bool tail_ok = tail_space >= kTcpOptToaLen;
  if (!head_ok && !tail_ok) return DropReason::ToaNoRoom;
  uint8_t* const cap_end = b.data + b.len + b.tailroom;
  if (tail_ok && (!head_ok || tail_bytes < head_bytes)) {
    std::memmove(b.data + opt_at + kTcpOptToaLen, b.data + opt_at, tail_bytes);
  } else {
    std::memmove(b.data - kTcpOptToaLen, b.data, head_bytes);
    b.data -= kTcpOptToaLen;
    b.headroom -= kTcpOptToaLen;
  }
  b.len = ip_end + kTcpOptToaLen;
  b.tailroom = static_cast<uint32_t>(cap_end - (b.data + b.len));

  uint8_t* ip = b.data + p.l3_off;
  uint8_t* tcp = b.data + p.l4_off;
  uint8_t* opt = b.data + opt_at;
  opt[0] = kTcpOptToa;
  opt[1] = kTcpOptToaLen;
  store16(opt + 2, client_port);
  store32(opt + 4, client_ip);

  // TCP checksum: the inserted words, the data-offset word, the pseudo-header length. The
  // bytes after the option moved by 8 (even), so their contribution is unchanged.
  CsumDelta tcpd;
  tcpd.insert(opt, kTcpOptToaLen);
  const uint16_t w12_old = load16(tcp + 12);
  tcp[12] = static_cast<uint8_t>((((doff / 4) + 2) << 4) | (tcp[12] & 0x0f));
  tcpd.add16(w12_old, load16(tcp + 12));
  tcpd.add16(hton16(static_cast<uint16_t>(p.l4_len)),
             hton16(static_cast<uint16_t>(p.l4_len + kTcpOptToaLen)));
  tcpd.apply_at(tcp + 16);

  CsumDelta ipd;
  const uint16_t tot_old = load16(ip + 2);
  store16(ip + 2, hton16(static_cast<uint16_t>(p.ip_tot_len + kTcpOptToaLen)));
  ipd.add16(tot_old, load16(ip + 2));
  ipd.apply_at(ip + 10);

  p.ip_tot_len += kTcpOptToaLen;
  p.l4_len += kTcpOptToaLen;
  p.payload_off += kTcpOptToaLen;
  return DropReason::None;
}

DropReason tun_encap_v4(PacketBuf& b, Parsed& p, be32 outer_src, be32 outer_dst, uint16_t ip_id,
                        uint32_t mtu) {
  if (p.family != 4) return DropReason::WrongFamily;
  const uint32_t tot = p.ip_tot_len + kIpv4HdrLen;
  if (tot > mtu || tot > 0xffff) return p.df ? DropReason::TunTooBigDf : DropReason::TunTooBigNoDf;
  if (b.headroom < kIpv4HdrLen) return DropReason::TunNoHeadroom;

  uint8_t* const cap_end = b.data + b.len + b.tailroom;
  const uint8_t* inner = b.data + p.l3_off;
  const uint8_t tos = inner[1];
  const uint8_t ttl = inner[8];
  std::memmove(b.data - kIpv4HdrLen, b.data, p.l2_len);
  b.data -= kIpv4HdrLen;
  b.headroom -= kIpv4HdrLen;
  b.len = p.l3_off + tot;
  b.tailroom = static_cast<uint32_t>(cap_end - (b.data + b.len));

  uint8_t* ip = b.data + p.l3_off;
  ip[0] = 0x45;
  ip[1] = tos;
  store16(ip + 2, hton16(static_cast<uint16_t>(tot)));
  store16(ip + 4, hton16(ip_id));
  store16(ip + 6, hton16(p.df ? 0x4000 : 0));
  ip[8] = ttl;
  ip[9] = kProtoIpip;
  store16(ip + 10, 0);
  store32(ip + 12, outer_src);
  store32(ip + 16, outer_dst);
  store16(ip + 10, inet_csum(ip, kIpv4HdrLen));

  p.proto = kProtoIpip;
  p.frag = p.df ? 0x4000 : 0;
  p.ip_options = false;
  p.saddr = outer_src;
  p.daddr = outer_dst;
  p.l4_off = p.l3_off + kIpv4HdrLen;
  p.l4_len = tot - kIpv4HdrLen;
  p.payload_off = p.l4_off;
  p.payload_len = p.l4_len;
  p.ip_tot_len = tot;
  p.sport = p.dport = 0;
  p.tcp_flags = 0;
  p.icmp_type = p.icmp_code = 0;
  p.icmp_id = 0;
  p.icmp_error = false;
  p.inner = InnerTuple{};
  return DropReason::None;
}

bool ip_dec_ttl(uint8_t* f, Parsed& p) {
  if (p.ttl <= 1) return false;
  uint8_t* ip = f + p.l3_off;
  if (p.family == 4) {
    // TTL shares a 16-bit word with the protocol byte.
    const uint16_t old_w = load16(ip + 8);
    ip[8] = static_cast<uint8_t>(p.ttl - 1);
    store16(ip + 10, csum_update16(load16(ip + 10), old_w, load16(ip + 8)));
  } else if (p.family == 6) {
    ip[7] = static_cast<uint8_t>(p.ttl - 1);
  } else {
    return false;
  }
  p.ttl--;
  return true;
}

}  // namespace fulcrum
