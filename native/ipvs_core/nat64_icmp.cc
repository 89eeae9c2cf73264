// ICMP <-> ICMPv6 error translation for NAT64 connections (nat64_icmp.h): RFC 7915's tables
// (sections 4.2 and 5.2, figures 3 and 6 for parameter problem pointers) and the packets'
// assembly.
#include "nat64_icmp.h"

#include <algorithm>
#include <cstring>

#include "checksum.h"
#include "icmp6.h"

namespace fulcrum {

namespace {

constexpr uint32_t kIcmp4MaxLen = 576;  // an ICMPv4 error at most (RFC 1812 4.3.2.3)
constexpr uint8_t kZero[16] = {};

// RFC 1191's plateaus: the likely MTU of a path whose router reported none, the largest below
// the packet's length.
uint32_t plateau_below(uint32_t len) {
  static constexpr uint32_t kPlateaus[] = {65535, 32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68};
  for (uint32_t v : kPlateaus)
    if (v < len) return v;
  return 68;
}

// Figure 3: an IPv4 header byte offset -> the IPv6 header's (-1: none).
int pointer_4to6(uint32_t ptr) {
  switch (ptr) {
    case 0: return 0;   // version/IHL -> version/traffic class
    case 1: return 1;   // type of service -> traffic class
    case 2:
    case 3: return 4;   // total length -> payload length
    case 8: return 7;   // TTL -> hop limit
    case 9: return 6;   // protocol -> next header
    default:
      if (ptr >= 12 && ptr <= 15) return 8;   // source address
      if (ptr >= 16 && ptr <= 19) return 24;  // destination address
      return -1;                              // identification, flags, checksum, options
  }
}

// Figure 6: an IPv6 header byte offset -> the IPv4 header's (-1: none).
int pointer_6to4(uint32_t ptr) {
  if (ptr == 0) return 0;
  if (ptr == 1) return 1;
  if (ptr == 4 || ptr == 5) return 2;
  if (ptr == 6) return 9;
  if (ptr == 7) return 8;
  if (ptr >= 8 && ptr <= 23) return 12;
  if (ptr >= 24 && ptr <= 39) return 16;
  return -1;  // flow label, the rest
}

IcmpXlat to(uint8_t type, uint8_t code, uint32_t info = 0) { return {true, type, code, info}; }

// The quoted TCP/UDP header's ports, and its checksum by the pseudo-header's change when the
// quote holds it (a UDP checksum of 0 stays: there was none).
void quote_ports(uint8_t* l4, uint32_t l4n, uint8_t proto, CsumDelta& d, be16 sport, be16 dport) {
  d.add16(load16(l4), sport);
  d.add16(load16(l4 + 2), dport);
  store16(l4, sport);
  store16(l4 + 2, dport);
  if (proto == kProtoTcp && l4n >= 18)
    d.apply_at(l4 + 16);
  else if (proto == kProtoUdp && l4n >= 8 && load16(l4 + 6) != 0)
    d.apply_udp_at(l4 + 6);
}

// Puts the assembled IP packet (len bytes) after the frame's L2 header in place of the old one,
// with ethertype et; grows into headroom, else tailroom.
DropReason place(PacketBuf& b, Parsed& p, const uint8_t* pkt, uint32_t len, uint16_t et) {
  uint8_t* const cap_end = b.data + b.len + b.tailroom;
  const uint32_t need = p.l3_off + len;
  if (need > b.len) {
    const uint32_t grow = need - b.len;
    if (b.headroom >= grow) {
      std::memmove(b.data - grow, b.data, p.l3_off);
      b.data -= grow;
      b.headroom -= grow;
    } else if (b.tailroom < grow) {
      return DropReason::IcmpNoRoom;
    }
  }
  std::memcpy(b.data + p.l3_off, pkt, len);
  store16(b.data + p.l2_len - 2, hton16(et));
  b.len = need;
  b.tailroom = static_cast<uint32_t>(cap_end - (b.data + need));
  return parse_frame(b.data, b.len, p);
}

}  // namespace

IcmpXlat icmp4_to_icmp6(uint8_t type, uint8_t code, uint32_t info, uint32_t quoted_tot_len, uint32_t mtu) {
  switch (type) {
    case 3:  // destination unreachable
      switch (code) {
        case 0:
        case 1:
        case 5:
        case 6:
        case 7:
        case 8:
        case 11:
        case 12:
          return to(1, 0);  // no route to destination
        case 2:
          return to(4, 1, 6);  // protocol unreachable: parameter problem, the next header field
        case 3:
          return to(1, 4);  // port unreachable
        case 4: {  // fragmentation needed: packet too big, the IPv6 header's 20 bytes more
          uint32_t adv = info & 0xffff;
          if (adv == 0) adv = plateau_below(quoted_tot_len);
          return to(2, 0, std::min(adv + 20, mtu));
        }
        case 9:
        case 10:
        case 13:
        case 15:
          return to(1, 1);  // administratively prohibited
        default:
          return {};  // 14 (host precedence violation) and unknown codes
      }
    case 11:  // time exceeded
      return to(3, code);
    case 12: {  // parameter problem (code 1, a missing option, has no IPv6 form)
      if (code != 0 && code != 2) return {};
      const int ptr = pointer_4to6(info >> 24);
      if (ptr < 0) return {};
      return to(4, 0, static_cast<uint32_t>(ptr));
    }
    default:
      return {};  // source quench, redirect, the informational types
  }
}

IcmpXlat icmp6_to_icmp4(uint8_t type, uint8_t code, uint32_t info, uint32_t mtu) {
  switch (type) {
    case 1:  // destination unreachable
      switch (code) {
        case 0:
        case 2:
        case 3:
          return to(3, 1);  // host unreachable
        case 1:
          return to(3, 10);  // administratively prohibited
        case 4:
          return to(3, 3);  // port unreachable
        default:
          return {};
      }
    case 2: {  // packet too big: fragmentation needed, the IPv4 header's 20 bytes less
      const uint32_t m = std::min(info > 20 ? info - 20 : 0, mtu - 20);
      return to(3, 4, std::min<uint32_t>(m, 0xffff));
    }
    case 3:  // time exceeded
      return to(11, code);
    case 4:  // parameter problem
      if (code == 1) return to(3, 2);  // unrecognized next header: protocol unreachable
      if (code == 0) {
        const int ptr = pointer_6to4(info);
        if (ptr < 0) return {};
        return to(12, 0, static_cast<uint32_t>(ptr) << 24);
      }
      return {};
    default:
      return {};
  }
}

DropReason nat64_icmp_4to6(PacketBuf& b, Parsed& p, const IcmpXlat& x, const Nat64IcmpTo6& n) {
  if (p.family != 4 || p.proto != kProtoIcmp || !p.icmp_error || p.inner.family != 4) return DropReason::IcmpNotError;
  const InnerTuple& in = p.inner;
  if (!in.has_ports || (in.proto != kProtoTcp && in.proto != kProtoUdp)) return DropReason::L4Unsupported;
  const uint8_t* q = b.data + in.l3_off;
  const uint32_t qhl = in.l4_off - in.l3_off;
  const uint32_t qtot = ntoh16(load16(q + 2));
  const uint32_t l4n = std::min(in.l4_len, kIpv6MinMtu - 2 * kIpv6HdrLen - 8);
  const uint32_t plen = 8 + kIpv6HdrLen + l4n;  // the outer IPv6 payload

  uint8_t out[kIpv6MinMtu];
  uint8_t* ip = out;
  uint8_t* icmp = ip + kIpv6HdrLen;
  uint8_t* iq = icmp + 8;
  uint8_t* il4 = iq + kIpv6HdrLen;
  // The quote, as the client sent it.
  store32(iq, hton32(0x60000000u | uint32_t{q[1]} << 20));
  store16(iq + 4, hton16(static_cast<uint16_t>(qtot > qhl ? qtot - qhl : 0)));
  iq[6] = in.proto;
  iq[7] = q[8];
  std::memcpy(iq + 8, n.inner_saddr, 16);
  std::memcpy(iq + 24, n.inner_daddr, 16);
  std::memcpy(il4, b.data + in.l4_off, l4n);
  CsumDelta d;
  d.add32(in.saddr, 0);
  d.add32(in.daddr, 0);
  d.add128(kZero, n.inner_saddr);
  d.add128(kZero, n.inner_daddr);
  quote_ports(il4, l4n, in.proto, d, n.inner_sport, n.inner_dport);
  // The error.
  store32(ip, hton32(0x60000000u | uint32_t{p.tos} << 20));
  store16(ip + 4, hton16(static_cast<uint16_t>(plen)));
  ip[6] = kProtoIcmpv6;
  ip[7] = p.ttl;
  std::memcpy(ip + 8, n.outer_saddr, 16);
  std::memcpy(ip + 24, n.outer_daddr, 16);
  icmp[0] = x.type;
  icmp[1] = x.code;
  store16(icmp + 2, 0);
  store32(icmp + 4, hton32(x.info));
  store16(icmp + 2, csum_fold(csum_partial(icmp, plen, pseudo_v6(ip + 8, ip + 24, kProtoIcmpv6, plen))));
  return place(b, p, out, kIpv6HdrLen + plen, kEthIpv6);
}

DropReason nat64_icmp_6to4(PacketBuf& b, Parsed& p, const IcmpXlat& x, const Nat64IcmpTo4& n) {
  if (p.family != 6 || p.proto != kProtoIcmpv6 || !p.icmp_error || p.inner.family != 6) return DropReason::IcmpNotError;
  const InnerTuple& in = p.inner;
  if (!in.has_ports || (in.proto != kProtoTcp && in.proto != kProtoUdp)) return DropReason::L4Unsupported;
  const uint8_t* q = b.data + in.l3_off;
  const uint32_t qext = in.l4_off - in.l3_off - kIpv6HdrLen;  // extension headers: not carried
  const uint32_t qplen = ntoh16(load16(q + 4));
  const uint32_t qtot = kIpv4HdrLen + (qplen > qext ? qplen - qext : 0);
  const uint32_t l4n = std::min(in.l4_len, kIcmp4MaxLen - 2 * kIpv4HdrLen - 8);
  const uint32_t tot = kIpv4HdrLen + 8 + kIpv4HdrLen + l4n;

  uint8_t out[kIcmp4MaxLen];
  uint8_t* ip = out;
  uint8_t* icmp = ip + kIpv4HdrLen;
  uint8_t* iq = icmp + 8;
  uint8_t* il4 = iq + kIpv4HdrLen;
  // The quote, as the server sent it.
  iq[0] = 0x45;
  iq[1] = static_cast<uint8_t>(ntoh32(load32(q)) >> 20);
  store16(iq + 2, hton16(static_cast<uint16_t>(qtot)));
  store16(iq + 4, 0);
  store16(iq + 6, hton16(0x4000));
  iq[8] = q[7];
  iq[9] = in.proto;
  store16(iq + 10, 0);
  store32(iq + 12, n.inner_saddr);
  store32(iq + 16, n.inner_daddr);
  store16(iq + 10, inet_csum(iq, kIpv4HdrLen));
  std::memcpy(il4, b.data + in.l4_off, l4n);
  CsumDelta d;
  d.add128(q + 8, kZero);
  d.add128(q + 24, kZero);
  d.add32(0, n.inner_saddr);
  d.add32(0, n.inner_daddr);
  quote_ports(il4, l4n, in.proto, d, n.inner_sport, n.inner_dport);
  // The error.
  ip[0] = 0x45;
  ip[1] = p.tos;
  store16(ip + 2, hton16(static_cast<uint16_t>(tot)));
  store16(ip + 4, hton16(n.ip_id));
  store16(ip + 6, 0);
  ip[8] = p.ttl;
  ip[9] = kProtoIcmp;
  store16(ip + 10, 0);
  store32(ip + 12, n.outer_saddr);
  store32(ip + 16, n.outer_daddr);
  store16(ip + 10, inet_csum(ip, kIpv4HdrLen));
  icmp[0] = x.type;
  icmp[1] = x.code;
  store16(icmp + 2, 0);
  store32(icmp + 4, hton32(x.info));
  store16(icmp + 2, inet_csum(icmp, tot - kIpv4HdrLen));
  return place(b, p, out, tot, kEthIpv4);
}

}  // namespace fulcrum
