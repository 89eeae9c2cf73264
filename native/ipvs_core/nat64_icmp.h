// ICMP <-> ICMPv6 translation of errors about NAT64 connections (RFC 7915 sections 4.2 and
// 5.2, as Tayga does): an ICMPv4 error from the IPv4 side (the real server, or a router on the
// way to it) quoting a packet the director sent there becomes an ICMPv6 error to the IPv6 client
// quoting that packet in the form the client sent it; an ICMPv6 error from the client quoting a
// reply becomes an ICMPv4 error to the server quoting the reply as the server sent it. The
// type/code mappings are the RFC's tables; what they do not translate is refused (counted by the
// caller). Rare path: the new packet is assembled whole and its checksums computed afresh,
// except the quoted TCP/UDP checksum, which is patched (the quote is usually cut short).
#pragma once

#include <cstdint>

#include "drop_reason.h"
#include "packet.h"
#include "types.h"

namespace fulcrum {

// An error's type, code and the 32-bit word after the checksum (MTU, pointer; host order) in
// the other family; ok false: RFC 7915 drops it.
struct IcmpXlat {
  bool ok = false;
  uint8_t type = 0, code = 0;
  uint32_t info = 0;
};
// ICMPv4 -> ICMPv6 (section 4.2). `quoted_tot_len`: the quoted IPv4 packet's total length (the
// plateau estimate when a router sent "fragmentation needed" with no MTU); `mtu`: the
// director's link MTU (the packet too big figure is min(advertised + 20, mtu)).
IcmpXlat icmp4_to_icmp6(uint8_t type, uint8_t code, uint32_t info, uint32_t quoted_tot_len, uint32_t mtu);
// ICMPv6 -> ICMPv4 (section 5.2): packet too big's MTU becomes min(MTU - 20, mtu - 20).
IcmpXlat icmp6_to_icmp4(uint8_t type, uint8_t code, uint32_t info, uint32_t mtu);

// 4 -> 6: the ICMPv4 error in b (p: its parse, a TCP/UDP quote with ports) is replaced by its
// ICMPv6 translation from outer_saddr to outer_daddr (16-byte addresses), hop limit = TTL,
// traffic class = TOS; the quote's IPv4 header becomes an IPv6 one (payload length from its
// total length, hop limit = its TTL, traffic class = its TOS, options dropped) with the given
// addresses and ports; the whole at most 1280 bytes (the quote cut). The frame grows by 40 less
// the IPv4 options: headroom, else tailroom, else IcmpNoRoom. Ethertype 0x86dd; p re-parsed.
struct Nat64IcmpTo6 {
  const uint8_t* outer_saddr;
  const uint8_t* outer_daddr;
  const uint8_t* inner_saddr;
  const uint8_t* inner_daddr;
  be16 inner_sport, inner_dport;
};
DropReason nat64_icmp_4to6(PacketBuf& b, Parsed& p, const IcmpXlat& x, const Nat64IcmpTo6& n);

// 6 -> 4: the ICMPv6 error in b becomes its ICMPv4 translation from outer_saddr to outer_daddr
// (TTL = hop limit, TOS = traffic class, id = ip_id, no DF); the quote's IPv6 header (and any
// extension headers) becomes a 20-byte IPv4 one (DF, id 0, TTL = hop limit) with the given
// addresses and ports. The frame shrinks. Ethertype 0x0800; p re-parsed.
struct Nat64IcmpTo4 {
  be32 outer_saddr, outer_daddr;
  be32 inner_saddr, inner_daddr;
  be16 inner_sport, inner_dport;
  uint16_t ip_id;
};
DropReason nat64_icmp_6to4(PacketBuf& b, Parsed& p, const IcmpXlat& x, const Nat64IcmpTo4& n);

}  // namespace fulcrum
