// Time in the packet core and the per-state timeouts. Time is a uint32 tick counter supplied by
// the caller (tests drive it by hand); ticks wrap, so they are compared by signed difference.
// Timeouts are the kernel's defaults, editable only as `ipvsadm --set tcp tcpfin udp` allows.
#pragma once

#include <cstdint>

#include "config.h"
#include "tcp_state.h"

namespace fulcrum {

// 10 ms ticks, like jiffies at HZ=100. The longest timeout (31 days of persistence) is
// 267,840,000 ticks, far below the 2^31 a signed difference can order.
constexpr uint32_t kTicksPerSec = 100;

constexpr uint32_t secs_to_ticks(uint32_t s) { return s * kTicksPerSec; }
constexpr uint32_t ticks_to_secs(uint32_t t) { return t / kTicksPerSec; }
// True when tick a is at or after tick b, across wrap-around.
constexpr bool tick_reached(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) >= 0; }

// Kernel defaults in seconds (ip_vs_proto_tcp.c tcp_timeouts, ip_vs_proto_udp.c).
constexpr uint32_t kTcpTimeoutSecs[kTcpStateCount] = {
    2,    // NONE
    900,  // ESTABLISHED
    120,  // SYN_SENT
    60,   // SYN_RECV
    120,  // FIN_WAIT
    120,  // TIME_WAIT
    10,   // CLOSE
    60,   // CLOSE_WAIT
    30,   // LAST_ACK
    120,  // LISTEN
    120,  // SYNACK
};
constexpr uint32_t kUdpTimeoutSecs = 300;
constexpr uint32_t kIcmpTimeoutSecs = 60;
// ip_vs_conn_new: a new entry lives 3 s until its first state transition re-arms it.
constexpr uint32_t kNewConnTimeoutSecs = 3;
// ip_vs_conn_expire: an entry that cannot go yet (template with live children) retries in 60 s.
constexpr uint32_t kExpireLaterSecs = 60;

// The table the packet path reads, in ticks.
struct Timeouts {
  uint32_t tcp[kTcpStateCount];
  uint32_t udp;
  uint32_t icmp;
};

// Ticks for every state from the editable part of the config; the other states keep the kernel
// defaults (they are not tunable through ipvsadm either).
constexpr Timeouts make_timeouts(const TimeoutConfig& c) {
  Timeouts t{};
  for (uint32_t s = 0; s < kTcpStateCount; ++s) t.tcp[s] = secs_to_ticks(kTcpTimeoutSecs[s]);
  t.tcp[kTcpEstablished] = secs_to_ticks(c.tcp_established);
  t.tcp[kTcpFinWait] = secs_to_ticks(c.tcp_fin_wait);
  t.udp = secs_to_ticks(c.udp);
  t.icmp = secs_to_ticks(kIcmpTimeoutSecs);
  return t;
}

// `ipvsadm --set tcp tcpfin udp`: each value in seconds, 0 leaves that timeout unchanged.
// Range checks (the kernel takes any int that fits jiffies) belong to the caller.
constexpr void apply_set_timeouts(TimeoutConfig& c, uint32_t tcp, uint32_t tcpfin, uint32_t udp) {
  if (tcp) c.tcp_established = tcp;
  if (tcpfin) c.tcp_fin_wait = tcpfin;
  if (udp) c.udp = udp;
}

}  // namespace fulcrum
