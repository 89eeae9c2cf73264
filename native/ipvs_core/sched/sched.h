// Public API of the IPVS schedulers: the immutable tables the control side derives from a
// service's dest list (SchedTables), the per-worker mutable state (SchedState), and the pick.
// Kernel semantics for all 14 schedulers; reference §2. Dispatch is a switch on SchedKind.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "sched/overload.h"
#include "shared_load.h"
#include "types.h"

namespace fulcrum {

// Immutable, built on the control side whenever a service's dest list or weights change,
// published in a snapshot and read by every worker.
struct SchedTables {
  SchedKind kind = SchedKind::Wlc;
  uint32_t generation = 0;   // bumped by the control side on every dest add/delete/edit
  bool svc_v6 = false;       // service address family (hashes fold IPv6 addresses)
  int32_t wrr_mw = 0;        // wrr: max weight - (di - 1); 0 = nothing schedulable
  int32_t wrr_di = 1;        // wrr: gcd of the positive weights
  // dh / sh: 256 buckets; mh: mh_size slots. Dest ids, kNoDest = empty.
  std::vector<DestId> buckets;
  uint32_t mh_size = 0;
};

// A DestTable over one flat array indexed by DestId, `capacity` entries long (scheduler tests,
// tools); the array must not move while the table is used.
class FlatDestTable {
 public:
  FlatDestTable(const DestSnap* base, size_t capacity) {
    for (size_t i = 0; i < capacity; i += size_t{1} << kDestChunkBits) chunks_.push_back(base + i);
  }
  DestTable table() const { return {chunks_.data()}; }

 private:
  std::vector<const DestSnap*> chunks_;
};

// Returns "" on success or why the tables cannot be built (bad mh size, too many dests).
// `dests` is indexed by DestId; `order` is the service's dest list, newest first.
std::string build_sched_tables(SchedKind, uint32_t svc_flags, DestTable dests,
                               std::span<const DestId> order, uint32_t generation,
                               SchedTables& out, uint32_t mh_table_size = 4093,
                               bool svc_v6 = false);

// Bounds and timers of the lblc/lblcr caches (one per service), fixed when a cache is made.
struct LocalityConfig {
  uint32_t max_entries = 24576;   // pool; the kernel's GC threshold is 16384 (1024 * 16)
  uint32_t max_set_elems = 49152; // lblcr only: set members shared by all entries of a cache
  uint32_t expiration_s = 86400;  // sysctl lblc_expiration / lblcr_expiration
  uint32_t gc_buckets_per_call = 32;  // bound on GC work done inside one pick/housekeeping call
};

struct LocalityCache;  // sched/lblc.h

// A fresh lblc/lblcr cache for a service. The control side makes one per service (ServiceSnap)
// and the workers share it; a SchedState used alone (tests, tools) makes its own.
std::shared_ptr<LocalityCache> make_locality_cache(SchedKind, const LocalityConfig& = {});

// Per-worker mutable state of one service. Construct once; sched_state_sync() sizes it for the
// kind (allocating only there); sched_pick() never allocates. rr/wrr's pos and cw are a copy of
// the service's director-wide cursor (SvcCursor): the engine loads them before a pick and
// swaps the result back.
struct SchedState {
  explicit SchedState(uint64_t rng_seed = 0x9E3779B97F4A7C15ULL, LocalityConfig lc = {});
  ~SchedState();
  SchedState(SchedState&&) noexcept;
  SchedState& operator=(SchedState&&) noexcept;
  SchedState(const SchedState&) = delete;
  SchedState& operator=(const SchedState&) = delete;

  SchedKind kind = SchedKind::Wlc;
  bool initialized = false;
  uint32_t generation = 0;
  int32_t pos = -1;               // rr/wrr cursor: index into order, -1 = list head
  int32_t cw = 0;                 // wrr current weight
  std::vector<DestId> prev_order; // order as of the last sync (rr steps back through it)
  uint64_t rng;                   // twos: xorshift64* state, never 0
  LocalityConfig locality;
  std::shared_ptr<LocalityCache> cache;  // lblc / lblcr only
  bool cache_shared = false;             // the service's, attached by the engine (never reset here)
};

// Called by the engine when it sees a new generation (or a new scheduler) for the service.
// Applies the kernel's on-change rules; a repeated call for the same generation is a no-op.
void sched_state_sync(SchedState&, SchedKind, const SchedTables&, DestTable dests,
                      std::span<const DestId> order);

// Addresses as in the packet; ports host order. sport must be 0 for protocols without ports
// (the kernel's sh/mh-port only read ports of TCP, UDP and SCTP).
struct SchedPacket {
  IpAddr saddr;
  uint16_t sport = 0;
  IpAddr daddr;
  uint16_t dport = 0;
};

// The kernel's choice for a new connection, or kNoDest. `load` is the director-wide load, by
// DestId (shared_load.h).
DestId sched_pick(SchedKind, uint32_t svc_flags, const SchedTables&, DestTable dests,
                  std::span<const DestId> order, LoadView load, SchedState&,
                  const SchedPacket&, uint32_t now_s);

// Bounded slice of the lblc/lblcr garbage collector (kernel: a 60 s timer). Picks also run a
// slice, so calling this from the worker's housekeeping only keeps idle services tidy.
void sched_housekeeping(SchedState&, uint32_t now_s);

// Seeds the twos random source (tests, or per-worker seeding by the engine).
void sched_seed(SchedState&, uint64_t seed);

}  // namespace fulcrum
