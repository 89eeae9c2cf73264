// Specification of incremental snapshots (apply_delta): services upserted whole by id and
// removed by id, validated as a whole config is (problems with their paths, nothing changed
// when refused, cross-service rules), untouched services shared with the predecessor (their
// generations, scheduler tables and the workers' scheduler state carried), and workers that
// re-sync only what changed unless they skipped a snapshot. Also prints what one weight change
// costs next to one whole build at 10,000 services.
#include <chrono>
#include <cstdio>

#include "engine_test_util.h"

namespace fulcrum::test {
namespace {

std::string ip(int a, int b, int c, int d) {
  return std::to_string(a) + "." + std::to_string(b) + "." + std::to_string(c) + "." + std::to_string(d);
}

ServiceConfig web(SvcId id, const std::string& vip, std::vector<DestConfig> dests, SchedKind k = SchedKind::Rr) {
  return mksvc(id, kProtoTcp, vip.c_str(), 80, k, std::move(dests));
}

CoreConfig three_services() {
  CoreConfig c;
  c.services = {web(0, "10.0.0.1", {mkdest(1, "192.168.1.11", 80, FwdMethod::Masq), mkdest(0, "192.168.1.10", 80, FwdMethod::Masq)}),
                web(1, "10.0.0.2", {mkdest(2, "192.168.2.10", 80, FwdMethod::Masq, 3)}, SchedKind::Wrr),
                web(2, "10.0.0.3", {mkdest(4, "192.168.3.11", 80, FwdMethod::Route), mkdest(3, "192.168.3.10", 80, FwdMethod::Route)},
                    SchedKind::Mh)};
  return c;
}

std::unique_ptr<Snapshot> full(const CoreConfig& c, const Snapshot* prev = nullptr, WorkerLimits lim = {16, 64}) {
  std::vector<std::string> errors;
  auto s = build_snapshot(c, lim, prev, errors);
  EXPECT_TRUE(s) << (errors.empty() ? "" : errors.front());
  return s;
}

const ServiceSnap* at(const Snapshot& s, const char* vip, uint16_t port = 80) {
  return s.find_v4(kProtoTcp, ip4(vip), hton16(port));
}

TEST(SnapshotDelta, AnUpsertedNewServiceIsFoundAndTheOthersAreShared) {
  auto a = full(three_services());
  CoreDelta d;
  d.upsert = {web(5, "10.0.0.9", {mkdest(9, "192.168.9.10", 80, FwdMethod::Masq)})};
  std::vector<std::string> errors;
  auto b = apply_delta(*a, d, errors);
  ASSERT_TRUE(b) << errors.front();
  ASSERT_NE(at(*b, "10.0.0.9"), nullptr);
  EXPECT_EQ(at(*b, "10.0.0.9")->id, 5);
  EXPECT_TRUE(b->dest(9).available);
  EXPECT_EQ(b->service_count(), 4u);
  for (SvcId id : {0, 1, 2}) EXPECT_EQ(b->service(id), a->service(id)) << "untouched services are shared";
  EXPECT_EQ(at(*b, "10.0.0.1"), a->service(0));
  EXPECT_TRUE(b->has_vip_v4(ip4("10.0.0.9")));
  EXPECT_EQ(b->vips_v4().size(), 4u);
  EXPECT_EQ(b->seq(), a->seq() + 1);
  EXPECT_EQ(b->changed_services(), std::vector<SvcId>{5});
  EXPECT_EQ(at(*a, "10.0.0.9"), nullptr) << "the predecessor is untouched";
  EXPECT_FALSE(a->dest(9).available);
}

TEST(SnapshotDelta, AReplacedServiceGetsANewGenerationAndKeepsItsIncarnation) {
  auto a = full(three_services());
  CoreDelta d;
  d.upsert = {three_services().services[0]};
  d.upsert[0].dests[1].weight = 5;  // 192.168.1.10
  std::vector<std::string> errors;
  auto b = apply_delta(*a, d, errors);
  ASSERT_TRUE(b);
  const ServiceSnap* s0 = b->service(0);
  EXPECT_NE(s0, a->service(0));
  EXPECT_EQ(s0->generation, a->service(0)->generation + 1);
  EXPECT_EQ(s0->incarnation, a->service(0)->incarnation);
  EXPECT_EQ(b->dest(0).weight, 5);
  EXPECT_EQ(b->dest(0).incarnation, a->dest(0).incarnation);
  EXPECT_EQ(at(*b, "10.0.0.1"), s0);
  EXPECT_EQ(b->changed_services(), std::vector<SvcId>{0});
  EXPECT_EQ(b->service(1), a->service(1));
  EXPECT_EQ(b->service(2), a->service(2)) << "mh tables kept: the service is the same object";
}

TEST(SnapshotDelta, ARemovedServiceTakesItsDestsAndItsVip) {
  auto a = full(three_services());
  CoreDelta d;
  d.remove = {1};
  std::vector<std::string> errors;
  auto b = apply_delta(*a, d, errors);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->service(1), nullptr);
  EXPECT_EQ(at(*b, "10.0.0.2"), nullptr);
  EXPECT_FALSE(b->dest(2).available);
  EXPECT_EQ(b->dest(2).incarnation, a->dest(2).incarnation) << "the id's identity is remembered";
  EXPECT_FALSE(b->has_vip_v4(ip4("10.0.0.2")));
  EXPECT_EQ(b->vips_v4().size(), 2u);
  EXPECT_EQ(b->service_count(), 2u);
  EXPECT_EQ(b->changed_services(), std::vector<SvcId>{1});
}

TEST(SnapshotDelta, RulesTimeoutsAndTunnelSourceAreReplacedWhenPresent) {
  auto a = full(three_services());
  CoreDelta d;
  MatchRule r;
  r.dst_prefix = IpAddr::from_v4(ip4("10.9.0.0"));
  r.prefix_len = 16;
  r.mark = 7;
  d.rules = std::vector<MatchRule>{r};
  d.timeouts = TimeoutConfig{100, 20, 30};
  d.tunnel_source = ip4("10.0.0.254");
  std::vector<std::string> errors;
  auto b = apply_delta(*a, d, errors);
  ASSERT_TRUE(b);
  EXPECT_TRUE(b->has_rules());
  EXPECT_EQ(b->mark_v4(kProtoTcp, ip4("10.9.1.1"), hton16(80)), 7u);
  EXPECT_EQ(b->timeout_config().tcp_established, 100u);
  EXPECT_EQ(b->tunnel_source(), ip4("10.0.0.254"));
  auto c = apply_delta(*b, CoreDelta{}, errors);  // absent: kept
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->has_rules());
  EXPECT_EQ(c->timeout_config().tcp_established, 100u);
  EXPECT_TRUE(c->changed_services().empty());
}

