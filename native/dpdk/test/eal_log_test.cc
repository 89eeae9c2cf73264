// DPDK's log as the control side receives it: whole lines, each with its message's level, the
// known harmless notices marked, and a bounded queue that counts what it could not keep.
#include <gtest/gtest.h>

#include "eal_log.h"

namespace fulcrum::dp {
namespace {

void put(EalLogQueue& q, const std::string& s, uint32_t level) { q.write(s.data(), s.size(), level); }

TEST(EalLog, WritesBecomeWholeLinesWithTheirMessagesLevel) {
  EalLogQueue q;
  put(q, "EAL: Detected ", 7);
  put(q, "2 lcore(s)\nEAL: Detected 1 NUMA", 7);
  put(q, " nodes\n", 6);
  put(q, "port 0: link down\nport 1: link up\n", 5);
  uint64_t dropped = 1;
  std::vector<EalLogLine> got = q.take(dropped);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].text, "EAL: Detected 2 lcore(s)");
  EXPECT_EQ(got[0].level, 7u);
  EXPECT_EQ(got[1].text, "EAL: Detected 1 NUMA nodes");
  EXPECT_EQ(got[1].level, 6u) << "a line takes the level of the write that ends it";
  EXPECT_EQ(got[2].text, "port 0: link down");
  EXPECT_EQ(got[3].level, 5u);
  EXPECT_EQ(dropped, 0u);
  EXPECT_TRUE(q.take(dropped).empty()) << "taken lines are gone";
}

TEST(EalLog, KnownNoticesThatReadLikeFailuresAreMarkedHarmless) {
  EalLogQueue q;
  const std::string lines =
      "qdisc_create_multiq(): Could not add multiq qdisc (-2): No such file or directory\n"
      "tap_mp_req_on_rxtx(): Failed to send start req to secondary 3\n"
      "EAL: Cannot open /dev/vfio/vfio: No such file or directory\n"
      "eth_dev_tap_create(): fk-out: failed to create multiq qdisc.\n";
  put(q, lines, 4);
  uint64_t dropped;
  std::vector<EalLogLine> got = q.take(dropped);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_TRUE(got[0].harmless);
  EXPECT_TRUE(got[1].harmless);
  EXPECT_FALSE(got[2].harmless);
  EXPECT_TRUE(got[3].harmless);
}

TEST(EalLog, ABoundedQueueCountsWhatItDropped) {
  EalLogQueue q;
  for (size_t i = 0; i < EalLogQueue::kMaxLines + 5; ++i) put(q, "x\n", 7);
  uint64_t dropped;
  EXPECT_EQ(q.take(dropped).size(), EalLogQueue::kMaxLines);
  EXPECT_EQ(dropped, 5u);
  put(q, "y\n", 7);
  EXPECT_EQ(q.take(dropped).size(), 1u);
  EXPECT_EQ(dropped, 0u) << "the count restarts once reported";
}

}  // namespace
}  // namespace fulcrum::dp
