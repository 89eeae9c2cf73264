// How a snapshot moves between the control thread and the workers under rte_rcu_qsbr, in one
// place so the order is written once and stress-tested without ports or EAL
// (test/snapshot_rcu_test.cc):
//   worker, between bursts: report quiescent -> load the published pointer -> adopt it if it
//   changed -> serve commands. Quiescent comes first: it promises "I hold nothing loaded
//   before this point except the snapshot I am about to replace", and the load after it is
//   the only pointer the next burst uses. Loading first and reporting after would let the
//   control thread publish, start a grace period and see it end in between, then free the
//   snapshot the coming burst still reads.
//   control thread: publish (store, release) -> retire the old one with a grace-period token
//   -> free it once enough grace periods have ended.
// Adopting reads the previous snapshot too (the core carries scheduler and overload state
// across; the worker compares VIPs for gratuitous ARP). A worker may adopt right after the
// quiescent report that ended the first grace period, so the previous snapshot is freed only
// after a second grace period, started once the first one ended: every worker has then
// reported quiescent again, after finishing its adopt.
#pragma once

#include <rte_rcu_qsbr.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>

namespace fulcrum::dp {

// Grace periods a retired snapshot waits before it is freed (see above: adopt reads the
// previous snapshot, so one is not enough).
constexpr uint8_t kSnapshotGracePeriods = 2;

// The worker's side, between two bursts. `current` is the snapshot the worker uses now;
// adopt(next) is called when a different one was published; serve() answers commands, after
// the adopt. A snapshot published (and its Sync sent) between this load and serve() is not
// adopted by this round: a Sync answers only after looking at the published pointer again
// (lcore_worker.cc), so an answered Sync proves the worker runs the snapshot it was sent for.
// `published` is the std::atomic<const Snap*> the control thread stores to (or anything with
// the same load(): the test steps the control thread from inside it).
template <class Snap, class Published, class Adopt, class Serve>
inline void between_bursts(rte_rcu_qsbr* qsbr, unsigned thread_id, const Published& published, const Snap* current,
                           Adopt&& adopt, Serve&& serve) {
  rte_rcu_qsbr_quiescent(qsbr, thread_id);
  const Snap* next = published.load(std::memory_order_acquire);
  if (next != current) [[unlikely]]
    adopt(next);
  serve();
}

// The control thread's side: snapshots replaced but perhaps still read by a worker.
template <class Snap>
struct RetiredSnapshot {
  std::unique_ptr<Snap> snap;
  uint64_t token = 0;      // the grace period it waits for now
  uint8_t periods = 0;     // grace periods already over
};

// Publishes next in place of current (which becomes retired) and starts its grace period.
template <class Snap>
inline void publish_snapshot(rte_rcu_qsbr* qsbr, std::atomic<const Snap*>& published, std::unique_ptr<Snap>& current,
                             std::unique_ptr<Snap> next, std::deque<RetiredSnapshot<Snap>>& retired) {
  retired.push_back(RetiredSnapshot<Snap>{std::move(current), 0, 0});
  current = std::move(next);
  published.store(current.get(), std::memory_order_release);
  retired.back().token = rte_rcu_qsbr_start(qsbr);
}

// Frees the retired snapshots no worker can read any more; never waits. Tokens grow in
// retirement order, so the oldest entry is always the first to be done.
template <class Snap>
inline void reclaim_snapshots(rte_rcu_qsbr* qsbr, std::deque<RetiredSnapshot<Snap>>& retired,
                              uint8_t grace_periods = kSnapshotGracePeriods) {
  for (RetiredSnapshot<Snap>& r : retired) {
    if (r.periods >= grace_periods || rte_rcu_qsbr_check(qsbr, r.token, false) != 1) continue;
    if (++r.periods < grace_periods) r.token = rte_rcu_qsbr_start(qsbr);
  }
  while (!retired.empty() && retired.front().periods >= grace_periods) retired.pop_front();
}

}  // namespace fulcrum::dp
