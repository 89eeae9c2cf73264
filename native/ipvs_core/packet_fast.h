// parse_frame's straight path for the common frame, inline so the burst loop (engine.cc) takes
// it without a call (a call was 9-12% of the core at 10,000 connections); parse_frame is the
// same code out of line for everyone else. Anything uncommon or wrong goes to the general
// parser (packet.cc), which finds the same fields or names the problem.
#pragma once

#include <cstring>

#include "checksum.h"
#include "packet.h"

namespace fulcrum {
namespace parse_detail {

inline uint16_t rd16(const uint8_t* p) { return ntoh16(load16(p)); }

// Copy a blank rather than assign Parsed{}: GCC turns the assignment into `rep stosq`, whose
// start-up cost was a fifth of parse time (measured); a fixed-size copy is a few vector moves.
inline void blank(Parsed& p) {
  static constexpr Parsed kBlank{};
  std::memcpy(static_cast<void*>(&p), &kBlank, sizeof p);
}

// The checksum of a 20-byte IPv4 header folded and complemented: 0 when it is right.
inline uint16_t ipv4_hdr20_csum(const uint8_t* ip) {
  uint64_t a, b;
  uint32_t c;
  std::memcpy(&a, ip, 8);
  std::memcpy(&b, ip + 8, 8);
  std::memcpy(&c, ip + 16, 4);
  uint64_t acc = (a & 0xffffffffu) + (a >> 32) + (b & 0xffffffffu) + (b >> 32) + c;
  acc = (acc & 0xffffffffu) + (acc >> 32);
  return csum_fold(static_cast<uint32_t>(acc) + static_cast<uint32_t>(acc >> 32));
}

// The common IPv6 frame -- untagged, TCP or UDP right after the fixed header, every length
// right -- straight, as parse_frame's IPv4 one; false (p untouched) sends it to the general
// parser. Inline after the IPv4 test (a call was 4% of the IPv6 core).
[[gnu::always_inline]] inline bool parse_ipv6_tcp_udp(const uint8_t* f, uint32_t len, Parsed& p, DropReason& r) {
  const uint8_t* ip = f + kEthHdrLen;
  const uint8_t nh = ip[6];
  const uint32_t n = parse_detail::rd16(ip + 4);  // payload: the L4 bytes
  if ((ip[0] >> 4) != 6 || n > len - kEthHdrLen - kIpv6HdrLen || (nh != kProtoTcp && nh != kProtoUdp)) return false;
  const uint8_t* l4 = ip + kIpv6HdrLen;
  uint32_t hdr, payload;
  if (nh == kProtoTcp) {
    hdr = uint32_t(l4[12] >> 4) * 4;
    if (n < 20 || hdr < 20 || hdr > n) return false;
    payload = n - hdr;
    p.tcp_flags = l4[13];
  } else {
    const uint32_t ulen = parse_detail::rd16(l4 + 4);
    if (n < 8 || ulen < 8 || ulen > n) return false;
    hdr = 8;
    payload = ulen - 8;
  }
  p.cls = L3Class::Ipv6;
  p.family = 6;
  p.proto = nh;
  p.ethertype = kEthIpv6;
  p.l2_len = kEthHdrLen;
  p.ttl = ip[7];
  p.tos = uint8_t((parse_detail::rd16(ip) >> 4) & 0xff);
  p.l3_off = kEthHdrLen;
  p.l4_off = kEthHdrLen + kIpv6HdrLen;
  p.ip_tot_len = kIpv6HdrLen + n;
  p.l4_len = n;
  p.payload_off = p.l4_off + hdr;
  p.payload_len = payload;
  p.sport = load16(l4);
  p.dport = load16(l4 + 2);
  r = DropReason::None;
  return true;
}

}  // namespace parse_detail

// The common frame -- untagged Ethernet, IPv4 without options, not a fragment, TCP or UDP, every
// length and the header checksum right -- in one straight pass; anything else, or anything
// wrong, goes to the general parser, which finds the same fields or names the problem. The two
// agree field for field on every frame (packet_parse_test).
[[gnu::always_inline]] inline DropReason parse_frame_fast(const uint8_t* f, uint32_t len, Parsed& p) {
  parse_detail::blank(p);
  if (len >= kEthHdrLen + kIpv4HdrLen && load16(f + 12) == hton16(kEthIpv4) && f[kEthHdrLen] == 0x45) [[likely]] {
    const uint8_t* ip = f + kEthHdrLen;
    const uint32_t tot = parse_detail::rd16(ip + 2);
    const uint16_t frag = parse_detail::rd16(ip + 6);
    const uint8_t proto = ip[9];
    const uint32_t n = tot - kIpv4HdrLen;  // L4 bytes; wraps when tot < 20, failing n <= avail
    const uint8_t* l4 = ip + kIpv4HdrLen;
    if (tot >= kIpv4HdrLen && tot <= len - kEthHdrLen && (frag & 0x3fff) == 0 && parse_detail::ipv4_hdr20_csum(ip) == 0) [[likely]] {
      uint32_t hdr;  // the TCP/UDP header's length
      uint32_t payload;
      if (proto == kProtoTcp) {
        hdr = uint32_t(l4[12] >> 4) * 4;
        if (n < 20 || hdr < 20 || hdr > n) [[unlikely]]
          return parse_frame_general(f, len, p);
        payload = n - hdr;
        p.tcp_flags = l4[13];
      } else if (proto == kProtoUdp) {
        const uint32_t ulen = parse_detail::rd16(l4 + 4);
        if (n < 8 || ulen < 8 || ulen > n) [[unlikely]]
          return parse_frame_general(f, len, p);
        hdr = 8;
        payload = ulen - 8;
      } else {
        return parse_frame_general(f, len, p);
      }
      p.cls = L3Class::Ipv4;
      p.family = 4;
      p.proto = proto;
      p.ethertype = kEthIpv4;
      p.l2_len = kEthHdrLen;
      p.ttl = ip[8];
      p.tos = ip[1];
      p.df = (frag & 0x4000) != 0;
      p.frag = frag;
      p.l3_off = kEthHdrLen;
      p.l4_off = kEthHdrLen + kIpv4HdrLen;
      p.ip_tot_len = tot;
      p.l4_len = n;
      p.payload_off = kEthHdrLen + kIpv4HdrLen + hdr;
      p.payload_len = payload;
      p.saddr = load32(ip + 12);
      p.daddr = load32(ip + 16);
      p.sport = load16(l4);
      p.dport = load16(l4 + 2);
      return DropReason::None;
    }
  } else if (len >= kEthHdrLen + kIpv6HdrLen && load16(f + 12) == hton16(kEthIpv6)) {
    if (DropReason r; parse_detail::parse_ipv6_tcp_udp(f, len, p, r)) return r;
  }
  return parse_frame_general(f, len, p);
}

}  // namespace fulcrum
