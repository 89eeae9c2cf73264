// dh and sh: 256-bucket static hash tables of dest ids (kernel ip_vs_dh.c, ip_vs_sh.c). The
// tables are rebuilt on the control side on every dest change; lookups are one multiply.
#include "sched/hash.h"
#include "sched/internal.h"

namespace fulcrum::sched_detail {

constexpr unsigned kTabBits = 8;  // CONFIG_IP_VS_DH_TAB_BITS / CONFIG_IP_VS_SH_TAB_BITS default
constexpr uint32_t kTabSize = 1u << kTabBits;
constexpr uint32_t kTabMask = kTabSize - 1;

// dh: bucket i gets the dests in list order, one bucket each, round robin (weights ignored).
void dh_tables(Order order, SchedTables& t) {
  t.buckets.assign(kTabSize, kNoDest);
  if (order.empty()) return;
  size_t p = 0;
  for (uint32_t i = 0; i < kTabSize; ++i) {
    t.buckets[i] = order[p];
    if (++p == order.size()) p = 0;
  }
}

// sh: walking the list, each dest fills `weight` consecutive buckets; a weight <= 0 dest still
// takes one (the kernel moves on once ++count >= weight), wrapping until all are filled.
void sh_tables(DestTable dests, Order order, SchedTables& t) {
  t.buckets.assign(kTabSize, kNoDest);
  if (order.empty()) return;
  size_t p = 0;
  int32_t count = 0;
  for (uint32_t i = 0; i < kTabSize; ++i) {
    const DestId id = order[p];
    t.buckets[i] = id;
    if (++count >= dests[id].weight) {
      if (++p == order.size()) p = 0;
      count = 0;
    }
  }
}

DestId dh_pick(const SchedTables& t, DestTable dests, LoadView load,
               const SchedPacket& pkt) {
  if (t.buckets.size() != kTabSize) return kNoDest;
  const uint32_t h = sched_hash::hash_32(sched_hash::fold_host(pkt.daddr, t.svc_v6), kTabBits);
  const DestId id = t.buckets[h];
  // No fallback: an unusable hit means no destination.
  if (id == kNoDest || !dests[id].available || dests[id].weight <= 0 || load[id].overload)
    return kNoDest;
  return id;
}

static bool sh_unavailable(const DestSnap& d, const DestLoad& l) {
  return d.weight <= 0 || l.overload;
}

// (offset + hash_32(port + addr, 8)) & 255; port is the client's only with sh-port.
static uint32_t sh_hash(uint32_t key, uint32_t offset) {
  return (offset + sched_hash::hash_32(key, kTabBits)) & kTabMask;
}

// sh-fallback: re-hash with offsets ihash, ihash+1, ... (the kernel adds the offset after
// hashing, so this probes buckets 2*ihash + k); first available dest wins.
static DestId sh_fallback_probe(const SchedTables& t, DestTable dests, LoadView load,
                         uint32_t key, uint32_t ihash) {
  for (uint32_t off = 0; off < kTabSize; ++off) {
    const uint32_t roffset = (off + ihash) % kTabSize;
    const DestId id = t.buckets[sh_hash(key, roffset)];
    if (id == kNoDest) break;
    if (!sh_unavailable(dests[id], load[id])) return id;
  }
  return kNoDest;
}

DestId sh_pick(uint32_t svc_flags, const SchedTables& t, DestTable dests,
               LoadView load, const SchedPacket& pkt) {
  if (t.buckets.size() != kTabSize) return kNoDest;
  const uint32_t port = (svc_flags & kSvcSched2) ? pkt.sport : 0;
  const uint32_t key = port + sched_hash::fold_host(pkt.saddr, t.svc_v6);
  const uint32_t ihash = sh_hash(key, 0);
  const DestId id = t.buckets[ihash];
  if (id == kNoDest) return kNoDest;
  if (!sh_unavailable(dests[id], load[id])) return id;
  if (!(svc_flags & kSvcSched1)) return kNoDest;
  return sh_fallback_probe(t, dests, load, key, ihash);
}

}  // namespace fulcrum::sched_detail
