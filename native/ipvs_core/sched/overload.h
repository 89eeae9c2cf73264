// Upper/lower connection thresholds (ipvsadm -x / -y): when a dest's OVERLOAD flag is set and
// cleared. Kernel ip_vs_bind_dest / ip_vs_unbind_dest / __ip_vs_update_dest; reference §2.0, §8.5.
// The engine calls these right after it changes a DestLoad's counters.
#pragma once

#include <cstdint>

#include "types.h"

namespace fulcrum {

// active + inactive; persistence templates never count. Unsigned 32-bit like the kernel's
// int-vs-u32 comparisons.
inline uint32_t overload_total(const DestLoad& l) { return l.active + l.inactive; }

// After a connection or a template was bound (counters already incremented).
inline void overload_on_bind(const DestSnap& d, DestLoad& l) {
  if (d.u_threshold != 0 && overload_total(l) >= d.u_threshold) l.overload = true;
}

// After a connection or a template was unbound (counters already decremented).
inline void overload_on_unbind(const DestSnap& d, DestLoad& l) {
  const uint32_t total = overload_total(l);
  if (d.l_threshold != 0) {
    if (total < d.l_threshold) l.overload = false;
  } else if (d.u_threshold != 0) {
    // Below 75 % of the upper threshold; the kernel multiplies in 32-bit unsigned, so do we.
    if (total * 4u < d.u_threshold * 3u) l.overload = false;
  } else {
    l.overload = false;
  }
}

// After the dest was edited: dropping the upper threshold or raising it clears at once.
inline void overload_on_edit(const DestSnap& newconf, uint32_t old_u_threshold, DestLoad& l) {
  if (newconf.u_threshold == 0 || newconf.u_threshold > old_u_threshold) l.overload = false;
}

}  // namespace fulcrum
