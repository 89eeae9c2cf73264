// mh: Maglev consistent hashing (kernel ip_vs_mh.c). The lookup table (a prime number of slots)
// is populated on the control side from each dest's permutation; workers do one hsiphash and
// one table read, plus the fallback probe loop when the hit is unusable.
#include <array>
#include <numeric>

#include "sched/hash.h"
#include "sched/internal.h"
#include "sched/siphash.h"

namespace fulcrum::sched_detail {

namespace {
uint32_t first_word(const IpAddr& a) {
  uint32_t w;
  std::memcpy(&w, a.b.data(), 4);
  return w;
}
}  // namespace

// The kernel's allowed sizes, CONFIG_IP_VS_MH_TAB_INDEX 8..17; its TAB_BITS is index / 2.
constexpr std::array<uint32_t, 10> kMhPrimes = {251,  509,   1021,  2039,  4093,
                                                8191, 16381, 32749, 65521, 131071};

// generate_hash_secret(): fixed keys, so tables are the same on every director.
constexpr siphash::Key kMhKey1{2654435761ULL, 2654435761ULL};
constexpr siphash::Key kMhKey2{2654446892ULL, 2654446892ULL};

static uint32_t mh_hash(uint32_t folded, uint32_t port, const siphash::Key& key,
                        uint32_t offset) {
  return siphash::hsiphash_1u32(offset + port + folded, key);
}

static int fls32(uint32_t v) { return v ? 32 - __builtin_clz(v) : 0; }

std::string mh_tables(DestTable dests, Order order, uint32_t table_size, SchedTables& t) {
  int index = -1;
  for (size_t i = 0; i < kMhPrimes.size(); ++i)
    if (kMhPrimes[i] == table_size) index = static_cast<int>(i);
  if (index < 0)
    return "mh table size " + std::to_string(table_size) +
           " is not one of 251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071";
  const uint32_t m = table_size;
  if (order.size() > m)
    return "mh: " + std::to_string(order.size()) + " real servers exceed the table size " +
           std::to_string(m);
  const int tab_bits = (index + 8) / 2;

  t.mh_size = m;
  t.buckets.assign(m, kNoDest);

  // Turns per round: last_weight / gcd, shifted right so the largest fits in tab_bits bits; a
  // non-zero weight that shifts to 0 still gets one turn. last_weight 0 gets no slots at all.
  int32_t g = 0, maxw = 0;
  for (DestId id : order) {
    const int32_t w = dests[id].last_weight;
    if (w > 0) g = g > 0 ? std::gcd(w, g) : w;
    if (w > maxw) maxw = w;
  }
  if (g < 1) return "";  // no dests or all last_weight 0: an empty table
  const int shift = std::max(0, fls32(static_cast<uint32_t>(maxw / g)) - tab_bits);

  struct Setup {
    uint32_t perm, skip;
    int32_t turns;
  };
  std::vector<Setup> setup(order.size());
  for (size_t i = 0; i < order.size(); ++i) {
    const DestSnap& d = dests[order[i]];
    // The kernel folds by the service's family: an IPv6 tunnel server of an IPv4 service is
    // hashed by its first word (addr->ip).
    const uint32_t folded = !t.svc_v6 && !d.addr.is_v4() ? ntoh32(first_word(d.addr))
                                                          : sched_hash::fold_host(d.addr, t.svc_v6, /*dest_v4_in_v6=*/true);
    setup[i].perm = mh_hash(folded, d.port, kMhKey1, 0) % m;
    setup[i].skip = mh_hash(folded, d.port, kMhKey2, 0) % (m - 1) + 1;
    const int32_t lw = d.last_weight;
    const int32_t turns = (lw / g) >> shift;
    setup[i].turns = turns ? turns : (lw != 0);
  }

  // Rounds over the list; each dest claims `turns` next-free slots of its permutation.
  std::vector<bool> taken(m, false);
  uint32_t filled = 0;
  while (filled < m) {
    for (size_t i = 0; i < order.size() && filled < m; ++i) {
      Setup& s = setup[i];
      for (int32_t turn = 0; turn < s.turns && filled < m; ++turn) {
        while (taken[s.perm]) {
          s.perm += s.skip;
          if (s.perm >= m) s.perm -= m;
        }
        taken[s.perm] = true;
        t.buckets[s.perm] = order[i];
        ++filled;
      }
    }
  }
  return "";
}

static bool mh_unavailable(const DestSnap& d, const DestLoad& l) {
  return d.weight <= 0 || l.overload;
}

// mh-fallback: re-hash with offsets ihash, ihash+1, ... (up to M probes); an empty slot stops.
static DestId mh_fallback_probe(const SchedTables& t, DestTable dests, LoadView load,
                                uint32_t folded, uint32_t port, uint32_t ihash) {
  const uint32_t m = t.mh_size;
  for (uint32_t off = 0; off < m; ++off) {
    const uint32_t roffset = (off + ihash) % m;
    const DestId id = t.buckets[mh_hash(folded, port, kMhKey1, roffset) % m];
    if (id == kNoDest) break;
    if (!mh_unavailable(dests[id], load[id])) return id;
  }
  return kNoDest;
}

DestId mh_pick(uint32_t svc_flags, const SchedTables& t, DestTable dests,
               LoadView load, const SchedPacket& pkt) {
  const uint32_t m = t.mh_size;
  if (m == 0 || t.buckets.size() != m) return kNoDest;
  const uint32_t port = (svc_flags & kSvcSched2) ? pkt.sport : 0;
  const uint32_t folded = sched_hash::fold_host(pkt.saddr, t.svc_v6);
  const uint32_t ihash = mh_hash(folded, port, kMhKey1, 0) % m;
  const DestId id = t.buckets[ihash];
  if (id == kNoDest) return kNoDest;
  if (!mh_unavailable(dests[id], load[id])) return id;
  if (!(svc_flags & kSvcSched1)) return kNoDest;
  return mh_fallback_probe(t, dests, load, folded, port, ihash);
}

}  // namespace fulcrum::sched_detail
