// See neigh.h. Open addressing with linear probing and backward-shift deletion: removing an
// entry moves the later entries of its cluster back towards their home slots, so there are no
// tombstones and a lookup stops at the first empty slot, however many addresses came and
// went. The table is at least twice the capacity, so clusters stay short.
#include "neigh.h"

namespace fulcrum::dp {

const char* neigh_state_name(NeighState s) {
  switch (s) {
    case NeighState::Incomplete: return "INCOMPLETE";
    case NeighState::Reachable: return "REACHABLE";
    case NeighState::Stale: return "STALE";
    case NeighState::Empty: break;
  }
  return "NONE";
}

template <class Addr>
NeighTableT<Addr>::NeighTableT(const NeighOptions& o) : opt_(o) {
  uint32_t n = 16;
  while (n < o.capacity * 2) n <<= 1;
  slots_.resize(n);
  mask_ = n - 1;
}

template <class Addr>
typename NeighTableT<Addr>::Entry* NeighTableT<Addr>::find(uint16_t port, const Addr& ip) {
  // Never more than live_ + 1 slots: the table always has an empty one (capacity <= half).
  for (uint32_t i = home(port, ip);; i = (i + 1) & mask_) {
    Entry& e = slots_[i];
    if (e.state == NeighState::Empty) return nullptr;
    if (e.ip == ip && e.port == port) return &e;
  }
}

template <class Addr>
uint32_t NeighTableT<Addr>::probe_length(uint16_t port, const Addr& ip) const {
  uint32_t n = 1;
  for (uint32_t i = home(port, ip);; i = (i + 1) & mask_, ++n) {
    const Entry& e = slots_[i];
    if (e.state == NeighState::Empty || (e.ip == ip && e.port == port)) return n;
  }
}

template <class Addr>
typename NeighTableT<Addr>::Entry* NeighTableT<Addr>::insert(uint16_t port, const Addr& ip) {
  if (Entry* e = find(port, ip)) return e;
  if (live_ >= opt_.capacity) return nullptr;
  uint32_t i = home(port, ip);
  while (slots_[i].state != NeighState::Empty) i = (i + 1) & mask_;
  Entry& e = slots_[i];
  e = Entry{};
  e.ip = ip;
  e.port = port;
  e.state = NeighState::Incomplete;
  ++live_;
  return &e;
}

template <class Addr>
void NeighTableT<Addr>::erase(uint32_t slot) {
  ++generation_;  // pointers handed out (resolve's mac) may move or go
  --live_;
  uint32_t hole = slot;
  for (uint32_t j = (hole + 1) & mask_; slots_[j].state != NeighState::Empty; j = (j + 1) & mask_) {
    // The entry at j may fill the hole unless its home lies after the hole (cyclically,
    // within (hole, j]): then the hole would sit before its home and cut its probe chain.
    uint32_t h = home(slots_[j].port, slots_[j].ip);
    if (((j - h) & mask_) >= ((j - hole) & mask_)) {
      slots_[hole] = slots_[j];
      hole = j;
    }
  }
  slots_[hole] = Entry{};
}

template <class Addr>
typename NeighTableT<Addr>::Result NeighTableT<Addr>::resolve(uint16_t port, const Addr& ip, uint64_t now, void* pkt) {
  Entry* e = find(port, ip);
  if (e && e->state == NeighState::Reachable) return {Outcome::Ready, false, &e->mac};
  if (e && e->state == NeighState::Stale) {
    bool ask = e->probes == 0;  // the first use after going stale starts the confirmation
    if (ask) {
      e->probes = 1;
      e->next_probe_ms = now + opt_.retrans_ms;
    }
    return {Outcome::Ready, ask, &e->mac};
  }
  if (!e) {
    e = insert(port, ip);
    if (!e) return {Outcome::TableFull, false, nullptr};
    e->probes = 1;
    e->next_probe_ms = now + opt_.retrans_ms;
    e->queue[e->queued++] = pkt;
    return {Outcome::Queued, true, nullptr};
  }
  if (e->queued >= kNeighQueueLen) return {Outcome::QueueFull, false, nullptr};
  e->queue[e->queued++] = pkt;
  return {Outcome::Queued, false, nullptr};
}

template class NeighTableT<be32>;
template class NeighTableT<IpAddr>;

}  // namespace fulcrum::dp
