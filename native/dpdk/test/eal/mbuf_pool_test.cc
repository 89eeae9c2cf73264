// The mbuf pool on 4 KiB pages (mbuf_pool.h), in a process of its own: EAL starts once per
// process, here without hugepages, as on a machine that has none. DPDK's own layout gives each
// mbuf a page at one fixed offset; the pool must pack them instead, so a burst's headers spread
// over the cache's sets, and every buffer must still lie whole inside its own mbuf.
#include <gtest/gtest.h>

#include <rte_eal.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <set>
#include <vector>

#include "mbuf_pool.h"

namespace fulcrum::dp {
namespace {

class MbufPool4k : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const char* argv[] = {"mbuf_pool_test", "--no-huge", "--no-shconf", "--no-pci", "-m", "64",
                          "--lcores", "0", "--log-level=error", nullptr};
    ASSERT_GE(rte_eal_init(9, const_cast<char**>(argv)), 0);
    ASSERT_EQ(rte_eal_has_hugepages(), 0);
  }
  static void TearDownTestSuite() { rte_eal_cleanup(); }
};

TEST_F(MbufPool4k, PacksMbufsAcrossPagesSoABurstSpreadsOverPageOffsets) {
  rte_mempool* mp = create_mbuf_pool("test_pack", 1023, 0);
  ASSERT_NE(mp, nullptr);
  std::vector<rte_mbuf*> m(32);
  ASSERT_EQ(rte_pktmbuf_alloc_bulk(mp, m.data(), 32), 0);
  std::set<uintptr_t> offsets;  // cache lines within a 4 KiB page
  for (rte_mbuf* x : m) offsets.insert((reinterpret_cast<uintptr_t>(x) & 4095) >> 6);
  // One mbuf per page puts all 32 at one offset; packed at 2,304+ bytes they take many.
  EXPECT_GE(offsets.size(), 8u);
  rte_pktmbuf_free_bulk(m.data(), 32);
  rte_mempool_free(mp);
}

TEST_F(MbufPool4k, EveryBufferLiesInsideItsMbufWithItsFullDataRoom) {
  rte_mempool* mp = create_mbuf_pool("test_room", 511, 0);
  ASSERT_NE(mp, nullptr);
  EXPECT_EQ(mp->size, 511u);
  EXPECT_EQ(rte_pktmbuf_data_room_size(mp), RTE_MBUF_DEFAULT_BUF_SIZE);
  std::vector<rte_mbuf*> m(511);
  ASSERT_EQ(rte_pktmbuf_alloc_bulk(mp, m.data(), 511), 0);
  std::set<uintptr_t> starts;
  for (rte_mbuf* x : m) {
    auto* obj = reinterpret_cast<uint8_t*>(x);
    auto* buf = static_cast<uint8_t*>(x->buf_addr);
    EXPECT_EQ(buf, obj + sizeof(rte_mbuf));
    EXPECT_EQ(x->buf_len, RTE_MBUF_DEFAULT_BUF_SIZE);
    EXPECT_EQ(rte_pktmbuf_headroom(x), RTE_PKTMBUF_HEADROOM);
    EXPECT_EQ(x->pool, mp);
    starts.insert(reinterpret_cast<uintptr_t>(obj));
  }
  // No two mbufs overlap: sorted, each starts after the previous one's buffer ends.
  uintptr_t end = 0;
  for (uintptr_t s : starts) {
    EXPECT_GE(s, end);
    end = s + sizeof(rte_mbuf) + RTE_MBUF_DEFAULT_BUF_SIZE;
  }
  rte_pktmbuf_free_bulk(m.data(), 511);
  rte_mempool_free(mp);
}

}  // namespace
}  // namespace fulcrum::dp
