// The load every worker shares: each real server's director-wide connection counts and
// overload flag, each service's rr/wrr cursor, and the persistent clients' ties. With several workers these are what the
// kernel keeps once per director (dest->activeconns, inactconns, OVERLOAD; the scheduler's list
// pointer), so schedulers and thresholds judge the whole director, not one worker's share.
//
// Cost rule: nothing here is touched by an established connection's packets. A connection is
// counted when it is bound, changes between active and inactive, or is released, and where
// depends on its real server:
// - with -x (a hard limit needs one count every worker changes atomically): in the server's
//   shared slot, a cache line of its own (DestCounter);
// - without: in its worker's shard (DestShards), a word only that worker writes, with plain
//   stores. Every worker writing one shared line per new connection cost as much again as
//   the connection itself with two workers at full rate (the line moves between cores on
//   every bind); shards are written where they are and read by the others once per burst.
// A service's rr/wrr cursor is changed once per new rr/wrr connection. Schedulers see a
// server's load as its slot plus every worker's shard: exact for what this worker did, and for
// the other workers as of the start of this worker's burst (ShardSums; microseconds).
//
// Owned by the dataplane (one per director) and outlives the workers; a Worker made alone
// (tests, benchmarks) owns its own. Indexed by ids, like the workers' arrays.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <vector>

#include "sched/overload.h"
#include "shared_affinity.h"
#include "types.h"

namespace fulcrum {

// One real server's director-wide counts. active, inactive and the overload flag live in one
// 64-bit word (inactive: bits 0..31, active: 32..62, overload: 63) so a bind, an unbind and the
// flag they set or clear are one atomic step: whatever the workers do at once, the outcome is
// the one some order of the same operations on a single CPU gives, which is what makes -x a
// hard limit (try_bind).
class alignas(64) DestCounter {
 public:
  // What schedulers read. persist is not in the word and reads 0 here (no scheduler uses it).
  DestLoad get() const { return decode(word_.load(std::memory_order_relaxed)); }
  uint32_t persist() const { return persist_.load(std::memory_order_relaxed); }

  // `elsewhere` in what follows: the server's connections counted in the workers' shards
  // (bound before it had -x); the thresholds judge them too.

  // A new connection (inactive) bound unless the upper threshold is already reached, director
  // wide; a refusal sets the overload flag (a bind at that total would have), so the scheduler
  // skips the server from then on.
  bool try_bind(const DestSnap& d, uint32_t elsewhere) {
    bool ok = true;
    update([&](DestLoad& l) {
      ok = d.u_threshold == 0 || overload_total(l) + elsewhere < d.u_threshold;
      if (ok) ++l.inactive;
      else if (l.overload) return false;
      judge(l, elsewhere, [&](DestLoad& j) { overload_on_bind(d, j); });
      return true;
    });
    return ok;
  }
  // A connection under a persistence template: the kernel binds it whatever the threshold.
  void bind(const DestSnap& d, uint32_t elsewhere) {
    update([&](DestLoad& l) {
      ++l.inactive;
      judge(l, elsewhere, [&](DestLoad& j) { overload_on_bind(d, j); });
      return true;
    });
  }
  // inactive -> active or back; the total (and so the flag) does not change.
  void set_active(bool active) {
    constexpr uint64_t kMove = (uint64_t{1} << 32) - 1;  // active + 1, inactive - 1
    if (active)
      word_.fetch_add(kMove, std::memory_order_relaxed);
    else
      word_.fetch_sub(kMove, std::memory_order_relaxed);
  }
  void unbind(const DestSnap& d, bool active, uint32_t elsewhere) {
    update([&](DestLoad& l) {
      if (active) --l.active;
      else --l.inactive;
      judge(l, elsewhere, [&](DestLoad& j) { overload_on_unbind(d, j); });
      return true;
    });
  }
  // Templates do not count for -x, but binding and unbinding one judges the flag again; so does
  // a shard-counted connection leaving a server that has -x now.
  void bind_template(const DestSnap& d, uint32_t elsewhere) {
    persist_.fetch_add(1, std::memory_order_relaxed);
    rejudge(elsewhere, [&](DestLoad& l) { overload_on_bind(d, l); });
  }
  void unbind_template(const DestSnap& d, uint32_t elsewhere) {
    persist_.fetch_sub(1, std::memory_order_relaxed);
    rejudge(elsewhere, [&](DestLoad& l) { overload_on_unbind(d, l); });
  }
  void unbound_elsewhere(const DestSnap& d, uint32_t elsewhere) {
    rejudge(elsewhere, [&](DestLoad& l) { overload_on_unbind(d, l); });
  }

