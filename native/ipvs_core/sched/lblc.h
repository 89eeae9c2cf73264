// The lblc/lblcr cache: destination address -> dest (lblc) or -> set of dests (lblcr), one per
// service for the whole director (the kernel has one table per service, whatever the CPU), in
// fixed pools sized when it is made so a pick never allocates. Keyed like the kernel's (1024
// buckets, hash_32 of the folded destination address).
//
// Workers share it under a spinlock taken only by a new connection of an lblc/lblcr service
// and by a slice of its garbage collection, never by an established packet: the kernel takes
// the service's sched_lock on the same path. A worker's pick holds it for one bucket walk.
#pragma once

#include <array>
#include <atomic>
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
    uint8_t tag = 0;           // lblc: low 8 bits of the dest's incarnation (DestSnap)
    DestId dest = kNoDest;     // lblc
  };
  struct Elem {
    uint32_t next = kNil;
    DestId dest : 24 = kNoDest;
    DestId tag : 8 = 0;  // low 8 bits of the dest's incarnation: an id given to another server
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

  // The workers' lock: test-and-test-and-set, held for one pick or one GC slice.
  void lock() {
    while (busy.exchange(true, std::memory_order_acquire))
      while (busy.load(std::memory_order_relaxed)) __builtin_ia32_pause();
  }
  bool try_lock() { return !busy.load(std::memory_order_relaxed) && !busy.exchange(true, std::memory_order_acquire); }
  void unlock() { busy.store(false, std::memory_order_release); }

 private:
  alignas(64) std::atomic<bool> busy{false};
};

// Where an address lands (exposed for tests).
uint32_t locality_hash(const IpAddr& daddr, bool svc_v6);

}  // namespace fulcrum
