// ICMP work of the director: rewriting errors that quote a NAT/FullNAT connection's packet so
// each side sees its own addresses, answering echo requests to a VIP, and generating
// destination-unreachable (port unreachable when no real server is available, frag-needed when
// a tunnelled packet is too big) in place, as the kernel's icmp_send would. IPv4; ICMPv6's
// counterparts are icmp6.h's. All of this is rare-path.
#pragma once

#include <cstdint>

#include "drop_reason.h"
#include "packet.h"
#include "types.h"

namespace fulcrum {

// ---- Errors about a connection ---------------------------------------------------------------
// New addresses for an ICMP error and for the packet it quotes. Ports apply to the quoted
// TCP/UDP/SCTP header. The rewrite patches the outer IP checksum, the quoted IP checksum, the
// quoted TCP/UDP checksum when the quote includes it (so the sender sees exactly the bytes it
// sent; the kernel leaves that field stale) and recomputes the ICMP checksum.
struct IcmpErrorNat {
  be32 outer_saddr, outer_daddr;
  be32 inner_saddr, inner_daddr;
  be16 inner_sport, inner_dport;
};
DropReason icmp_error_rewrite_v4(uint8_t* frame, Parsed& p, const IcmpErrorNat& n);

// The four cases the engine meets. "Received" is what arrives, "sent" what leaves; CIP:cport
// the client, VIP:vport the service, RIP:rport the real server, LIP:lport FullNAT's local
// address. A router on the path may be the outer source instead of RIP/CIP; nothing changes.
//
// NAT, error from the real-server side (e.g. RS port unreachable) going to the client:
//   received  outer RIP → CIP, quoting CIP:cport → RIP:rport (what the director sent)
//   sent      outer VIP → CIP, quoting CIP:cport → VIP:vport (what the client sent)
DropReason icmp_nat_to_client_v4(uint8_t* frame, Parsed& p, be32 vip, be16 vport);
// NAT, error from the client side about a reply, going in to the real server:
//   received  outer CIP → VIP, quoting VIP:vport → CIP:cport (the reply as un-NATed)
//   sent      outer CIP → RIP, quoting RIP:rport → CIP:cport (the reply the RS sent)
DropReason icmp_nat_to_server_v4(uint8_t* frame, Parsed& p, be32 rip, be16 rport);
// FullNAT, error from the real-server side going to the client:
//   received  outer RIP → LIP, quoting LIP:lport → RIP:rport
//   sent      outer VIP → CIP, quoting CIP:cport → VIP:vport
DropReason icmp_fnat_to_client_v4(uint8_t* frame, Parsed& p, be32 vip, be16 vport, be32 cip,
                                  be16 cport);
// FullNAT, error from the client side about a reply, going in to the real server:
//   received  outer CIP → VIP, quoting VIP:vport → CIP:cport
//   sent      outer LIP → RIP, quoting RIP:rport → LIP:lport
DropReason icmp_fnat_to_server_v4(uint8_t* frame, Parsed& p, be32 lip, be16 lport, be32 rip,
                                  be16 rport);

// ---- Generated in place -------------------------------------------------------------------
// These keep the L2 header as it was; call l2_swap_macs (or set MACs) before sending. On
// success p is re-parsed for the new frame.

// Echo request → echo reply: addresses swapped, type 0, TTL 64, DF cleared, IP options dropped
// (kept id). IcmpNotEcho if p is not an IPv4 echo request.
DropReason icmp_echo_reply_v4(PacketBuf& b, Parsed& p);

// Whether RFC 1122 §3.2.2 / the kernel's icmp_send allow an error about this packet: not about
// an ICMP error (or unknown ICMP type), not a non-first fragment, not from/to broadcast,
// multicast, 0.0.0.0, loopback or class E.
bool icmp_error_allowed_v4(const Parsed& p);

// Destination unreachable (type 3, `code`) about the packet in b, replacing it: outer source =
// the address the packet was sent to (the VIP), destination = its source, TTL 64, TOS
// (tos & 0x1e) | 0xc0, no DF, id = ip_id (host order); the quote is the offending IP packet
// from its header on, cut so the error is at most 576 bytes. next_hop_mtu goes in bytes 6-7
// for code 4. Uses 28 bytes of headroom, else tailroom (moving the quote); IcmpNoRoom if
// neither, IcmpSuppressed if icmp_error_allowed_v4 says no.
DropReason icmp_dest_unreach_v4(PacketBuf& b, Parsed& p, uint8_t code, uint16_t next_hop_mtu,
                                uint16_t ip_id);
constexpr uint8_t kIcmpUnreachPort = 3;
constexpr uint8_t kIcmpUnreachFragNeeded = 4;
constexpr uint32_t kIcmpErrorMaxLen = 576;  // RFC 1812 4.3.2.3 / Linux icmp_send

inline DropReason icmp_port_unreach_v4(PacketBuf& b, Parsed& p, uint16_t ip_id) {
  return icmp_dest_unreach_v4(b, p, kIcmpUnreachPort, 0, ip_id);
}
inline DropReason icmp_frag_needed_v4(PacketBuf& b, Parsed& p, uint16_t next_hop_mtu, uint16_t ip_id) {
  return icmp_dest_unreach_v4(b, p, kIcmpUnreachFragNeeded, next_hop_mtu, ip_id);
}

}  // namespace fulcrum
