// Which worker owns a frame, from its bytes alone (no mbuf, no DPDK), so it is unit-tested
// with crafted frames (test/steer_test.cc). With several workers each connection lives on one:
//   - TCP/UDP: the worker its client address and port hash to (a packet to a VIP names the
//     client as source, a reply from a real server names it as destination);
//   - a FullNAT reply (to one of the local addresses): the worker whose local-port range holds
//     its destination port (fnat_port_range below, the same split the workers allocate from);
//   - an ICMP error: the owner of the connection it quotes, i.e. of the quoted packet's tuple
//     reversed (the quote is a packet the director sent).
// IPv6 alike (TCP/UDP straight after the IPv6 header, the address folded to 32 bits for the
// client hash; FullNAT's IPv6 local addresses by the same port ranges; ICMPv6 errors by their
// quote). Anything else (ARP, neighbour discovery, IPv6 behind extension headers, fragments,
// echo, malformed or truncated frames) stays on the worker that received it; the core and the
// exception path deal with it there.
// One 802.1Q tag is looked through, as parse_frame does; stacked tags are the core's to drop.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "packet.h"
#include "types.h"

namespace fulcrum::dp {

// FullNAT local ports below this stay unused (the well-known range, as in the kernel's
// ip_local_port_range); the rest are split evenly between workers.
constexpr uint32_t kFnatPortFloor = 1024;

struct PortRange {
  uint16_t lo, hi;  // inclusive
};
// The local ports worker w of n allocates FullNAT connections from; the last takes the rest.
inline PortRange fnat_port_range(uint32_t w, uint32_t n) {
  uint32_t share = (65536 - kFnatPortFloor) / n;
  return PortRange{static_cast<uint16_t>(kFnatPortFloor + w * share),
                   static_cast<uint16_t>(w + 1 == n ? 65535 : kFnatPortFloor + (w + 1) * share - 1)};
}

// What steering knows, fixed while the workers run.
struct SteerPlan {
  uint32_t nworkers = 1;
  const be32* local_addrs = nullptr;  // FullNAT local addresses, sorted
  uint32_t n_local = 0;
  const IpAddr* local_addrs6 = nullptr;  // FullNAT's IPv6 ones, sorted by their bytes
  uint32_t n_local6 = 0;
};

inline uint32_t owner_of_client(be32 ip, be16 port, uint32_t n) {
  uint64_t h = (uint64_t{ip} << 16 ^ port) * 0x9e3779b97f4a7c15ull;
  return static_cast<uint32_t>(((h >> 32) * n) >> 32);
}

// The worker whose FullNAT local-port range holds dport.
inline uint32_t owner_of_local_port(const SteerPlan& plan, be16 dport) {
  uint32_t p = ntoh16(dport);
  uint32_t share = (65536 - kFnatPortFloor) / plan.nworkers;
  uint32_t rel = p >= kFnatPortFloor ? p - kFnatPortFloor : 0;
  return std::min<uint32_t>(rel / share, plan.nworkers - 1);
}

// An IPv6 address as the client hash takes it (the same for both directions of a connection).
inline be32 fold_v6(const IpAddr& a) {
  uint32_t w[4];
  std::memcpy(w, a.b.data(), 16);
  return w[0] ^ w[1] ^ w[2] ^ w[3];
}

// The owner of a TCP/UDP packet's connection. is_virtual(daddr): the destination is a VIP
// (a packet from a client); otherwise the packet comes from a real server.
template <class IsVirtual>
inline uint32_t owner_of_tuple(const SteerPlan& plan, IsVirtual&& is_virtual, be32 saddr, be16 sport, be32 daddr,
                               be16 dport) {
  if (plan.n_local && std::binary_search(plan.local_addrs, plan.local_addrs + plan.n_local, daddr))
    return owner_of_local_port(plan, dport);
  if (is_virtual(daddr)) return owner_of_client(saddr, sport, plan.nworkers);
  return owner_of_client(daddr, dport, plan.nworkers);
}

// The same for IPv6 (is_virtual called with the IpAddr).
template <class IsVirtual>
inline uint32_t owner_of_tuple6(const SteerPlan& plan, IsVirtual&& is_virtual, const IpAddr& saddr, be16 sport,
                                const IpAddr& daddr, be16 dport) {
  auto less = [](const IpAddr& a, const IpAddr& b) { return a.b < b.b; };
  if (plan.n_local6 && std::binary_search(plan.local_addrs6, plan.local_addrs6 + plan.n_local6, daddr, less))
    return owner_of_local_port(plan, dport);
  if (is_virtual(daddr)) return owner_of_client(fold_v6(saddr), sport, plan.nworkers);
  return owner_of_client(fold_v6(daddr), dport, plan.nworkers);
}

namespace steer_detail {

inline uint16_t rd16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

struct Tuple4 {
  be32 saddr, daddr;
  be16 sport, dport;
};
// Addresses and ports of an IPv4 header of `ihl` bytes followed by at least 4 L4 bytes (the
// caller checked).
inline Tuple4 read_tuple(const uint8_t* ip, uint32_t ihl) {
  Tuple4 t;
  std::memcpy(&t.saddr, ip + 12, 4);
  std::memcpy(&t.daddr, ip + 16, 4);
  std::memcpy(&t.sport, ip + ihl, 2);
  std::memcpy(&t.dport, ip + ihl + 2, 2);
  return t;
}

// An ICMP error's owner; `len` bytes from the outer IP header on, `ihl` already checked.
// Rare: kept out of the common path.
template <class IsVirtual>
[[gnu::noinline]] inline uint32_t owner_of_icmp_error(const SteerPlan& plan, IsVirtual&& is_virtual, const uint8_t* ip,
                                                      uint32_t ihl, uint32_t len, uint32_t self) {
  constexpr uint32_t kIcmpHdr = 8;
  if (len < ihl + kIcmpHdr || !icmp4_is_error(ip[ihl])) return self;
  const uint8_t* in = ip + ihl + kIcmpHdr;
  uint32_t room = len - ihl - kIcmpHdr;  // quoted bytes present
  if (room < kIpv4HdrLen) return self;
  uint32_t in_ihl = (in[0] & 0x0f) * 4u;
  if ((in[0] >> 4) != 4 || in_ihl < kIpv4HdrLen || room < in_ihl + 4) return self;
  if (in[9] != kProtoTcp && in[9] != kProtoUdp) return self;
  Tuple4 q = read_tuple(in, in_ihl);
  return owner_of_tuple(plan, is_virtual, q.daddr, q.dport, q.saddr, q.sport);
}

constexpr uint32_t kIpv6Hdr = 40;

// An IPv6 frame's owner, `len` bytes from the IPv6 header on. Out of line: the IPv4 path stays
// as it was.
template <class IsVirtual>
[[gnu::noinline]] inline uint32_t owner_of_ipv6(const SteerPlan& plan, IsVirtual& is_virtual, const uint8_t* ip,
                                                uint32_t len, uint32_t self) {
  if (len < kIpv6Hdr + 4 || (ip[0] >> 4) != 6) return self;
  const uint8_t nh = ip[6];
  if (nh == kProtoTcp || nh == kProtoUdp) {
    be16 sport, dport;
    std::memcpy(&sport, ip + kIpv6Hdr, 2);
    std::memcpy(&dport, ip + kIpv6Hdr + 2, 2);
    return owner_of_tuple6(plan, is_virtual, IpAddr::from_v6(ip + 8), sport, IpAddr::from_v6(ip + 24), dport);
  }
  // An ICMPv6 error (types below 128) quotes a packet the director sent: its tuple, reversed.
  constexpr uint32_t kIcmpHdr = 8;
  if (nh != kProtoIcmpv6 || ip[kIpv6Hdr] >= 128) return self;
  if (len < kIpv6Hdr + kIcmpHdr + kIpv6Hdr + 4) return self;
  const uint8_t* in = ip + kIpv6Hdr + kIcmpHdr;
  if ((in[0] >> 4) != 6 || (in[6] != kProtoTcp && in[6] != kProtoUdp)) return self;
  be16 qsport, qdport;
  std::memcpy(&qsport, in + kIpv6Hdr, 2);
  std::memcpy(&qdport, in + kIpv6Hdr + 2, 2);
  return owner_of_tuple6(plan, is_virtual, IpAddr::from_v6(in + 24), qdport, IpAddr::from_v6(in + 8), qsport);
}

}  // namespace steer_detail

// The worker that owns the frame `f` of `len` bytes, or `self` when it names no connection
// (see the top of this file). is_virtual is called with a be32 (IPv4) or an IpAddr (IPv6).
template <class IsVirtual>
inline uint32_t frame_owner(const SteerPlan& plan, IsVirtual&& is_virtual, const uint8_t* f, uint32_t len,
                            uint32_t self) {
  using namespace steer_detail;
  uint32_t l2 = kEthHdrLen;
  if (len < kEthHdrLen + kIpv4HdrLen) return self;
  uint16_t et = rd16(f + 12);
  if (et == kEthVlan) {
    l2 += kVlanHdrLen;
    et = rd16(f + 16);
  }
  if (et == kEthIpv6) [[unlikely]]
    return owner_of_ipv6(plan, is_virtual, f + l2, len - l2, self);
  if (et != kEthIpv4 || len < l2 + kIpv4HdrLen) return self;
  const uint8_t* ip = f + l2;
  uint32_t ip_len = len - l2;
  uint32_t ihl = (ip[0] & 0x0f) * 4u;
  bool frag = (ip[6] & 0x3f) | ip[7];
  if ((ip[0] >> 4) != 4 || ihl < kIpv4HdrLen || frag) return self;
  uint8_t proto = ip[9];
  if ((proto == kProtoTcp || proto == kProtoUdp) && ip_len >= ihl + 4) {
    Tuple4 t = read_tuple(ip, ihl);
    return owner_of_tuple(plan, is_virtual, t.saddr, t.sport, t.daddr, t.dport);
  }
  if (proto == kProtoIcmp) [[unlikely]]
    return owner_of_icmp_error(plan, is_virtual, ip, ihl, ip_len, self);
  return self;
}

}  // namespace fulcrum::dp
