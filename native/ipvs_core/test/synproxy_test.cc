// The SYN proxy's pieces on their own: cookies (what they accept and refuse), the side table of
// proxied connections (open addressing with backward-shift deletion), the half-open ring.
#include <algorithm>
#include <random>
#include <set>

#include <gtest/gtest.h>

#include "half_open.h"
#include "synproxy.h"

namespace fulcrum {
namespace {

TEST(SynCookie, ValidForItsTupleAndIsnForOneBucketMoreAndCarriesTheMssIndex) {
  const be32 s = hton32(0xac100514), d = hton32(0x0a000001);
  const be16 sp = hton16(40000), dp = hton16(80);
  for (uint32_t mi = 0; mi < 4; ++mi) {
    const uint32_t now = 123456;
    const uint32_t c = syn_cookie(7, s, d, sp, dp, 1000, mi, now);
    EXPECT_EQ(check_syn_cookie(7, s, d, sp, dp, 1000, c, now), int(mi));
    EXPECT_EQ(check_syn_cookie(7, s, d, sp, dp, 1000, c, now + kCookieBucketTicks), int(mi)) << "one bucket late";
    EXPECT_EQ(check_syn_cookie(7, s, d, sp, dp, 1000, c, now + 2 * kCookieBucketTicks), -1) << "too old";
    EXPECT_EQ(check_syn_cookie(8, s, d, sp, dp, 1000, c, now), -1) << "another secret";
    EXPECT_EQ(check_syn_cookie(7, s, d, hton16(40001), dp, 1000, c, now), -1) << "another port";
    // (As the kernel's: an ISN a few below reads as a lower MSS index; the ISN is the client's own.)
    EXPECT_EQ(check_syn_cookie(7, s, d, sp, dp, 1100, c, now), -1) << "another ISN";
  }
}

TEST(SynCookie, GuessesAlmostNeverPass) {
  const be32 s = hton32(0xac100514), d = hton32(0x0a000001);
  std::mt19937 rng(3);
  int passed = 0;
  for (int i = 0; i < 1000000; ++i) passed += check_syn_cookie(7, s, d, hton16(1), hton16(80), 5, rng(), 99999) >= 0;
  EXPECT_LE(passed, 2) << "about 4 in 2^24 of the cookies of one bucket, 2 buckets: ~0.5 in a million";
}

TEST(SynCookie6, ValidForItsTupleAndIsnForOneBucketMoreAndCarriesTheMssIndex) {
  uint8_t s[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
  uint8_t d[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0};
  const be16 sp = hton16(40000), dp = hton16(80);
  for (uint32_t mi = 0; mi < 4; ++mi) {
    const uint32_t now = 123456;
    const uint32_t c = syn_cookie6(7, s, d, sp, dp, 1000, mi, now);
    EXPECT_EQ(check_syn_cookie6(7, s, d, sp, dp, 1000, c, now), int(mi));
    EXPECT_EQ(check_syn_cookie6(7, s, d, sp, dp, 1000, c, now + kCookieBucketTicks), int(mi)) << "one bucket late";
    EXPECT_EQ(check_syn_cookie6(7, s, d, sp, dp, 1000, c, now + 2 * kCookieBucketTicks), -1) << "too old";
    EXPECT_EQ(check_syn_cookie6(8, s, d, sp, dp, 1000, c, now), -1) << "another secret";
    EXPECT_EQ(check_syn_cookie6(7, s, d, hton16(40001), dp, 1000, c, now), -1) << "another port";
    EXPECT_EQ(check_syn_cookie6(7, s, d, sp, dp, 1100, c, now), -1) << "another ISN";
    EXPECT_EQ(check_syn_cookie6(7, d, s, dp, sp, 1000, c, now), -1) << "the reverse direction";
  }
}

TEST(SynCookie6, EveryBitOfBothAddressesCounts) {
  uint8_t s[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
  uint8_t d[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0};
  const uint32_t c = syn_cookie6(7, s, d, hton16(1), hton16(80), 5, 3, 99999);
  int passed = 0;
  for (int bit = 0; bit < 256; ++bit) {
    uint8_t* a = bit < 128 ? s : d;
    a[(bit % 128) / 8] ^= uint8_t(1u << (bit % 8));
    passed += check_syn_cookie6(7, s, d, hton16(1), hton16(80), 5, c, 99999) >= 0;
    a[(bit % 128) / 8] ^= uint8_t(1u << (bit % 8));
  }
  EXPECT_EQ(passed, 0);
  EXPECT_EQ(check_syn_cookie6(7, s, d, hton16(1), hton16(80), 5, c, 99999), 3);
  // An IPv4-mapped address does not share the IPv4 cookie of the same address.
  const be32 s4 = hton32(0xc6120001), d4 = hton32(0x0a000001);
  uint8_t ms[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xc6, 0x12, 0, 1};
  uint8_t md[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0x0a, 0, 0, 1};
  EXPECT_EQ(check_syn_cookie6(7, ms, md, hton16(1), hton16(80), 5, syn_cookie(7, s4, d4, hton16(1), hton16(80), 5, 0, 99999), 99999), -1);
}

TEST(SynCookie6, GuessesAlmostNeverPass) {
  uint8_t s[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1};
  uint8_t d[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0};
  std::mt19937 rng(3);
  int passed = 0;
  for (int i = 0; i < 1000000; ++i) passed += check_syn_cookie6(7, s, d, hton16(1), hton16(80), 5, rng(), 99999) >= 0;
  EXPECT_LE(passed, 2);
}

TEST(SynProxyTable, FindsWhatItHoldsAfterAnyEraseOrder) {
  SynProxyTable t(4096);
  std::mt19937 rng(1);
  std::set<uint32_t> in;
  for (int i = 0; i < 4000; ++i) {
    uint32_t idx = rng() % 100000;
    if (in.count(idx)) continue;
    ASSERT_NE(t.insert(idx, idx * 3), nullptr);
    in.insert(idx);
  }
  std::vector<uint32_t> order(in.begin(), in.end());
  std::shuffle(order.begin(), order.end(), rng);
  for (size_t k = 0; k < order.size(); ++k) {
    if (k % 2 == 0) {
      t.erase(order[k]);
      in.erase(order[k]);
    }
  }
  EXPECT_EQ(t.size(), in.size());
  for (uint32_t idx : in) {
    SynProxyTable::Entry* e = t.find(idx);
    ASSERT_NE(e, nullptr) << idx;
    EXPECT_EQ(e->cookie, idx * 3);
  }
  for (size_t k = 0; k < order.size(); k += 2) EXPECT_EQ(t.find(order[k]), nullptr);
}

TEST(SynProxyTable, RefusesPastHalfItsEntries) {
  SynProxyTable t(100);  // 256 entries: 128 held at most
  uint32_t held = 0;
  for (uint32_t i = 0; i < 1000; ++i) held += t.insert(i, 0) != nullptr;
  EXPECT_EQ(held, 128u);
}

TEST(HalfOpenRing, HoldsAtLeastTheBudgetAndGivesBackWhatWasPushedInOrder) {
  HalfOpenRing r(100, 1u << 20);
  EXPECT_EQ(r.capacity(), 128u);
  for (uint32_t i = 0; i < 128; ++i) r.push(i * 1000, uint64_t{i} << 8);
  EXPECT_TRUE(r.full());
  for (uint32_t i = 0; i < 128; ++i) {
    EXPECT_EQ(r.front_idx(), i * 1000);
    HalfOpenRing::Entry e = r.pop();
    EXPECT_EQ(e.idx, i * 1000);
    EXPECT_TRUE(r.same_key(e, uint64_t{i} << 8));
    EXPECT_FALSE(r.same_key(e, uint64_t{i + 1} << 8));
  }
  EXPECT_TRUE(r.empty());
}

}  // namespace
}  // namespace fulcrum
