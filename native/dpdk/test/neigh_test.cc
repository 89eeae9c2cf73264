// The neighbour table and ARP frames as specifications: what a worker does with a packet for
// an unknown address, an answer, silence, and aging.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "arp.h"
#include "neigh.h"

namespace fulcrum::dp {
namespace {

be32 ip(uint8_t a, uint8_t b, uint8_t c, uint8_t d) { return hton32(uint32_t(a) << 24 | b << 16 | c << 8 | d); }
const Mac kServer{{2, 0, 0, 0, 0, 0x11}};
const Mac kMine{{2, 0, 0, 0, 0, 0x01}};

int pkt[16];  // opaque packet handles

TEST(Neigh, FirstPacketIsQueuedAndOneRequestAsked) {
  NeighTable t;
  auto r = t.resolve(0, ip(172, 16, 0, 11), 0, &pkt[0]);
  EXPECT_EQ(r.outcome, NeighTable::Outcome::Queued);
  EXPECT_TRUE(r.request);
  auto r2 = t.resolve(0, ip(172, 16, 0, 11), 1, &pkt[1]);
  EXPECT_EQ(r2.outcome, NeighTable::Outcome::Queued);
  EXPECT_FALSE(r2.request);  // one request in flight is enough
}

TEST(Neigh, AnswerReleasesQueuedPacketsInOrder) {
  NeighTable t;
  t.resolve(0, ip(172, 16, 0, 11), 0, &pkt[0]);
  t.resolve(0, ip(172, 16, 0, 11), 0, &pkt[1]);
  std::vector<void*> out;
  t.learn(0, ip(172, 16, 0, 11), kServer, 5, true, [&](void* p, const Mac& m) {
    EXPECT_EQ(m, kServer);
    out.push_back(p);
  });
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0], &pkt[0]);
  EXPECT_EQ(out[1], &pkt[1]);
  auto r = t.resolve(0, ip(172, 16, 0, 11), 6, &pkt[2]);
  EXPECT_EQ(r.outcome, NeighTable::Outcome::Ready);
  EXPECT_EQ(*r.mac, kServer);
}

TEST(Neigh, QueueIsBounded) {
  NeighTable t;
  for (uint32_t i = 0; i < kNeighQueueLen; ++i)
    EXPECT_EQ(t.resolve(0, ip(10, 0, 0, 9), 0, &pkt[i]).outcome, NeighTable::Outcome::Queued);
  EXPECT_EQ(t.resolve(0, ip(10, 0, 0, 9), 0, &pkt[9]).outcome, NeighTable::Outcome::QueueFull);
}

TEST(Neigh, SilenceRetriesThenGivesUpAndDropsTheQueue) {
  NeighOptions o;
  o.retrans_ms = 1000;
  o.max_probes = 3;
  NeighTable t(o);
  t.resolve(0, ip(10, 0, 0, 9), 0, &pkt[0]);  // request 1
  int requests = 0;
  std::vector<void*> dropped;
  for (uint64_t now = 0; now <= 5000; now += 100)
    t.tick(now, [&](uint16_t, be32, const Mac* uni) { EXPECT_EQ(uni, nullptr); ++requests; },
           [&](void* p) { dropped.push_back(p); });
  EXPECT_EQ(requests, 2);  // requests 2 and 3
  ASSERT_EQ(dropped.size(), 1u);
  EXPECT_EQ(t.lookup(0, ip(10, 0, 0, 9)), nullptr);
  // The next packet starts over.
  EXPECT_TRUE(t.resolve(0, ip(10, 0, 0, 9), 6000, &pkt[1]).request);
}

TEST(Neigh, StaleEntryIsUsedAndConfirmedByUnicast) {
  NeighOptions o;
  o.reachable_ms = 1000;
  NeighTable t(o);
  t.learn(0, ip(10, 0, 0, 2), kServer, 0, true, [](void*, const Mac&) {});
  int unicast = 0;
  auto req = [&](uint16_t, be32, const Mac* uni) { if (uni && *uni == kServer) ++unicast; };
  t.tick(1500, req, [](void*) {});
  EXPECT_EQ(t.lookup(0, ip(10, 0, 0, 2))->state, NeighState::Stale);
  auto r = t.resolve(0, ip(10, 0, 0, 2), 1600, &pkt[0]);
  EXPECT_EQ(r.outcome, NeighTable::Outcome::Ready);
  EXPECT_TRUE(r.request);
  t.tick(2700, req, [](void*) {});
  EXPECT_EQ(unicast, 1);  // the retransmission is unicast to the known MAC
  t.learn(0, ip(10, 0, 0, 2), kServer, 2800, false, [](void*, const Mac&) {});
  EXPECT_EQ(t.lookup(0, ip(10, 0, 0, 2))->state, NeighState::Reachable);
}

