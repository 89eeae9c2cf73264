// Load-based schedulers that need no tables: lc, wlc, sed, nq, fo, ovf and twos (kernel
// ip_vs_{lc,wlc,sed,nq,fo,ovf,twos}.c). All walk the newest-first list once; strict comparisons
// make ties go to the earlier (newer) dest; OVERLOAD and weight 0 are never chosen.
#include "sched/internal.h"

namespace fulcrum::sched_detail {

// lc: least active*256+inactive; weight only matters as zero / non-zero.
DestId lc_pick(DestTable dests, Order order, LoadView load) {
  DestId least = kNoDest;
  int32_t loh = 0;
  for (DestId id : order) {
    const DestLoad l = load[id];  // one read of the shared slot
    if (l.overload || dests[id].weight == 0) continue;
    const int32_t doh = conn_overhead(l);
    if (least == kNoDest || doh < loh) {
      least = id;
      loh = doh;
    }
  }
  return least;
}

// wlc and sed share the kernel's shape: the first usable dest seeds, later non-overloaded dests
// replace it when loh * w(dest) > doh * w(least). Later dests are not filtered on weight: a
// weight-0 dest makes the left side 0 and can never win.
template <int32_t (*Overhead)(const DestLoad&)>
static DestId weighted_least(DestTable dests, Order order, LoadView load) {
  size_t i = 0;
  for (; i < order.size(); ++i)
    if (!load[order[i]].overload && dests[order[i]].weight > 0) break;
  if (i == order.size()) return kNoDest;
  DestId least = order[i];
  int32_t loh = Overhead(load[least]);
  for (++i; i < order.size(); ++i) {
    const DestId id = order[i];
    const DestLoad l = load[id];
    if (l.overload) continue;
    const int32_t doh = Overhead(l);
    if (more_loaded(loh, dests[id].weight, doh, dests[least].weight)) {
      least = id;
      loh = doh;
    }
  }
  return least;
}

DestId wlc_pick(DestTable d, Order o, LoadView l) {
  return weighted_least<conn_overhead>(d, o, l);
}
DestId sed_pick(DestTable d, Order o, LoadView l) {
  return weighted_least<sed_overhead>(d, o, l);
}

// nq: the first idle (no active connections) usable dest wins at once; otherwise as sed.
DestId nq_pick(DestTable dests, Order order, LoadView load) {
  DestId least = kNoDest;
  int32_t loh = 0;
  for (DestId id : order) {
    const DestLoad l = load[id];
    if (l.overload || dests[id].weight == 0) continue;
    const int32_t doh = sed_overhead(l);
    if (l.active == 0) return id;
    if (least == kNoDest || more_loaded(loh, dests[id].weight, doh, dests[least].weight)) {
      least = id;
      loh = doh;
    }
  }
  return least;
}

// fo: highest weight among non-overloaded dests; a weight must beat the best so far (starts 0).
DestId fo_pick(DestTable dests, Order order, LoadView load) {
  DestId best = kNoDest;
  int32_t hw = 0;
  for (DestId id : order) {
    if (!load[id].overload && dests[id].weight > hw) {
      best = id;
      hw = dests[id].weight;
    }
  }
  return best;
}

// ovf: highest weight among dests whose active connections do not exceed their weight.
DestId ovf_pick(DestTable dests, Order order, LoadView load) {
  DestId best = kNoDest;
  int32_t hw = 0;
  for (DestId id : order) {
    const int32_t w = dests[id].weight;
    const DestLoad l = load[id];
    if (l.overload || active_i(l) > w || w == 0) continue;
    if (best == kNoDest || w > hw) {
      best = id;
      hw = w;
    }
  }
  return best;
}

// xorshift64*: tiny, seedable, good enough for picking two candidates; the high half is used.
uint32_t rng_next32(SchedState& s) {
  uint64_t x = s.rng;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  s.rng = x;
  return static_cast<uint32_t>((x * 0x2545F4914F6CDD1DULL) >> 32);
}

// twos: draw two weighted candidates, keep the one with the lower overhead/weight. The kernel
// computes in int: the draws are prandom_u32() % (total + 1) converted to int, and the final
// comparison weight2*overhead1 > weight1*overhead2 is a 32-bit product that wraps (the kernel
// builds with -fno-strict-overflow). Reproduced on purpose so large loads choose as it does.
DestId twos_pick(DestTable dests, Order order, LoadView load, SchedState& s) {
  uint32_t total = 0;  // the kernel's int total_weight, summed with wrap-around
  bool any = false;
  for (DestId id : order) {
    if (!load[id].overload && dests[id].weight > 0) {
      total += static_cast<uint32_t>(dests[id].weight);
      any = true;
    }
  }
  if (!any) return kNoDest;
  const uint32_t modulus = total + 1;
  const uint32_t r1 = rng_next32(s), r2 = rng_next32(s);
  // prandom_u32() % total_weight: u32 % int → unsigned modulo, then stored back in an int.
  int32_t rw1 = static_cast<int32_t>(modulus ? r1 % modulus : r1);
  int32_t rw2 = static_cast<int32_t>(modulus ? r2 % modulus : r2);

  DestId c1 = kNoDest, c2 = kNoDest;
  int32_t w1 = -1, w2 = -1, oh1 = 0, oh2 = 0;
  for (DestId id : order) {
    if (load[id].overload) continue;
    const int32_t w = dests[id].weight;
    if (w <= 0) continue;
    rw1 = static_cast<int32_t>(static_cast<uint32_t>(rw1) - static_cast<uint32_t>(w));
    rw2 = static_cast<int32_t>(static_cast<uint32_t>(rw2) - static_cast<uint32_t>(w));
    if (rw1 <= 0 && w1 == -1) {
      c1 = id;
      w1 = w;
      oh1 = conn_overhead(load[id]);
    }
    if (rw2 <= 0 && w2 == -1) {
      c2 = id;
      w2 = w;
      oh2 = conn_overhead(load[id]);
    }
    if (w1 != -1 && w2 != -1) break;
  }
  auto mul32 = [](int32_t a, int32_t b) {
    return static_cast<int32_t>(static_cast<uint32_t>(a) * static_cast<uint32_t>(b));
  };
  if (c2 != kNoDest && mul32(w2, oh1) > mul32(w1, oh2)) return c2;
  // In the kernel choice1 is pre-set to the last usable dest, which is what a draw beyond the
  // walk (only possible after int overflow of the total) returns.
  if (c1 == kNoDest) {
    for (DestId id : order)
      if (!load[id].overload && dests[id].weight > 0) c1 = id;
  }
  return c1;
}

}  // namespace fulcrum::sched_detail