  // A worker takes this server (as its snapshot names it), `mine` being what that worker
  // counted for the server it knew by this id before. Called between bursts, by every worker.
  // - A new incarnation (the id given to another server) starts with the flag clear, once:
  //   the first worker to see it moves `incarnation` on (ids only move forward, so a worker
  //   still on an older snapshot never moves it back). Each worker then takes its own old
  //   counts out (an unbind each): until the last worker has, the new server is counted with
  //   the old one's leftovers, for the microseconds a snapshot takes to reach every worker.
  // - An edit that drops or raises -x clears the flag (kernel __ip_vs_update_dest), once per
  //   edit: the worker that moves `u_seen` does it.
  void take(const DestSnap& d, uint32_t known_incarnation, const DestLoad& mine, uint32_t elsewhere) {
    uint32_t inc = incarnation_.load(std::memory_order_relaxed);
    while (static_cast<int32_t>(d.incarnation - inc) > 0) {
      if (incarnation_.compare_exchange_weak(inc, d.incarnation, std::memory_order_relaxed)) {
        u_seen_.store(d.u_threshold, std::memory_order_relaxed);
        update([](DestLoad& l) {
          l.overload = false;
          return true;
        });
        break;
      }
    }
    if (known_incarnation != d.incarnation && (mine.active || mine.inactive || mine.persist)) {
      persist_.fetch_sub(mine.persist, std::memory_order_relaxed);
      update([&](DestLoad& l) {
        l.active -= mine.active;
        l.inactive -= mine.inactive;
        judge(l, elsewhere, [&](DestLoad& j) { overload_on_unbind(d, j); });
        return true;
      });
    }
    uint32_t u = u_seen_.load(std::memory_order_relaxed);
    if (u != d.u_threshold && d.incarnation == incarnation_.load(std::memory_order_relaxed) &&
        u_seen_.compare_exchange_strong(u, d.u_threshold, std::memory_order_relaxed))
      rejudge(0, [&](DestLoad& l) { overload_on_edit(d, u, l); });
  }

  // Tests and tools: sets the counts outright.
  void store(const DestLoad& l) {
    word_.store(encode(l), std::memory_order_relaxed);
    persist_.store(l.persist, std::memory_order_relaxed);
  }

 private:
  static DestLoad decode(uint64_t w) {
    DestLoad l;
    l.inactive = static_cast<uint32_t>(w);
    l.active = static_cast<uint32_t>(w >> 32) & 0x7fffffffu;
    l.overload = w >> 63;
    return l;
  }
  static uint64_t encode(const DestLoad& l) {
    return uint64_t{l.inactive} | uint64_t{l.active & 0x7fffffffu} << 32 | uint64_t{l.overload} << 63;
  }
  // Applies f to the counts until the word is swapped in; f returns false for "nothing to write".
  template <class F>
  void update(F&& f) {
    uint64_t w = word_.load(std::memory_order_relaxed);
    for (;;) {
      DestLoad l = decode(w);
      if (!f(l)) return;
      if (word_.compare_exchange_weak(w, encode(l), std::memory_order_relaxed)) return;
    }
  }
  // Sets l's flag by an overload rule applied to l with `elsewhere` more inactive connections.
  template <class Rule>
  static void judge(DestLoad& l, uint32_t elsewhere, Rule&& rule) {
    DestLoad j = l;
    j.inactive += elsewhere;
    rule(j);
    l.overload = j.overload;
  }
  // Applies an overload rule to the counts as they are; writes only when the flag changes.
  template <class Rule>
  void rejudge(uint32_t elsewhere, Rule&& rule) {
    update([&](DestLoad& l) {
      const bool was = l.overload;
      judge(l, elsewhere, rule);
      return l.overload != was;
    });
  }

  std::atomic<uint64_t> word_{0};
  std::atomic<uint32_t> persist_{0};
  std::atomic<uint32_t> incarnation_{0};  // the server the flag belongs to
  std::atomic<uint32_t> u_seen_{0};       // the upper threshold the flag was last judged by
};

// The workers' own counts of connections to servers without -x: per worker, per DestId, one
// word (active << 32 | inactive) written only by its worker; each worker's row starts on a
// cache line of its own.
class DestShards {
 public:
  DestShards(uint32_t workers, uint32_t max_dests)
      : workers_(workers), stride_((max_dests + 7) / 8 * 8), lines_(new Line[size_t{workers} * stride_ / 8]) {}
  // The row a worker writes; each worker its own (a row two workers wrote would be a race).
  std::atomic<uint64_t>* row(uint32_t worker) {
    if (worker >= workers_) throw std::invalid_argument("worker id beyond the shared load's workers");
    return &lines_[size_t{worker} * stride_ / 8].w[0];
  }
  uint32_t workers() const { return workers_; }
  // The single writer's update: a plain load and store, no locked instruction.
  static void add(std::atomic<uint64_t>& w, uint64_t delta) {
    w.store(w.load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
  }
  static constexpr uint64_t kInactive = 1;
  static constexpr uint64_t kActive = uint64_t{1} << 32;

 private:
  struct alignas(64) Line {
    std::atomic<uint64_t> w[8] = {};
  };
  uint32_t workers_;
  uint32_t stride_;
  std::unique_ptr<Line[]> lines_;
};

// One worker's view of the other workers' shards, summed per DestId and refreshed at most once
// per burst (next_burst), so a burst of new connections reads another worker's line once per
// server, not once per pick.
class ShardSums {
 public:
  ShardSums(DestShards& shards, uint32_t self, uint32_t max_dests)
      : shards_(shards), self_(self), sum_(max_dests, 0), epoch_of_(max_dests, 0) {}
  void next_burst() { ++epoch_; }
  uint64_t others(DestId id) {
    if (epoch_of_[id] != epoch_) [[unlikely]] {
      uint64_t s = 0;
      for (uint32_t w = 0; w < shards_.workers(); ++w)
        if (w != self_) s += shards_.row(w)[id].load(std::memory_order_relaxed);
      sum_[id] = s;
      epoch_of_[id] = epoch_;
    }
    return sum_[id];
  }

