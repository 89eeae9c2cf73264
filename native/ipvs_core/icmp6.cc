// ICMPv6 error rewriting and in-place generation (icmp6.h). Rare path: checksums are recomputed
// whole where that is simpler; every write stays within the bounds parse_frame established.
#include "icmp6.h"

#include <cstring>

#include "checksum.h"

namespace fulcrum {

namespace {

// The ICMPv6 checksum of the message at l4 (len bytes) between src and dst, field included
// as zero.
void icmp6_set_csum(uint8_t* l4, uint32_t len, const uint8_t* src, const uint8_t* dst) {
  store16(l4 + 2, 0);
  store16(l4 + 2, csum_fold(csum_partial(l4, len, pseudo_v6(src, dst, kProtoIcmpv6, len))));
}

void set_len(PacketBuf& b, uint8_t* cap_end, uint32_t len) {
  b.len = len;
  b.tailroom = static_cast<uint32_t>(cap_end - (b.data + len));
}

bool is_unspecified(const uint8_t* a) {
  static constexpr uint8_t zero[16] = {};
  return std::memcmp(a, zero, 16) == 0;
}

}  // namespace

DropReason icmp6_error_rewrite(uint8_t* f, Parsed& p, const Icmp6ErrorNat& n) {
  if (p.family != 6) return DropReason::WrongFamily;
  if (p.proto != kProtoIcmpv6 || !p.icmp_error || p.inner.family != 6) return DropReason::IcmpNotError;
  InnerTuple& in = p.inner;
  uint8_t* cl4 = f + in.l4_off;
  uint8_t* is = f + in.l3_off + 8;
  uint8_t* id = f + in.l3_off + 24;
  CsumDelta ld;  // the quoted L4 checksum: pseudo-header addresses and ports
  ld.add128(is, n.inner_saddr);
  ld.add128(id, n.inner_daddr);
  std::memmove(is, n.inner_saddr, 16);
  std::memmove(id, n.inner_daddr, 16);
  if (in.has_ports) {
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
  // Outer addresses last: the new ones may be read from the quote just rewritten.
  std::memmove(f + p.v6_saddr_off(), n.outer_saddr, 16);
  std::memmove(f + p.v6_daddr_off(), n.outer_daddr, 16);
  icmp6_set_csum(f + p.l4_off, p.l4_len, f + p.v6_saddr_off(), f + p.v6_daddr_off());
  return DropReason::None;
}

DropReason icmp6_echo_reply(PacketBuf& b, Parsed& p) {
  if (p.family != 6) return DropReason::WrongFamily;
  if (p.proto != kProtoIcmpv6 || p.icmp_type != kIcmp6EchoRequest) return DropReason::IcmpNotEcho;
  uint8_t* const cap_end = b.data + b.len + b.tailroom;
  const uint32_t ext = p.l4_off - p.l3_off - kIpv6HdrLen;
  if (ext) {
    // Extension headers (hop-by-hop options, routing) are the sender's; the reply goes without.
    std::memmove(b.data + ext, b.data, p.l3_off + kIpv6HdrLen);
    b.data += ext;
    b.headroom += ext;
  }
  uint8_t* ip = b.data + p.l3_off;
  const uint32_t len = p.l4_len;
  uint8_t tmp[16];
  std::memcpy(tmp, ip + 8, 16);
  std::memcpy(ip + 8, ip + 24, 16);
  std::memcpy(ip + 24, tmp, 16);
  store16(ip + 4, hton16(static_cast<uint16_t>(len)));
  ip[6] = kProtoIcmpv6;
  ip[7] = 64;
  uint8_t* icmp = ip + kIpv6HdrLen;
  icmp[0] = kIcmp6EchoReply;
  icmp6_set_csum(icmp, len, ip + 8, ip + 24);
  set_len(b, cap_end, p.l3_off + kIpv6HdrLen + len);
  return parse_frame(b.data, b.len, p);
}

bool icmp6_error_allowed(const uint8_t* f, const Parsed& p, uint8_t type) {
  if (p.family != 6) return false;
  const uint8_t* src = f + p.v6_saddr_off();
  const uint8_t* dst = f + p.v6_daddr_off();
  if (is_unspecified(src) || src[0] == 0xff) return false;
  if (dst[0] == 0xff && type != kIcmp6PacketTooBig) return false;
  if (p.proto == kProtoIcmpv6) {
    if (p.l4_len < 8 || p.icmp_error || p.icmp_type < 128 || p.icmp_type == 137) return false;
  }
  return true;
}

DropReason icmp6_error(PacketBuf& b, Parsed& p, uint8_t type, uint8_t code, uint32_t info) {
  if (p.family != 6) return DropReason::WrongFamily;
  if (!icmp6_error_allowed(b.data, p, type)) return DropReason::IcmpSuppressed;
  constexpr uint32_t kAdd = kIpv6HdrLen + 8;  // new IPv6 header + ICMPv6 header
  const uint32_t l2 = p.l3_off;
  const uint32_t quote = p.ip_tot_len < kIpv6MinMtu - kAdd ? p.ip_tot_len : kIpv6MinMtu - kAdd;
  const uint32_t new_len = l2 + kAdd + quote;
  uint8_t* const cap_end = b.data + b.len + b.tailroom;
  uint8_t src[16], dst[16];
  std::memcpy(src, b.data + p.v6_daddr_off(), 16);  // the error comes from where the packet went
  std::memcpy(dst, b.data + p.v6_saddr_off(), 16);

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
  store32(ip, hton32(0x60000000u));  // version 6, traffic class 0, flow label 0
  store16(ip + 4, hton16(static_cast<uint16_t>(8 + quote)));
  ip[6] = kProtoIcmpv6;
  ip[7] = 64;
  std::memcpy(ip + 8, src, 16);
  std::memcpy(ip + 24, dst, 16);
  uint8_t* icmp = ip + kIpv6HdrLen;
  icmp[0] = type;
  icmp[1] = code;
  store32(icmp + 4, hton32(info));
  icmp6_set_csum(icmp, 8 + quote, src, dst);
  return parse_frame(b.data, b.len, p);
}

}  // namespace fulcrum
