// Specification of mh, Maglev hashing (reference §2.14; kernel ip_vs_mh.c): the x86_64 hsiphash,
// exact tables for small sizes against a naive re-implementation written from the paper's
// formulation, table properties, quiesced dests, mh-fallback and mh-port.
#include <algorithm>
#include <map>
#include <numeric>

#include "sched/hash.h"
#include "sched/siphash.h"
#include "sched_test_util.h"

namespace fulcrum::test {
namespace {

// ---- Independent SipHash-c-d over bytes, as in the SipHash paper. ----
uint64_t rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }
uint64_t siphash_cd(int c, int d, uint64_t k0, uint64_t k1, const std::vector<uint8_t>& m) {
  uint64_t v0 = k0 ^ 0x736f6d6570736575ULL, v1 = k1 ^ 0x646f72616e646f6dULL;
  uint64_t v2 = k0 ^ 0x6c7967656e657261ULL, v3 = k1 ^ 0x7465646279746573ULL;
  auto round = [&] {
    v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);
    v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;
    v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;
    v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);
  };
  const size_t full = m.size() / 8 * 8;
  for (size_t i = 0; i <= full; i += 8) {
    uint64_t w = 0;
    if (i < full) {
      for (int j = 7; j >= 0; --j) w = (w << 8) | m[i + j];
    } else {  // last block: remaining bytes, length in the top byte
      w = uint64_t(m.size() & 0xff) << 56;
      for (size_t j = 0; j < m.size() - full; ++j) w |= uint64_t(m[full + j]) << (8 * j);
    }
    v3 ^= w;
    for (int r = 0; r < c; ++r) round();
    v0 ^= w;
  }
  v2 ^= 0xff;
  for (int r = 0; r < d; ++r) round();
  return v0 ^ v1 ^ v2 ^ v3;
}

std::vector<uint8_t> le32(uint32_t v) {
  return {uint8_t(v), uint8_t(v >> 8), uint8_t(v >> 16), uint8_t(v >> 24)};
}

TEST(MhSiphash, ReferenceImplementationMatchesPublishedVectors) {
  std::vector<uint8_t> msg;
  for (int i = 0; i < 15; ++i) msg.push_back(uint8_t(i));
  const uint64_t k0 = 0x0706050403020100ULL, k1 = 0x0f0e0d0c0b0a0908ULL;
  EXPECT_EQ(siphash_cd(2, 4, k0, k1, {}), 0x726fdb47dd0e0e31ULL);   // SipHash-2-4 paper vectors
  EXPECT_EQ(siphash_cd(2, 4, k0, k1, msg), 0xa129ca6149be45e5ULL);
  // SipHash-1-3 with a zero key: CPython's hash() of bytes under PYTHONHASHSEED=0.
  EXPECT_EQ(siphash_cd(1, 3, 0, 0, {1, 2, 3, 4}), 0xe7b1a066360ba9d4ULL);
  EXPECT_EQ(siphash_cd(1, 3, 0, 0, {0, 0, 0, 0}), 0xcc2247b79ac48af0ULL);
  EXPECT_EQ(siphash_cd(1, 3, 0, 0, msg), 0xf30eb725bb91c9eaULL);
}

TEST(MhSiphash, Hsiphash1u32IsSiphash13TruncatedOnX86_64) {
  EXPECT_EQ(siphash::hsiphash_1u32(0x04030201u, {0, 0}), 0x360ba9d4u);
  EXPECT_EQ(siphash::hsiphash_1u32(0, {0, 0}), 0x9ac48af0u);
  for (uint32_t v : {1u, 0x0A000001u + 80u, 0xdeadbeefu, 0xffffffffu}) {
    const siphash::Key key{2654435761ULL, 2654435761ULL};
    EXPECT_EQ(siphash::hsiphash_1u32(v, key),
              uint32_t(siphash_cd(1, 3, key.k0, key.k1, le32(v))));
  }
}

// ---- Naive Maglev, straight from the description: full permutation lists, then rounds in
// which each dest takes `turns` entries, each its next not-yet-taken preference. ----
uint32_t H(uint32_t v, uint64_t k) { return uint32_t(siphash_cd(1, 3, k, k, le32(v))); }
constexpr uint64_t kK1 = 2654435761ULL, kK2 = 2654446892ULL;

