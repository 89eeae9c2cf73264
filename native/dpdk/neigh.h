// A worker's neighbour table: IPv4 address on a port -> MAC, with the states an operator knows
// from Linux (INCOMPLETE while we ask, REACHABLE after an answer, STALE when it is time to
// confirm, gone after unanswered probes) and a short queue of packets waiting for an answer.
// Each worker owns one; what one worker learns it passes to the others as updates, so no table
// is ever shared. Packets are opaque handles here (mbufs in the dataplane), times are in ms.
#pragma once

#include <cstdint>
#include <vector>

#include "arp.h"

namespace fulcrum::dp {

struct NeighOptions {
  uint32_t capacity = 4096;          // entries (rounded up to a power of two, times two)
  uint64_t reachable_ms = 60000;     // after an answer, trust it this long (then STALE)
  uint64_t retrans_ms = 1000;        // between requests
  uint32_t max_probes = 3;           // unanswered requests before giving up
  uint64_t gc_stale_ms = 300000;     // a stale entry nobody used for this long is forgotten
};

enum class NeighState : uint8_t { Empty, Incomplete, Reachable, Stale, Deleted };
const char* neigh_state_name(NeighState s);

constexpr uint32_t kNeighQueueLen = 8;

struct NeighEntry {
  be32 ip = 0;
  uint16_t port = 0;
  NeighState state = NeighState::Empty;
  uint8_t probes = 0;      // requests sent since the last answer
  uint8_t queued = 0;
  Mac mac;
  uint64_t confirmed_ms = 0;
  uint64_t next_probe_ms = 0;
  void* queue[kNeighQueueLen] = {};
};

class NeighTable {
 public:
  explicit NeighTable(const NeighOptions& o = {});

  enum class Outcome : uint8_t {
    Ready,       // mac is valid: send now
    Queued,      // held until the answer; send a request when `request` says so
    QueueFull,   // the caller drops the packet
    TableFull,
  };
  // mac points into the table (valid until the next change to it): a Mac returned by value
  // is assembled byte-wise and read back whole, a store-forwarding stall on every packet.
  struct Result {
    Outcome outcome;
    bool request;  // the caller should send an ARP request for this address now
    const Mac* mac;
  };
  // Where a packet to `ip` on `port` goes. A STALE entry is used at once and confirmed by a
  // request in the background.
  Result resolve(uint16_t port, be32 ip, uint64_t now, void* pkt);

  // An ARP packet from ip at mac was seen on port. `create` makes an entry if none exists
  // (the packet was addressed to us); otherwise only existing entries are refreshed. Queued
  // packets are handed to `release(pkt, mac)` in arrival order.
  template <class Release>
  void learn(uint16_t port, be32 ip, const Mac& mac, uint64_t now, bool create, Release&& release) {
    NeighEntry* e = create ? insert(port, ip) : find(port, ip);
    if (!e) return;
    ++generation_;
    e->mac = mac;
    e->state = NeighState::Reachable;
    e->confirmed_ms = now;
    e->probes = 0;
    for (uint32_t i = 0; i < e->queued; ++i) release(e->queue[i], mac);
    e->queued = 0;
  }

  // Timers, called between bursts: request(port, ip, unicast_mac_or_null) for entries due a
  // (re)transmission, drop(pkt) for packets of entries that gave up.
  template <class Request, class Drop>
  void tick(uint64_t now, Request&& request, Drop&& drop) {
    if (now < next_tick_ms_) return;
    next_tick_ms_ = now + 100;  // timers are in seconds: a tenth is fine-grained enough
    for (NeighEntry& e : slots_) {
      if (e.state == NeighState::Reachable && now - e.confirmed_ms >= opt_.reachable_ms) {
        ++generation_;
        e.state = NeighState::Stale;
        e.next_probe_ms = now;  // confirm when next used (resolve asks)
        continue;
      }
      // Unused for a long while: forgotten (Linux's gc_stale_time), so clients that once
      // ARPed for us do not fill the table.
      if (e.state == NeighState::Stale && !e.probes && now - e.confirmed_ms >= opt_.gc_stale_ms) {
        ++generation_;
        e.state = NeighState::Deleted;
        --live_;
        continue;
      }
      if (e.state != NeighState::Incomplete && !(e.state == NeighState::Stale && e.probes)) continue;
      if (now < e.next_probe_ms) continue;
      if (e.probes >= opt_.max_probes) {
        for (uint32_t i = 0; i < e.queued; ++i) drop(e.queue[i]);
        e.queued = 0;
        e.state = NeighState::Deleted;
        --live_;
        ++generation_;
        continue;
      }
      ++e.probes;
      e.next_probe_ms = now + opt_.retrans_ms;
      request(e.port, e.ip, e.state == NeighState::Stale ? &e.mac : nullptr);
    }
  }

  const NeighEntry* lookup(uint16_t port, be32 ip) const { return const_cast<NeighTable*>(this)->find(port, ip); }
  template <class Fn>
  void for_each(Fn&& fn) const {
    for (const NeighEntry& e : slots_)
      if (e.state != NeighState::Empty && e.state != NeighState::Deleted) fn(e);
  }
  uint32_t size() const { return live_; }
  // Changes whenever an answer resolve() gives may change (learn, aging, removal): a caller's
  // cache of Ready answers is valid while this stays the same.
  uint64_t generation() const { return generation_; }

 private:
  uint32_t home(uint16_t port, be32 ip) const {
    return static_cast<uint32_t>(((uint64_t{ip} << 16 | port) * 0x9e3779b97f4a7c15ull) >> 40) & mask_;
  }
  NeighEntry* find(uint16_t port, be32 ip);
  NeighEntry* insert(uint16_t port, be32 ip);

  NeighOptions opt_;
  std::vector<NeighEntry> slots_;
  uint32_t mask_;
  uint32_t live_ = 0;
  uint64_t next_tick_ms_ = 0;
  uint64_t generation_ = 0;
};

}  // namespace fulcrum::dp
