// ip_vs_sync_conn_needed(), step for step: see sync_policy.h.
#include "sync_policy.h"

#include <algorithm>

#include "types.h"

namespace fulcrum::sync {
namespace {

// The states a connection is sent in (TCP: ESTABLISHED, FIN_WAIT, TIME_WAIT, CLOSE,
// CLOSE_WAIT; SCTP: ESTABLISHED, SHUTDOWN_SENT, SHUTDOWN_RECEIVED, SHUTDOWN_ACK_SENT, CLOSED),
// and the one whose arrival alone does not force a send.
constexpr uint32_t kTcpSynced = 1u << 1 | 1u << 4 | 1u << 5 | 1u << 6 | 1u << 7;
constexpr uint16_t kTcpEstablished = 1;
constexpr uint32_t kSctpSynced = 1u << 8 | 1u << 9 | 1u << 10 | 1u << 11 | 1u << 13;
constexpr uint16_t kSctpEstablished = 8;

}  // namespace

bool sync_needed(const SyncSysctls& s, const SyncInput& in, SyncMark& mark) {
  if (in.one_packet) return false;
  uint64_t orig = mark.sync_endtime;
  uint64_t n = (in.now + in.timeout) & ~uint64_t{3};
  bool force = false;
  bool set_now = false;
  if (in.is_template) {
    force = false;
  } else if (s.persist_mode && in.under_template) {
    return false;
  } else if (in.protocol == kProtoTcp || in.protocol == kProtoSctp) {
    uint32_t synced = in.protocol == kProtoTcp ? kTcpSynced : kSctpSynced;
    uint16_t established = in.protocol == kProtoTcp ? kTcpEstablished : kSctpEstablished;
    if (in.state >= 32 || !(synced >> in.state & 1)) return false;
    force = in.state != mark.old_state;
    set_now = force && in.state != established;
  }
  if (!set_now) {
    uint64_t refresh = uint64_t{s.refresh_period_s} * in.ticks_per_s;
    if (refresh > 0) {
      int64_t diff = static_cast<int64_t>(n - orig);
      int64_t min_diff = static_cast<int64_t>(std::max(in.timeout >> 1, 10 * in.ticks_per_s));
      if ((diff < 0 ? -diff : diff) < std::min(static_cast<int64_t>(refresh), min_diff)) {
        uint32_t retries = static_cast<uint32_t>(orig & 3);
        if (retries >= s.retries) return false;
        // time_before(now, orig - timeout + refresh / 8)
        if (static_cast<int64_t>(in.now - (orig - in.timeout + (refresh >> 3))) < 0) return false;
        n |= retries + 1;
      }
    }
    if (s.period > 0) {
      if (!in.is_template && in.pkts % s.period != s.threshold) return false;
    } else if (refresh == 0 && in.pkts != s.threshold) {
      return false;
    }
  }
  mark.old_state = in.state;
  // The kernel swaps the end time in with cmpxchg against a racing packet; one worker owns a
  // connection here, so the swap always succeeds.
  mark.sync_endtime = n;
  return true;
}

}  // namespace fulcrum::sync