 private:
  DestShards& shards_;
  uint32_t self_;
  std::vector<uint64_t> sum_;
  std::vector<uint32_t> epoch_of_;
  uint32_t epoch_ = 1;
};

// What schedulers read a server's load through, by DestId: its shared slot (with -x: all its
// counts and the flag) plus, when a worker reads (own set), its own shard and the others' sums.
struct LoadView {
  const DestCounter* slots = nullptr;
  const std::atomic<uint64_t>* own = nullptr;
  ShardSums* sums = nullptr;
  DestLoad operator[](DestId id) const {
    DestLoad l = slots[id].get();
    if (own) {
      const uint64_t s = own[id].load(std::memory_order_relaxed) + sums->others(id);
      l.active += static_cast<uint32_t>(s >> 32);
      l.inactive += static_cast<uint32_t>(s);
    }
    return l;
  }
};

// One service's rr/wrr position, director-wide: the index into the service's newest-first
// order (20 bits; all ones = the list head) and wrr's current weight (28 bits), tagged with the
// low 16 bits of the generation they belong to (an index means nothing in another order).
// A pick reads it, walks as the kernel does, and swaps the result in (retrying if another
// worker picked meanwhile), so the workers together walk the kernel's one cycle.
class alignas(64) SvcCursor {
 public:
  static constexpr uint32_t kHead = 0xfffff;
  static constexpr int32_t kMaxCw = (1 << 28) - 1;  // larger weights: per-worker cursors

  struct Pos {
    uint16_t tag;
    int32_t pos;  // -1 = head
    int32_t cw;
  };
  static uint16_t tag_of(uint32_t generation) { return static_cast<uint16_t>(generation); }
  static Pos decode(uint64_t w) {
    const uint32_t p = static_cast<uint32_t>(w >> 28) & kHead;
    return Pos{static_cast<uint16_t>(w >> 48), p == kHead ? -1 : static_cast<int32_t>(p),
               static_cast<int32_t>(w & kMaxCw)};
  }
  static uint64_t encode(uint16_t tag, int32_t pos, int32_t cw) {
    const uint32_t p = pos < 0 ? kHead : static_cast<uint32_t>(pos);
    return uint64_t{tag} << 48 | uint64_t{p} << 28 | static_cast<uint32_t>(cw);
  }

  uint64_t load() const { return word_.load(std::memory_order_relaxed); }
  bool swap(uint64_t& expected, uint64_t next) {
    return word_.compare_exchange_weak(expected, next, std::memory_order_relaxed);
  }
  void set(uint64_t w) { word_.store(w, std::memory_order_relaxed); }
  std::atomic<uint32_t>& incarnation() { return incarnation_; }

 private:
  std::atomic<uint64_t> word_{0};
  std::atomic<uint32_t> incarnation_{0};  // the service the position belongs to
};

class SharedLoad {
 public:
  // workers: how many share it (worker ids 0 .. workers - 1); affinity_slots: persistent
  // clients the director-wide index holds (shared_affinity.h); seed: its hash's secret.
  SharedLoad(uint32_t max_dests, uint32_t max_services, uint32_t workers = 1, uint32_t affinity_slots = 4096,
             uint64_t seed = 0x5eed)
      : dests_(new DestCounter[max_dests]),
        shards_(workers, max_dests),
        cursors_(new SvcCursor[max_services]),
        affinity_(affinity_slots, seed) {}
  DestCounter& dest(DestId id) { return dests_[id]; }
  const DestCounter& dest(DestId id) const { return dests_[id]; }
  const DestCounter* slots() const { return dests_.get(); }
  DestShards& shards() { return shards_; }
  SvcCursor& cursor(SvcId id) { return cursors_[id]; }
  SharedAffinity& affinity() { return affinity_; }
  // A server's director-wide load read at once from every shard (tests, tools).
  DestLoad total(DestId id) {
    DestLoad l = dests_[id].get();
    for (uint32_t w = 0; w < shards_.workers(); ++w) {
      const uint64_t s = shards_.row(w)[id].load(std::memory_order_relaxed);
      l.active += static_cast<uint32_t>(s >> 32);
      l.inactive += static_cast<uint32_t>(s);
    }
    l.persist = dests_[id].persist();
    return l;
  }

 private:
  std::unique_ptr<DestCounter[]> dests_;
  DestShards shards_;
  std::unique_ptr<SvcCursor[]> cursors_;
  SharedAffinity affinity_;
};

}  // namespace fulcrum
