// The lblc/lblcr cache: destination address -> dest (lblc) or -> set of dests (lblcr), per worker
// and per service, in fixed pools sized at sync so a pick never allocates. Keyed like the
// kernel's (1024 buckets, hash_32 of the folded destination address).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "sched/sched.h"

namespace fulcrum {

struct LocalityCache {
  static constexpr uint32_t kBuckets = 1024;  // CONFIG_IP_VS_LBLC(R)_TAB_BITS = 10
  static constexpr uint32_t kNil = UINT32_MAX;
  static constexpr uint32_t kMaxSize = kBuckets * 16;  // tbl->max_size: GC starts above it
  static constexpr uint32_t kCheckInterval = 60;       // CHECK_EXPIRE_INTERVAL
  static constexpr uint32_t kEntryTimeout = 6 * 60;    // ENTRY_TIMEOUT
  static constexpr uint32_t kFullEvery = 30;           // COUNT_FOR_FULL_EXPIRATION

  struct Entry {
    IpAddr addr;
    uint32_t next = kNil;      // bucket chain / free list
    uint32_t lastuse = 0;
    uint32_t set_head = kNil;  // lblcr: members, newest first
    uint32_t set_lastmod = 0;  // lblcr
    uint16_t set_size = 0;     // lblcr
    DestId dest = kNoDest;     // lblc
  };
  struct Elem {
    uint32_t next = kNil;
    DestId dest = kNoDest;
  };

  std::array<uint32_t, kBuckets> bucket;
  std::vector<Entry> entries;
  std::vector<Elem> elems;
  uint32_t free_entry = kNil;
  uint32_t free_elem = kNil;
  uint32_t live = 0;         // entries actually in the table
  // The kernel's tbl->entries. lblc's replace path deletes an entry without decrementing it, so
  // it can run ahead of `live`; it only steers GC, and GC is kept exact by tracking it.
  int64_t kernel_entries = 0;

  // GC: the kernel's periodic timer, its work spread over calls.
  bool timer_armed = false;
  uint32_t next_check = 0;
  uint32_t counter = 1;
  uint32_t rover = 0;
  bool gc_running = false;
  bool gc_full = false;
  int64_t gc_goal = 0;
  uint32_t gc_left = 0;

  void reset(const LocalityConfig&, bool with_sets);
  uint32_t find(const IpAddr& addr, uint32_t hash) const;
};

// Where an address lands (exposed for tests).
uint32_t locality_hash(const IpAddr& daddr, bool svc_v6);

}  // namespace fulcrum
