// What the dataplane around the packet core counts per worker: drops the core never sees
// (a full TX queue, no route, an unresolved neighbour, ...) and ARP/exception-path events.
// One X-macro list, as the core's drop reasons, so metrics and stats print the same names.
// Readers merge these with the core's drop reasons and events under one name each, so no name
// here may be one of theirs (test/dp_counters_test.cc): the core's `to_kernel` counts what it
// hands to the exception path, `to_tap` what the worker wrote to a TAP.
#pragma once

#include <cstdint>

namespace fulcrum::dp {

#define FULCRUM_DP_COUNTERS(X)                                                                \
  X(RxMultiSeg, "rx_multiseg")            /* a chained mbuf: frames larger than one buffer */ \
  X(TxFull, "tx_full")                    /* the port's TX queue did not take the packet */   \
  X(NoRoute, "no_route")                  /* no route to the packet's destination */          \
  X(NeighQueueFull, "neigh_queue_full")   /* too many packets waiting for one neighbour */    \
  X(NeighFailed, "neigh_failed")          /* waited for a neighbour that never answered */    \
  X(NeighTableFull, "neigh_table_full")                                                       \
  X(NoKernelPath, "no_kernel_path")       /* for the host, but the port has no TAP */         \
  X(HandoverFull, "handover_full")        /* the owning worker's ring was full */             \
  X(NoMbuf, "no_mbuf")                    /* could not allocate an ARP/ICMP frame */          \
  X(ArpBad, "arp_bad")                    /* ARP that is not Ethernet/IPv4 or is truncated */ \
  X(NotVipOwner, "not_vip_owner")         /* to a VIP while the peer owns it (ha.vrrp) */     \
  X(NoRoute6, "no_route6")                /* no IPv6 route to the packet's destination */     \
  X(NdBad, "nd_bad")                      /* ND failing RFC 4861's checks (hop limit, sum) */ \
  X(NdRaIgnored, "nd_ra_ignored")         /* a router advertisement, not accepted (acceptRa) */ \
  X(TunNoSource, "tun_no_source")         /* a tunnel across families: its port has no address of that family */ \
  /* events, not drops */                                                                     \
  X(ArpReplied, "arp_replied")            /* we answered for a VIP or one of our addresses */ \
  X(ArpRequested, "arp_requested")        /* we asked for a neighbour */                      \
  X(ArpLearned, "arp_learned")                                                                \
  X(GarpSent, "garp_sent")                                                                    \
  X(NdNsIn, "nd_ns_in")                   /* neighbour solicitations received */             \
  X(NdNaIn, "nd_na_in")                   /* neighbour advertisements received */            \
  X(NdNaOut, "nd_na_out")                 /* we answered a solicitation */                   \
  X(NdNsOut, "nd_ns_out")                 /* we asked for an IPv6 neighbour */               \
  X(NdLearned, "nd_learned")                                                                  \
  X(NdUnsolicitedNa, "nd_unsolicited_na") /* announced a VIP/local address (takeover) */     \
  X(NdRaAccepted, "nd_ra_accepted")       /* a router advertisement's default route taken */  \
  X(HandedOver, "handed_over")            /* sent to the worker that owns the connection */   \
  X(ToTap, "to_tap")                      /* written to a port's TAP */                       \
  X(FromTap, "from_tap")                  /* read from a TAP and sent out of its port */

enum class DpCounter : uint8_t {
#define FULCRUM_DP_ENUM(id, name) id,
  FULCRUM_DP_COUNTERS(FULCRUM_DP_ENUM)
#undef FULCRUM_DP_ENUM
      kCount
};

constexpr unsigned kDpCounterCount = static_cast<unsigned>(DpCounter::kCount);
// Counters before this one are drops; the rest are events.
constexpr unsigned kDpFirstEvent = static_cast<unsigned>(DpCounter::ArpReplied);

inline const char* dp_counter_name(unsigned i) {
  static constexpr const char* kNames[] = {
#define FULCRUM_DP_NAME(id, name) name,
      FULCRUM_DP_COUNTERS(FULCRUM_DP_NAME)
#undef FULCRUM_DP_NAME
  };
  return i < kDpCounterCount ? kNames[i] : "unknown";
}

struct DpCounters {
  uint64_t v[kDpCounterCount] = {};
  void add(DpCounter c, uint64_t n = 1) { v[static_cast<unsigned>(c)] += n; }
};

}  // namespace fulcrum::dp
