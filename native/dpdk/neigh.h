// A worker's neighbour table: address on a port -> MAC, with the states an operator knows
// from Linux (INCOMPLETE while we ask, REACHABLE after an answer, STALE when it is time to
// confirm, gone after unanswered probes) and a short queue of packets waiting for an answer.
// Each worker owns one; what one worker learns it passes to the others as updates, so no table
// is ever shared. Packets are opaque handles here (mbufs in the dataplane), times are in ms.
// One template for both families (ARP's IPv4 addresses, neighbour discovery's IPv6 ones), so
// the queue, the retries and the aging are written once: NeighTable and NeighTable6.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "arp.h"

namespace fulcrum::dp {

// Entries a worker's table holds (the dataplane's tables use the default): 4096 neighbours on
// the director's links is far more than a director has (routers and real servers).
constexpr uint32_t kNeighCapacity = 4096;

struct NeighOptions {
  uint32_t capacity = kNeighCapacity;  // entries (rounded up to a power of two, times two)
  uint64_t reachable_ms = 60000;     // after an answer, trust it this long (then STALE)
  uint64_t retrans_ms = 1000;        // between requests
  uint32_t max_probes = 3;           // unanswered requests before giving up
  uint64_t gc_stale_ms = 300000;     // a stale entry nobody used for this long is forgotten
  uint64_t sweep_ms = 100;           // the timer walk passes every slot once in this time
};

enum class NeighState : uint8_t { Empty, Incomplete, Reachable, Stale };
const char* neigh_state_name(NeighState s);

constexpr uint32_t kNeighQueueLen = 8;

template <class Addr>
struct NeighEntryT {
  Addr ip{};
  uint16_t port = 0;
  NeighState state = NeighState::Empty;
  uint8_t probes = 0;      // requests sent since the last answer
  uint8_t queued = 0;
  Mac mac;
  uint64_t confirmed_ms = 0;
  uint64_t next_probe_ms = 0;
  void* queue[kNeighQueueLen] = {};
};

// The key's hash input: IPv4 as it is, IPv6 folded to 64 bits.
inline uint64_t neigh_addr_bits(be32 ip) { return ip; }
inline uint64_t neigh_addr_bits(const IpAddr& a) {
  uint64_t hi, lo;
  std::memcpy(&hi, a.b.data(), 8);
  std::memcpy(&lo, a.b.data() + 8, 8);
  return lo ^ (hi * 0xff51afd7ed558ccdull) ^ (hi >> 29);
}

template <class Addr>
class NeighTableT {
 public:
  using Entry = NeighEntryT<Addr>;
  explicit NeighTableT(const NeighOptions& o = {});

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
  Result resolve(uint16_t port, const Addr& ip, uint64_t now, void* pkt);

  // An ARP packet from ip at mac was seen on port. `create` makes an entry if none exists
  // (the packet was addressed to us); otherwise only existing entries are refreshed. Queued
  // packets are handed to `release(pkt, mac)` in arrival order.
  template <class Release>
  void learn(uint16_t port, const Addr& ip, const Mac& mac, uint64_t now, bool create, Release&& release) {
    learn(port, ip, mac, now, create, true, true, release);
  }
  // The same with neighbour discovery's rules (RFC 4861 7.2.3, 7.2.5): without `override` (an
  // NA's O flag clear) a known neighbour's MAC is not replaced; `reachable` (a solicited NA)
  // confirms the neighbour, otherwise (an NS, an unsolicited NA) a new or changed MAC is only
  // STALE (used, and confirmed by a probe on use) and an unchanged one is left as it was.
  template <class Release>
  void learn(uint16_t port, const Addr& ip, const Mac& mac, uint64_t now, bool create, bool override, bool reachable,
             Release&& release) {
    Entry* e = create ? insert(port, ip) : find(port, ip);
    if (!e) return;
    const bool complete = e->state != NeighState::Incomplete;
    const bool changed = !(e->mac == mac);
    if (complete && changed && !override) return;
    if (complete && !changed && !reachable) return;
    ++generation_;
    e->mac = mac;
    e->state = reachable ? NeighState::Reachable : NeighState::Stale;
    e->confirmed_ms = now;
    e->probes = 0;
    for (uint32_t i = 0; i < e->queued; ++i) release(e->queue[i], mac);
    e->queued = 0;
  }

