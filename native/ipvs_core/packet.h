// Frame parsing for the packet core: one bounds-checked pass from Ethernet to the L4 ports (and
// into the packet quoted by an ICMP error) that fills a flat `Parsed` view. Everything after
// parse (lookup, rewrites, ICMP) trusts these offsets, so every length field is checked here
// and every malformation gets its own DropReason. No allocation, no exceptions, no writes.
#pragma once

#include <cstdint>

#include "drop_reason.h"
#include "types.h"

namespace fulcrum {

// A frame in a buffer with room on both sides (an mbuf's data area, or a test vector).
// `data` is the first byte of the Ethernet header; headroom bytes before it and tailroom
// bytes after data+len may be written by operations that grow the frame.
struct PacketBuf {
  uint8_t* data;
  uint32_t len;
  uint32_t headroom;
  uint32_t tailroom;
};

enum class L3Class : uint8_t { Other, Arp, Ipv4, Ipv6 };

// Ethertypes and sizes used across parse/rewrite/icmp.
constexpr uint16_t kEthIpv4 = 0x0800;
constexpr uint16_t kEthArp = 0x0806;
constexpr uint16_t kEthIpv6 = 0x86dd;
constexpr uint16_t kEthVlan = 0x8100;
constexpr uint16_t kEthQinQ = 0x88a8;
constexpr uint32_t kEthHdrLen = 14;
constexpr uint32_t kVlanHdrLen = 4;
constexpr uint32_t kIpv4HdrLen = 20;
constexpr uint32_t kIpv6HdrLen = 40;

// TCP flag bits (byte 13 of the TCP header).
enum : uint8_t {
  kTcpFin = 0x01,
  kTcpSyn = 0x02,
  kTcpRst = 0x04,
  kTcpPsh = 0x08,
  kTcpAck = 0x10,
  kTcpUrg = 0x20,
};

// The packet an ICMP error quotes: its IP header and the first bytes of its L4 header.
struct InnerTuple {
  uint8_t family = 0;     // 4 or 6; 0 when the outer packet is not an ICMP error
  uint8_t proto = 0;
  bool has_ports = false; // TCP/UDP/SCTP with at least 8 quoted L4 bytes
  uint32_t l3_off = 0;    // frame offset of the quoted IP header
  uint32_t l4_off = 0;    // frame offset of the quoted L4 header
  uint32_t l4_len = 0;    // quoted L4 bytes present (capped by the quoted total length)
  be32 saddr = 0;         // IPv4 only; IPv6 addresses at l3_off+8 / l3_off+24
  be32 daddr = 0;
  be16 sport = 0;
  be16 dport = 0;
};

// What parse_frame learnt. Offsets are from the first byte of the frame (PacketBuf::data) and
// stay valid when an operation moves the frame start (they are relative, not pointers).
struct Parsed {
  L3Class cls = L3Class::Other;
  uint8_t family = 0;       // 4, 6 or 0
  uint8_t proto = 0;        // L4 protocol (after IPv6 extension headers)
  bool has_vlan = false;
  uint16_t vlan_tci = 0;    // host order
  uint16_t ethertype = 0;   // host order, after the VLAN tag
  uint8_t l2_len = 0;       // 14 or 18
  uint8_t ttl = 0;          // TTL / hop limit
  uint8_t tos = 0;          // TOS / traffic class
  bool df = false;
  bool ip_options = false;  // IPv4 IHL > 5 (or IPv6 extension headers skipped)
  uint8_t tcp_flags = 0;
  uint16_t frag = 0;        // IPv4 flags+fragment offset, host order (0x4000 = DF)
  uint32_t l3_off = 0;
  uint32_t l4_off = 0;
  uint32_t ip_tot_len = 0;  // IPv4 total length, or 40 + IPv6 payload length
  uint32_t l4_len = 0;      // bytes from l4_off to the end of the IP packet
  uint32_t payload_off = 0; // after the TCP/UDP header (ICMP: after its 8-byte header)
  uint32_t payload_len = 0;
  be32 saddr = 0;           // IPv4 only; IPv6 addresses: v6_saddr_off()/v6_daddr_off()
  be32 daddr = 0;
  be16 sport = 0;           // TCP/UDP/SCTP
  be16 dport = 0;
  uint8_t icmp_type = 0;    // ICMP or ICMPv6
  uint8_t icmp_code = 0;
  be16 icmp_id = 0;         // echo request/reply identifier
  bool icmp_error = false;  // inner is filled
  InnerTuple inner;

  uint32_t v6_saddr_off() const { return l3_off + 8; }
  uint32_t v6_daddr_off() const { return l3_off + 24; }
  uint32_t ip_hdr_len() const { return l4_off - l3_off; }
  uint32_t frame_ip_end() const { return l3_off + ip_tot_len; }  // trailing padding after this
};

// Parse one frame. DropReason::None means `p` is complete and safe to act on; ARP and other
// ethertypes also return None with p.cls saying so (the dataplane routes them). Anything else
// names the first problem found; fields before it are filled (useful for logging), those
// after are zero. Ipv4Options is never returned (it is p.ip_options; count it if you wish).
// The common frame (untagged IPv4 without options, TCP or UDP) takes a straight fast path;
// everything else the general parser, parse_frame_general, which gives the same result on any
// frame (tests compare the two).
DropReason parse_frame(const uint8_t* frame, uint32_t len, Parsed& p);
DropReason parse_frame_general(const uint8_t* frame, uint32_t len, Parsed& p);

// ICMP types whose body quotes the offending packet.
inline bool icmp4_is_error(uint8_t type) {
  return type == 3 || type == 4 || type == 11 || type == 12;
}
inline bool icmp6_is_error(uint8_t type) { return type >= 1 && type <= 4; }

}  // namespace fulcrum
