// What the workers and the sync threads share for connection sync: per worker, a ring of
// records to a master thread and one from a backup thread, and the worker's sync counters
// (published by the worker after it touched them, read by the control thread for listings).
#pragma once

#include <atomic>
#include <cstdint>

#include "engine.h"

struct rte_ring;

namespace fulcrum::dp {

struct alignas(64) SyncWorkerCounters {
  std::atomic<uint64_t> queued{0};      // master: records the worker's connections made
  std::atomic<uint64_t> dropped{0};     // master: records lost (out buffer or ring full)
  std::atomic<uint64_t> installed{0};   // backup: the worker's install outcomes (SyncCounters)
  std::atomic<uint64_t> updated{0};
  std::atomic<uint64_t> replaced{0};
  std::atomic<uint64_t> stale{0};
  std::atomic<uint64_t> no_service{0};
  std::atomic<uint64_t> no_dest{0};
  std::atomic<uint64_t> table_full{0};
  std::atomic<uint64_t> fnat_refused{0};
  std::atomic<uint64_t> bad_record{0};

  // The worker's own counts (ring drops added), stored whole: one writer, relaxed readers.
  void publish(const SyncCounters& c, uint64_t ring_dropped) {
    auto st = [](std::atomic<uint64_t>& a, uint64_t v) { a.store(v, std::memory_order_relaxed); };
    st(queued, c.queued);
    st(dropped, c.dropped + ring_dropped);
    st(installed, c.installed);
    st(updated, c.updated);
    st(replaced, c.replaced);
    st(stale, c.stale);
    st(no_service, c.no_service);
    st(no_dest, c.no_dest);
    st(table_full, c.table_full);
    st(fnat_refused, c.fnat_refused);
    st(bad_record, c.bad_record);
  }
};

struct SyncChannels {
  rte_ring* out = nullptr;  // worker -> master thread (single producer, single consumer)
  rte_ring* in = nullptr;   // backup thread -> worker (single producer, single consumer)
  // The same for IPv6 (and NAT64) records, sync::SyncRecord6: IPv4's rings keep their 40-byte
  // elements.
  rte_ring* out6 = nullptr;
  rte_ring* in6 = nullptr;
  SyncWorkerCounters counters;
};

}  // namespace fulcrum::dp
