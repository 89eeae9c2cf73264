// Implementation of the forwarding-method rewrites declared in rewrite.h. The hot ones (tuple
// rewrites, TOA, TUN) touch only the words that change and patch checksums by RFC 1624 deltas.
#include "rewrite.h"

namespace fulcrum {

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
    rewrite_l4_ports(l4, p, delta, sport, dport);
  } else if (p.proto == kProtoIcmpv6) {
    delta.apply_at(l4 + 2);  // ICMPv6 has a pseudo-header too
  }
  std::memmove(s, saddr, 16);  // memmove: callers may pass pointers into the frame itself
  std::memmove(d, daddr, 16);
  return DropReason::None;
}

namespace {

// Inserts a TCP option of len bytes (a multiple of 4) first in the options, for either family:
// toa_insert_v4's moves, TCP checksum and the IP length (IPv4: total length and header
// checksum; IPv6: payload length, which has no checksum of its own).
DropReason tcp_option_insert(PacketBuf& b, Parsed& p, const uint8_t* option, uint32_t len, uint32_t mtu) {
  if (p.proto != kProtoTcp) return DropReason::ToaNotTcp;
  const uint32_t doff = p.payload_off - p.l4_off;
  if (doff + len > 60) return DropReason::ToaOptionsFull;
  if (p.ip_tot_len + len > mtu) return DropReason::ToaMtu;

  const uint32_t ip_end = p.frame_ip_end();
  const uint32_t opt_at = p.l4_off + 20;                 // where TOA goes
  const uint32_t head_bytes = opt_at;                    // L2 + IP + fixed TCP
  const uint32_t tail_bytes = ip_end - opt_at;           // options + payload
  const uint32_t tail_space = b.len + b.tailroom - ip_end;
  const bool head_ok = b.headroom >= len;
  const bool tail_ok = tail_space >= len;
  if (!head_ok && !tail_ok) return DropReason::ToaNoRoom;
  uint8_t* const cap_end = b.data + b.len + b.tailroom;
  if (tail_ok && (!head_ok || tail_bytes < head_bytes)) {
    std::memmove(b.data + opt_at + len, b.data + opt_at, tail_bytes);
  } else {
    std::memmove(b.data - len, b.data, head_bytes);
    b.data -= len;
    b.headroom -= len;
  }
  b.len = ip_end + len;
  b.tailroom = static_cast<uint32_t>(cap_end - (b.data + b.len));

  uint8_t* ip = b.data + p.l3_off;
  uint8_t* tcp = b.data + p.l4_off;
  uint8_t* opt = b.data + opt_at;
  std::memcpy(opt, option, len);

  // TCP checksum: the inserted words, the data-offset word, the pseudo-header length. The
  // bytes after the option moved by a multiple of 4, so their contribution is unchanged.
  CsumDelta tcpd;
  tcpd.insert(opt, len);
  const uint16_t w12_old = load16(tcp + 12);
  tcp[12] = static_cast<uint8_t>((((doff + len) / 4) << 4) | (tcp[12] & 0x0f));
  tcpd.add16(w12_old, load16(tcp + 12));
  tcpd.add16(hton16(static_cast<uint16_t>(p.l4_len)), hton16(static_cast<uint16_t>(p.l4_len + len)));
  tcpd.apply_at(tcp + 16);

  if (p.family == 4) {
    CsumDelta ipd;
    const uint16_t tot_old = load16(ip + 2);
    store16(ip + 2, hton16(static_cast<uint16_t>(p.ip_tot_len + len)));
    ipd.add16(tot_old, load16(ip + 2));
    ipd.apply_at(ip + 10);
  } else {
    store16(ip + 4, hton16(static_cast<uint16_t>(p.ip_tot_len + len - kIpv6HdrLen)));
  }
  p.ip_tot_len += len;
  p.l4_len += len;
  p.payload_off += len;
  return DropReason::None;
}

}  // namespace

