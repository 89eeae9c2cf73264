// ICMPv6 work of the director, as icmp.h does for IPv4: errors quoting a connection's packet
// rewritten so each side sees its own addresses, echo requests to an IPv6 VIP answered, and
// errors generated in place (port unreachable when no real server is available, packet too big
// when a tunnelled packet would pass the MTU), as the kernel's icmpv6_send. Neighbour discovery
// is not here: the dataplane's. All of this is rare-path.
#pragma once

#include <cstdint>

#include "drop_reason.h"
#include "packet.h"
#include "types.h"

namespace fulcrum {

// ICMPv6 types (RFC 4443).
enum : uint8_t {
  kIcmp6DestUnreach = 1,
  kIcmp6PacketTooBig = 2,
  kIcmp6TimeExceeded = 3,
  kIcmp6ParamProblem = 4,
  kIcmp6EchoRequest = 128,
  kIcmp6EchoReply = 129,
};
constexpr uint8_t kIcmp6PortUnreach = 4;  // code of type 1
constexpr uint32_t kIpv6MinMtu = 1280;    // an ICMPv6 error is at most this long (RFC 4443 2.4(c))

// New addresses and ports for an ICMPv6 error and the packet it quotes (16-byte pointers; may
// point into the frame). The quoted TCP/UDP checksum is patched when the quote holds it, the
// ICMPv6 checksum (over its pseudo-header and the whole message) recomputed.
struct Icmp6ErrorNat {
  const uint8_t* outer_saddr;
  const uint8_t* outer_daddr;
  const uint8_t* inner_saddr;
  const uint8_t* inner_daddr;
  be16 inner_sport, inner_dport;
};
DropReason icmp6_error_rewrite(uint8_t* frame, Parsed& p, const Icmp6ErrorNat& n);

// Echo request -> echo reply in place: addresses swapped, type 129, hop limit 64, extension
// headers dropped. IcmpNotEcho if p is not an ICMPv6 echo request. L2 unchanged.
DropReason icmp6_echo_reply(PacketBuf& b, Parsed& p);

// Whether RFC 4443 2.4(e) / the kernel's icmp6_send allow an error about this packet: not about
// an ICMPv6 error or redirect, not from the unspecified or a multicast source, not to multicast
// (packet too big excepted).
bool icmp6_error_allowed(const uint8_t* frame, const Parsed& p, uint8_t type);

// An ICMPv6 error (type, code, the 32-bit field after the checksum: the MTU of packet too big,
// the pointer of a parameter problem) about the packet in b, replacing it: source = the address
// the packet was sent to (the VIP), destination = its source, hop limit 64, the quote as much
// of the offending packet as fits in 1280 bytes. Uses 48 bytes of headroom, else tailroom;
// IcmpNoRoom if neither, IcmpSuppressed if icmp6_error_allowed says no. L2 unchanged; p is
// re-parsed for the new frame.
DropReason icmp6_error(PacketBuf& b, Parsed& p, uint8_t type, uint8_t code, uint32_t info);

}  // namespace fulcrum
