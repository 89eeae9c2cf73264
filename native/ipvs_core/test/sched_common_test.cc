// Rules every scheduler obeys (reference §2.0): quiesced (weight 0) and OVERLOAD dests never get
// a new connection, an empty service gets none; plus the threshold rules that set and clear
// OVERLOAD (§2.0, §8 fact 5) and the dispatcher's sync semantics.
#include "sched_test_util.h"

namespace fulcrum::test {
namespace {

constexpr SchedKind kAll[] = {SchedKind::Rr,   SchedKind::Wrr,   SchedKind::Lc,  SchedKind::Wlc,
                              SchedKind::Sed,  SchedKind::Nq,    SchedKind::Lblc, SchedKind::Lblcr,
                              SchedKind::Dh,   SchedKind::Sh,    SchedKind::Mh,  SchedKind::Fo,
                              SchedKind::Ovf,  SchedKind::Twos};

std::vector<SchedPacket> packets() {
  std::vector<SchedPacket> out;
  for (uint8_t i = 1; i <= 64; ++i) {
    SchedPacket p = from_client(v4(10, 7, i, i), uint16_t(1000 + i));
    p.daddr = v4(172, 20, i, 1);
    out.push_back(p);
  }
  return out;
}

class EveryScheduler : public ::testing::TestWithParam<SchedKind> {};

TEST_P(EveryScheduler, NeverPicksAQuiescedDest) {
  for (uint32_t flags : {0u, uint32_t{kSvcSched1}}) {
    Svc s(GetParam(), flags);
    s.add("A", 1);
    s.add("Z", 0);
    s.add("B", 2);
    for (const SchedPacket& p : packets()) EXPECT_NE(s.name(s.pick(p)), "Z");
  }
}

TEST_P(EveryScheduler, NeverPicksAnOverloadedDestForANewFlow) {
  Svc s(GetParam(), kSvcSched1);
  s.add("A", 1);
  s.add("O", 5);
  s.add("B", 2);
  s.L("O").overload = true;
  for (const SchedPacket& p : packets()) EXPECT_NE(s.name(s.pick(p)), "O");
}

TEST_P(EveryScheduler, EmptyOrAllQuiescedServiceHasNoDestination) {
  Svc s(GetParam(), kSvcSched1);
  EXPECT_EQ(s.pick(), kNoDest);
  s.add("A", 0);
  s.add("B", 0);
  for (const SchedPacket& p : packets()) EXPECT_EQ(s.pick(p), kNoDest);
}

TEST_P(EveryScheduler, FallbackOrLoadSchedulersFindTheOnlyUsableDest) {
  Svc s(GetParam(), kSvcSched1);
  for (int i = 0; i < 5; ++i) s.add("Q" + std::to_string(i), 0);
  s.add("U", 3);
  for (int i = 5; i < 9; ++i) s.add("Q" + std::to_string(i), 0);
  for (const SchedPacket& p : packets()) {
    const std::string got = s.name(s.pick(p));
    if (GetParam() == SchedKind::Dh)
      EXPECT_TRUE(got == "U" || got == "-");  // dh has no fallback
    else
      EXPECT_EQ(got, "U");
  }
}

INSTANTIATE_TEST_SUITE_P(AllKinds, EveryScheduler, ::testing::ValuesIn(kAll));

TEST(Sync, ANewSchedulerStartsFromFreshState) {
  Svc s(SchedKind::Rr);
  s.add("A", 1);
  s.add("B", 1);
  s.add("C", 1);
  EXPECT_EQ(s.seq(2), "C B");
  s.kind = SchedKind::Wrr;  // ipvsadm -E -s wrr: the new scheduler's init_service
  s.rebuild();
  EXPECT_EQ(s.seq(3), "C B A");
  EXPECT_EQ(s.state.cache, nullptr);
  s.kind = SchedKind::Lblc;
  s.rebuild();
  EXPECT_NE(s.state.cache, nullptr);
}

// ---- Thresholds ----

DestSnap thresholds(uint32_t upper, uint32_t lower) {
  DestSnap d;
  d.u_threshold = upper;
  d.l_threshold = lower;
  return d;
}

TEST(Overload, SetWhenActivePlusInactiveReachesTheUpperThreshold) {
  const DestSnap d = thresholds(10, 0);
  DestLoad l;
  l.active = 5;
  l.inactive = 4;
  l.persist = 100;  // templates are not counted
  overload_on_bind(d, l);
  EXPECT_FALSE(l.overload);
  l.inactive = 5;
  overload_on_bind(d, l);
  EXPECT_TRUE(l.overload);
}

TEST(Overload, NoUpperThresholdNeverSets) {
  DestLoad l;
  l.active = 1000000;
  overload_on_bind(thresholds(0, 0), l);
  EXPECT_FALSE(l.overload);
}

TEST(Overload, ClearsBelowTheLowerThreshold) {
  const DestSnap d = thresholds(10, 6);
  DestLoad l;
  l.overload = true;
  l.active = 6;
  overload_on_unbind(d, l);
  EXPECT_TRUE(l.overload);  // 6 is not below 6
  l.active = 5;
  overload_on_unbind(d, l);
  EXPECT_FALSE(l.overload);
}

TEST(Overload, WithoutALowerThresholdClearsBelowThreeQuartersOfTheUpper) {
  const DestSnap d = thresholds(10, 0);
  DestLoad l;
  l.overload = true;
  l.active = 4;
  l.inactive = 4;  // 8 * 4 = 32 >= 30
  overload_on_unbind(d, l);
  EXPECT_TRUE(l.overload);
  l.inactive = 3;  // 7 * 4 = 28 < 30
  overload_on_unbind(d, l);
  EXPECT_FALSE(l.overload);
  // Exactly 75 % does not clear.
  const DestSnap e = thresholds(8, 0);
  l.overload = true;
  l.active = 6;
  l.inactive = 0;  // 24 == 24
  overload_on_unbind(e, l);
  EXPECT_TRUE(l.overload);
  l.active = 5;
  overload_on_unbind(e, l);
  EXPECT_FALSE(l.overload);
}

TEST(Overload, WithoutThresholdsAnUnbindClears) {
  DestLoad l;
  l.overload = true;
  l.active = 99;
  overload_on_unbind(thresholds(0, 0), l);
  EXPECT_FALSE(l.overload);
}

TEST(Overload, EditingClearsWhenTheUpperThresholdIsDroppedOrRaised) {
  DestLoad l;
  l.overload = true;
  overload_on_edit(thresholds(10, 0), 10, l);  // unchanged
  EXPECT_TRUE(l.overload);
  overload_on_edit(thresholds(8, 0), 10, l);  // lowered
  EXPECT_TRUE(l.overload);
  overload_on_edit(thresholds(12, 0), 10, l);  // raised
  EXPECT_FALSE(l.overload);
  l.overload = true;
  overload_on_edit(thresholds(0, 0), 10, l);  // removed
  EXPECT_FALSE(l.overload);
}

}  // namespace
}  // namespace fulcrum::test