TEST(SnapshotDelta, ARefusedDeltaListsEveryProblemWithItsPathAndChangesNothing) {
  auto a = full(three_services());
  CoreDelta d;
  d.upsert = {web(6, "10.0.0.1", {mkdest(20, "192.168.6.10", 80, FwdMethod::Masq)}),  // key of service 0
              web(7, "10.0.0.7", {mkdest(2, "192.168.7.10", 80, FwdMethod::Masq),    // dest id of service 1
                                  mkdest(21, "192.168.7.11", 80, FwdMethod::Masq, -1)}),
              web(7, "10.0.0.8", {})};
  d.remove = {9};
  std::vector<std::string> errors;
  EXPECT_EQ(apply_delta(*a, d, errors), nullptr);
  std::vector<std::string> want = {"upsert[2].id: duplicate service id 7", "remove[0]: no service with id 9",
                                   "upsert[0]: service 10.0.0.1:80 already exists",
                                   "upsert[1].dests[0].id: duplicate real server id 2",
                                   "upsert[1].dests[1].weight: must be >= 0"};
  std::sort(want.begin(), want.end());
  std::sort(errors.begin(), errors.end());
  EXPECT_EQ(errors, want);
  EXPECT_EQ(at(*a, "10.0.0.1"), a->service(0));
  EXPECT_FALSE(a->dest(20).available);
}

