// Specification of rr and wrr (reference §2.1, §2.2; kernel ip_vs_rr.c, ip_vs_wrr.c): rotation
// over the newest-first list, the cursor's fate when dests change, and wrr's weighted passes.
#include "sched_test_util.h"

namespace fulcrum::test {
namespace {

TEST(Rr, RotatesOverTheListNewestFirst) {
  Svc s(SchedKind::Rr);
  s.add("A", 1);
  s.add("B", 1);
  s.add("C", 1);  // list is C B A
  EXPECT_EQ(s.seq(7), "C B A C B A C");
}

TEST(Rr, SkipsQuiescedAndOverloadedDests) {
  Svc s(SchedKind::Rr);
  s.add("A", 1);
  s.add("B", 0);
  s.add("C", 1);
  s.L("A").overload = true;
  EXPECT_EQ(s.seq(3), "C C C");
  s.L("A").overload = false;
  EXPECT_EQ(s.seq(3), "A C A");
}

TEST(Rr, NoDestinationWhenNothingIsUsable) {
  Svc s(SchedKind::Rr);
  EXPECT_EQ(s.pick(), kNoDest);
  s.add("A", 0);
  s.add("B", 1);
  s.L("B").overload = true;
  EXPECT_EQ(s.pick(), kNoDest);
}

TEST(Rr, DeletingTheCursorsDestStepsBackToItsPredecessor) {
  Svc s(SchedKind::Rr);
  s.add("A", 1);
  s.add("B", 1);
  s.add("C", 1);
  s.add("D", 1);  // D C B A
  EXPECT_EQ(s.seq(2), "D C");  // cursor on C
  s.del("C");                  // cursor -> D, so the rotation continues with B
  EXPECT_EQ(s.seq(4), "B A D B");
}

TEST(Rr, DeletingTheFirstDestUnderTheCursorReturnsToTheHead) {
  Svc s(SchedKind::Rr);
  s.add("A", 1);
  s.add("B", 1);
  s.add("C", 1);  // C B A
  EXPECT_EQ(s.seq(1), "C");
  s.del("C");  // predecessor is the list head
  EXPECT_EQ(s.seq(3), "B A B");
}

TEST(Rr, AddingADestDoesNotMoveTheCursor) {
  Svc s(SchedKind::Rr);
  s.add("A", 1);
  s.add("B", 1);  // B A
  EXPECT_EQ(s.seq(1), "B");
  s.add("C", 1);  // C B A, cursor still on B
  EXPECT_EQ(s.seq(4), "A C B A");
}

TEST(Rr, DeletingAnotherDestKeepsTheCursor) {
  Svc s(SchedKind::Rr);
  s.add("A", 1);
  s.add("B", 1);
  s.add("C", 1);  // C B A
  EXPECT_EQ(s.seq(2), "C B");
  s.del("A");
  EXPECT_EQ(s.seq(3), "C B C");
}

// wrr bound to a service that already has its dests (-E) starts at cw = mw (init_service).
TEST(Wrr, ThreeToOne) {
  Svc s(SchedKind::Wrr);
  s.defer();
  s.add("A", 3);
  s.add("B", 1);  // B A
  s.start();
  EXPECT_EQ(s.seq(12), "A A B A A A B A A A B A");
}

TEST(Wrr, SixFourTwoRunsPassesAtMwMinusDi) {
  Svc s(SchedKind::Wrr);
  s.defer();
  s.add("A", 6);
  s.add("B", 4);
  s.add("C", 2);  // C B A, di = 2, mw = 5: passes at cw 5, 3, 1
  s.start();
  EXPECT_EQ(s.tables.wrr_di, 2);
  EXPECT_EQ(s.tables.wrr_mw, 5);
  EXPECT_EQ(s.seq(12), "A B A C B A A B A C B A");
}

// Created empty and filled one dest at a time (ipvsadm -A, then -a, -a): each add applies the
// change rule. After A=3 alone, di = 3 and mw = 1, so cw = 1; adding B keeps cw = 1, and the
// first pass is the cw = 1 pass. Same cycle, different phase.
TEST(Wrr, DestsAddedOneByOneStartInTheLowestPass) {
  Svc s(SchedKind::Wrr);
  s.add("A", 3);
  EXPECT_EQ(s.state.cw, 1);
  s.add("B", 1);
  EXPECT_EQ(s.state.cw, 1);
  EXPECT_EQ(s.seq(12), "B A A A B A A A B A A A");
}

// The same dests arriving with the service in one change (config load, fvsadm -R) start as the
// ipvsadm lines would: the one-by-one sequence above, not the -E one.
TEST(Wrr, DestsArrivingWithTheServiceStartLikeTheirLines) {
  Svc s(SchedKind::Wrr);
  s.defer();
  s.add("A", 3);
  s.add("B", 1);
  s.batch_end();
  EXPECT_EQ(s.state.cw, 1);
  EXPECT_EQ(s.seq(12), "B A A A B A A A B A A A");
}

TEST(Wrr, DestsAddedTogetherToAnEmptyServiceStartLikeTheirLines) {
  Svc s(SchedKind::Wrr);  // synced empty: cw 0
  s.live = false;
  s.add("A", 4);
  s.add("B", 2);
  s.add("C", 1);
  s.live = true;
  s.rebuild();
  Svc lines(SchedKind::Wrr);
  lines.add("A", 4);
  lines.add("B", 2);
  lines.add("C", 1);
  EXPECT_EQ(s.state.cw, lines.state.cw);
  EXPECT_EQ(s.seq(14), lines.seq(14));
}

TEST(Wrr, EqualWeightsBehaveLikeRr) {
  Svc s(SchedKind::Wrr);
  s.add("A", 5);
  s.add("B", 5);
  s.add("C", 5);
  EXPECT_EQ(s.seq(6), "C B A C B A");
}

TEST(Wrr, AllWeightsZeroMeansNoDestination) {
  Svc s(SchedKind::Wrr);
  s.add("A", 0);
  s.add("B", 0);
  EXPECT_EQ(s.tables.wrr_mw, 0);
  EXPECT_EQ(s.pick(), kNoDest);
}

TEST(Wrr, OverloadedDestsAreSkippedAndAllOverloadedGivesNone) {
  Svc s(SchedKind::Wrr);
  s.add("A", 3);
  s.add("B", 1);
  s.L("A").overload = true;
  EXPECT_EQ(s.seq(3), "B B B");
  s.L("B").overload = true;
  EXPECT_EQ(s.pick(), kNoDest);
  s.L("A").overload = false;
  EXPECT_EQ(s.seq(2), "A A");
}

TEST(Wrr, AChangeResetsTheCursorToTheHeadAndKeepsCw) {
  Svc s(SchedKind::Wrr);
  s.defer();
  s.add("A", 4);
  s.add("B", 2);  // B A, di 2, mw 3: A | B A
  s.start();
  EXPECT_EQ(s.seq(1), "A");
  EXPECT_EQ(s.state.cw, 3);
  s.add("C", 1);  // C B A, di 1, mw 4; cw 3 stays; scan restarts at the head
  EXPECT_EQ(s.state.cw, 3);
  EXPECT_EQ(s.seq(13), "A B A C B A A A B A C B A");
}

TEST(Wrr, AChangeClampsCwToTheNewMw) {
  Svc s(SchedKind::Wrr);
  s.defer();
  s.add("A", 12);
  s.add("B", 8);  // B A, di 4, mw 9
  s.start();
  EXPECT_EQ(s.seq(1), "A");
  EXPECT_EQ(s.state.cw, 9);
  s.set_weight("B", 6);  // di 6, mw 7: cw 9 > 7 -> 7
  EXPECT_EQ(s.tables.wrr_mw, 7);
  EXPECT_EQ(s.state.cw, 7);
  EXPECT_EQ(s.seq(1), "A");
}

TEST(Wrr, AChangeRealignsCwToTheNewGcd) {
  Svc s(SchedKind::Wrr);
  s.defer();
  s.add("A", 12);
  s.add("B", 8);  // passes at 9, 5, 1
  s.start();
  EXPECT_EQ(s.seq(2), "A B");
  EXPECT_EQ(s.state.cw, 5);
  s.set_weight("B", 6);  // di 6: cw = (5 / 6) * 6 + 1 = 1
  EXPECT_EQ(s.state.cw, 1);
  EXPECT_EQ(s.seq(2), "B A");  // from the head at cw 1
}

TEST(Wrr, ResyncForTheSameGenerationChangesNothing) {
  Svc s(SchedKind::Wrr);
  s.defer();
  s.add("A", 3);
  s.add("B", 1);
  s.start();
  EXPECT_EQ(s.seq(2), "A A");
  sched_state_sync(s.state, s.kind, s.tables, s.view(), s.order);
  EXPECT_EQ(s.seq(2), "B A");
}

}  // namespace
}  // namespace fulcrum::test