int turns_for(const std::vector<int>& lw, size_t i, uint32_t m) {
  int g = 0, maxw = 0;
  for (int w : lw) {
    if (w > 0) g = std::gcd(g, w);
    maxw = std::max(maxw, w);
  }
  const int index = m == 251 ? 0 : m == 509 ? 1 : m == 4093 ? 4 : -100;
  const int bits = (index + 8) / 2;
  int fls = 0;
  for (int v = maxw / g; v; v >>= 1) ++fls;
  const int shift = std::max(0, fls - bits);
  const int t = (lw[i] / g) >> shift;
  return t ? t : (lw[i] != 0);
}

std::vector<DestId> naive_maglev(const Svc& s, uint32_t m) {
  std::vector<int> lw;
  for (DestId d : s.order) lw.push_back(s.dests[d].last_weight);
  std::vector<std::vector<uint32_t>> pref;
  for (DestId d : s.order) {
    const uint32_t key = s.dests[d].port + ntoh32(s.dests[d].addr.v4());
    const uint32_t offset = H(key, kK1) % m, skip = H(key, kK2) % (m - 1) + 1;
    std::vector<uint32_t> p;
    for (uint32_t j = 0; j < m; ++j) p.push_back(uint32_t((offset + uint64_t(j) * skip) % m));
    pref.push_back(p);
  }
  std::vector<DestId> table(m, kNoDest);
  std::vector<size_t> next(s.order.size(), 0);
  uint32_t filled = 0;
  while (filled < m) {
    for (size_t i = 0; i < s.order.size() && filled < m; ++i) {
      for (int t = 0; t < turns_for(lw, i, m) && filled < m; ++t) {
        while (table[pref[i][next[i]]] != kNoDest) ++next[i];
        table[pref[i][next[i]]] = s.order[i];
        ++filled;
      }
    }
  }
  return table;
}

TEST(Mh, ExactTableOfSize251MatchesTheNaiveMaglev) {
  Svc s(SchedKind::Mh, 0, 1, {}, 251);
  s.add("A", 1, v4(10, 0, 0, 1), 80);
  s.add("B", 2, v4(10, 0, 0, 2), 80);
  s.add("C", 3, v4(10, 0, 0, 3), 8080);
  ASSERT_EQ(s.last_error, "");
  EXPECT_EQ(s.tables.buckets, naive_maglev(s, 251));
}

TEST(Mh, ExactTableWithWeightShiftMatchesTheNaiveMaglev) {
  // maxw / gcd = 100 needs 7 bits; a 251 table allows 4, so turns are 12, 6 and (1 >> 3 = 0) -> 1.
  Svc s(SchedKind::Mh, 0, 1, {}, 251);
  s.add("A", 100, v4(10, 0, 0, 1));
  s.add("B", 50, v4(10, 0, 0, 2));
  s.add("C", 1, v4(10, 0, 0, 3));
  EXPECT_EQ(s.tables.buckets, naive_maglev(s, 251));
  Svc t(SchedKind::Mh, 0, 1, {}, 509);
  t.add("A", 4, v4(172, 16, 0, 1));
  t.add("B", 6, v4(172, 16, 0, 2));
  t.add("C", 2, v4(172, 16, 0, 3));
  t.add("D", 0, v4(172, 16, 0, 4));  // added with weight 0: no slots
  EXPECT_EQ(t.tables.buckets, naive_maglev(t, 509));
  EXPECT_EQ(std::count(t.tables.buckets.begin(), t.tables.buckets.end(), t.id("D")), 0);
}

TEST(Mh, EverySlotIsFilledInProportionToWeight) {
  Svc s(SchedKind::Mh);
  s.add("A", 1);
  s.add("B", 2);
  s.add("C", 3);
  s.add("D", 2);
  ASSERT_EQ(s.tables.buckets.size(), 4093u);
  std::map<DestId, int> share;
  for (DestId d : s.tables.buckets) {
    ASSERT_NE(d, kNoDest);
    share[d]++;
  }
  for (auto [d, n] : share)
    EXPECT_NEAR(n, 4093.0 * s.dests[d].weight / 8, s.dests[d].weight) << s.name(d);
}

TEST(Mh, RemovingOneDestMovesFewOtherSlots) {
  Svc s(SchedKind::Mh);
  for (int i = 0; i < 10; ++i) s.add("D" + std::to_string(i), 1);
  const std::vector<DestId> before = s.tables.buckets;
  const DestId gone = s.id("D4");
  s.del("D4");
  int moved = 0;
  for (size_t i = 0; i < before.size(); ++i) {
    if (before[i] == gone) {
      EXPECT_NE(s.tables.buckets[i], gone);
      continue;
    }
    moved += s.tables.buckets[i] != before[i];
  }
  EXPECT_LT(moved, 4093 * 6 / 100) << "slots of surviving dests that changed owner";
}

