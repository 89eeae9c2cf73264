// When a master sends a connection to its backups: the kernel's ip_vs_sync_conn_needed()
// (net/netfilter/ipvs/ip_vs_sync.c), decided on each packet a connection receives. Pure: the
// connection's sync bookkeeping (its last synced state and when its sync ends) is passed in
// and handed back, so whoever keeps it (a worker's side table) decides where it lives.
#pragma once

#include <cstdint>

namespace fulcrum::sync {

// /proc/sys/net/ipv4/vs/sync_* as the kernel defaults them.
struct SyncSysctls {
  uint32_t threshold = 3;        // sync_threshold: the packet count that sends ...
  uint32_t period = 50;          // sync_period: ... and every this many packets after it
  uint32_t refresh_period_s = 0; // sync_refresh_period (0: off)
  uint32_t retries = 0;          // sync_retries (0..3)
  bool persist_mode = false;     // sync_persist_mode: connections under a template are not sent
};

// A connection's sync bookkeeping (the kernel's cp->old_state and cp->sync_endtime). The end
// time is in ticks of the caller's clock, its two low bits count retries.
struct SyncMark {
  uint16_t old_state = 0;
  uint64_t sync_endtime = 0;
};

struct SyncInput {
  uint8_t protocol;      // IPPROTO_*
  uint16_t state;        // the kernel's state number
  bool is_template;      // IP_VS_CONN_F_TEMPLATE
  bool one_packet;       // IP_VS_CONN_F_ONE_PACKET: never sent
  bool under_template;   // controlled by a persistence template
  uint32_t pkts;         // the connection's incoming packet count after this packet
  uint64_t now;          // ticks
  uint64_t timeout;      // the connection's timeout, in ticks
  uint64_t ticks_per_s;  // the clock's rate (HZ)
};

// Whether to send the connection now; updates `mark` as the kernel does when it sends (and
// when it decides on a state change).
bool sync_needed(const SyncSysctls& s, const SyncInput& in, SyncMark& mark);

}  // namespace fulcrum::sync