TEST(SnapshotDelta, TwoUpsertsMayNotShareAKeyAFwmarkOrADestId) {
  auto a = full(three_services());
  ServiceConfig m1 = web(8, "0.0.0.0", {mkdest(30, "192.168.8.10", 80, FwdMethod::Route)});
  m1.fwmark = 5;
  m1.proto = 0;
  ServiceConfig m2 = web(9, "0.0.0.0", {mkdest(30, "192.168.8.11", 80, FwdMethod::Route)});
  m2.fwmark = 5;
  m2.proto = 0;
  CoreDelta d;
  d.upsert = {web(10, "10.0.0.50", {}), web(11, "10.0.0.50", {}), m1, m2};
  std::vector<std::string> errors;
  EXPECT_EQ(apply_delta(*a, d, errors), nullptr);
  std::sort(errors.begin(), errors.end());
  EXPECT_EQ(errors, (std::vector<std::string>{"upsert[1]: service 10.0.0.50:80 already exists",
                                              "upsert[3].dests[0].id: duplicate real server id 30",
                                              "upsert[3].fwmark: service for fwmark 5 already exists"}));
}

TEST(SnapshotDelta, ADestOrAKeyMayMoveToAnotherServiceInTheSameDelta) {
  auto a = full(three_services());
  CoreDelta d;
  // Service 0 gives up 192.168.1.11 (id 1) and its VIP; service 12 takes both.
  d.upsert = {web(0, "10.0.0.20", {mkdest(0, "192.168.1.10", 80, FwdMethod::Masq)}),
              web(12, "10.0.0.1", {mkdest(1, "192.168.1.11", 80, FwdMethod::Masq)})};
  std::vector<std::string> errors;
  auto b = apply_delta(*a, d, errors);
  ASSERT_TRUE(b) << errors.front();
  EXPECT_EQ(at(*b, "10.0.0.1")->id, 12);
  EXPECT_EQ(at(*b, "10.0.0.20")->id, 0);
  EXPECT_EQ(b->dest(1).svc, 12);
  EXPECT_EQ(b->dest(1).incarnation, a->dest(1).incarnation) << "same virtual service key, same server";
  EXPECT_NE(b->dest(0).incarnation, a->dest(0).incarnation) << "its service has another key now";
  EXPECT_NE(b->service(0)->incarnation, a->service(0)->incarnation) << "id 0 names another key";
  // A removed service's key may be taken by a new one in the same delta.
  CoreDelta e;
  e.remove = {1};
  e.upsert = {web(13, "10.0.0.2", {mkdest(2, "192.168.2.10", 80, FwdMethod::Masq)})};
  auto c = apply_delta(*b, e, errors);
  ASSERT_TRUE(c) << errors.front();
  EXPECT_EQ(at(*c, "10.0.0.2")->id, 13);
}

TEST(SnapshotDelta, AWholeConfigRepeatingAServiceUnchangedKeepsIt) {
  auto a = full(three_services());
  CoreConfig c = three_services();
  c.services[1].dests[0].weight = 4;
  auto b = full(c, a.get());
  EXPECT_EQ(b->service(0), a->service(0));
  EXPECT_EQ(b->service(2), a->service(2));
  EXPECT_NE(b->service(1), a->service(1));
  EXPECT_EQ(b->changed_services(), std::vector<SvcId>{1});
  c.services.erase(c.services.begin());  // a whole config without service 0 removes it
  auto e = full(c, b.get());
  EXPECT_EQ(e->service(0), nullptr);
  EXPECT_EQ(e->changed_services(), std::vector<SvcId>{0});
}

