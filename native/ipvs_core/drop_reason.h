// Why a frame was dropped (or is odd enough to count) by parse, rewrite or ICMP generation.
// One enum, one name per value, so every worker keeps a flat counter array indexed by it and
// the control side prints the same names in stats and metrics.
#pragma once

#include <cstdint>

namespace fulcrum {

// X-macro: the single list of reasons, in counter order. Name strings are the metric labels.
#define FULCRUM_DROP_REASONS(X)                                                          \
  X(None, "none")                       /* not a drop: parse/rewrite succeeded */         \
  /* L2 */                                                                                \
  X(L2Trunc, "l2_trunc")                /* shorter than an Ethernet (+VLAN) header */     \
  X(QinQ, "qinq")                       /* more than one VLAN tag (0x88a8 or nested) */   \
  X(ArpTrunc, "arp_trunc")              /* ARP shorter than the 28-byte IPv4 ARP body */  \
  /* IPv4 */                                                                              \
  X(Ipv4Trunc, "ipv4_trunc")            /* fewer bytes than the fixed header or IHL */    \
  X(Ipv4BadVersion, "ipv4_bad_version")                                                   \
  X(Ipv4BadIhl, "ipv4_bad_ihl")         /* IHL < 5 */                                     \
  X(Ipv4TotLenShort, "ipv4_totlen_short") /* total length < header length */              \
  X(Ipv4TotLenLong, "ipv4_totlen_long") /* total length > bytes in the frame */           \
  X(Ipv4BadCsum, "ipv4_bad_csum")                                                         \
  X(Fragment, "fragment")               /* IPv4 MF/offset or IPv6 fragment header */      \
  /* IPv6 */                                                                              \
  X(Ipv6Trunc, "ipv6_trunc")                                                              \
  X(Ipv6BadVersion, "ipv6_bad_version")                                                   \
  X(Ipv6PayloadLenLong, "ipv6_paylen_long") /* payload length > bytes in the frame */     \
  X(Ipv6ExtTrunc, "ipv6_ext_trunc")     /* extension header runs past the payload */      \
  X(Ipv6ExtChain, "ipv6_ext_chain")     /* too many extension headers */                  \
  /* L4 */                                                                                \
  X(TcpTrunc, "tcp_trunc")              /* fewer than 20 bytes of TCP */                  \
  X(TcpBadDoff, "tcp_bad_doff")         /* data offset < 5 */                             \
  X(TcpDoffLong, "tcp_doff_long")       /* data offset beyond the IP payload */           \
  X(UdpTrunc, "udp_trunc")              /* fewer than 8 bytes of UDP */                   \
  X(UdpBadLen, "udp_bad_len")           /* UDP length < 8 */                              \
  X(UdpLenLong, "udp_len_long")         /* UDP length beyond the IP payload */            \
  X(SctpTrunc, "sctp_trunc")            /* fewer than 12 bytes of SCTP common header */   \
  X(IcmpTrunc, "icmp_trunc")            /* fewer than 8 bytes of ICMP/ICMPv6 */           \
  X(IcmpInnerTrunc, "icmp_inner_trunc") /* quoted IP header or 8 L4 bytes cut off */      \
  X(IcmpInnerBad, "icmp_inner_bad")     /* quoted header: wrong version, IHL, length */   \
  X(IcmpInnerFragment, "icmp_inner_frag") /* quotes a non-first fragment: no ports */     \
  /* anomalies: counted, the packet goes on */                                            \
  X(Ipv4Options, "ipv4_options")        /* IPv4 header carries options */                 \
  /* rewrites */                                                                          \
  X(WrongFamily, "wrong_family")        /* operation for the other IP family */      \
  X(L4Unsupported, "l4_unsupported")    /* e.g. SCTP needs CRC32c, not done here */       \
  X(ToaNotTcp, "toa_not_tcp")                                                             \
  X(ToaOptionsFull, "toa_options_full") /* options would exceed 40 bytes */               \
  X(ToaNoRoom, "toa_no_room")           /* neither 8 bytes headroom nor tailroom */       \
  X(ToaMtu, "toa_mtu")                  /* the grown packet would exceed the MTU */       \
  X(TunNoHeadroom, "tun_no_headroom")                                                     \
  X(TunTooBigDf, "tun_too_big_df")      /* answer with ICMP frag-needed */                \
  X(TunTooBigNoDf, "tun_too_big_nodf")  /* would need fragmenting, which we don't do */   \
  /* ICMP */                                                                              \
  X(IcmpNotError, "icmp_not_error")     /* error rewrite on a non-error packet */         \
  X(IcmpNotEcho, "icmp_not_echo")                                                         \
  X(IcmpSuppressed, "icmp_suppressed")  /* RFC 1122: no error about this packet */        \
  X(IcmpNoRoom, "icmp_no_room")         /* no head/tailroom for the error headers */      \
  /* engine */                                                                            \
  X(NoConnection, "no_connection")      /* TCP non-SYN / FullNAT reply without an entry */ \
  X(NoDestination, "no_destination")    /* no usable real server (ICMP unreachable sent) */ \
  X(DestUnavailable, "dest_unavailable") /* the entry's real server was deleted */         \
  X(TableFull, "table_full")            /* the connection table is at capacity */          \
  X(FnatPortsExhausted, "fnat_ports_exhausted") /* no free local address/port */           \
  X(FnatOnePacket, "fnat_one_packet")   /* FullNAT needs an entry; -o cannot have one */ \
  /* SYN proxy */                                                                         \
  X(SynProxyBadCookie, "synproxy_bad_cookie") /* an ACK without an entry, cookie invalid */  \
  X(SynProxyNotNat, "synproxy_not_nat") /* scheduled to a DR/TUN server (not NAT/FullNAT) */ \
  X(SynProxyTableFull, "synproxy_table_full") /* no room for another proxied connection */ \
  X(SynProxyNoRoom, "synproxy_no_room") /* no tailroom to build the handshake segment */   \
  X(SynProxyEarly, "synproxy_early")    /* client data before the server answered (resent as a SYN) */ \
  /* IPv6 */                                                                              \
  X(Ipv6BurstPosition, "ipv6_burst_position") /* past Worker::kRoute6Positions in one burst */ \
  X(Nat64Icmp, "nat64_icmp")            /* an ICMP error about a NAT64 connection RFC 7915 does not translate */ \
  X(Ipv6BadSource, "ipv6_bad_source")   /* a new connection from :: or a multicast source */

enum class DropReason : uint8_t {
#define FULCRUM_DR_ENUM(id, name) id,
  FULCRUM_DROP_REASONS(FULCRUM_DR_ENUM)
#undef FULCRUM_DR_ENUM
      kCount
};

constexpr unsigned kDropReasonCount = static_cast<unsigned>(DropReason::kCount);

inline const char* drop_reason_name(DropReason r) {
  static constexpr const char* kNames[] = {
#define FULCRUM_DR_NAME(id, name) name,
      FULCRUM_DROP_REASONS(FULCRUM_DR_NAME)
#undef FULCRUM_DR_NAME
  };
  unsigned i = static_cast<unsigned>(r);
  return i < kDropReasonCount ? kNames[i] : "unknown";
}

}  // namespace fulcrum
