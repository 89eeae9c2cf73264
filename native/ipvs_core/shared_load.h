// The load every worker shares: each real server's director-wide connection counts and
// overload flag, each service's rr/wrr cursor, and the persistent clients' ties. With several workers these are what the
// kernel keeps once per director (dest->activeconns, inactconns, OVERLOAD; the scheduler's list
// pointer), so schedulers and thresholds judge the whole director, not one worker's share.
//
// Cost rule: nothing here is touched by an established connection's packets. A real server's
// slot changes when a connection is bound, changes between active and inactive, or is released;
// a service's cursor once per new rr/wrr connection. Each slot is a cache line of its own, so
// two servers never share one. Schedulers read the slots with plain (relaxed) loads: the counts
// they see are exact up to the updates other workers make at the same moment.
//
// Owned by the dataplane (one per director) and outlives the workers; a Worker made alone
// (tests, benchmarks) owns its own. Indexed by ids, like the workers' arrays.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

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

  // A new connection (inactive) bound unless the upper threshold is already reached, director
  // wide; a refusal sets the overload flag (a bind at that total would have), so the scheduler
  // skips the server from then on.
  bool try_bind(const DestSnap& d) {
    bool ok = true;
    update([&](DestLoad& l) {
      ok = d.u_threshold == 0 || overload_total(l) < d.u_threshold;
      if (ok) ++l.inactive;
      else if (l.overload) return false;
      overload_on_bind(d, l);
      return true;
    });
    return ok;
  }
  // A connection under a persistence template: the kernel binds it whatever the threshold.
  void bind(const DestSnap& d) {
    update([&](DestLoad& l) {
      ++l.inactive;
      overload_on_bind(d, l);
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
  void unbind(const DestSnap& d, bool active) {
    update([&](DestLoad& l) {
      if (active) --l.active;
      else --l.inactive;
      overload_on_unbind(d, l);
      return true;
    });
  }
  // Templates do not count for -x, but binding and unbinding one judges the flag again.
  void bind_template(const DestSnap& d) {
    persist_.fetch_add(1, std::memory_order_relaxed);
    rejudge([&](DestLoad& l) { overload_on_bind(d, l); });
  }
  void unbind_template(const DestSnap& d) {
    persist_.fetch_sub(1, std::memory_order_relaxed);
    rejudge([&](DestLoad& l) { overload_on_unbind(d, l); });
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
  void take(const DestSnap& d, uint32_t known_incarnation, const DestLoad& mine) {
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
        overload_on_unbind(d, l);
        return true;
      });
    }
    uint32_t u = u_seen_.load(std::memory_order_relaxed);
    if (u != d.u_threshold && d.incarnation == incarnation_.load(std::memory_order_relaxed) &&
        u_seen_.compare_exchange_strong(u, d.u_threshold, std::memory_order_relaxed))
      rejudge([&](DestLoad& l) { overload_on_edit(d, u, l); });
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
  // Applies an overload rule to the counts as they are; writes only when the flag changes.
  template <class Rule>
  void rejudge(Rule&& rule) {
    update([&](DestLoad& l) {
      const bool was = l.overload;
      rule(l);
      return l.overload != was;
    });
  }

  std::atomic<uint64_t> word_{0};
  std::atomic<uint32_t> persist_{0};
  std::atomic<uint32_t> incarnation_{0};  // the server the flag belongs to
  std::atomic<uint32_t> u_seen_{0};       // the upper threshold the flag was last judged by
};

// What schedulers read a server's load through: the shared slots, by DestId.
struct LoadView {
  const DestCounter* slots = nullptr;
  DestLoad operator[](DestId id) const { return slots[id].get(); }
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
  // affinity_slots: persistent clients the director-wide index holds (shared_affinity.h).
  SharedLoad(uint32_t max_dests, uint32_t max_services, uint32_t affinity_slots = 4096)
      : dests_(new DestCounter[max_dests]), cursors_(new SvcCursor[max_services]), affinity_(affinity_slots) {}
  DestCounter& dest(DestId id) { return dests_[id]; }
  const DestCounter& dest(DestId id) const { return dests_[id]; }
  SvcCursor& cursor(SvcId id) { return cursors_[id]; }
  LoadView view() const { return LoadView{dests_.get()}; }
  SharedAffinity& affinity() { return affinity_; }

 private:
  std::unique_ptr<DestCounter[]> dests_;
  std::unique_ptr<SvcCursor[]> cursors_;
  SharedAffinity affinity_;
};

}  // namespace fulcrum