TEST(SnapshotDelta, ManyUpsertsAndRemovalsKeepTheServiceIndexRight) {
  auto s = full(CoreConfig{}, nullptr, {512, 1024});
  std::vector<std::unique_ptr<Snapshot>> keep;
  std::vector<std::string> errors;
  for (int i = 0; i < 300; ++i) {  // one per delta: the index grows and is rebuilt on the way
    CoreDelta d;
    d.upsert = {web(static_cast<SvcId>(i), ip(10, 1, i / 200, i % 200 + 1), {mkdest(static_cast<DestId>(i), "192.168.0.1", 80, FwdMethod::Masq)})};
    auto n = apply_delta(*s, d, errors);
    ASSERT_TRUE(n) << errors.front();
    keep.push_back(std::move(s));
    s = std::move(n);
  }
  CoreDelta rm;
  for (int i = 0; i < 300; i += 2) rm.remove.push_back(static_cast<SvcId>(i));
  auto n = apply_delta(*s, rm, errors);
  ASSERT_TRUE(n);
  for (int i = 0; i < 300; ++i) {
    const ServiceSnap* f = at(*n, ip(10, 1, i / 200, i % 200 + 1).c_str());
    if (i % 2)
      EXPECT_TRUE(f && f->id == i) << i;
    else
      EXPECT_EQ(f, nullptr) << i;
  }
  EXPECT_EQ(n->service_count(), 150u);
  EXPECT_EQ(n->vips_v4().size(), 150u);
}

// ---- through the worker ------------------------------------------------------------------------

Bytes syn(const char* vip, uint16_t cport) { return Pkt().ipv4("172.16.5.20", vip).tcp(cport, 80, kTcpSyn).frame(); }

TEST(SnapshotDeltaWorker, UntouchedServicesKeepTheirSchedulerStateAcrossADelta) {
  Harness h(three_services());
  EXPECT_EQ(h.send(syn("10.0.0.1", 1)).p.daddr, ip4("192.168.1.11"));  // rr cursor on the first
  CoreDelta d;
  d.upsert = {three_services().services[1]};
  d.upsert[0].dests[0].weight = 7;
  ASSERT_TRUE(h.apply_delta(d).empty());
  EXPECT_EQ(h.send(syn("10.0.0.1", 2)).p.daddr, ip4("192.168.1.10")) << "rr goes on where it was";
  EXPECT_EQ(h.send(syn("10.0.0.2", 3)).v.action, Action::Transmit);
}

TEST(SnapshotDeltaWorker, AWorkerThatSkippedASnapshotStillStartsReusedIdsClean) {
  Harness h(three_services());
  h.send(syn("10.0.0.2", 1));
  ASSERT_EQ(h.load(2).active, 1u);
  // Two deltas; the worker only ever sees the second (as when it was busy for both).
  std::vector<std::string> errors;
  CoreDelta give;
  give.upsert = {web(1, "10.0.0.2", {mkdest(2, "192.168.2.99", 80, FwdMethod::Masq)}, SchedKind::Wrr)};
  auto s2 = apply_delta(h.snap(), give, errors);
  ASSERT_TRUE(s2);
  CoreDelta other;
  other.upsert = {web(14, "10.0.0.14", {})};
  auto s3 = apply_delta(*s2, other, errors);
  ASSERT_TRUE(s3);
  h.worker->set_snapshot(s3.get());
  EXPECT_EQ(h.load(2).active, 0u) << "dest id 2 names another server since the skipped snapshot";
  h.snaps.push_back(std::move(s2));
  h.snaps.push_back(std::move(s3));
}

