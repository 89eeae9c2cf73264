// Specification of the load-based schedulers lc, wlc, sed, nq, fo, ovf and twos (reference
// §2.3–2.9): their overhead formulas, strict comparisons (ties to the newer dest), and skips.
#include "sched/internal.h"
#include "sched_test_util.h"

namespace fulcrum::test {
namespace {

void set(DestLoad& l, uint32_t active, uint32_t inactive) {
  l.active = active;
  l.inactive = inactive;
}

TEST(Lc, OverheadIsActiveTimes256PlusInactive) {
  Svc s(SchedKind::Lc);
  s.add("A", 1);
  s.add("B", 1);  // B A
  set(s.L("B"), 1, 0);    // 256
  set(s.L("A"), 0, 255);  // 255
  EXPECT_EQ(s.name(s.pick()), "A");
  set(s.L("A"), 0, 256);  // tie: the newer dest (B) wins
  EXPECT_EQ(s.name(s.pick()), "B");
}

TEST(Lc, WeightOnlyMattersAsZeroOrNot) {
  Svc s(SchedKind::Lc);
  s.add("A", 100);
  s.add("B", 1);
  s.add("Z", 0);
  set(s.L("A"), 2, 0);
  set(s.L("B"), 1, 0);
  EXPECT_EQ(s.name(s.pick()), "B");  // wlc would pick A (2/100 < 1/1)
  s.L("B").overload = true;
  EXPECT_EQ(s.name(s.pick()), "A");  // Z is idle but quiesced
}

TEST(Wlc, CrossMultipliesAndTiesGoToTheNewerDest) {
  Svc s(SchedKind::Wlc);
  s.add("A", 2);
  s.add("B", 1);  // B A
  set(s.L("B"), 1, 0);  // 256 / 1
  set(s.L("A"), 2, 0);  // 512 / 2: tie
  EXPECT_EQ(s.name(s.pick()), "B");
  set(s.L("A"), 2, 1);  // 513 / 2 > 256 / 1
  EXPECT_EQ(s.name(s.pick()), "B");
  set(s.L("A"), 1, 255);  // 511 / 2 < 256 / 1
  EXPECT_EQ(s.name(s.pick()), "A");
}

TEST(Wlc, QuiescedNeverWinsEvenWhenIdleAndOverloadedIsSkipped) {
  Svc s(SchedKind::Wlc);
  s.add("A", 1);
  s.add("Z", 0);
  s.add("O", 5);  // O Z A
  set(s.L("A"), 50, 50);
  s.L("O").overload = true;
  EXPECT_EQ(s.name(s.pick()), "A");
  s.L("A").overload = true;
  EXPECT_EQ(s.pick(), kNoDest);
}

TEST(Wlc, ComparesIn64Bits) {
  Svc s(SchedKind::Wlc);
  s.add("A", 1000);
  s.add("B", 999);  // B A
  set(s.L("B"), 7800000, 0);  // 1'996'800'000 / 999  = 1998798.8
  set(s.L("A"), 7810000, 0);  // 1'999'360'000 / 1000 = 1999360.0
  // 32-bit products would wrap; the exact ratio favours B.
  EXPECT_EQ(s.name(s.pick()), "B");
  set(s.L("A"), 7800000, 0);  // 1'996'800'000 / 1000 < B's
  EXPECT_EQ(s.name(s.pick()), "A");
}

TEST(Sed, UsesActivePlusOneAndIgnoresInactive) {
  Svc s(SchedKind::Sed);
  s.add("A", 3);
  s.add("B", 1);  // B A
  set(s.L("B"), 0, 1000);  // (0+1)/1 = 1
  set(s.L("A"), 1, 0);     // (1+1)/3 = 0.67
  EXPECT_EQ(s.name(s.pick()), "A");
  set(s.L("A"), 2, 0);  // 3/3 = 1: tie -> B
  EXPECT_EQ(s.name(s.pick()), "B");
}

TEST(Nq, TheFirstIdleDestWinsAtOnce) {
  Svc s(SchedKind::Nq);
  s.add("A", 100);
  s.add("B", 1);  // B A
  set(s.L("B"), 0, 500);  // idle (no active), whatever its inactive count
  EXPECT_EQ(s.name(s.pick()), "B");
  set(s.L("B"), 1, 0);
  set(s.L("A"), 0, 0);
  EXPECT_EQ(s.name(s.pick()), "A");
}

TEST(Nq, IdleButQuiescedOrOverloadedDoesNotCountAndBusyFallsBackToSed) {
  Svc s(SchedKind::Nq);
  s.add("A", 3);
  s.add("B", 1);
  s.add("Z", 0);  // Z B A
  s.add("O", 1);  // O Z B A
  s.L("O").overload = true;
  set(s.L("B"), 1, 0);  // 2/1
  set(s.L("A"), 4, 0);  // 5/3
  EXPECT_EQ(s.name(s.pick()), "A");
  set(s.L("A"), 5, 0);  // 6/3 = 2: tie -> B
  EXPECT_EQ(s.name(s.pick()), "B");
}

TEST(Fo, HighestWeightWinsTiesToTheNewerDest) {
  Svc s(SchedKind::Fo);
  s.add("A", 5);
  s.add("B", 5);
  s.add("C", 3);  // C B A
  set(s.L("B"), 1000, 1000);  // load is irrelevant
  EXPECT_EQ(s.name(s.pick()), "B");
  s.L("B").overload = true;
  EXPECT_EQ(s.name(s.pick()), "A");
  s.L("A").overload = true;
  EXPECT_EQ(s.name(s.pick()), "C");
  s.set_weight("C", 0);
  EXPECT_EQ(s.pick(), kNoDest);
}

TEST(Ovf, OverflowsWhenActiveExceedsWeight) {
  Svc s(SchedKind::Ovf);
  s.add("A", 3);
  s.add("B", 2);  // B A
  set(s.L("A"), 3, 100);  // active <= weight: still A (inactive does not count)
  EXPECT_EQ(s.name(s.pick()), "A");
  set(s.L("A"), 4, 0);
  EXPECT_EQ(s.name(s.pick()), "B");
  set(s.L("B"), 3, 0);
  EXPECT_EQ(s.pick(), kNoDest);
}

TEST(Ovf, TiesGoToTheNewerDestAndQuiescedIsSkipped) {
  Svc s(SchedKind::Ovf);
  s.add("A", 2);
  s.add("B", 2);
  s.add("Z", 0);  // Z B A
  EXPECT_EQ(s.name(s.pick()), "B");
}

// An independent statement of the twos rule: two draws in [0, total], walk subtracting weights,
// the first dest where each running value is <= 0; keep choice 1 unless choice 2 is strictly
// less loaded per weight.
DestId twos_expected(Svc& s, uint64_t rng) {
  SchedState probe(rng);
  const uint32_t x1 = sched_detail::rng_next32(probe), x2 = sched_detail::rng_next32(probe);
  int64_t total = 0;
  std::vector<DestId> usable;
  for (DestId d : s.order)
    if (!s.load[d].overload && s.dests[d].weight > 0) {
      total += s.dests[d].weight;
      usable.push_back(d);
    }
  if (usable.empty()) return kNoDest;
  int64_t r1 = x1 % (total + 1), r2 = x2 % (total + 1);
  DestId c1 = kNoDest, c2 = kNoDest;
  for (DestId d : usable) {
    r1 -= s.dests[d].weight;
    r2 -= s.dests[d].weight;
    if (r1 <= 0 && c1 == kNoDest) c1 = d;
    if (r2 <= 0 && c2 == kNoDest) c2 = d;
  }
  auto oh = [&](DestId d) { return int64_t{s.load[d].active} * 256 + s.load[d].inactive; };
  return s.dests[c2].weight * oh(c1) > s.dests[c1].weight * oh(c2) ? c2 : c1;
}

TEST(Twos, FollowsTheWeightedTwoChoiceRuleWithTheStatesRng) {
  Svc s(SchedKind::Twos, 0, /*seed=*/12345);
  s.add("A", 1);
  s.add("B", 3);
  s.add("Z", 0);
  s.add("C", 2);  // C Z B A
  set(s.L("A"), 0, 3);
  set(s.L("B"), 2, 0);
  set(s.L("C"), 1, 7);
  for (int i = 0; i < 2000; ++i) {
    const uint64_t before = s.state.rng;
    const DestId want = twos_expected(s, before);
    ASSERT_EQ(s.pick(), want) << "draw " << i;
    ASSERT_NE(want, s.id("Z"));
    s.load[want].inactive++;  // let the loads drift
  }
}

TEST(Twos, SameSeedSameChoicesAndIdleDestsFollowTheirWeights) {
  Svc a(SchedKind::Twos, 0, 7), b(SchedKind::Twos, 0, 7);
  for (Svc* s : {&a, &b}) {
    s->add("A", 1);
    s->add("B", 3);
  }
  int count_b = 0;
  for (int i = 0; i < 4000; ++i) {
    const DestId x = a.pick();
    ASSERT_EQ(x, b.pick());
    count_b += x == a.id("B");
  }
  // With no load choice 1 always stands: B is hit for draws 0..3 of 0..4 (80 %).
  EXPECT_NEAR(count_b / 4000.0, 0.8, 0.03);
}

TEST(Twos, NothingUsableMeansNoDestination) {
  Svc s(SchedKind::Twos);
  s.add("A", 0);
  s.add("B", 2);
  s.L("B").overload = true;
  EXPECT_EQ(s.pick(), kNoDest);
}

}  // namespace
}  // namespace fulcrum::test
