// wrr: weighted round robin by gcd/max-weight passes (kernel ip_vs_wrr.c). mw and di come from
// the published tables; the cursor and current weight cw live per worker in SchedState.
#include <numeric>

#include "sched/internal.h"

namespace fulcrum::sched_detail {

// di = gcd of the positive weights (1 if none); mw = max weight - (di - 1), so the last pass
// runs at cw = 1 and a dest whose weight fell below di stays reachable.
void wrr_tables(DestTable dests, Order order, SchedTables& t) {
  int32_t g = 0, mw = 0;
  for (DestId id : order) {
    const int32_t w = dests[id].weight;
    if (w > 0) g = g > 0 ? std::gcd(w, g) : w;
    if (w > mw) mw = w;
  }
  t.wrr_di = g ? g : 1;
  t.wrr_mw = mw - (t.wrr_di - 1);
}

// Kernel ip_vs_wrr_init_svc: the scheduler bound to a service that already has its servers
// (ipvsadm -E changing the scheduler) starts at the maximum weight.
void wrr_init(SchedState& s, const SchedTables& t) {
  s.pos = -1;
  s.cw = t.wrr_mw;
}

namespace {

// Kernel ip_vs_wrr_dest_changed for the given mw and di: cursor back to the head, cw clamped
// or re-aligned to di.
void wrr_changed(SchedState& s, int32_t mw, int32_t di) {
  s.pos = -1;
  if (s.cw > mw || s.cw == 0)
    s.cw = mw;
  else if (di > 1)
    s.cw = (s.cw / di) * di + 1;
}

}  // namespace

void wrr_on_change(SchedState& s, const SchedTables& t) { wrr_changed(s, t.wrr_mw, t.wrr_di); }

// The kernel sees servers arrive one ipvsadm line at a time and applies the change rule after
// each, so a service filled from empty starts at cw = 1 (the first server alone has mw = 1),
// not at the batch's maximum. Replays those lines: the last `added` of the newest-first order
// are the new ones, applied oldest first.
void wrr_on_adds(SchedState& s, DestTable dests, Order order, size_t added) {
  int32_t g = 0, mx = 0;
  auto take = [&](DestId id) {
    const int32_t w = dests[id].weight;
    if (w > 0) g = g > 0 ? std::gcd(w, g) : w;
    if (w > mx) mx = w;
  };
  for (size_t i = added; i < order.size(); ++i) take(order[i]);
  for (size_t i = added; i-- > 0;) {
    take(order[i]);
    const int32_t di = g ? g : 1;
    wrr_changed(s, mx - (di - 1), di);
  }
  s.pos = -1;
}

DestId wrr_pick(const SchedTables& t, DestTable dests, Order order, LoadView load,
                SchedState& s) {
  const int32_t n = static_cast<int32_t>(order.size());
  if (t.wrr_mw == 0 || n == 0) return kNoDest;
  if (s.pos >= n) s.pos = -1;
  const int32_t last = s.pos;
  int32_t stop = -2;  // none
  bool last_pass = false, restarted = false;
  int32_t idx = s.pos;
  for (;;) {
    for (++idx; idx < n; ++idx) {
      const DestId id = order[idx];
      if (!load[id].overload && dests[id].weight >= s.cw) {
        s.pos = idx;
        return id;
      }
      if (idx == stop) {
        s.pos = idx;  // "all destinations are overloaded"
        return kNoDest;
      }
    }
    idx = -1;  // reached the head
    s.cw -= t.wrr_di;
    if (s.cw <= 0) {
      s.cw = t.wrr_mw;
      // A full pass at cw = 1 already covered every dest: give up.
      if (last_pass || last == -1) {
        s.pos = -1;
        return kNoDest;
      }
      restarted = true;
    }
    last_pass = s.cw <= t.wrr_di;
    // The cw = 1 pass before the restart only saw dests after `last`; finish at `last`.
    if (last_pass && restarted && last != -1) stop = last;
  }
}

}  // namespace fulcrum::sched_detail
