// VIP ownership (vip_owner.h) as specifications: the published word, the gratuitous-ARP rounds
// of a takeover, and which frames a director that does not own its VIPs looks at.
#include <gtest/gtest.h>

#include <thread>

#include "pktgen.h"
#include "vip_owner.h"

namespace fulcrum::dp {
namespace {

using test::Bytes;
using test::ip4;
using test::Pkt;

TEST(VipOwnership, StartsAsToldAndFlipsWhenSet) {
  VipOwnership alone;
  EXPECT_TRUE(VipOwnership::owns(alone.load()));  // without ha.vrrp the director owns its VIPs
  VipOwnership pair(false);
  EXPECT_FALSE(VipOwnership::owns(pair.load()));
  pair.set(true);
  EXPECT_TRUE(VipOwnership::owns(pair.load()));
  pair.set(false);
  EXPECT_FALSE(VipOwnership::owns(pair.load()));
}

TEST(VipOwnership, ABackAndForthIsStillAChange) {
  VipOwnership o(true);
  const uint64_t seen = o.load();
  o.set(false);
  o.set(true);  // a worker that slept through both must still announce again
  EXPECT_TRUE(VipOwnership::owns(o.load()));
  EXPECT_NE(o.load(), seen);
}

TEST(VipOwnership, AReaderSeesEveryWordInOrder) {
  VipOwnership o(false);
  constexpr int kChanges = 100000;
  std::thread writer([&] {
    for (int i = 0; i < kChanges; ++i) o.set(i % 2 == 0);
  });
  uint64_t last = o.load();
  while ((last >> 1) < kChanges) {
    uint64_t w = o.load();
    ASSERT_GE(w >> 1, last >> 1);  // the change count never goes back
    last = w;
  }
  writer.join();
  EXPECT_FALSE(VipOwnership::owns(o.load()));  // the last set was i = 99,999: odd, not owner
}

TEST(GarpSchedule, IdleUntilATakeover) {
  GarpSchedule g;
  EXPECT_FALSE(g.active());
  EXPECT_FALSE(g.due(0));
  EXPECT_FALSE(g.due(1'000'000));
}

TEST(GarpSchedule, RoundsAtOnceThenSpacedThenDone) {
  GarpSchedule g;
  g.start(10'000);
  EXPECT_TRUE(g.due(10'000));  // the first round at once
  g.advance(3);                // three addresses: one pass
  EXPECT_EQ(g.round(), 1u);
  EXPECT_FALSE(g.due(10'000 + kGarpRoundsMs[1] - 1));
  EXPECT_TRUE(g.due(10'000 + kGarpRoundsMs[1]));
  g.advance(3);
  EXPECT_FALSE(g.due(10'000 + kGarpRoundsMs[2] - 1));
  EXPECT_TRUE(g.due(10'000 + kGarpRoundsMs[2]));
  g.advance(3);
  EXPECT_FALSE(g.active());
  EXPECT_FALSE(g.due(10'000 + 3'600'000));
}

TEST(GarpSchedule, ARoundWalksManyAddressesASliceAPass) {
  GarpSchedule g;
  g.start(0);
  const size_t total = 2 * kGarpPerPass + 5;
  size_t announced = 0, passes = 0;
  while (g.round() == 0) {
    ASSERT_TRUE(g.due(0));
    EXPECT_EQ(g.first(), announced);
    size_t n = g.count(total);
    EXPECT_LE(n, kGarpPerPass);
    announced += n;
    ++passes;
    g.advance(total);
  }
  EXPECT_EQ(announced, total);
  EXPECT_EQ(passes, 3u);
}

TEST(GarpSchedule, AnAddressListThatShrankEndsTheRound) {
  GarpSchedule g;
  g.start(0);
  g.advance(100);  // a first slice of 100
  EXPECT_EQ(g.first(), kGarpPerPass);
  EXPECT_EQ(g.count(10), 0u);  // the VIPs went down to 10 meanwhile: nothing left this round
  g.advance(10);
  EXPECT_EQ(g.round(), 1u);
  EXPECT_EQ(g.first(), 0u);
}

TEST(GarpSchedule, LosingOwnershipStopsAndATakeoverStartsOver) {
  GarpSchedule g;
  g.start(0);
  g.advance(1);
  g.stop();
  EXPECT_FALSE(g.due(kGarpRoundsMs[1]));
  g.start(50'000);
  EXPECT_EQ(g.round(), 0u);
  EXPECT_TRUE(g.due(50'000));
}

TEST(FrameIpv4Dst, ReadsUntaggedAndTagged) {
  be32 dst = 0;
  Bytes f = Pkt().ipv4("198.51.100.7", "198.18.0.100").tcp(40000, 80).frame();
  ASSERT_TRUE(frame_ipv4_dst(f.data(), static_cast<uint32_t>(f.size()), dst));
  EXPECT_EQ(dst, ip4("198.18.0.100"));
  Bytes t = Pkt().vlan(12).ipv4("198.51.100.7", "198.18.0.101").udp(5000, 53).frame();
  ASSERT_TRUE(frame_ipv4_dst(t.data(), static_cast<uint32_t>(t.size()), dst));
  EXPECT_EQ(dst, ip4("198.18.0.101"));
}

TEST(FrameIpv4Dst, AnythingElseIsNotLookedAt) {
  be32 dst = 0;
  Bytes v6 = Pkt().ipv6("2001:db8::1", "2001:db8::2").udp(1, 2).frame();
  EXPECT_FALSE(frame_ipv4_dst(v6.data(), static_cast<uint32_t>(v6.size()), dst));
  Bytes f = Pkt().ipv4("198.51.100.7", "198.18.0.100").tcp(40000, 80).frame();
  for (uint32_t len : {0u, 13u, 14u, 33u})  // short of the destination address
    EXPECT_FALSE(frame_ipv4_dst(Bytes(f.begin(), f.begin() + len).data(), len, dst)) << len;
  Bytes arp(42, 0);
  arp[12] = 0x08;
  arp[13] = 0x06;
  EXPECT_FALSE(frame_ipv4_dst(arp.data(), static_cast<uint32_t>(arp.size()), dst));
}

}  // namespace
}  // namespace fulcrum::dp