TEST(Neigh, StaleEntriesNobodyUsesAreForgotten) {
  NeighOptions o;
  o.reachable_ms = 1000;
  o.gc_stale_ms = 5000;
  NeighTable t(o);
  t.learn(0, ip(10, 0, 0, 3), kServer, 0, true, [](void*, const Mac&) {});
  uint64_t gen = t.generation();
  for (uint64_t now = 0; now <= 4900; now += 100) t.tick(now, [](uint16_t, be32, const Mac*) {}, [](void*) {});
  EXPECT_EQ(t.lookup(0, ip(10, 0, 0, 3))->state, NeighState::Stale);
  for (uint64_t now = 5000; now <= 5200; now += 100) t.tick(now, [](uint16_t, be32, const Mac*) {}, [](void*) {});
  EXPECT_EQ(t.lookup(0, ip(10, 0, 0, 3)), nullptr);
  EXPECT_EQ(t.size(), 0u);
  EXPECT_GT(t.generation(), gen);  // cached answers are dropped with it
}

TEST(Neigh, OnlyPacketsForUsCreateEntries) {
  NeighTable t;
  t.learn(0, ip(10, 0, 0, 7), kServer, 0, false, [](void*, const Mac&) {});
  EXPECT_EQ(t.lookup(0, ip(10, 0, 0, 7)), nullptr);
  t.learn(0, ip(10, 0, 0, 7), kServer, 0, true, [](void*, const Mac&) {});
  EXPECT_NE(t.lookup(0, ip(10, 0, 0, 7)), nullptr);
  EXPECT_EQ(t.lookup(1, ip(10, 0, 0, 7)), nullptr);  // per port
}

TEST(Neigh, FullTableRefusesNewAddresses) {
  NeighOptions o;
  o.capacity = 4;
  NeighTable t(o);
  for (uint8_t i = 1; i <= 4; ++i) EXPECT_EQ(t.resolve(0, ip(10, 0, 0, i), 0, &pkt[i]).outcome, NeighTable::Outcome::Queued);
  EXPECT_EQ(t.resolve(0, ip(10, 0, 0, 5), 0, &pkt[5]).outcome, NeighTable::Outcome::TableFull);
}

be32 nth(uint32_t i) { return ip(10, static_cast<uint8_t>(i >> 16), static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)); }

// Addresses that come and go leave nothing behind: a miss reads at most one slot more than
// there are live entries (with tombstones it read the whole table once enough had gone).
TEST(Neigh, MissesStayShortAfterManyInsertsAndRemovals) {
  NeighOptions o;
  o.capacity = 64;  // 128 slots
  o.max_probes = 1;
  o.retrans_ms = 1;
  o.sweep_ms = 1;
  NeighTable t(o);
  uint32_t next = 0;
  uint64_t now = 0;
  for (int cycle = 0; cycle < 2000; ++cycle) {
    for (int k = 0; k < 8; ++k) t.resolve(0, nth(next++), now, &pkt[0]);
    uint32_t live = t.size();
    uint32_t worst = 0;
    for (uint32_t m = 0; m < 64; ++m) worst = std::max(worst, t.probe_length(1, nth(1000000 + m)));
    ASSERT_LE(worst, live + 1) << "cycle " << cycle;
    // Nobody answers: each gives up after its one request and is removed.
    now += 2;
    t.tick(now, [](uint16_t, be32, const Mac*) {}, [](void*) {});
    ASSERT_EQ(t.size(), 0u) << "cycle " << cycle;
  }
  for (uint32_t m = 0; m < 64; ++m) EXPECT_EQ(t.probe_length(0, nth(1000000 + m)), 1u);
  // Entries that stay are still found after their neighbours left around them.
  for (int k = 0; k < 40; ++k) t.learn(0, nth(5000000 + k), kServer, now, true, [](void*, const Mac&) {});
  for (int k = 0; k < 40; k += 2) t.resolve(0, nth(6000000 + k), now, &pkt[0]);
  now += 2;
  t.tick(now, [](uint16_t, be32, const Mac*) {}, [](void*) {});
  EXPECT_EQ(t.size(), 40u);
  for (int k = 0; k < 40; ++k) EXPECT_NE(t.lookup(0, nth(5000000 + k)), nullptr);
}

