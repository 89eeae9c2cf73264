// Header rewrites for the forwarding methods: NAT and FullNAT address/port translation, TOA
// insertion (FullNAT's client-address TCP option), IPIP encapsulation (TUN) and the L2 helpers
// DR and replies need. All checksum work is incremental (RFC 1624); nothing allocates. Every
// function expects `p` from a successful parse_frame of the same bytes and keeps it in step.
#pragma once

#include <cstdint>
#include <cstring>

#include "checksum.h"
#include "drop_reason.h"
#include "packet.h"
#include "types.h"

namespace fulcrum {

// ---- L3/L4 tuple rewrites ------------------------------------------------------------------
// Set the packet's source and destination address and port (ports only for TCP/UDP; other
// protocols keep theirs). IP header, TCP/UDP (and ICMPv6) checksums follow incrementally; a
// UDP/IPv4 checksum of 0 ("none") stays 0. SCTP → L4Unsupported (its CRC32c is not
// incremental) and the frame is untouched; so is any failed call.
// The TCP/UDP ports of a tuple rewrite and their checksum: `d` holds the addresses' change
// (the pseudo-header carries them), the ports' is added here. Both families' rewrites use it.
[[gnu::always_inline]] inline void rewrite_l4_ports(uint8_t* l4, Parsed& p, CsumDelta d, be16 sport, be16 dport) {
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

// IPv4's is inline: every packet of every IPv4 NAT and FullNAT connection takes it (a call was
// 7% of the core at 10,000 connections).
[[gnu::always_inline]] inline DropReason rewrite_tuple_v4(uint8_t* f, Parsed& p, be32 saddr, be16 sport, be32 daddr, be16 dport) {
  if (p.family != 4) return DropReason::WrongFamily;
  if (p.proto == kProtoSctp) return DropReason::L4Unsupported;
  uint8_t* ip = f + p.l3_off;
  uint8_t* l4 = f + p.l4_off;
  CsumDelta addr;
  addr.add32(p.saddr, saddr);
  addr.add32(p.daddr, daddr);
  if (p.proto == kProtoTcp || p.proto == kProtoUdp) rewrite_l4_ports(l4, p, addr, sport, dport);
  store32(ip + 12, saddr);
  store32(ip + 16, daddr);
  addr.apply_at(ip + 10);
  p.saddr = saddr;
  p.daddr = daddr;
  return DropReason::None;
}

DropReason rewrite_tuple_v6(uint8_t* frame, Parsed& p, const uint8_t* saddr, be16 sport,
                            const uint8_t* daddr, be16 dport);

// NAT (masquerading), client → real server: destination VIP:vport becomes RIP:rport.
inline DropReason nat_in_v4(uint8_t* f, Parsed& p, be32 rip, be16 rport) {
  return rewrite_tuple_v4(f, p, p.saddr, p.sport, rip, rport);
}
// NAT reply, real server → client: source RIP:rport becomes VIP:vport.
inline DropReason nat_out_v4(uint8_t* f, Parsed& p, be32 vip, be16 vport) {
  return rewrite_tuple_v4(f, p, vip, vport, p.daddr, p.dport);
}
// FullNAT, client → real server: CIP:cport→VIP:vport becomes LIP:lport→RIP:rport.
inline DropReason fnat_in_v4(uint8_t* f, Parsed& p, be32 lip, be16 lport, be32 rip, be16 rport) {
  return rewrite_tuple_v4(f, p, lip, lport, rip, rport);
}
// FullNAT reply: RIP:rport→LIP:lport becomes VIP:vport→CIP:cport.
inline DropReason fnat_out_v4(uint8_t* f, Parsed& p, be32 vip, be16 vport, be32 cip, be16 cport) {
  return rewrite_tuple_v4(f, p, vip, vport, cip, cport);
}

// One side of an IPv6 packet (the destination when `dst`, else the source): its address and
// port, the L4 checksum patched by the address difference taken 32 bits at a time (NAT, which
// changes one side, per packet). addr must not point into the frame.
// Inline, forced: every packet of an IPv6 NAT connection takes it (GCC kept it a call: 8% of the
// IPv6 core at 10,000 connections).
[[gnu::always_inline]] inline DropReason rewrite_side_v6(uint8_t* f, Parsed& p, bool dst, const uint8_t* addr, be16 port) {
  if (p.family != 6) return DropReason::WrongFamily;
  if (p.proto == kProtoSctp) return DropReason::L4Unsupported;
  uint8_t* a = f + (dst ? p.v6_daddr_off() : p.v6_saddr_off());
  uint8_t* l4 = f + p.l4_off;
  // ~old + new over the four 32-bit words: a 32-bit word sums as its two 16-bit halves do in
  // ones' complement (2^16 = 1 mod 0xffff), and no word needs a branch.
  CsumDelta delta;
  for (int i = 0; i < 16; i += 4) delta.acc += uint64_t{static_cast<uint32_t>(~load32(a + i))} + load32(addr + i);
  if (p.proto == kProtoTcp || p.proto == kProtoUdp) {
    be16& old = dst ? p.dport : p.sport;
    delta.add16(old, port);
    if (p.proto == kProtoTcp) {
      delta.apply_at(l4 + 16);
    } else {
      delta.apply_udp_at(l4 + 6);
    }
    store16(l4 + (dst ? 2 : 0), port);
    old = port;
  } else if (p.proto == kProtoIcmpv6) {
    delta.apply_at(l4 + 2);
  }
  std::memcpy(a, addr, 16);
  return DropReason::None;
}


// IPv6 equivalents (addresses are 16-byte pointers, e.g. IpAddr::b.data()).
[[gnu::always_inline]] inline DropReason nat_in_v6(uint8_t* f, Parsed& p, const uint8_t* rip, be16 rport) {
  return rewrite_side_v6(f, p, true, rip, rport);
}
[[gnu::always_inline]] inline DropReason nat_out_v6(uint8_t* f, Parsed& p, const uint8_t* vip, be16 vport) {
  return rewrite_side_v6(f, p, false, vip, vport);
}
inline DropReason fnat_in_v6(uint8_t* f, Parsed& p, const uint8_t* lip, be16 lport,
                             const uint8_t* rip, be16 rport) {
  return rewrite_tuple_v6(f, p, lip, lport, rip, rport);
}
inline DropReason fnat_out_v6(uint8_t* f, Parsed& p, const uint8_t* vip, be16 vport,
                              const uint8_t* cip, be16 cport) {
  return rewrite_tuple_v6(f, p, vip, vport, cip, cport);
}

// ---- TOA -------------------------------------------------------------------------------------
// TCP option carrying the client's address to a FullNAT real server (the "toa" kernel module's
// format): kind 254, length 8, client port (2 bytes), client IPv4 address (4), network order.
constexpr uint8_t kTcpOptToa = 254;
constexpr uint8_t kTcpOptToaLen = 8;

// Insert the TOA option first in the TCP options (before any EOL, so receivers see it). The
// frame grows by 8 bytes: the L2+IP+fixed-TCP headers move 8 bytes into the headroom, or the
// options+payload 8 bytes into the tailroom when that moves fewer bytes (or headroom is
// short). Trailing Ethernet padding is dropped. Fails, frame untouched, with ToaNotTcp,
// ToaOptionsFull (options would pass 40 bytes), ToaMtu (IP total length + 8 > mtu) or
// ToaNoRoom. On success b and p describe the grown frame.
DropReason toa_insert_v4(PacketBuf& b, Parsed& p, be32 client_ip, be16 client_port, uint32_t mtu);

// The IPv6 client's form (DPVS's toa: TCPOLEN_IP6_TOA): kind 254, length 20, client port (2),
// client IPv6 address (16). Inserted as toa_insert_v4's, into an IPv6 packet (FullNAT v6) or an
// IPv4 one (NAT64: the translated packet carries its IPv6 client).
constexpr uint8_t kTcpOptToa6Len = 20;
DropReason toa_insert_v6(PacketBuf& b, Parsed& p, const uint8_t* client_ip, be16 client_port, uint32_t mtu);

// ---- TUN (IPIP) ------------------------------------------------------------------------------
// Prepend an outer IPv4 header (protocol 4) as the kernel's ip_vs_tunnel_xmit: TOS, TTL and
// DF copied from the inner header, IP id = ip_id (caller's counter, host order), checksum
// computed. The L2 header moves 20 bytes into the headroom; trailing padding is dropped. mtu is
// the egress IP MTU. Fails, frame untouched, with TunNoHeadroom, TunTooBigDf (answer with
// icmp_frag_needed_v4(b, p, mtu - 20, id) on the original packet) or TunTooBigNoDf. On success
// p describes the outer packet: proto 4, l4_off = the inner IP header, ports/flags cleared.
DropReason tun_encap_v4(PacketBuf& b, Parsed& p, be32 outer_src, be32 outer_dst, uint16_t ip_id,
                        uint32_t mtu);

// ---- TUN over IPv6 (IPv6-in-IPv6) ------------------------------------------------------------
constexpr uint8_t kProtoIpv6 = 41;  // next header of an encapsulated IPv6 packet
// Prepend an outer IPv6 header (next header 41) as the kernel's ip_vs_tunnel_xmit_v6: traffic
// class and hop limit copied from the inner header, flow label 0. Addresses are 16-byte
// pointers. The L2 header moves 40 bytes into the headroom; trailing padding is dropped. IPv6 is
// never fragmented on the way: a packet that would pass mtu fails with TunTooBigDf (answer with
// icmp6_error(b, p, packet too big, 0, mtu - 40) on the original). TunNoHeadroom as IPIP's.
// On success p describes the outer packet: proto 41, l4_off = the inner IPv6 header.
DropReason tun_encap_v6(PacketBuf& b, Parsed& p, const uint8_t* outer_src, const uint8_t* outer_dst,
                        uint32_t mtu);

// ---- TUN across families (the kernel's since 3.18: a tunnel server of the other family) -----
// IPv6 in IPv4 ("6in4", sit; protocol 41) as the kernel's ip_vs_tunnel_xmit with an IPv6
// connection: TOS = the inner traffic class, TTL = the inner hop limit, DF clear (the kernel
// copies DF from IPv4 packets only), IP id = ip_id, checksum computed, ethertype IPv4. The MTU
// check is the inner packet's, against mtu - 20: too big fails with TunTooBigDf (answer with
// icmp6_error(b, p, packet too big, 0, mtu - 20)). outer_src 0 leaves the source for the
// dataplane to fill (the egress port's address). On success p describes the outer IPv4 packet.
DropReason tun_encap_6in4(PacketBuf& b, Parsed& p, be32 outer_src, be32 outer_dst, uint16_t ip_id, uint32_t mtu);
// IPv4 in IPv6 ("4in6", ip6tnl ipip6; next header 4) as ip_vs_tunnel_xmit_v6 with an IPv4
// connection: traffic class = the inner TOS, flow label 0, hop limit = the inner TTL,
// ethertype IPv6. Too big for mtu - 40: TunTooBigDf when the inner packet has DF (answer with
// icmp_frag_needed_v4(b, p, mtu - 40, id)), else TunTooBigNoDf (the kernel fragments the outer
// IPv6 packet; a frame here becomes one frame, so it is dropped and counted, as IPIP's). On
// success p describes the outer IPv6 packet.
DropReason tun_encap_4in6(PacketBuf& b, Parsed& p, const uint8_t* outer_src, const uint8_t* outer_dst, uint32_t mtu);

// ---- L2 ----------------------------------------------------------------------------------------
// DR is "rewrite the destination MAC (and our source MAC) only": l2_set_macs. Replies generated
// in place (echo reply, ICMP errors) go back where they came from: l2_swap_macs.
inline void l2_set_dst(uint8_t* f, const uint8_t* mac) { std::memcpy(f, mac, 6); }
inline void l2_set_src(uint8_t* f, const uint8_t* mac) { std::memcpy(f + 6, mac, 6); }
inline void l2_set_macs(uint8_t* f, const uint8_t* dst, const uint8_t* src) {
  std::memcpy(f, dst, 6);
  std::memcpy(f + 6, src, 6);
}
inline void l2_swap_macs(uint8_t* f) {
  uint8_t t[6];
  std::memcpy(t, f, 6);
  std::memcpy(f, f + 6, 6);
  std::memcpy(f + 6, t, 6);
}

// Decrement the IPv4 TTL / IPv6 hop limit for a routed packet; false (untouched) when it would
// reach 0 (the caller then owes a time-exceeded or a drop).
bool ip_dec_ttl(uint8_t* f, Parsed& p);

}  // namespace fulcrum
