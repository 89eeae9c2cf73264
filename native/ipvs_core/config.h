// The desired state of the balancer as plain values: what the control side (addon, tests,
// benchmarks) hands to build_snapshot(), or a change to it for apply_delta(). Nothing here is
// validated or indexed yet; the snapshot builder does both, so every consumer of a Snapshot
// can trust it.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "types.h"

namespace fulcrum {

struct DestConfig {
  IpAddr addr;
  uint16_t port = 0;  // host order; 0 = the packet's destination port (fwmark / port-0 services)
  FwdMethod fwd = FwdMethod::Route;
  int32_t weight = 1;
  uint32_t u_threshold = 0;
  uint32_t l_threshold = 0;
  DestId id = kNoDest;  // stable id chosen by the control side, < WorkerLimits::max_dests
};

struct ServiceConfig {
  SvcId id = 0;        // stable id chosen by the control side, < WorkerLimits::max_services
  uint8_t proto = 0;   // kProtoTcp / kProtoUdp / kProtoSctp; 0 for fwmark services
  IpAddr vip;          // unused for fwmark services
  uint16_t port = 0;   // host order; 0 = all ports (persistent services only)
  uint32_t fwmark = 0; // non-zero: the service is named by this mark instead of proto/vip/port
  bool fwmark_v6 = false;  // a fwmark service of the IPv6 family (ipvsadm -6 -f): IPv6 packets with the mark
  SchedKind sched = SchedKind::Wlc;
  uint32_t flags = 0;                 // kSvc* flags
  uint32_t persist_timeout_s = 360;   // used with kSvcPersistent
  be32 netmask = 0xffffffff;          // persistence granularity (-M), IPv4
  uint8_t netmask6 = 128;             // persistence granularity, IPv6 prefix length
  uint32_t mh_table_size = 4093;
  std::vector<DestConfig> dests;      // newest first, as the kernel keeps them
};

// A match rule stands in for an iptables MARK rule: packets to dst_prefix/prefix_len with the
// given protocol (0 = any) and destination port in [port_lo, port_hi] carry `mark`. Rules are
// tried in order; the first match wins.
struct MatchRule {
  IpAddr dst_prefix;
  uint8_t prefix_len = 32;  // of the IPv4 address for IPv4 prefixes, of the 128 bits for IPv6 ones
  uint8_t proto = 0;
  uint16_t port_lo = 0;
  uint16_t port_hi = 65535;
  uint32_t mark = 0;
};

// Timeouts in seconds, kernel defaults; `--set tcp tcpfin udp` edits tcp_established,
// tcp_fin_wait and udp.
struct TimeoutConfig {
  uint32_t tcp_established = 900;
  uint32_t tcp_fin_wait = 120;
  uint32_t udp = 300;
};

struct CoreConfig {
  std::vector<ServiceConfig> services;
  std::vector<MatchRule> rules;
  TimeoutConfig timeouts;
  uint16_t mtu = 1500;       // of the egress link: TOA and TUN must not grow a packet past it
  be32 tunnel_source = 0;    // outer source for TUN; 0 = the VIP the client addressed
  // Outer source of tunnels with an IPv6 outer header (IPv6-in-IPv6, IPv4-in-IPv6); :: = the
  // VIP for IPv6-in-IPv6, the egress port's address for IPv4-in-IPv6.
  IpAddr tunnel_source6;
  bool expire_quiescent_template = false;  // sysctl of the same name
  // sloppy_tcp (sysctl of the same name): a TCP segment other than SYN (never RST) that matches
  // a service and no connection creates one, so a flow another director began (ECMP moved it
  // here, or a director died) goes on.
  bool sloppy_tcp = false;
};

// A change to a snapshot (addon.applyDelta): services added or replaced whole by id, services
// removed by id, and the global parts replaced when present. The result is the previous
// snapshot without `remove`, with `upsert` put in, validated as a whole config would be.
struct CoreDelta {
  std::vector<ServiceConfig> upsert;
  std::vector<SvcId> remove;
  std::optional<std::vector<MatchRule>> rules;
  std::optional<TimeoutConfig> timeouts;
  std::optional<be32> tunnel_source;
  std::optional<IpAddr> tunnel_source6;
  std::optional<bool> sloppy_tcp;
};

}  // namespace fulcrum
