// parse_frame: the single place where untrusted bytes become offsets. Every read is preceded by
// a length check against what the previous layer promised, so a lying length field can only
// produce a DropReason, never an out-of-bounds read (fuzzed under ASan).
#include "packet.h"

#include <cstring>

#include "checksum.h"
#include "packet_fast.h"

namespace fulcrum {
namespace {

using parse_detail::rd16;

constexpr uint8_t kIpv6HopByHop = 0;
constexpr uint8_t kIpv6Routing = 43;
constexpr uint8_t kIpv6Fragment = 44;
constexpr uint8_t kIpv6DestOpts = 60;
constexpr int kIpv6MaxExt = 8;  // a legitimate chain is far shorter; bounds the loop

// Walk IPv6 extension headers from `off` (the byte after the fixed header) within [.., end).
// On success sets proto/off to the upper-layer header. A fragment header yields Fragment
// unless allow_first_frag and it is the first fragment (used for quoted packets).
DropReason skip_v6_ext(const uint8_t* f, uint32_t end, uint8_t& nh, uint32_t& off,
                       bool allow_first_frag, bool& any_ext) {
  for (int i = 0; i <= kIpv6MaxExt; ++i) {
    switch (nh) {
      case kIpv6HopByHop:
      case kIpv6Routing:
      case kIpv6DestOpts: {
        if (end - off < 8) return DropReason::Ipv6ExtTrunc;  // minimum ext header size
        uint32_t hlen = (uint32_t(f[off + 1]) + 1) * 8;
        if (hlen > end - off) return DropReason::Ipv6ExtTrunc;
        nh = f[off];
        off += hlen;
        any_ext = true;
        break;
      }
      case kIpv6Fragment: {
        if (!allow_first_frag) return DropReason::Fragment;
        if (end - off < 8) return DropReason::Ipv6ExtTrunc;
        if ((rd16(f + off + 2) & 0xfff8) != 0) return DropReason::IcmpInnerFragment;
        nh = f[off];
        off += 8;
        any_ext = true;
        break;
      }
      default:
        return DropReason::None;
    }
  }
  return DropReason::Ipv6ExtChain;
}

// The quoted packet of an ICMP/ICMPv6 error: header complete, at least 8 L4 bytes for the
// protocols whose ports we need (RFC 792 guarantees 8).
DropReason parse_inner(const uint8_t* f, uint32_t off, uint32_t end, uint8_t family, Parsed& p) {
  InnerTuple& in = p.inner;
  uint32_t qlen = end - off;
  in.l3_off = off;
  uint32_t l4_end;
  if (family == 4) {
    if (qlen < kIpv4HdrLen) return DropReason::IcmpInnerTrunc;
    const uint8_t* ip = f + off;
    if ((ip[0] >> 4) != 4) return DropReason::IcmpInnerBad;
    uint32_t ihl = uint32_t(ip[0] & 0x0f) * 4;
    if (ihl < kIpv4HdrLen) return DropReason::IcmpInnerBad;
    if (ihl > qlen) return DropReason::IcmpInnerTrunc;
    uint32_t tot = rd16(ip + 2);
    if (tot < ihl) return DropReason::IcmpInnerBad;
    in.family = 4;
    in.proto = ip[9];
    in.saddr = load32(ip + 12);
    in.daddr = load32(ip + 16);
    if ((rd16(ip + 6) & 0x1fff) != 0) return DropReason::IcmpInnerFragment;
    in.l4_off = off + ihl;
    // The quote may be shorter than the original (truncated) or followed by padding.
    l4_end = (tot < qlen) ? off + tot : end;
  } else {
    if (qlen < kIpv6HdrLen) return DropReason::IcmpInnerTrunc;
    const uint8_t* ip = f + off;
    if ((ip[0] >> 4) != 6) return DropReason::IcmpInnerBad;
    uint32_t tot = kIpv6HdrLen + rd16(ip + 4);
    in.family = 6;
    l4_end = (tot < qlen) ? off + tot : end;
    uint8_t nh = ip[6];
    uint32_t l4 = off + kIpv6HdrLen;
    bool ext = false;
    DropReason r = skip_v6_ext(f, l4_end, nh, l4, true, ext);
    if (r == DropReason::Ipv6ExtTrunc || r == DropReason::Ipv6ExtChain) return DropReason::IcmpInnerTrunc;
    if (r != DropReason::None) return r;
    in.proto = nh;
    in.l4_off = l4;
  }
  in.l4_len = l4_end - in.l4_off;
  if (in.proto == kProtoTcp || in.proto == kProtoUdp || in.proto == kProtoSctp) {
    if (in.l4_len < 8) return DropReason::IcmpInnerTrunc;
    in.sport = load16(f + in.l4_off);
    in.dport = load16(f + in.l4_off + 2);
    in.has_ports = true;
  }
  return DropReason::None;
}

DropReason parse_l4(const uint8_t* f, Parsed& p) {
  const uint8_t* l4 = f + p.l4_off;
  const uint32_t n = p.l4_len;
  const uint32_t end = p.l4_off + n;
  switch (p.proto) {
    case kProtoTcp: {
      if (n < 20) return DropReason::TcpTrunc;
      p.sport = load16(l4);
      p.dport = load16(l4 + 2);
      p.tcp_flags = l4[13];
      uint32_t doff = uint32_t(l4[12] >> 4) * 4;
      if (doff < 20) return DropReason::TcpBadDoff;
      if (doff > n) return DropReason::TcpDoffLong;
      p.payload_off = p.l4_off + doff;
      p.payload_len = n - doff;
      return DropReason::None;
    }
    case kProtoUdp: {
      if (n < 8) return DropReason::UdpTrunc;
      p.sport = load16(l4);
      p.dport = load16(l4 + 2);
      uint32_t ulen = rd16(l4 + 4);
      if (ulen < 8) return DropReason::UdpBadLen;
      if (ulen > n) return DropReason::UdpLenLong;
      // A UDP length shorter than the IP payload is legal (the rest is ignored, as Linux trims).
      p.payload_off = p.l4_off + 8;
      p.payload_len = ulen - 8;
      return DropReason::None;
    }
    case kProtoSctp: {
      if (n < 12) return DropReason::SctpTrunc;
      p.sport = load16(l4);
      p.dport = load16(l4 + 2);
      p.payload_off = p.l4_off + 12;
      p.payload_len = n - 12;
      return DropReason::None;
    }
    case kProtoIcmp:
    case kProtoIcmpv6: {
      // ICMP in IPv6 or ICMPv6 in IPv4 is nonsense: leave it as an opaque protocol.
      if ((p.proto == kProtoIcmp) != (p.family == 4)) return DropReason::None;
      if (n < 8) return DropReason::IcmpTrunc;
      p.icmp_type = l4[0];
      p.icmp_code = l4[1];
      p.payload_off = p.l4_off + 8;
      p.payload_len = n - 8;
      bool is_error;
      if (p.family == 4) {
        is_error = icmp4_is_error(p.icmp_type);
        if (p.icmp_type == 0 || p.icmp_type == 8) p.icmp_id = load16(l4 + 4);
      } else {
        is_error = icmp6_is_error(p.icmp_type);
        if (p.icmp_type == 128 || p.icmp_type == 129) p.icmp_id = load16(l4 + 4);
      }
      if (!is_error) return DropReason::None;
      p.icmp_error = true;
      return parse_inner(f, p.l4_off + 8, end, p.family, p);
    }
    default:
      p.payload_off = p.l4_off;
      p.payload_len = n;
      return DropReason::None;
  }
}

DropReason parse_ipv4(const uint8_t* f, uint32_t len, Parsed& p) {
  const uint32_t off = p.l3_off;
  const uint32_t avail = len - off;
  p.cls = L3Class::Ipv4;
  if (avail < kIpv4HdrLen) return DropReason::Ipv4Trunc;
  const uint8_t* ip = f + off;
  if ((ip[0] >> 4) != 4) return DropReason::Ipv4BadVersion;
  const uint32_t ihl = uint32_t(ip[0] & 0x0f) * 4;
  if (ihl < kIpv4HdrLen) return DropReason::Ipv4BadIhl;
  if (ihl > avail) return DropReason::Ipv4Trunc;
  const uint32_t tot = rd16(ip + 2);
  if (tot < ihl) return DropReason::Ipv4TotLenShort;
  if (tot > avail) return DropReason::Ipv4TotLenLong;
  // The kernel trusts the NIC's verdict; we have none in software paths, and a header with a
  // bad checksum would be forwarded with a checksum we "fix" incrementally, so reject it.
  if (inet_csum(ip, ihl) != 0) return DropReason::Ipv4BadCsum;
  p.family = 4;
  p.tos = ip[1];
  p.ip_tot_len = tot;
  p.frag = rd16(ip + 6);
  p.df = (p.frag & 0x4000) != 0;
  p.ttl = ip[8];
  p.proto = ip[9];
  p.saddr = load32(ip + 12);
  p.daddr = load32(ip + 16);
  p.ip_options = ihl > kIpv4HdrLen;
  p.l4_off = off + ihl;
  p.l4_len = tot - ihl;
  if ((p.frag & 0x3fff) != 0) return DropReason::Fragment;  // MF or offset
  return parse_l4(f, p);
}

DropReason parse_ipv6(const uint8_t* f, uint32_t len, Parsed& p) {
  const uint32_t off = p.l3_off;
  const uint32_t avail = len - off;
  p.cls = L3Class::Ipv6;
  if (avail < kIpv6HdrLen) return DropReason::Ipv6Trunc;
  const uint8_t* ip = f + off;
  if ((ip[0] >> 4) != 6) return DropReason::Ipv6BadVersion;
  const uint32_t tot = kIpv6HdrLen + rd16(ip + 4);
  if (tot > avail) return DropReason::Ipv6PayloadLenLong;
  p.family = 6;
  p.tos = uint8_t((rd16(ip) >> 4) & 0xff);
  p.ttl = ip[7];
  p.ip_tot_len = tot;
  uint8_t nh = ip[6];
  uint32_t l4 = off + kIpv6HdrLen;
  bool ext = false;
  DropReason r = skip_v6_ext(f, off + tot, nh, l4, false, ext);
  p.ip_options = ext;
  if (r != DropReason::None) return r;
  p.proto = nh;
  p.l4_off = l4;
  p.l4_len = off + tot - l4;
  return parse_l4(f, p);
}

// The general parser: every frame, every check, into a blank p. Out of line, so the fast path
// below stays small.
[[gnu::noinline]] DropReason parse_general(const uint8_t* f, uint32_t len, Parsed& p) {
  if (len < kEthHdrLen) return DropReason::L2Trunc;
  uint16_t et = rd16(f + 12);
  uint32_t off = kEthHdrLen;
  if (et == kEthQinQ) return DropReason::QinQ;
  if (et == kEthVlan) {
    if (len < kEthHdrLen + kVlanHdrLen) return DropReason::L2Trunc;
    p.has_vlan = true;
    p.vlan_tci = rd16(f + 14);
    et = rd16(f + 16);
    off += kVlanHdrLen;
    if (et == kEthVlan || et == kEthQinQ || et == 0x9100) return DropReason::QinQ;
  }
  p.ethertype = et;
  p.l2_len = static_cast<uint8_t>(off);
  p.l3_off = off;
  switch (et) {
    case kEthIpv4:
      return parse_ipv4(f, len, p);
    case kEthIpv6:
      return parse_ipv6(f, len, p);
    case kEthArp:
      p.cls = L3Class::Arp;
      return len - off < 28 ? DropReason::ArpTrunc : DropReason::None;
    default:
      p.cls = L3Class::Other;
      return DropReason::None;
  }
}

}  // namespace

DropReason parse_frame_general(const uint8_t* f, uint32_t len, Parsed& p) {
  parse_detail::blank(p);
  return parse_general(f, len, p);
}

DropReason parse_frame(const uint8_t* f, uint32_t len, Parsed& p) { return parse_frame_fast(f, len, p); }

}  // namespace fulcrum
