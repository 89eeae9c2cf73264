// Specification of dh and sh (reference §2.12, §2.13, corrected to current kernels: the bucket is
// hash_32(key, 8) = (key * 0x61C88647) >> 24): table filling, lookups, sh-port and sh-fallback.
#include "sched/hash.h"
#include "sched_test_util.h"

namespace fulcrum::test {
namespace {

// Independent statement of the bucket: the high 8 bits of the 32-bit product.
uint32_t bucket8(uint32_t key) { return static_cast<uint32_t>(key * 0x61C88647ull) >> 24; }

TEST(HashFunctions, KernelHash32Values) {
  // Values computed outside this code (python: (x * 0x61C88647 % 2**32) >> 24, >> 22).
  EXPECT_EQ(sched_hash::hash_32(0x0A000001, 8), 39u);
  EXPECT_EQ(sched_hash::hash_32(0xC0A80164, 8), 89u);
  EXPECT_EQ(sched_hash::hash_32(0x08080808, 8), 188u);
  EXPECT_EQ(sched_hash::hash_32(0x0A000001, 10), 159u);
  EXPECT_EQ(sched_hash::hash_32(0x08080808, 10), 754u);
}

TEST(HashFunctions, Ipv6FoldsByXorOfTheFourWords) {
  uint8_t raw[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};
  const IpAddr a = IpAddr::from_v6(raw);
  EXPECT_EQ(sched_hash::fold_host(a, true), 0x20010db8u ^ 0x00000001u);
  // An IPv4 dest inside an IPv6 service is stored ip,0,0,0 by the kernel: folds to itself.
  EXPECT_EQ(sched_hash::fold_host(v4(10, 0, 0, 1), true, true), 0x0A000001u);
  // A v4-mapped client address of an IPv6 service folds as IPv6.
  EXPECT_EQ(sched_hash::fold_host(v4(10, 0, 0, 1), true), 0x0000ffffu ^ 0x0A000001u);
  EXPECT_EQ(sched_hash::fold_host(v4(10, 0, 0, 1), false), 0x0A000001u);
}

TEST(Dh, TableGivesDestsRoundRobinIgnoringWeights) {
  Svc s(SchedKind::Dh);
  s.add("A", 5);
  s.add("B", 1);
  s.add("C", 0);  // C B A
  ASSERT_EQ(s.tables.buckets.size(), 256u);
  for (uint32_t i = 0; i < 256; ++i) EXPECT_EQ(s.name(s.tables.buckets[i]), std::string(1, "CBA"[i % 3]));
}

TEST(Dh, HashesTheDestinationAddress) {
  Svc s(SchedKind::Dh);
  s.add("A", 1);
  s.add("B", 1);
  s.add("C", 1);
  // 10.0.0.1 -> bucket 39 -> 39 % 3 = 0 -> C; 192.168.1.100 -> 89 -> 2 -> A; 8.8.8.8 -> 188 -> 2.
  EXPECT_EQ(s.name(s.pick(to_daddr(v4(10, 0, 0, 1)))), "C");
  EXPECT_EQ(s.name(s.pick(to_daddr(v4(192, 168, 1, 100)))), "A");
  EXPECT_EQ(s.name(s.pick(to_daddr(v4(8, 8, 8, 8)))), "A");
  // The source does not matter.
  SchedPacket p = to_daddr(v4(10, 0, 0, 1));
  p.saddr = v4(172, 16, 0, 1);
  EXPECT_EQ(s.name(s.pick(p)), "C");
}

TEST(Dh, NoFallbackForAnUnusableHit) {
  Svc s(SchedKind::Dh);
  s.add("A", 1);
  s.add("B", 1);
  s.add("C", 1);
  const SchedPacket p = to_daddr(v4(10, 0, 0, 1));  // -> C
  s.L("C").overload = true;
  EXPECT_EQ(s.pick(p), kNoDest);
  s.L("C").overload = false;
  s.set_weight("C", 0);
  EXPECT_EQ(s.pick(p), kNoDest);
  s.dests[s.id("C")].available = false;  // deleted but still referenced
  s.set_weight("C", 1);
  EXPECT_EQ(s.pick(p), kNoDest);
}

TEST(Dh, EmptyServiceHasNoDestination) {
  Svc s(SchedKind::Dh);
  EXPECT_EQ(s.pick(to_daddr(v4(10, 0, 0, 1))), kNoDest);
}

TEST(Sh, EachDestFillsWeightBucketsAndWeightZeroKeepsOne) {
  Svc s(SchedKind::Sh);
  s.add("A", 3);
  s.add("B", 2);  // B A
  std::string got;
  for (uint32_t i = 0; i < 12; ++i) got += s.name(s.tables.buckets[i]);
  EXPECT_EQ(got, "BBAAABBAAABB");
  s.add("Z", 0);  // Z B A
  got.clear();
  for (uint32_t i = 0; i < 12; ++i) got += s.name(s.tables.buckets[i]);
  EXPECT_EQ(got, "ZBBAAAZBBAAA");
  EXPECT_EQ(s.name(s.tables.buckets[255]), "A");  // the pattern wraps: 255 % 6 = 3 -> "ZBBAAA"[3]
}

TEST(Sh, HashesTheSourceAddressAndWithShPortTheSourcePort) {
  Svc s(SchedKind::Sh);
  for (int i = 0; i < 256; ++i) s.add("D" + std::to_string(i), 1);  // bucket i -> order[i]
  const IpAddr client = v4(10, 0, 0, 1);
  EXPECT_EQ(s.pick(from_client(client, 1111)), s.order[39]);
  EXPECT_EQ(s.pick(from_client(client, 2222)), s.order[39]);  // port ignored
  s.flags = kSvcSched2;
  EXPECT_EQ(s.pick(from_client(client, 1111)), s.order[bucket8(0x0A000001u + 1111)]);
  EXPECT_EQ(s.pick(from_client(client, 2222)), s.order[bucket8(0x0A000001u + 2222)]);
}

TEST(Sh, UnusableHitIsNoDestinationWithoutFallback) {
  Svc s(SchedKind::Sh);
  s.add("A", 1);
  s.add("B", 1);
  const SchedPacket p = from_client(v4(10, 0, 0, 1));  // bucket 39 -> odd -> A
  EXPECT_EQ(s.name(s.pick(p)), "A");
  s.set_weight("A", 0);
  EXPECT_EQ(s.name(s.tables.buckets[39]), "A");  // quiesced keeps its bucket
  EXPECT_EQ(s.pick(p), kNoDest);
  s.set_weight("A", 1);
  s.L("A").overload = true;
  EXPECT_EQ(s.pick(p), kNoDest);
}

TEST(Sh, FallbackProbesFromTwiceTheHashOnward) {
  Svc s(SchedKind::Sh, kSvcSched1);
  for (int i = 0; i < 256; ++i) s.add("D" + std::to_string(i), 1);  // bucket i -> order[i]
  const SchedPacket p = from_client(v4(10, 0, 0, 1));              // ihash 39
  const DestId hit = s.tables.buckets[39];
  EXPECT_EQ(s.pick(p), hit);
  // Quiesce the hit and the first probe targets (2*39 + k) & 255 for k = 0, 1.
  s.load[hit].overload = true;
  s.load[s.tables.buckets[78]].overload = true;
  s.load[s.tables.buckets[79]].overload = true;
  EXPECT_EQ(s.pick(p), s.tables.buckets[80]);
  // Without the flag the same client gets nothing.
  s.flags = 0;
  EXPECT_EQ(s.pick(p), kNoDest);
}

TEST(Sh, FallbackWithEverythingUnusableGivesNone) {
  Svc s(SchedKind::Sh, kSvcSched1);
  s.add("A", 1);
  s.add("B", 0);
  s.L("A").overload = true;
  EXPECT_EQ(s.pick(), kNoDest);
}

}  // namespace
}  // namespace fulcrum::test
