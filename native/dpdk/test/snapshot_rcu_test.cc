// The snapshot hand-over between the control thread and a worker (snapshot_rcu.h), under
// stress: one thread publishes snapshots and frees them as soon as rte_rcu_qsbr allows, the
// other loops through between_bursts and reads what it adopted, as a worker's burst would.
// A freed snapshot is poisoned (its canary overwritten) and its memory kept until the end, so
// a read after free is seen as a dead canary in every build, not only under ASan. The stress
// run needs two CPUs to itself to hit the narrow race; the stepped runs do not: they put the
// control thread's moves at the worst point of the worker's step, on one thread, every time.
#include <gtest/gtest.h>

#include <rte_rcu_qsbr.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "snapshot_rcu.h"

namespace fulcrum::dp {
namespace {

constexpr uint64_t kAlive = 0xa11fe0a11fe0a11full;
constexpr uint64_t kDead = 0xdeadbeefdeadbeefull;

// Memory of freed snapshots, released when the test ends (the publisher thread is the only
// one that frees, the test body the only one that empties it after both threads joined).
std::vector<void*>& graveyard() {
  static std::vector<void*> g;
  return g;
}

struct Snap {
  std::atomic<uint64_t> canary{kAlive};
  uint64_t generation = 0;
  ~Snap() { canary.store(kDead, std::memory_order_relaxed); }
  static void* operator new(size_t n) { return std::malloc(n); }
  static void operator delete(void* p) { graveyard().push_back(p); }
};

struct Rcu {
  Rcu() {
    mem = std::aligned_alloc(RTE_CACHE_LINE_SIZE, (rte_rcu_qsbr_get_memsize(1) + RTE_CACHE_LINE_SIZE - 1) /
                                                      RTE_CACHE_LINE_SIZE * RTE_CACHE_LINE_SIZE);
    q = static_cast<rte_rcu_qsbr*>(mem);
    EXPECT_EQ(rte_rcu_qsbr_init(q, 1), 0);
    EXPECT_EQ(rte_rcu_qsbr_thread_register(q, 0), 0);
  }
  ~Rcu() { std::free(mem); }
  void* mem;
  rte_rcu_qsbr* q;
};

struct Result {
  uint64_t dead_reads = 0;
  uint64_t adopted = 0;  // read after join
  uint64_t published = 0;
};

// Runs the two threads for `publications` snapshots or `seconds`, whichever comes first (a
// busy machine may give the threads little time). adopt_reads_previous: the adopt step looks at the
// snapshot it replaces, as the core's set_snapshot does.
Result stress(uint8_t grace_periods, bool adopt_reads_previous, uint64_t publications, double seconds) {
  Rcu rcu;
  std::atomic<const Snap*> published{nullptr};
  std::unique_ptr<Snap> current = std::make_unique<Snap>();
  published.store(current.get());
  std::deque<RetiredSnapshot<Snap>> retired;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> dead{0};
  uint64_t adopted = 0;  // read after join

  std::thread worker([&] {
    rte_rcu_qsbr_thread_online(rcu.q, 0);
    const Snap* cur = published.load();
    uint64_t spin = 1, bad = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      between_bursts(
          rcu.q, 0, published, cur,
          [&](const Snap* next) {
            if (adopt_reads_previous && cur->canary.load(std::memory_order_relaxed) != kAlive) ++bad;
            cur = next;
            ++adopted;
          },
          [] {});
      // The burst: reads the adopted snapshot for a varying while, so publications land at
      // every point of the loop.
      spin = spin * 6364136223846793005ull + 1442695040888963407ull;
      for (uint64_t i = 0, n = 16 + (spin >> 56); i < n; ++i)
        if (cur->canary.load(std::memory_order_relaxed) != kAlive) ++bad;
    }
    rte_rcu_qsbr_thread_offline(rcu.q, 0);
    dead.store(bad);
  });

