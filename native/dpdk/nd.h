// IPv6 neighbour discovery (RFC 4861) on raw Ethernet frames: read a neighbour solicitation,
// advertisement or router advertisement with every check the RFC asks of a receiver (hop limit
// 255, ICMPv6 checksum over the pseudo-header, code 0, lengths, options that are neither empty
// nor past the end), and write solicitations and advertisements. The IPv6 side of arp.h:
// byte-buffer code with no DPDK in it, unit-tested without EAL (test/nd_test.cc).
#pragma once

#include <cstdint>
#include <cstring>

#include "arp.h"
#include "checksum.h"
#include "types.h"

namespace fulcrum::dp {

enum : uint8_t {
  kNdRouterSolicit = 133,
  kNdRouterAdvert = 134,
  kNdNeighSolicit = 135,
  kNdNeighAdvert = 136,
  kNdRedirect = 137,
};
// NA flags (the first byte after the ICMPv6 header's checksum).
enum : uint8_t { kNaRouter = 0x80, kNaSolicited = 0x40, kNaOverride = 0x20 };

// An NS or NA with its link-layer option: 14 (Ethernet) + 40 (IPv6) + 24 (ICMPv6 + target) + 8.
constexpr uint32_t kNdFrameLen = 14 + 40 + 24 + 8;

// What nd_parse found. NotNd: the frame is something else (the packet core's); Bad: an ND
// message a receiver must discard (RFC 4861 7.1.1, 7.1.2, 6.1.2): counted and dropped.
enum class NdParse : uint8_t { NotNd, Bad, Ok };

struct NdView {
  uint8_t type = 0;       // kNdNeighSolicit, kNdNeighAdvert, kNdRouterAdvert, kNdRouterSolicit, kNdRedirect
  uint8_t flags = 0;      // NA: kNaRouter | kNaSolicited | kNaOverride
  uint32_t l2_len = 14;   // 18 with a VLAN tag
  Mac eth_src;
  IpAddr src, dst;
  IpAddr target;          // NS/NA/redirect
  bool has_lladdr = false;
  Mac lladdr;             // NS, RA: the source link-layer option; NA: the target link-layer option
  uint16_t router_lifetime_s = 0;  // RA
};

inline bool in6_is_unspecified(const IpAddr& a) {
  static const uint8_t z[16] = {};
  return std::memcmp(a.b.data(), z, 16) == 0;
}
inline bool in6_is_multicast(const IpAddr& a) { return a.b[0] == 0xff; }
inline bool in6_is_link_local(const IpAddr& a) { return a.b[0] == 0xfe && (a.b[1] & 0xc0) == 0x80; }

// ff02::1:ffXX:XXXX, the solicited-node group of an address (RFC 4291 2.7.1).
inline IpAddr in6_solicited_node(const IpAddr& a) {
  IpAddr s;
  s.b[0] = 0xff;
  s.b[1] = 0x02;
  s.b[11] = 0x01;
  s.b[12] = 0xff;
  s.b[13] = a.b[13];
  s.b[14] = a.b[14];
  s.b[15] = a.b[15];
  return s;
}
// 33:33 and the group's last 32 bits (RFC 2464 7).
inline Mac in6_multicast_mac(const IpAddr& group) {
  return Mac{{0x33, 0x33, group.b[12], group.b[13], group.b[14], group.b[15]}};
}
inline IpAddr in6_all_nodes() {
  IpAddr a;
  a.b[0] = 0xff;
  a.b[1] = 0x02;
  a.b[15] = 0x01;
  return a;
}
// fe80::/64 with the MAC's modified EUI-64 (RFC 4291 appendix A): the address the kernel gives
// an interface with this MAC (addr_gen_mode eui64, its default), so the TAP and the dataplane
// hold the same link-local address.
inline IpAddr in6_link_local(const Mac& m) {
  IpAddr a;
  a.b[0] = 0xfe;
  a.b[1] = 0x80;
  a.b[8] = m.b[0] ^ 0x02;
  a.b[9] = m.b[1];
  a.b[10] = m.b[2];
  a.b[11] = 0xff;
  a.b[12] = 0xfe;
  a.b[13] = m.b[3];
  a.b[14] = m.b[4];
  a.b[15] = m.b[5];
  return a;
}
// Whether a is inside prefix/len.
inline bool in6_in_prefix(const IpAddr& a, const IpAddr& prefix, uint8_t len) {
  uint32_t full = len / 8, rest = len % 8;
  if (std::memcmp(a.b.data(), prefix.b.data(), full) != 0) return false;
  if (!rest) return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return ((a.b[full] ^ prefix.b[full]) & mask) == 0;
}

namespace nd_detail {

inline uint16_t rd16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

// The ICMPv6 checksum of `len` bytes at icmp, between src and dst: 0 when a received message's
// checksum is right; the value to store when the field is zero.
inline uint16_t icmp6_csum(const uint8_t* src, const uint8_t* dst, const uint8_t* icmp, uint32_t len) {
  return csum_fold(csum_partial(icmp, len, pseudo_v6(src, dst, kProtoIcmpv6, len)));
}

// Ethernet header (and a VLAN tag, copied from `vlan_tci` when >= 0) then an IPv6 header with
// hop limit 255 and an ICMPv6 payload of `icmp_len`; returns the IPv6 header's offset.
inline uint32_t write_headers(uint8_t* f, const Mac& dst_mac, const Mac& src_mac, int32_t vlan_tci, const IpAddr& src,
                              const IpAddr& dst, uint32_t icmp_len) {
  std::memcpy(f, dst_mac.b, 6);
  std::memcpy(f + 6, src_mac.b, 6);
  uint32_t l2 = 14;
  if (vlan_tci >= 0) {
    f[12] = 0x81;
    f[13] = 0x00;
    f[14] = static_cast<uint8_t>(vlan_tci >> 8);
    f[15] = static_cast<uint8_t>(vlan_tci);
    l2 = 18;
  }
  f[l2 - 2] = 0x86;
  f[l2 - 1] = 0xdd;
  uint8_t* ip = f + l2;
  ip[0] = 0x60;
  ip[1] = ip[2] = ip[3] = 0;
  ip[4] = static_cast<uint8_t>(icmp_len >> 8);
  ip[5] = static_cast<uint8_t>(icmp_len);
  ip[6] = kProtoIcmpv6;
  ip[7] = 255;  // RFC 4861: a receiver discards ND with any other hop limit (proof it is on-link)
  std::memcpy(ip + 8, src.b.data(), 16);
  std::memcpy(ip + 24, dst.b.data(), 16);
  return l2;
}

// An NS or NA body (type, flags, target, one link-layer option) after the headers; returns the
// frame length.
inline uint32_t write_nd(uint8_t* f, uint32_t l2, uint8_t type, uint8_t flags, const IpAddr& target, uint8_t opt_type,
                         const Mac& lladdr) {
  uint8_t* ip = f + l2;
  uint8_t* icmp = ip + 40;
  icmp[0] = type;
  icmp[1] = 0;
  icmp[2] = icmp[3] = 0;
  icmp[4] = flags;
  icmp[5] = icmp[6] = icmp[7] = 0;
  std::memcpy(icmp + 8, target.b.data(), 16);
  icmp[24] = opt_type;
  icmp[25] = 1;  // in units of 8 bytes
  std::memcpy(icmp + 26, lladdr.b, 6);
  uint16_t c = icmp6_csum(ip + 8, ip + 24, icmp, 32);
  std::memcpy(icmp + 2, &c, 2);
  return l2 + 40 + 32;
}

}  // namespace nd_detail

// Reads an ND message (RS, RA, NS, NA, redirect) straight after the IPv6 header (ND is never
// sent behind extension headers); anything else is NotNd. `len` is the frame's length.
inline NdParse nd_parse(const uint8_t* f, uint32_t len, NdView& v) {
  using nd_detail::rd16;
  if (len < 14) return NdParse::NotNd;
  uint32_t l2 = 14;
  uint16_t et = rd16(f + 12);
  if (et == 0x8100) {
    if (len < 18) return NdParse::NotNd;
    et = rd16(f + 16);
    l2 = 18;
  }
  if (et != 0x86dd || len < l2 + 40 + 4) return NdParse::NotNd;
  const uint8_t* ip = f + l2;
  if ((ip[0] >> 4) != 6 || ip[6] != kProtoIcmpv6) return NdParse::NotNd;
  const uint8_t* icmp = ip + 40;
  const uint8_t type = icmp[0];
  if (type < kNdRouterSolicit || type > kNdRedirect) return NdParse::NotNd;
  // From here on it is ND: whatever is wrong makes it Bad.
  const uint32_t plen = rd16(ip + 4);
  if (l2 + 40 + plen > len) return NdParse::Bad;  // truncated (padding past plen is allowed)
  if (ip[7] != 255) return NdParse::Bad;          // forwarded by a router: not from this link
  if (icmp[1] != 0) return NdParse::Bad;
  if (nd_detail::icmp6_csum(ip + 8, ip + 24, icmp, plen) != 0) return NdParse::Bad;
  uint32_t fixed;
  switch (type) {
    case kNdRouterSolicit: fixed = 8; break;
    case kNdRouterAdvert: fixed = 16; break;
    case kNdRedirect: fixed = 40; break;
    default: fixed = 24; break;  // NS, NA
  }
  if (plen < fixed) return NdParse::Bad;
  v = NdView{};
  v.type = type;
  v.l2_len = l2;
  std::memcpy(v.eth_src.b, f + 6, 6);
  v.src = IpAddr::from_v6(ip + 8);
  v.dst = IpAddr::from_v6(ip + 24);
  if (type == kNdNeighSolicit || type == kNdNeighAdvert || type == kNdRedirect) {
    v.target = IpAddr::from_v6(icmp + 8);
    if (in6_is_multicast(v.target)) return NdParse::Bad;
  }
  if (type == kNdNeighAdvert) v.flags = icmp[4] & (kNaRouter | kNaSolicited | kNaOverride);
  if (type == kNdRouterAdvert) v.router_lifetime_s = rd16(icmp + 6);
  // Options: type, length in 8-byte units (0 is invalid), within the message.
  const uint8_t want = type == kNdNeighAdvert ? 2 : 1;  // target / source link-layer address
  for (uint32_t off = fixed; off < plen;) {
    if (plen - off < 2) return NdParse::Bad;
    const uint32_t olen = uint32_t{icmp[off + 1]} * 8;
    if (olen == 0 || off + olen > plen) return NdParse::Bad;
    if (icmp[off] == want && type != kNdRedirect) {
      if (olen < 8) return NdParse::Bad;
      v.has_lladdr = true;
      std::memcpy(v.lladdr.b, icmp + off + 2, 6);
    }
    off += olen;
  }
  if (type == kNdNeighSolicit && in6_is_unspecified(v.src)) {
    // Duplicate address detection: sent to the solicited-node group, never with a source
    // link-layer option (RFC 4861 7.1.1).
    if (v.has_lladdr || v.dst.b[0] != 0xff) return NdParse::Bad;
  }
  if (type == kNdNeighAdvert && in6_is_multicast(v.dst) && (v.flags & kNaSolicited)) return NdParse::Bad;
  if (type == kNdRouterAdvert && !in6_is_link_local(v.src)) return NdParse::Bad;
  return NdParse::Ok;
}

// The advertisement answering a parsed solicitation for `target` (ours at `mine`), written over
// the solicitation's frame (room for kNdFrameLen + 4 bytes); returns the new length. Solicited
// and with the override flag, to the asker's address and link-layer address; to all nodes,
// unsolicited, when the asker runs duplicate address detection (source ::).
inline uint32_t nd_make_na(uint8_t* f, const NdView& ns, const Mac& mine) {
  const bool dad = in6_is_unspecified(ns.src);
  const IpAddr dst = dad ? in6_all_nodes() : ns.src;
  const Mac dst_mac = dad ? in6_multicast_mac(dst) : ns.has_lladdr ? ns.lladdr : ns.eth_src;
  const int32_t tci = ns.l2_len == 18 ? nd_detail::rd16(f + 14) : -1;
  const IpAddr target = ns.target;  // read before the frame is overwritten
  uint32_t l2 = nd_detail::write_headers(f, dst_mac, mine, tci, target, dst, 32);
  return nd_detail::write_nd(f, l2, kNdNeighAdvert, dad ? kNaOverride : kNaSolicited | kNaOverride, target, 2, mine);
}

// An unsolicited advertisement of `addr` at `mine` to all nodes, with the override flag, so the
// neighbours' caches move to us (a VIP taken over: the IPv6 gratuitous ARP). Writes kNdFrameLen
// bytes.
inline uint32_t nd_write_unsolicited_na(uint8_t* f, const Mac& mine, const IpAddr& addr) {
  const IpAddr dst = in6_all_nodes();
  uint32_t l2 = nd_detail::write_headers(f, in6_multicast_mac(dst), mine, -1, addr, dst, 32);
  return nd_detail::write_nd(f, l2, kNdNeighAdvert, kNaOverride, addr, 2, mine);
}

// A solicitation for `target` from `src` at `mine`: to the target's solicited-node group, or
// unicast to `unicast` (confirming a stale entry, RFC 4861 7.3.3). Writes kNdFrameLen bytes.
inline uint32_t nd_write_ns(uint8_t* f, const Mac& mine, const IpAddr& src, const IpAddr& target,
                            const Mac* unicast = nullptr) {
  const IpAddr dst = unicast ? target : in6_solicited_node(target);
  uint32_t l2 = nd_detail::write_headers(f, unicast ? *unicast : in6_multicast_mac(dst), mine, -1, src, dst, 32);
  return nd_detail::write_nd(f, l2, kNdNeighSolicit, 0, target, 1, mine);
}

}  // namespace fulcrum::dp
