// Scheduler dispatch: builds the control-side tables, applies the on-change rules to a worker's
// state, and routes a pick to the scheduler family by a switch on SchedKind (no virtual calls).
#include "sched/sched.h"

#include <algorithm>

#include "sched/internal.h"
#include "sched/lblc.h"

namespace fulcrum {

using namespace sched_detail;

SchedState::SchedState(uint64_t rng_seed, LocalityConfig lc) : locality(lc) {
  sched_seed(*this, rng_seed);
}
SchedState::~SchedState() = default;
SchedState::SchedState(SchedState&&) noexcept = default;
SchedState& SchedState::operator=(SchedState&&) noexcept = default;

void sched_seed(SchedState& s, uint64_t seed) {
  s.rng = seed ? seed : 0x9E3779B97F4A7C15ULL;  // xorshift must never hold 0
}

std::string build_sched_tables(SchedKind kind, uint32_t /*svc_flags*/, DestTable dests,
                               std::span<const DestId> order, uint32_t generation,
                               SchedTables& out, uint32_t mh_table_size, bool svc_v6) {
  out = SchedTables{};
  out.kind = kind;
  out.generation = generation;
  out.svc_v6 = svc_v6;
  switch (kind) {
    case SchedKind::Wrr:
      wrr_tables(dests, order, out);
      return "";
    case SchedKind::Dh:
      dh_tables(order, out);
      return "";
    case SchedKind::Sh:
      sh_tables(dests, order, out);
      return "";
    case SchedKind::Mh:
      return mh_tables(dests, order, mh_table_size, out);
    default:
      return "";  // the others need no tables
  }
}

void sched_state_sync(SchedState& s, SchedKind kind, const SchedTables& t, DestTable dests,
                      std::span<const DestId> order) {
  const bool fresh = !s.initialized || s.kind != kind;
  if (!fresh && s.generation == t.generation) return;
  if (fresh) {
    // A state never synced belongs to a service new to this worker: the kernel created it
    // empty and its servers came one line at a time. An initialised state with another kind
    // is a scheduler re-bound to a service that has its servers (init_service).
    const bool new_service = !s.initialized;
    s.kind = kind;
    s.initialized = true;
    s.pos = -1;
    s.cw = 0;
    if (kind == SchedKind::Wrr) {
      if (new_service)
        wrr_on_adds(s, dests, order, order.size());
      else
        wrr_init(s, t);
    }
    if (kind == SchedKind::Lblc || kind == SchedKind::Lblcr) {
      locality_init(s);
    } else {
      s.cache.reset();
      s.cache_shared = false;
    }
  } else {
    switch (kind) {
      case SchedKind::Rr:
        rr_on_change(s, s.prev_order, order);
        break;
      case SchedKind::Wrr: {
        // Servers only added (the old list is the tail of the new one): as their lines would.
        const size_t n = order.size(), m = s.prev_order.size();
        if (n > m && std::equal(s.prev_order.begin(), s.prev_order.end(), order.begin() + (n - m)))
          wrr_on_adds(s, dests, order, n - m);
        else
          wrr_on_change(s, t);
        break;
      }
      default:
        break;  // the rest keep no per-dest cursor; lblc(r) entries survive changes as in the kernel
    }
  }
  s.generation = t.generation;
  s.prev_order.assign(order.begin(), order.end());
}

DestId sched_pick(SchedKind kind, uint32_t svc_flags, const SchedTables& t, DestTable dests,
                  std::span<const DestId> order, LoadView load, SchedState& s,
                  const SchedPacket& pkt, uint32_t now_s) {
  switch (kind) {
    case SchedKind::Rr:    return rr_pick(dests, order, load, s);
    case SchedKind::Wrr:   return wrr_pick(t, dests, order, load, s);
    case SchedKind::Lc:    return lc_pick(dests, order, load);
    case SchedKind::Wlc:   return wlc_pick(dests, order, load);
    case SchedKind::Sed:   return sed_pick(dests, order, load);
    case SchedKind::Nq:    return nq_pick(dests, order, load);
    case SchedKind::Lblc:  return lblc_pick(t, dests, order, load, s, pkt, now_s);
    case SchedKind::Lblcr: return lblcr_pick(t, dests, order, load, s, pkt, now_s);
    case SchedKind::Dh:    return dh_pick(t, dests, load, pkt);
    case SchedKind::Sh:    return sh_pick(svc_flags, t, dests, load, pkt);
    case SchedKind::Mh:    return mh_pick(svc_flags, t, dests, load, pkt);
    case SchedKind::Fo:    return fo_pick(dests, order, load);
    case SchedKind::Ovf:   return ovf_pick(dests, order, load);
    case SchedKind::Twos:  return twos_pick(dests, order, load, s);
  }
  return kNoDest;
}

void sched_housekeeping(SchedState& s, uint32_t now_s) { locality_gc(s, now_s); }

}  // namespace fulcrum
