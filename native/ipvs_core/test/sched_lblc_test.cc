// Specification of lblc and lblcr (reference §2.10, §2.11; kernel ip_vs_lblc.c, ip_vs_lblcr.c):
// reuse of the cached dest per destination address, the "lblc-overloaded" rule, lblcr's set
// growth and shrinking, and the garbage collector's thresholds and timers.
#include "sched/lblc.h"
#include "sched_test_util.h"

namespace fulcrum::test {
namespace {

const IpAddr kX = v4(203, 0, 113, 10);
const IpAddr kY = v4(203, 0, 113, 20);

void active(Svc& s, const char* n, uint32_t a) { s.L(n).active = a; }

std::vector<std::string> set_of(Svc& s, const IpAddr& daddr) {
  const LocalityCache& c = *s.state.cache;
  const uint32_t e = c.find(daddr, locality_hash(daddr, false));
  std::vector<std::string> out;
  if (e == LocalityCache::kNil) return out;
  for (uint32_t x = c.entries[e].set_head; x != LocalityCache::kNil; x = c.elems[x].next)
    out.push_back(s.name(c.elems[x].dest));
  return out;
}

TEST(Lblc, ReusesTheDestCachedForADestinationAddress) {
  Svc s(SchedKind::Lblc);
  s.add("A", 1);
  s.add("B", 1);  // B A
  EXPECT_EQ(s.name(s.pick(to_daddr(kX))), "B");  // wlc: tie -> newest
  s.L("B").inactive = 100;                        // B is now the busier one
  EXPECT_EQ(s.name(s.pick(to_daddr(kX))), "B");  // but X stays on B
  EXPECT_EQ(s.name(s.pick(to_daddr(kY))), "A");  // a new address is scheduled by wlc
  EXPECT_EQ(s.state.cache->live, 2u);
}

TEST(Lblc, QuiescedOrDeletedCachedDestIsReplaced) {
  Svc s(SchedKind::Lblc);
  s.add("A", 1);
  s.add("B", 1);
  ASSERT_EQ(s.name(s.pick(to_daddr(kX))), "B");
  s.set_weight("B", 0);
  EXPECT_EQ(s.name(s.pick(to_daddr(kX))), "A");
  s.set_weight("B", 1);
  EXPECT_EQ(s.name(s.pick(to_daddr(kX))), "A");  // the entry now says A
  s.del("A");
  EXPECT_EQ(s.name(s.pick(to_daddr(kX))), "B");
}

TEST(Lblc, LblcOverloadedNeedsBothConditions) {
  Svc s(SchedKind::Lblc);
  s.add("A", 4);
  s.add("B", 2);  // B A
  ASSERT_EQ(s.name(s.pick(to_daddr(kX))), "B");
  active(s, "B", 3);  // 3 > 2: busier than its weight ...
  active(s, "A", 2);  // ... but nobody is under half (2*2 < 4 is false): keep B
  EXPECT_EQ(s.name(s.pick(to_daddr(kX))), "B");
  active(s, "A", 1);  // 1*2 < 4: reschedule with wlc -> A
  EXPECT_EQ(s.name(s.pick(to_daddr(kX))), "A");
}

TEST(Lblc, TheOverloadFlagAloneDoesNotInvalidateTheCachedDest) {
  // The kernel checks only AVAILABLE, weight > 0 and its own overload rule on a cache hit.
  Svc s(SchedKind::Lblc);
  s.add("A", 1);
  s.add("B", 1);
  ASSERT_EQ(s.name(s.pick(to_daddr(kX))), "B");
  s.L("B").overload = true;
  EXPECT_EQ(s.name(s.pick(to_daddr(kX))), "B");
  EXPECT_EQ(s.name(s.pick(to_daddr(kY))), "A");  // but wlc skips it for new addresses
}

TEST(Lblc, NoUsableDestGivesNone) {
  Svc s(SchedKind::Lblc);
  EXPECT_EQ(s.pick(to_daddr(kX)), kNoDest);
  s.add("A", 0);
  EXPECT_EQ(s.pick(to_daddr(kX)), kNoDest);
}

TEST(Lblc, AFullPoolStillSchedulesWithoutCaching) {
  LocalityConfig lc;
  lc.max_entries = 2;
  Svc s(SchedKind::Lblc, 0, 1, lc);
  s.add("A", 1);
  for (uint8_t i = 1; i <= 3; ++i) EXPECT_EQ(s.name(s.pick(to_daddr(v4(198, 18, 0, i)))), "A");
  EXPECT_EQ(s.state.cache->live, 2u);
}

// Fills the cache with `n` addresses at time `now`.
void fill(Svc& s, int n, uint32_t now, uint8_t net = 0) {
  for (int i = 0; i < n; ++i)
    ASSERT_NE(s.pick(to_daddr(v4(100, net, uint8_t(i >> 8), uint8_t(i))), now), kNoDest);
}

void housekeep_until(Svc& s, uint32_t now, int calls = 200) {
  for (int i = 0; i < calls; ++i) sched_housekeeping(s.state, now);
}

TEST(LblcGc, AboveTheLimitRemovesEntriesIdleSixMinutesFourThirdsOfTheExcess) {
  LocalityConfig lc;
  lc.max_entries = 20000;
  Svc s(SchedKind::Lblc, 0, 1, lc);
  s.add("A", 1);
  sched_housekeeping(s.state, 0);  // arms the 60 s timer
  fill(s, 200, 0, 0);              // 17 000 entries: 200 + 64 * 262 + 32
  for (uint8_t net = 1; net <= 64; ++net) fill(s, 262, 1, net);
  fill(s, 32, 1, 65);
  fill(s, 0, 1);
  ASSERT_EQ(s.state.cache->live, 17000u);
  // At t = 60 the timer runs but nothing is idle for 6 minutes yet.
  housekeep_until(s, 60);
  EXPECT_EQ(s.state.cache->live, 17000u);
  // At t = 361 everything is idle >= 6 min; the goal is (17000 - 16384) * 4 / 3 = 821.
  housekeep_until(s, 361);
  EXPECT_LE(s.state.cache->live, 17000u - 821u);
  EXPECT_GT(s.state.cache->live, 17000u - 821u - 200u);  // stops at the bucket reaching the goal
}

TEST(LblcGc, BelowTheLimitOnlyTheHalfHourlyFullPassExpiresEntries) {
  LocalityConfig lc;
  lc.expiration_s = 3600;
  Svc s(SchedKind::Lblc, 0, 1, lc);
  s.add("A", 1);
  sched_housekeeping(s.state, 0);
  fill(s, 10, 0);
  // Timer runs at 60, 120, ...; the 30th run (t = 1800) is the full pass, but nothing is
  // an hour old yet; the next full pass is 30 runs later (t = 3600).
  for (uint32_t t = 60; t < 3600; t += 60) housekeep_until(s, t, 40);
  EXPECT_EQ(s.state.cache->live, 10u);
  housekeep_until(s, 3600, 40);
  EXPECT_EQ(s.state.cache->live, 0u);
}

TEST(LblcGc, RecentlyUsedEntriesSurvive) {
  LocalityConfig lc;
  lc.expiration_s = 3600;
  Svc s(SchedKind::Lblc, 0, 1, lc);
  s.add("A", 1);
  sched_housekeeping(s.state, 0);
  fill(s, 10, 0);
  for (uint32_t t = 60; t < 3600; t += 60) {
    s.pick(to_daddr(v4(100, 0, 0, 3)), t);  // keep one address busy
    housekeep_until(s, t, 40);
  }
  housekeep_until(s, 3600, 40);
  EXPECT_EQ(s.state.cache->live, 1u);
}

TEST(Lblcr, GrowsTheSetWhenItsBestMemberIsLblcOverloaded) {
  Svc s(SchedKind::Lblcr);
  s.add("A", 4);
  s.add("B", 2);  // B A
  ASSERT_EQ(s.name(s.pick(to_daddr(kX))), "B");
  EXPECT_EQ(set_of(s, kX), std::vector<std::string>{"B"});
  active(s, "B", 3);
  active(s, "A", 1);
  EXPECT_EQ(s.name(s.pick(to_daddr(kX))), "A");
  EXPECT_EQ(set_of(s, kX), (std::vector<std::string>{"A", "B"}));  // newest member first
  // From now on the least loaded member of the set is used.
  active(s, "A", 3);
  active(s, "B", 1);
  EXPECT_EQ(s.name(s.pick(to_daddr(kX))), "B");
}

TEST(Lblcr, AStaleSetShedsItsMostLoadedMember) {
  LocalityConfig lc;
  lc.expiration_s = 100;
  Svc s(SchedKind::Lblcr, 0, 1, lc);
  s.add("A", 4);
  s.add("B", 2);
  ASSERT_EQ(s.name(s.pick(to_daddr(kX), 10)), "B");
  active(s, "B", 3);
  active(s, "A", 1);
  ASSERT_EQ(s.name(s.pick(to_daddr(kX), 20)), "A");  // set {A, B}, last modified at 20
  active(s, "B", 1);  // 256 / 2
  active(s, "A", 1);  // 256 / 4: the least loaded member
  EXPECT_EQ(s.name(s.pick(to_daddr(kX), 120)), "A");  // not yet past 20 + 100
  EXPECT_EQ(set_of(s, kX).size(), 2u);
  // Past it: the most loaded per weight (B) leaves the set.
  EXPECT_EQ(s.name(s.pick(to_daddr(kX), 121)), "A");
  EXPECT_EQ(set_of(s, kX), std::vector<std::string>{"A"});
  // B being idle no longer matters for X while A is not lblc-overloaded (3 <= 4).
  active(s, "A", 3);
  active(s, "B", 0);
  EXPECT_EQ(s.name(s.pick(to_daddr(kX), 122)), "A");
}

TEST(Lblcr, DeletedOrQuiescedMembersAreNotChosen) {
  Svc s(SchedKind::Lblcr);
  s.add("A", 1);
  s.add("B", 1);
  ASSERT_EQ(s.name(s.pick(to_daddr(kX))), "B");
  s.del("B");
  EXPECT_EQ(s.name(s.pick(to_daddr(kX))), "A");
  EXPECT_EQ(set_of(s, kX), (std::vector<std::string>{"A", "B"}));
  s.set_weight("A", 0);
  EXPECT_EQ(s.pick(to_daddr(kX)), kNoDest);
}

}  // namespace
}  // namespace fulcrum::test
