// Specification of the FullNAT local address/port pool: leases unique per address, reply
// lookup, exhaustion and release (FIFO reuse), rotation across addresses, and the port shares
// (range and low-bit splits) that let replies be steered back to the owning worker.
#include <gtest/gtest.h>

#include <set>
#include <utility>
#include <vector>

#include "fnat_pool.h"

namespace fulcrum {
namespace {

constexpr be32 ip(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return static_cast<be32>(a) | static_cast<be32>(b) << 8 | static_cast<be32>(c) << 16 | static_cast<be32>(d) << 24;
}

const be32 kL1 = ip(10, 9, 0, 1), kL2 = ip(10, 9, 0, 2);

TEST(FnatPool, LeasesAreFoundByLocalAddressAndPortUntilReleased) {
  FnatPool p({kL1, kL2}, 2000, 2999);
  EXPECT_TRUE(p.has_addrs());
  EXPECT_EQ(p.addr_count(), 2u);
  EXPECT_EQ(p.laddr_index(kL1), 0);
  EXPECT_EQ(p.laddr_index(kL2), 1);
  EXPECT_EQ(p.laddr_index(ip(10, 9, 0, 3)), -1);
  EXPECT_EQ(p.laddr(1), kL2);
  EXPECT_EQ(p.ports_per_addr(), 1000u);
  EXPECT_EQ(p.free_count(), 2000u);

  uint8_t la;
  be16 lp;
  ASSERT_TRUE(p.alloc(77, la, lp));
  uint16_t hp = ntoh16(lp);
  EXPECT_GE(hp, 2000);
  EXPECT_LE(hp, 2999);
  EXPECT_EQ(p.lookup(p.laddr(la), lp), 77u);
  EXPECT_EQ(p.lookup_at(la, lp), 77u);
  EXPECT_EQ(p.lookup(p.laddr(la ^ 1), lp), FnatPool::kNone);  // same port on the other address: free
  EXPECT_EQ(p.lookup(ip(1, 1, 1, 1), lp), FnatPool::kNone);
  EXPECT_EQ(p.lookup(p.laddr(la), hton16(1999)), FnatPool::kNone);  // not in the share
  EXPECT_EQ(p.free_count(), 1999u);

  EXPECT_TRUE(p.release(la, lp));
  EXPECT_EQ(p.lookup(p.laddr(la), lp), FnatPool::kNone);
  EXPECT_FALSE(p.release(la, lp));             // twice: refused
  EXPECT_FALSE(p.release(la, hton16(1999)));   // not ours
  EXPECT_FALSE(p.release(5, hton16(2000)));    // no such address
  EXPECT_EQ(p.free_count(), 2000u);
}

TEST(FnatPool, AllocationAlternatesAddressesAndNeverHandsOutAPairTwice) {
  FnatPool p({kL1, kL2}, 40000, 40099);
  std::set<std::pair<uint8_t, be16>> held;
  uint8_t last = 0xff;
  for (uint32_t i = 0; i < 200; ++i) {
    FnatPool::Lease l = p.alloc(i);
    ASSERT_TRUE(l.ok) << i;
    EXPECT_NE(l.laddr, last);  // rotates across addresses
    last = l.laddr;
    EXPECT_TRUE(held.insert({l.laddr, l.lport}).second) << i;
    EXPECT_EQ(p.lookup_at(l.laddr, l.lport), i);
  }
  // Exhausted: the engine counts the drop.
  uint8_t la;
  be16 lp;
  EXPECT_FALSE(p.alloc(999, la, lp));
  EXPECT_FALSE(p.alloc(999).ok);
  EXPECT_EQ(p.free_count(), 0u);

  // One port back: it is the one handed out next.
  auto [ra, rp] = *held.begin();
  uint32_t owner = p.lookup_at(ra, rp);
  EXPECT_TRUE(p.release(ra, rp));
  FnatPool::Lease l = p.alloc(owner + 1000);
  ASSERT_TRUE(l.ok);
  EXPECT_EQ(l.laddr, ra);
  EXPECT_EQ(l.lport, rp);
  EXPECT_EQ(p.lookup_at(ra, rp), owner + 1000);
}

TEST(FnatPool, AReleasedPortWaitsBehindTheOtherFreePorts) {
  FnatPool p({kL1}, 5000, 5009);  // 10 ports
  FnatPool::Lease first = p.alloc(1);
  ASSERT_TRUE(first.ok);
  p.release(first.laddr, first.lport);
  std::vector<be16> order;
  for (int i = 0; i < 10; ++i) order.push_back(p.alloc(100 + i).lport);
  EXPECT_EQ(order.back(), first.lport);  // reused last (TIME_WAIT on the server side)
  EXPECT_EQ(std::set<be16>(order.begin(), order.end()).size(), 10u);
}

TEST(FnatPool, LowBitSharesSteerAndPartitionThePorts) {
  const uint16_t mask = 0x3;
  std::set<uint16_t> all;
  for (uint16_t w = 0; w < 4; ++w) {
    FnatPool p({kL1}, 1024, 65535, mask, w);
    EXPECT_EQ(p.ports_per_addr(), (65536u - 1024u) / 4);
    for (uint32_t i = 0; i < p.ports_per_addr(); ++i) {
      FnatPool::Lease l = p.alloc(i);
      ASSERT_TRUE(l.ok);
      uint16_t hp = ntoh16(l.lport);
      ASSERT_EQ(hp & mask, w);
      ASSERT_GE(hp, 1024);
      ASSERT_TRUE(all.insert(hp).second) << "port " << hp << " in two workers' shares";
      ASSERT_TRUE(p.owns_port(l.lport));
    }
    EXPECT_FALSE(p.alloc(0).ok);
    EXPECT_FALSE(p.owns_port(hton16(static_cast<uint16_t>(1024 + ((w + 1) & mask)))));
  }
  EXPECT_EQ(all.size(), 65536u - 1024u);
}

TEST(FnatPool, RangeSharesDoNotOverlap) {
  FnatPool a({kL1}, 1024, 33279), b({kL1}, 33280, 65535);
  EXPECT_EQ(a.ports_per_addr() + b.ports_per_addr(), 65536u - 1024u);
  EXPECT_TRUE(a.owns_port(hton16(33279)));
  EXPECT_FALSE(a.owns_port(hton16(33280)));
  EXPECT_TRUE(b.owns_port(hton16(33280)));
  EXPECT_TRUE(b.owns_port(hton16(65535)));
}

TEST(FnatPool, PortZeroIsNeverLeased) {
  FnatPool p({kL1}, 0, 3);
  EXPECT_EQ(p.ports_per_addr(), 3u);
  EXPECT_FALSE(p.owns_port(0));
  for (int i = 0; i < 3; ++i) EXPECT_NE(p.alloc(i).lport, 0);
}

TEST(FnatPool, ManyAddressesAreIndexedAndZerosAndDuplicatesIgnored) {
  std::vector<be32> v;
  for (uint32_t i = 1; i <= 300; ++i) v.push_back(ip(10, 8, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)));
  v.push_back(0);
  v.push_back(v[3]);
  FnatPool p(v, 1024, 1100);
  EXPECT_EQ(p.addr_count(), 256u);
  for (uint32_t i = 0; i < 256; ++i) {
    EXPECT_EQ(p.laddr_index(v[i]), static_cast<int>(i));
    EXPECT_EQ(p.laddr(static_cast<uint8_t>(i)), v[i]);
  }
  EXPECT_EQ(p.laddr_index(v[280]), -1);
  EXPECT_EQ(p.laddr_index(0), -1);
}

TEST(FnatPool, NoAddressesNoLeasesAndNoPortMaps) {
  FnatPool p({}, 1024, 65535);
  EXPECT_FALSE(p.has_addrs());
  EXPECT_EQ(p.laddr_index(kL1), -1);
  EXPECT_EQ(p.lookup(kL1, hton16(2000)), FnatPool::kNone);
  EXPECT_EQ(p.lookup_at(0, hton16(2000)), FnatPool::kNone);
  EXPECT_FALSE(p.alloc(1).ok);
  uint8_t li = 0;
  EXPECT_FALSE(p.claim(1, kL1, hton16(2000), li));
  EXPECT_FALSE(p.release(0, hton16(2000)));
  EXPECT_FALSE(p.owns_port(hton16(2000)));
  // Every worker has a pool per family, most without FullNAT: those keep nothing per port.
  EXPECT_LT(p.memory_bytes(), 1024u);
  // An empty share (mask/value that nothing satisfies) leases nothing either.
  FnatPool q({kL1}, 1024, 1031, 0xf, 0xc);  // 1024..1031 have low nibble 0..7
  EXPECT_EQ(q.ports_per_addr(), 0u);
  EXPECT_FALSE(q.alloc(1).ok);
}

}  // namespace
}  // namespace fulcrum
