// NAT64 header translation for FullNAT from IPv6 clients to IPv4 real servers (DPVS's nat64):
// the IPv6 header of a client's TCP/UDP packet becomes an IPv4 one (local IPv4 address -> real
// server), and a server's reply gets an IPv6 header back (VIP -> client). No options, extension
// headers or fragments are carried over (RFC 7915's simple case); the L4 checksum follows
// incrementally (the pseudo-header's addresses change, its length and protocol sum the same),
// except a UDP/IPv4 checksum of 0, which IPv6 does not allow: computed whole then.
#pragma once

#include <cstdint>

#include "drop_reason.h"
#include "packet.h"
#include "types.h"

namespace fulcrum {

// IPv6 -> IPv4: TTL = hop limit, TOS = traffic class, DF set, id = ip_id (host order); the
// frame shrinks (L2 moves up to the new header); ethertype 0x0800. p is re-parsed.
DropReason nat64_6to4(PacketBuf& b, Parsed& p, be32 saddr, be16 sport, be32 daddr, be16 dport, uint16_t ip_id);

// IPv4 -> IPv6 (16-byte addresses): hop limit = TTL, traffic class = TOS, flow label 0; the
// frame grows by 40 - the IPv4 header length (headroom, else TunNoHeadroom); ethertype 0x86dd.
// p is re-parsed.
DropReason nat64_4to6(PacketBuf& b, Parsed& p, const uint8_t* saddr, be16 sport, const uint8_t* daddr,
                      be16 dport);

}  // namespace fulcrum