// The timer walk does a bounded share of the table per call: 1000 entries due at once are
// retransmitted over one sweep, a few per millisecond, not all in the same call.
TEST(Neigh, TimersAreWalkedAFewSlotsPerCall) {
  NeighOptions o;
  o.capacity = 2048;  // 4096 slots
  o.retrans_ms = 1000;
  o.sweep_ms = 100;
  NeighTable t(o);
  for (uint32_t i = 0; i < 1000; ++i) t.resolve(0, nth(i), 0, &pkt[0]);
  t.tick(1, [](uint16_t, be32, const Mac*) {}, [](void*) {});
  int total = 0, most = 0;
  for (uint64_t now = 2; now <= 1000 + o.sweep_ms + 1; ++now) {
    int n = 0;
    t.tick(now, [&](uint16_t, be32, const Mac*) { ++n; }, [](void*) {});
    total += n;
    most = std::max(most, n);
  }
  EXPECT_EQ(total, 1000);  // every entry got its second request within a sweep of its time
  EXPECT_LE(most, 4096 / 100 + 1);
}

// Aging with the walk: reachable entries go stale, unused stale ones are forgotten, entries
// removed in the middle of a cluster do not hide the others from the walk.
TEST(Neigh, AgingExpiresEveryEntry) {
  NeighOptions o;
  o.capacity = 512;
  o.reachable_ms = 1000;
  o.gc_stale_ms = 5000;
  o.sweep_ms = 100;
  NeighTable t(o);
  for (uint32_t i = 0; i < 512; ++i) t.learn(0, nth(i), kServer, 0, true, [](void*, const Mac&) {});
  ASSERT_EQ(t.size(), 512u);
  uint64_t now = 1;
  auto run_until = [&](uint64_t end) {
    for (; now <= end; ++now) t.tick(now, [](uint16_t, be32, const Mac*) {}, [](void*) {});
  };
  run_until(1000 + o.sweep_ms + 1);
  int stale = 0;
  t.for_each([&](const NeighEntry& e) { stale += e.state == NeighState::Stale; });
  EXPECT_EQ(stale, 512);
  run_until(5000 + o.sweep_ms + 1);
  EXPECT_EQ(t.size(), 0u);
  int left = 0;
  t.for_each([&](const NeighEntry&) { ++left; });
  EXPECT_EQ(left, 0);
}

TEST(Arp, RequestParsesAndBecomesOurReply) {
  uint8_t f[64];
  arp_write_request(f, kServer, ip(172, 16, 0, 11), ip(10, 0, 0, 100));
  ArpView a;
  ASSERT_TRUE(arp_parse(f, 60, a));
  EXPECT_EQ(a.op, kArpRequest);
  EXPECT_EQ(a.spa, ip(172, 16, 0, 11));
  EXPECT_EQ(a.tpa, ip(10, 0, 0, 100));
  EXPECT_EQ(a.sha, kServer);
  arp_make_reply(f, a, kMine);
  ArpView r;
  ASSERT_TRUE(arp_parse(f, 60, r));
  EXPECT_EQ(r.op, kArpReply);
  EXPECT_EQ(r.sha, kMine);
  EXPECT_EQ(r.spa, ip(10, 0, 0, 100));
  EXPECT_EQ(r.tha, kServer);
  EXPECT_EQ(r.tpa, ip(172, 16, 0, 11));
  EXPECT_EQ(0, std::memcmp(f, kServer.b, 6));  // to the asker
  EXPECT_EQ(0, std::memcmp(f + 6, kMine.b, 6));
}

TEST(Arp, TruncatedOrForeignFramesAreRefused) {
  uint8_t f[64];
  arp_write_request(f, kServer, 1, 2);
  ArpView a;
  EXPECT_FALSE(arp_parse(f, 41, a));
  f[16] = 0x86;  // ptype not IPv4
  EXPECT_FALSE(arp_parse(f, 60, a));
}

}  // namespace
}  // namespace fulcrum::dp