  // Timers, called between bursts: request(port, ip, unicast_mac_or_null) for entries due a
  // (re)transmission, drop(pkt) for packets of entries that gave up. A clock hand walks the
  // slots, as many per call as the time since the last call is worth (the whole table per
  // sweep_ms, at most one pass per call), so a worker calling it every loop does a few slots
  // at a time instead of the whole table at once.
  template <class Request, class Drop>
  void tick(uint64_t now, Request&& request, Drop&& drop) {
    if (now <= last_tick_ms_) return;
    // Slots owed, in slot-milliseconds so that a table smaller than sweep_ms still advances.
    owed_ += (now - last_tick_ms_) * slots_.size();
    last_tick_ms_ = now;
    uint64_t n = owed_ / opt_.sweep_ms;
    if (n >= slots_.size()) {
      n = slots_.size();
      owed_ = 0;
    } else {
      owed_ -= n * opt_.sweep_ms;
    }
    for (uint64_t k = 0; k < n;) {
      // Removing an entry shifts a later one into this slot: look at the slot again. (Extra
      // looks are bounded by the entries removed.)
      if (!age(hand_, now, request, drop)) {
        hand_ = (hand_ + 1) & mask_;
        ++k;
      }
    }
  }

  const Entry* lookup(uint16_t port, const Addr& ip) const { return const_cast<NeighTableT*>(this)->find(port, ip); }
  template <class Fn>
  void for_each(Fn&& fn) const {
    for (const Entry& e : slots_)
      if (e.state != NeighState::Empty) fn(e);
  }
  // Slots a lookup of (port, ip) reads: the home slot up to the entry or the first empty one.
  uint32_t probe_length(uint16_t port, const Addr& ip) const;
  uint32_t size() const { return live_; }
  // Changes whenever an answer resolve() gives may change (learn, aging, removal): a caller's
  // cache of Ready answers is valid while this stays the same.
  uint64_t generation() const { return generation_; }

 private:
  uint32_t home(uint16_t port, const Addr& ip) const {
    return static_cast<uint32_t>(((neigh_addr_bits(ip) << 16 | port) * 0x9e3779b97f4a7c15ull) >> 40) & mask_;
  }
  Entry* find(uint16_t port, const Addr& ip);
  Entry* insert(uint16_t port, const Addr& ip);
  void erase(uint32_t slot);

  // The timers of the entry in slot i; true when the entry was removed (slot i now holds
  // whichever entry shifted back into it, or is empty).
  template <class Request, class Drop>
  bool age(uint32_t i, uint64_t now, Request& request, Drop& drop) {
    Entry& e = slots_[i];
    switch (e.state) {
      case NeighState::Empty:
        return false;
      case NeighState::Reachable:
        if (now - e.confirmed_ms >= opt_.reachable_ms) {
          ++generation_;
          e.state = NeighState::Stale;
          e.next_probe_ms = now;  // confirm when next used (resolve asks)
        }
        return false;
      case NeighState::Stale:
        // Unused for a long while: forgotten (Linux's gc_stale_time), so clients that once
        // ARPed for us do not fill the table.
        if (!e.probes) {
          if (now - e.confirmed_ms < opt_.gc_stale_ms) return false;
          erase(i);
          return true;
        }
        break;
      case NeighState::Incomplete:
        break;
    }
    if (now < e.next_probe_ms) return false;
    if (e.probes >= opt_.max_probes) {
      for (uint32_t q = 0; q < e.queued; ++q) drop(e.queue[q]);
      erase(i);
      return true;
    }
    ++e.probes;
    e.next_probe_ms = now + opt_.retrans_ms;
    request(e.port, e.ip, e.state == NeighState::Stale ? &e.mac : nullptr);
    return false;
  }

  NeighOptions opt_;
  std::vector<Entry> slots_;
  uint32_t mask_;
  uint32_t live_ = 0;
  uint32_t hand_ = 0;            // the next slot the timer walk looks at
  uint64_t last_tick_ms_ = 0;
  uint64_t owed_ = 0;            // slot-milliseconds not yet walked
  uint64_t generation_ = 0;
};

using NeighEntry = NeighEntryT<be32>;
using NeighTable = NeighTableT<be32>;
using NeighEntry6 = NeighEntryT<IpAddr>;
using NeighTable6 = NeighTableT<IpAddr>;
extern template class NeighTableT<be32>;
extern template class NeighTableT<IpAddr>;

}  // namespace fulcrum::dp
