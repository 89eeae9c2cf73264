// rr: round robin over the newest-first dest list (kernel ip_vs_rr.c). The cursor is an index
// into the current order; -1 is the list head, which is where a fresh service starts.
#include <vector>

#include "sched/internal.h"

namespace fulcrum::sched_detail {

static bool rr_usable(const DestSnap& d, const DestLoad& l) { return !l.overload && d.weight > 0; }

void rr_init(SchedState& s) { s.pos = -1; }

// Kernel ip_vs_rr_del_dest: if the dest under the cursor went away, the cursor steps back to its
// predecessor so the rotation continues where it was. Adds never move the cursor. One
// generation may carry several changes; the nearest surviving predecessor is what any sequence
// of single deletions would have reached.
void rr_on_change(SchedState& s, Order old_order, Order order) {
  const int32_t old_pos = s.pos;
  s.pos = -1;
  if (old_pos < 0 || old_pos >= static_cast<int32_t>(old_order.size())) return;
  // Position of every surviving dest by id (sync may allocate; picks never do).
  DestId max_id = 0;
  for (DestId id : order) max_id = id > max_id ? id : max_id;
  std::vector<int32_t> where(size_t{max_id} + 1, -1);
  for (size_t j = 0; j < order.size(); ++j) where[order[j]] = static_cast<int32_t>(j);
  for (int32_t i = old_pos; i >= 0; --i) {
    const DestId want = old_order[i];
    if (want <= max_id && where[want] >= 0) {
      s.pos = where[want];
      return;
    }
  }
}

// Walk circularly from the element after the cursor; the cursor itself is checked last.
DestId rr_pick(DestTable dests, Order order, LoadView load, SchedState& s) {
  const int32_t n = static_cast<int32_t>(order.size());
  if (s.pos >= n) s.pos = -1;  // order changed without a sync: behave as a fresh cursor
  int32_t idx = s.pos;
  for (int32_t k = 0; k < n; ++k) {
    if (++idx == n) idx = 0;
    const DestId id = order[idx];
    if (rr_usable(dests[id], load[id])) {
      s.pos = idx;
      return id;
    }
  }
  return kNoDest;
}

}  // namespace fulcrum::sched_detail