TEST(Mh, QuiescedDestKeepsItsSlotsAndItsClientsGetNothingWithoutFallback) {
  Svc s(SchedKind::Mh);
  s.add("A", 1);
  s.add("B", 1);
  s.add("C", 1);
  const std::vector<DestId> before = s.tables.buckets;
  s.set_weight("B", 0);  // last_weight stays 1
  EXPECT_EQ(s.tables.buckets, before);
  // Find a client that lands on B.
  SchedPacket p;
  bool found = false;
  for (uint8_t i = 1; i < 250 && !found; ++i) {
    p = from_client(v4(192, 0, 2, i));
    const uint32_t slot = H(ntoh32(p.saddr.v4()), kK1) % 4093;
    found = s.tables.buckets[slot] == s.id("B");
  }
  ASSERT_TRUE(found);
  EXPECT_EQ(s.pick(p), kNoDest);
  // mh-fallback probes slots H1(addr, offset ihash + k) until a usable dest.
  s.flags = kSvcSched1;
  const uint32_t ihash = H(ntoh32(p.saddr.v4()), kK1) % 4093;
  DestId want = kNoDest;
  for (uint32_t k = 0; k < 4093 && want == kNoDest; ++k) {
    const DestId d = s.tables.buckets[H((k + ihash) % 4093 + ntoh32(p.saddr.v4()), kK1) % 4093];
    if (s.dests[d].weight > 0) want = d;
  }
  EXPECT_NE(want, s.id("B"));
  EXPECT_EQ(s.pick(p), want);
  // An overloaded dest is unavailable in the same way.
  s.set_weight("B", 1);
  s.flags = 0;
  s.L("B").overload = true;
  EXPECT_EQ(s.pick(p), kNoDest);
}

TEST(Mh, LookupHashesTheSourceAndWithMhPortItsPort) {
  Svc s(SchedKind::Mh);
  for (int i = 0; i < 7; ++i) s.add("D" + std::to_string(i), i + 1);
  const IpAddr c = v4(198, 51, 100, 7);
  const uint32_t a = ntoh32(c.v4());
  EXPECT_EQ(s.pick(from_client(c, 1234)), s.tables.buckets[H(a, kK1) % 4093]);
  s.flags = kSvcSched2;
  EXPECT_EQ(s.pick(from_client(c, 1234)), s.tables.buckets[H(a + 1234, kK1) % 4093]);
  EXPECT_EQ(s.pick(from_client(c, 4321)), s.tables.buckets[H(a + 4321, kK1) % 4093]);
}

TEST(Mh, EmptyOrAllZeroLastWeightTableHasNoDestination) {
  Svc s(SchedKind::Mh, kSvcSched1);
  EXPECT_EQ(s.pick(), kNoDest);
  s.add("A", 0);
  s.add("B", 0);
  EXPECT_EQ(std::count(s.tables.buckets.begin(), s.tables.buckets.end(), kNoDest), 4093);
  EXPECT_EQ(s.pick(), kNoDest);
}

TEST(Mh, RejectsSizesTheKernelDoesNotHaveAndMoreDestsThanSlots) {
  SchedTables t;
  DestSnap d;
  FlatDestTable just_d(&d, 1);
  DestId one = 0;
  EXPECT_NE(build_sched_tables(SchedKind::Mh, 0, just_d.table(), {&one, 1}, 1, t, 4096), "");
  EXPECT_EQ(build_sched_tables(SchedKind::Mh, 0, just_d.table(), {&one, 1}, 1, t, 131071), "");
  std::vector<DestSnap> many(252);
  FlatDestTable all(many.data(), many.size());
  std::vector<DestId> order;
  for (DestId i = 0; i < 252; ++i) {
    many[i].addr = v4(10, 1, uint8_t(i >> 8), uint8_t(i));
    order.push_back(i);
  }
  EXPECT_NE(build_sched_tables(SchedKind::Mh, 0, all.table(), order, 1, t, 251), "");
  order.pop_back();
  EXPECT_EQ(build_sched_tables(SchedKind::Mh, 0, all.table(), order, 1, t, 251), "");
}

}  // namespace
}  // namespace fulcrum::test