TEST(SnapshotDeltaWorker, ADeltaServesLikeTheSameWholeConfig) {
  CoreConfig c = three_services();
  Harness by_delta(c), whole(c);
  CoreDelta d;
  d.upsert = {web(3, "10.0.0.4", {mkdest(7, "192.168.4.11", 80, FwdMethod::Masq), mkdest(6, "192.168.4.10", 80, FwdMethod::Masq)})};
  d.remove = {0};
  ASSERT_TRUE(by_delta.apply_delta(d).empty());
  c.services.erase(c.services.begin());
  c.services.push_back(d.upsert[0]);
  whole.apply(c);
  for (const char* vip : {"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"})
    for (uint16_t p = 1; p <= 4; ++p) {
      Harness::Out x = by_delta.send(syn(vip, p)), y = whole.send(syn(vip, p));
      EXPECT_EQ(x.v.action, y.v.action) << vip;
      EXPECT_EQ(x.v.route_dst, y.v.route_dst) << vip;
    }
}

// ---- the figure ----------------------------------------------------------------------------------

// One weight change as a delta next to one whole build, at the scale the control plane must
// handle. DestId is 16 bits (65,535 dests at most), so 10,000 services carry 6 dests each here
// (60,000 dests); printed, never asserted.
TEST(SnapshotDeltaScale, PrintsOneWeightChangeVersusOneWholeBuild) {
  const int kServices = 10000, kDests = 6;
  WorkerLimits lim{kServices, kServices * kDests};
  CoreConfig c;
  for (int i = 0; i < kServices; ++i) {
    std::vector<DestConfig> ds;
    for (int j = 0; j < kDests; ++j)
      ds.push_back(mkdest(static_cast<DestId>(i * kDests + j), ip(192, 168, j + 1, i % 250 + 1).c_str(), static_cast<uint16_t>(1000 + i / 250),
                          FwdMethod::Masq, 1 + j));
    c.services.push_back(mksvc(static_cast<SvcId>(i), kProtoTcp, ip(10, i / 62500, (i / 250) % 250, i % 250 + 1).c_str(), 80,
                               i % 3 == 0 ? SchedKind::Wrr : SchedKind::Wlc, std::move(ds)));
  }
  using clock = std::chrono::steady_clock;
  auto ms = [](clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); };
  std::vector<std::string> errors;
  auto t0 = clock::now();
  auto first = build_snapshot(c, lim, nullptr, errors);
  auto t1 = clock::now();
  ASSERT_TRUE(first) << errors.front();
  c.services[4321].dests[2].weight = 9;
  auto t2 = clock::now();
  auto whole = build_snapshot(c, lim, first.get(), errors);
  auto t3 = clock::now();
  ASSERT_TRUE(whole);
  CoreDelta d;
  d.upsert = {c.services[4321]};
  d.upsert[0].dests[2].weight = 11;
  double first_delta = 0, best_delta = 1e9;
  std::unique_ptr<Snapshot> delta;
  for (int rep = 0; rep < 20; ++rep) {  // the first one, then the steady state
    auto t4 = clock::now();
    delta = apply_delta(*whole, d, errors);
    const double took = ms(clock::now() - t4);
    if (rep == 0) first_delta = took;
    best_delta = std::min(best_delta, took);
    ASSERT_TRUE(delta);
  }
  WorkerOptions wo;
  wo.conn_capacity = 1024;
  wo.limits = lim;
  Worker w(wo);
  auto t5 = clock::now();
  w.set_snapshot(whole.get());
  auto t6 = clock::now();
  w.set_snapshot(delta.get());
  auto t7 = clock::now();
  EXPECT_EQ(delta->dest(static_cast<DestId>(4321 * kDests + 2)).weight, 11);
  std::printf("[ figure ] %d services x %d dests: first build %.2f ms, whole rebuild for one weight %.2f ms, "
              "delta for one weight %.3f ms (first), %.3f ms (best of 20); worker: full walk %.2f ms, "
              "after the delta %.3f ms\n",
              kServices, kDests, ms(t1 - t0), ms(t3 - t2), first_delta, best_delta, ms(t6 - t5), ms(t7 - t6));
}

}  // namespace
}  // namespace fulcrum::test
