// The workers' seeds (seed.h) as specifications: a secret per start, a seed per worker.
#include <gtest/gtest.h>

#include <set>

#include "conn_table.h"
#include "seed.h"

namespace fulcrum::dp {
namespace {

TEST(Seed, EveryStartDrawsANewSecret) {
  std::set<uint64_t> drawn;
  for (int i = 0; i < 64; ++i) drawn.insert(draw_secret());
  EXPECT_EQ(drawn.size(), 64u);
  EXPECT_EQ(drawn.count(0), 0u);
}

TEST(Seed, EachWorkerHasItsOwnSeedAndAFixedSecretRepeatsThem) {
  const uint64_t secret = 0x1234;
  std::set<uint64_t> seeds;
  for (uint32_t w = 0; w < 128; ++w) {
    uint64_t s = worker_seed(secret, w);
    EXPECT_NE(s, 0u) << "0 would make the core draw a seed of its own";
    EXPECT_EQ(s, worker_seed(secret, w)) << "a test that fixes the secret gets the same run";
    seeds.insert(s);
  }
  EXPECT_EQ(seeds.size(), 128u);
  EXPECT_NE(worker_seed(secret, 0), worker_seed(secret + 1, 0));
}

// What the secret is for: flows crafted against one seed share a bucket there, and scatter
// under another.
TEST(Seed, FlowsCraftedAgainstOneSeedScatterUnderAnother) {
  ConnTable::Options o;
  o.capacity = 1u << 14;
  o.seed = worker_seed(1, 0);
  const ConnTable known(o);
  o.seed = worker_seed(draw_secret(), 0);
  const ConnTable secret(o);
  std::set<uint32_t> buckets;
  uint32_t crafted = 0;
  for (uint32_t a = 1; crafted < 200; ++a) {
    const be32 addr = hton32(0x0b000000u | a);
    if (known.home_bucket(known.hash(kProtoTcp, addr, hton16(4000))) != 0) continue;
    ++crafted;
    buckets.insert(secret.home_bucket(secret.hash(kProtoTcp, addr, hton16(4000))));
  }
  EXPECT_GT(buckets.size(), 150u) << "200 flows of one bucket under the known seed";
}

}  // namespace
}  // namespace fulcrum::dp
