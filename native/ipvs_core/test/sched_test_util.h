// A scripted service for the scheduler specifications: add/delete/edit real servers the way
// ipvsadm would (newest first, last_weight kept), republish tables and sync one worker's state
// after every change, and read picks back as dest names.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "sched/sched.h"

namespace fulcrum::test {

inline IpAddr v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return IpAddr::from_v4(hton32((uint32_t{a} << 24) | (uint32_t{b} << 16) | (uint32_t{c} << 8) | d));
}

inline SchedPacket from_client(IpAddr saddr, uint16_t sport = 40000) {
  SchedPacket p;
  p.saddr = saddr;
  p.sport = sport;
  p.daddr = v4(192, 168, 1, 100);
  p.dport = 80;
  return p;
}

inline SchedPacket to_daddr(IpAddr daddr) {
  SchedPacket p;
  p.saddr = v4(10, 9, 9, 9);
  p.sport = 40000;
  p.daddr = daddr;
  p.dport = 80;
  return p;
}

struct Svc {
  explicit Svc(SchedKind k, uint32_t f = 0, uint64_t seed = 1, LocalityConfig lc = {},
               uint32_t mh = 4093)
      : kind(k), flags(f), mh_size(mh), seed_(seed), lc_(lc), state(seed, lc) {
    dests.reserve(512);
    flat_ = std::make_unique<FlatDestTable>(dests.data(), 512);
    load.reserve(512);
    rebuild();
  }

  SchedKind kind;
  uint32_t flags;
  uint32_t mh_size;
  uint64_t seed_;
  LocalityConfig lc_;
  bool live = true;  // republish after every change (as ipvsadm commands do)
  std::vector<DestSnap> dests;  // reserved: never moves, so the view below stays valid
  std::unique_ptr<FlatDestTable> flat_;
  DestTable view() const { return flat_->table(); }
  std::vector<DestLoad> load;
  std::vector<DestId> order;  // newest first
  std::vector<std::string> names;
  SchedTables tables;
  SchedState state;
  uint32_t gen = 0;
  std::string last_error;

  DestId id(const std::string& n) const {
    for (size_t i = 0; i < names.size(); ++i)
      if (names[i] == n) return static_cast<DestId>(i);
    ADD_FAILURE() << "no dest " << n;
    return kNoDest;
  }
  std::string name(DestId d) const { return d == kNoDest ? "-" : names[d]; }

  DestId add(const std::string& n, int32_t weight, IpAddr addr = {}, uint16_t port = 80) {
    const DestId d = static_cast<DestId>(dests.size());
    DestSnap s;
    s.addr = addr == IpAddr{} ? v4(10, 0, static_cast<uint8_t>(d >> 8), static_cast<uint8_t>(d + 1)) : addr;
    s.port = port;
    s.weight = weight;
    s.last_weight = weight;  // set on add even when 0
    s.id = d;
    dests.push_back(s);
    load.push_back({});
    names.push_back(n);
    order.insert(order.begin(), d);
    rebuild();
    return d;
  }
  void del(const std::string& n) {
    const DestId d = id(n);
    dests[d].available = false;
    std::erase(order, d);
    rebuild();
  }
  void set_weight(const std::string& n, int32_t w) {
    DestSnap& s = dests[id(n)];
    s.weight = w;
    if (w != 0) s.last_weight = w;
    rebuild();
  }
  // The scheduler is bound to a service that already holds every dest added until start()
  // (ipvsadm -E changing the scheduler): the state was synced under another scheduler first,
  // so start() re-binds it to the whole list at once (the kernel's init_service).
  void defer() {
    live = false;
    state = SchedState(seed_, lc_);
  }
  void start() {
    live = true;
    const SchedKind other = kind == SchedKind::Rr ? SchedKind::Wlc : SchedKind::Rr;
    SchedTables none;
    sched_state_sync(state, other, none, view(), order);
    rebuild();
  }
  // The service appears with every dest added until batch_end() in one change (a config
  // load, fvsadm -R): a state never synced before takes them all at once.
  void batch_end() {
    live = true;
    rebuild();
  }
  void rebuild() {
    if (!live) return;
    ++gen;
    last_error = build_sched_tables(kind, flags, view(), order, gen, tables, mh_size);
    if (last_error.empty()) sched_state_sync(state, kind, tables, view(), order);
  }
  DestLoad& L(const std::string& n) { return load[id(n)]; }

  // The load as the engine's shared slots hold it, from `load` as the test set it.
  std::unique_ptr<DestCounter[]> slots = std::make_unique<DestCounter[]>(512);
  DestId pick(const SchedPacket& p = from_client(v4(10, 1, 1, 1)), uint32_t now = 1000) {
    for (size_t i = 0; i < load.size(); ++i) slots[i].store(load[i]);
    return sched_pick(kind, flags, tables, view(), order, LoadView{slots.get()}, state, p, now);
  }
  // n picks, names joined by spaces
  std::string seq(int n, const SchedPacket& p = from_client(v4(10, 1, 1, 1))) {
    std::string out;
    for (int i = 0; i < n; ++i) {
      if (i) out += ' ';
      out += name(pick(p));
    }
    return out;
  }
};

}  // namespace fulcrum::test
