// See neigh.h. Open addressing with linear probing; deleted entries stay as tombstones that a
// later insert reuses, so a probe chain is never cut. The table is twice the capacity, so
// chains stay short.
#include "neigh.h"

namespace fulcrum::dp {

const char* neigh_state_name(NeighState s) {
  switch (s) {
    case NeighState::Incomplete: return "INCOMPLETE";
    case NeighState::Reachable: return "REACHABLE";
    case NeighState::Stale: return "STALE";
    case NeighState::Empty:
    case NeighState::Deleted: break;
  }
  return "NONE";
}

NeighTable::NeighTable(const NeighOptions& o) : opt_(o) {
  uint32_t n = 16;
  while (n < o.capacity * 2) n <<= 1;
  slots_.resize(n);
  mask_ = n - 1;
}

NeighEntry* NeighTable::find(uint16_t port, be32 ip) {
  for (uint32_t i = home(port, ip), n = 0; n <= mask_; i = (i + 1) & mask_, ++n) {
    NeighEntry& e = slots_[i];
    if (e.state == NeighState::Empty) return nullptr;
    if (e.state != NeighState::Deleted && e.ip == ip && e.port == port) return &e;
  }
  return nullptr;
}

NeighEntry* NeighTable::insert(uint16_t port, be32 ip) {
  if (NeighEntry* e = find(port, ip)) return e;
  if (live_ >= opt_.capacity) return nullptr;
  for (uint32_t i = home(port, ip);; i = (i + 1) & mask_) {
    NeighEntry& e = slots_[i];
    if (e.state != NeighState::Empty && e.state != NeighState::Deleted) continue;
    e = NeighEntry{};
    e.ip = ip;
    e.port = port;
    e.state = NeighState::Incomplete;
    ++live_;
    return &e;
  }
}

NeighTable::Result NeighTable::resolve(uint16_t port, be32 ip, uint64_t now, void* pkt) {
  NeighEntry* e = find(port, ip);
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

}  // namespace fulcrum::dp