  uint64_t n = 0;
  auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (n < publications && std::chrono::steady_clock::now() < until) {
    auto next = std::make_unique<Snap>();
    next->generation = ++n;
    publish_snapshot(rcu.q, published, current, std::move(next), retired);
    // Free as early as allowed: what a busy control thread would do at its best.
    while (!retired.empty() && std::chrono::steady_clock::now() < until) {
      reclaim_snapshots(rcu.q, retired, grace_periods);
      std::this_thread::yield();  // returns at once unless the worker waits for this CPU
    }
  }
  stop.store(true);
  worker.join();
  retired.clear();
  current.reset();
  for (void* p : graveyard()) std::free(p);
  graveyard().clear();
  return Result{dead.load(), adopted, n};
}

// A published pointer whose every load is followed by the control thread's move: the worst
// moment, since the worker has just read the old pointer.
struct SteppedSlot {
  std::atomic<const Snap*> ptr{nullptr};
  std::function<void()> after_load;
  const Snap* load(std::memory_order o) const {
    const Snap* s = ptr.load(o);
    after_load();
    return s;
  }
};

// One thread plays both sides: after each worker load the control thread reclaims what it may
// and publishes a new snapshot; serving commands reclaims again (the control thread runs
// whenever it likes). Returns the reads of a freed snapshot.
uint64_t stepped(uint8_t grace_periods, bool adopt_reads_previous, int steps) {
  Rcu rcu;
  rte_rcu_qsbr_thread_online(rcu.q, 0);
  SteppedSlot slot;
  std::unique_ptr<Snap> current = std::make_unique<Snap>();
  slot.ptr.store(current.get());
  std::deque<RetiredSnapshot<Snap>> retired;
  slot.after_load = [&] {
    reclaim_snapshots(rcu.q, retired, grace_periods);
    publish_snapshot(rcu.q, slot.ptr, current, std::make_unique<Snap>(), retired);
  };
  const Snap* cur = current.get();
  uint64_t bad = 0;
  for (int i = 0; i < steps; ++i) {
    between_bursts(
        rcu.q, 0, slot, cur,
        [&](const Snap* next) {
          if (adopt_reads_previous && cur->canary.load() != kAlive) ++bad;
          cur = next;
        },
        [&] { reclaim_snapshots(rcu.q, retired, grace_periods); });
    if (cur->canary.load() != kAlive) ++bad;  // the burst
  }
  rte_rcu_qsbr_thread_offline(rcu.q, 0);
  retired.clear();
  current.reset();
  for (void* p : graveyard()) std::free(p);
  graveyard().clear();
  return bad;
}

// Reporting quiescent before loading: a snapshot published right after the worker's load is
// not acknowledged until the worker has loaded again. (Load first, report after, and the
// burst reads a snapshot freed in between: this test counts a dead read on every step.)
TEST(SnapshotRcu, SteppedBurstNeverReadsAFreedSnapshot) { EXPECT_EQ(stepped(1, false, 100), 0u); }

// Adopting reads the previous snapshot, so one grace period is not enough (this is why
// kSnapshotGracePeriods is 2) ...
TEST(SnapshotRcu, SteppedOneGracePeriodIsNotEnoughForAdopt) { EXPECT_GT(stepped(1, true, 100), 0u); }

// ... and the default is.
TEST(SnapshotRcu, SteppedAdoptMayReadThePreviousSnapshot) {
  EXPECT_EQ(stepped(kSnapshotGracePeriods, true, 100), 0u);
}

// The order's own guarantee: once the worker has reported quiescent, the burst reads only the
// snapshot loaded after that report, so one grace period is enough for what bursts read. With
// the load before the report this fails: a snapshot published between the two is acknowledged
// while the coming burst still reads the old one.
TEST(SnapshotRcu, BurstNeverReadsAFreedSnapshot) {
  Result r = stress(1, false, 50000, 3.0);
  EXPECT_GT(r.published, 100u);
  EXPECT_GT(r.adopted, 100u);
  EXPECT_EQ(r.dead_reads, 0u);
}

// What the dataplane runs: adopt reads the previous snapshot as well, and the default number
// of grace periods covers it.
TEST(SnapshotRcu, AdoptMayReadThePreviousSnapshot) {
  Result r = stress(kSnapshotGracePeriods, true, 50000, 3.0);
  EXPECT_GT(r.published, 100u);
  EXPECT_GT(r.adopted, 100u);
  EXPECT_EQ(r.dead_reads, 0u);
}

}  // namespace
}  // namespace fulcrum::dp
