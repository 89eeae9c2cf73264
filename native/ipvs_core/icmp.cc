// ICMP error rewriting and in-place generation (icmp.h). Rare path: clarity over speed, but
// still no allocation, and every write stays within the bounds parse_frame established.
#include "icmp.h"

#include <cstring>

#include "checksum.h"

namespace fulcrum {

DropReason icmp_error_rewrite_v4(uint8_t* f, Parsed& p, const IcmpErrorNat& n) {
  if (p.family != 4) return DropReason::WrongFamily;
  if (p.proto != kProtoIcmp || !p.icmp_error || p.inner.family != 4) return DropReason::IcmpNotError;
  InnerTuple& in = p.inner;
  uint8_t* ip = f + p.l3_off;
  uint8_t* icmp = f + p.l4_off;
  uint8_t* cip = f + in.l3_off;
  uint8_t* cl4 = f + in.l4_off;

  CsumDelta od;
  od.add32(p.saddr, n.outer_saddr);
  od.add32(p.daddr, n.outer_daddr);
  store32(ip + 12, n.outer_saddr);
  store32(ip + 16, n.outer_daddr);
  od.apply_at(ip + 10);
  p.saddr = n.outer_saddr;
  p.daddr = n.outer_daddr;

  CsumDelta id;
  id.add32(in.saddr, n.inner_saddr);
  id.add32(in.daddr, n.inner_daddr);
  store32(cip + 12, n.inner_saddr);
  store32(cip + 16, n.inner_daddr);
  id.apply_at(cip + 10);
  in.saddr = n.inner_saddr;
  in.daddr = n.inner_daddr;

  if (in.has_ports) {
    CsumDelta ld = id;  // pseudo-header addresses + ports
    ld.add16(in.sport, n.inner_sport);
    ld.add16(in.dport, n.inner_dport);
    store16(cl4, n.inner_sport);
    store16(cl4 + 2, n.inner_dport);
    if (in.proto == kProtoTcp && in.l4_len >= 18) {
      ld.apply_at(cl4 + 16);
    } else if (in.proto == kProtoUdp) {
      ld.apply_udp_at(cl4 + 6);
    }
    in.sport = n.inner_sport;
    in.dport = n.inner_dport;
  }

  // The ICMP checksum covers the whole quote; recomputing is simplest and always right.
  store16(icmp + 2, 0);
  store16(icmp + 2, inet_csum(icmp, p.l4_len));
  return DropReason::None;
}

DropReason icmp_nat_to_client_v4(uint8_t* f, Parsed& p, be32 vip, be16 vport) {
  const InnerTuple& in = p.inner;
  return icmp_error_rewrite_v4(f, p, {vip, p.daddr, in.saddr, vip, in.sport, vport});
}

DropReason icmp_nat_to_server_v4(uint8_t* f, Parsed& p, be32 rip, be16 rport) {
  const InnerTuple& in = p.inner;
  return icmp_error_rewrite_v4(f, p, {p.saddr, rip, rip, in.daddr, rport, in.dport});
}

DropReason icmp_fnat_to_client_v4(uint8_t* f, Parsed& p, be32 vip, be16 vport, be32 cip, be16 cport) {
  return icmp_error_rewrite_v4(f, p, {vip, cip, cip, vip, cport, vport});
}

DropReason icmp_fnat_to_server_v4(uint8_t* f, Parsed& p, be32 lip, be16 lport, be32 rip, be16 rport) {
  return icmp_error_rewrite_v4(f, p, {lip, rip, rip, lip, rport, lport});
}

namespace {

// Make the tail of the buffer end right after the IP packet and recompute tailroom.
void set_len(PacketBuf& b, uint8_t* cap_end, uint32_t len) {
  b.len = len;
  b.tailroom = static_cast<uint32_t>(cap_end - (b.data + len));
}

bool bad_source_v4(be32 a) {
  const uint32_t h = ntoh32(a);
  return h == 0 || h == 0xffffffffu || (h >> 28) == 0xe || (h >> 28) == 0xf || (h >> 24) == 127;
}

bool icmp4_informational(uint8_t t) {
  return t == 0 || t == 8 || t == 9 || t == 10 || (t >= 13 && t <= 18);
}

}  // namespace

DropReason icmp_echo_reply_v4(PacketBuf& b, Parsed& p) {
  if (p.family != 4) return DropReason::WrongFamily;
  if (p.proto != kProtoIcmp || p.icmp_type != 8) return DropReason::IcmpNotEcho;
  uint8_t* const cap_end = b.data + b.len + b.tailroom;
  const uint32_t optlen = p.ip_hdr_len() - kIpv4HdrLen;
  if (optlen) {
    // Options (record route, source route...) would need per-option echo rules; drop them by
    // sliding L2 + fixed header over them.
    std::memmove(b.data + optlen, b.data, p.l3_off + kIpv4HdrLen);
    b.data += optlen;
    b.headroom += optlen;
  }
  const uint32_t tot = p.ip_tot_len - optlen;
  uint8_t* ip = b.data + p.l3_off;
  ip[0] = 0x45;
  store16(ip + 2, hton16(static_cast<uint16_t>(tot)));
  store16(ip + 6, 0);
  ip[8] = 64;
  store32(ip + 12, p.daddr);
  store32(ip + 16, p.saddr);
  store16(ip + 10, 0);
  store16(ip + 10, inet_csum(ip, kIpv4HdrLen));
  uint8_t* icmp = ip + kIpv4HdrLen;
  const uint16_t w0 = load16(icmp);
  icmp[0] = 0;
  store16(icmp + 2, csum_update16(load16(icmp + 2), w0, load16(icmp)));
  set_len(b, cap_end, p.l3_off + tot);
  return parse_frame(b.data, b.len, p);
}

bool icmp_error_allowed_v4(const Parsed& p) {
  if (p.family != 4) return false;
  if ((p.frag & 0x1fff) != 0) return false;
  if (bad_source_v4(p.saddr)) return false;
  const uint32_t d = ntoh32(p.daddr);
  if (d == 0xffffffffu || (d >> 28) == 0xe || d == 0) return false;
  if (p.proto == kProtoIcmp) {
    // An ICMP packet whose header was not parsed (fragment, truncated) has no known type.
    if (p.l4_len < 8 || (p.frag & 0x3fff) != 0) return false;
    if (p.icmp_error || !icmp4_informational(p.icmp_type)) return false;
  }
  return true;
}

DropReason icmp_dest_unreach_v4(PacketBuf& b, Parsed& p, uint8_t code, uint16_t next_hop_mtu,
                                uint16_t ip_id) {
  if (p.family != 4) return DropReason::WrongFamily;
  if (!icmp_error_allowed_v4(p)) return DropReason::IcmpSuppressed;
  constexpr uint32_t kAdd = kIpv4HdrLen + 8;  // new IP header + ICMP header
  const uint32_t l2 = p.l3_off;
  const uint32_t quote = p.ip_tot_len < kIcmpErrorMaxLen - kAdd ? p.ip_tot_len : kIcmpErrorMaxLen - kAdd;
  const uint32_t new_len = l2 + kAdd + quote;
  uint8_t* const cap_end = b.data + b.len + b.tailroom;
  const be32 osrc = p.saddr, odst = p.daddr;
  const uint8_t otos = p.tos;

  if (b.headroom >= kAdd) {
    std::memmove(b.data - kAdd, b.data, l2);
    b.data -= kAdd;
    b.headroom -= kAdd;
  } else if (b.len + b.tailroom >= new_len) {
    std::memmove(b.data + l2 + kAdd, b.data + l2, quote);
  } else {
    return DropReason::IcmpNoRoom;
  }
  set_len(b, cap_end, new_len);

  uint8_t* ip = b.data + l2;
  ip[0] = 0x45;
  ip[1] = static_cast<uint8_t>((otos & 0x1e) | 0xc0);  // IPTOS_PREC_INTERNETCONTROL
  store16(ip + 2, hton16(static_cast<uint16_t>(kAdd + quote)));
  store16(ip + 4, hton16(ip_id));
  store16(ip + 6, 0);
  ip[8] = 64;
  ip[9] = kProtoIcmp;
  store16(ip + 10, 0);
  store32(ip + 12, odst);
  store32(ip + 16, osrc);
  store16(ip + 10, inet_csum(ip, kIpv4HdrLen));

  uint8_t* icmp = ip + kIpv4HdrLen;
  icmp[0] = 3;
  icmp[1] = code;
  store16(icmp + 2, 0);
  store16(icmp + 4, 0);
  store16(icmp + 6, code == kIcmpUnreachFragNeeded ? hton16(next_hop_mtu) : 0);
  store16(icmp + 2, inet_csum(icmp, 8 + quote));
  return parse_frame(b.data, b.len, p);
}

}  // namespace fulcrum
