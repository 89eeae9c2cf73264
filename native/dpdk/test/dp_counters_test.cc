// The dataplane's counter names against the packet core's: readers (stats, metrics) merge
// them into one `drops` and one `events` map by name, so a shared name would make one
// overwrite the other.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "dp_counters.h"
#include "drop_reason.h"
#include "stats.h"

namespace fulcrum::dp {
namespace {

TEST(DpCounters, NamesAreDisjointFromTheCoresDropsAndEvents) {
  std::set<std::string> core;
  for (unsigned i = 0; i < static_cast<unsigned>(DropReason::kCount); ++i)
    core.insert(drop_reason_name(static_cast<DropReason>(i)));
  for (unsigned i = 0; i < static_cast<unsigned>(Event::Count); ++i) core.insert(event_name(static_cast<Event>(i)));
  std::set<std::string> mine;
  for (unsigned i = 0; i < kDpCounterCount; ++i) {
    std::string n = dp_counter_name(i);
    EXPECT_EQ(core.count(n), 0u) << n << " is also a packet core counter";
    EXPECT_TRUE(mine.insert(n).second) << n << " twice";
  }
  EXPECT_STREQ(dp_counter_name(static_cast<unsigned>(DpCounter::ToTap)), "to_tap");
}

}  // namespace
}  // namespace fulcrum::dp