DropReason toa_insert_v4(PacketBuf& b, Parsed& p, be32 client_ip, be16 client_port, uint32_t mtu) {
  if (p.family != 4) return DropReason::WrongFamily;
  uint8_t opt[kTcpOptToaLen] = {kTcpOptToa, kTcpOptToaLen};
  store16(opt + 2, client_port);
  store32(opt + 4, client_ip);
  return tcp_option_insert(b, p, opt, kTcpOptToaLen, mtu);
}

DropReason toa_insert_v6(PacketBuf& b, Parsed& p, const uint8_t* client_ip, be16 client_port, uint32_t mtu) {
  uint8_t opt[kTcpOptToa6Len] = {kTcpOptToa, kTcpOptToa6Len};
  store16(opt + 2, client_port);
  std::memcpy(opt + 4, client_ip, 16);
  return tcp_option_insert(b, p, opt, kTcpOptToa6Len, mtu);
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

DropReason tun_encap_v6(PacketBuf& b, Parsed& p, const uint8_t* outer_src, const uint8_t* outer_dst,
                        uint32_t mtu) {
  if (p.family != 6) return DropReason::WrongFamily;
  const uint32_t tot = p.ip_tot_len + kIpv6HdrLen;
  if (tot > mtu || p.ip_tot_len > 0xffff) return DropReason::TunTooBigDf;
  if (b.headroom < kIpv6HdrLen) return DropReason::TunNoHeadroom;

  uint8_t src[16], dst[16];  // may point into the frame, which is about to move
  std::memcpy(src, outer_src, 16);
  std::memcpy(dst, outer_dst, 16);
  uint8_t* const cap_end = b.data + b.len + b.tailroom;
  const uint8_t* inner = b.data + p.l3_off;
  const uint32_t tclass = (load32(inner) == 0 ? 0 : ntoh32(load32(inner))) & 0x0ff00000u;
  const uint8_t hop = inner[7];
  std::memmove(b.data - kIpv6HdrLen, b.data, p.l2_len);
  b.data -= kIpv6HdrLen;
  b.headroom -= kIpv6HdrLen;
  b.len = p.l3_off + tot;
  b.tailroom = static_cast<uint32_t>(cap_end - (b.data + b.len));

  uint8_t* ip = b.data + p.l3_off;
  store32(ip, hton32(0x60000000u | tclass));
  store16(ip + 4, hton16(static_cast<uint16_t>(p.ip_tot_len)));
  ip[6] = kProtoIpv6;
  ip[7] = hop;
  std::memcpy(ip + 8, src, 16);
  std::memcpy(ip + 24, dst, 16);

  p.proto = kProtoIpv6;
  p.ip_options = false;
  p.l4_off = p.l3_off + kIpv6HdrLen;
  p.l4_len = p.ip_tot_len;
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

namespace {

// Room for an outer header of n bytes in front of the IP packet: the L2 header moves n bytes
// into the headroom, trailing padding goes, the ethertype becomes the outer family's.
// Returns the outer header's first byte.
uint8_t* open_outer(PacketBuf& b, const Parsed& p, uint32_t n, uint16_t ethertype) {
  uint8_t* const cap_end = b.data + b.len + b.tailroom;
  std::memmove(b.data - n, b.data, p.l2_len);
  b.data -= n;
  b.headroom -= n;
  b.len = p.l3_off + p.ip_tot_len + n;
  b.tailroom = static_cast<uint32_t>(cap_end - (b.data + b.len));
  store16(b.data + p.l2_len - 2, hton16(ethertype));
  return b.data + p.l3_off;
}

// p after an encapsulation: the outer packet of `family`, protocol `proto`, the inner one as
// its payload.
void outer_parsed(Parsed& p, uint8_t family, uint8_t proto, uint32_t hdr_len, uint16_t ethertype) {
  const uint32_t inner_len = p.ip_tot_len;
  p.family = family;
  p.cls = family == 4 ? L3Class::Ipv4 : L3Class::Ipv6;
  p.ethertype = ethertype;
  p.proto = proto;
  p.ip_options = false;
  p.l4_off = p.l3_off + hdr_len;
  p.l4_len = inner_len;
  p.payload_off = p.l4_off;
  p.payload_len = inner_len;
  p.ip_tot_len = inner_len + hdr_len;
  p.sport = p.dport = 0;
  p.tcp_flags = 0;
  p.icmp_type = p.icmp_code = 0;
  p.icmp_id = 0;
  p.icmp_error = false;
  p.inner = InnerTuple{};
}

}  // namespace

DropReason tun_encap_6in4(PacketBuf& b, Parsed& p, be32 outer_src, be32 outer_dst, uint16_t ip_id, uint32_t mtu) {
  if (p.family != 6) return DropReason::WrongFamily;
  const uint32_t tot = p.ip_tot_len + kIpv4HdrLen;
  if (tot > mtu || tot > 0xffff) return DropReason::TunTooBigDf;
  if (b.headroom < kIpv4HdrLen) return DropReason::TunNoHeadroom;
  const uint8_t* inner = b.data + p.l3_off;
  const uint8_t tclass = static_cast<uint8_t>((ntoh32(load32(inner)) >> 20) & 0xff);
  const uint8_t hop = inner[7];
  uint8_t* ip = open_outer(b, p, kIpv4HdrLen, kEthIpv4);
  ip[0] = 0x45;
  ip[1] = tclass;
  store16(ip + 2, hton16(static_cast<uint16_t>(tot)));
  store16(ip + 4, hton16(ip_id));
  store16(ip + 6, 0);
  ip[8] = hop;
  ip[9] = kProtoIpv6;
  store16(ip + 10, 0);
  store32(ip + 12, outer_src);
  store32(ip + 16, outer_dst);
  store16(ip + 10, inet_csum(ip, kIpv4HdrLen));
  outer_parsed(p, 4, kProtoIpv6, kIpv4HdrLen, kEthIpv4);
  p.saddr = outer_src;
  p.daddr = outer_dst;
  p.ttl = hop;
  p.tos = tclass;
  p.df = false;
  p.frag = 0;
  return DropReason::None;
}

DropReason tun_encap_4in6(PacketBuf& b, Parsed& p, const uint8_t* outer_src, const uint8_t* outer_dst, uint32_t mtu) {
  if (p.family != 4) return DropReason::WrongFamily;
  if (p.ip_tot_len + kIpv6HdrLen > mtu) return p.df ? DropReason::TunTooBigDf : DropReason::TunTooBigNoDf;
  if (b.headroom < kIpv6HdrLen) return DropReason::TunNoHeadroom;
  uint8_t src[16], dst[16];  // may point into the frame, which is about to move
  std::memcpy(src, outer_src, 16);
  std::memcpy(dst, outer_dst, 16);
  const uint8_t* inner = b.data + p.l3_off;
  const uint8_t tos = inner[1];
  const uint8_t ttl = inner[8];
  uint8_t* ip = open_outer(b, p, kIpv6HdrLen, kEthIpv6);
  store32(ip, hton32(0x60000000u | uint32_t{tos} << 20));
  store16(ip + 4, hton16(static_cast<uint16_t>(p.ip_tot_len)));
  ip[6] = kProtoIpip;
  ip[7] = ttl;
  std::memcpy(ip + 8, src, 16);
  std::memcpy(ip + 24, dst, 16);
  outer_parsed(p, 6, kProtoIpip, kIpv6HdrLen, kEthIpv6);
  p.saddr = p.daddr = 0;
  p.ttl = ttl;
  p.tos = tos;
  p.df = false;
  p.frag = 0;
  return DropReason::None;
}

}  // namespace fulcrum
