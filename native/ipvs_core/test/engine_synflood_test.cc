// The Worker under a SYN flood: half-open (SYN_RECV) entries are held to a budget and evicted
// oldest first, with everything they held (real server counts, templates' children, FullNAT
// ports) given back, so new clients always get an entry and established connections are never
// the ones to go.
#include <algorithm>
#include <random>
#include <set>

#include "engine_test_util.h"

namespace fulcrum::test {
namespace {

const char* kClient = "172.16.5.20";
const char* kVip = "10.0.0.1";

CoreConfig nat(std::vector<DestConfig> dests, uint32_t flags = 0) {
  CoreConfig c;
  c.services = {mksvc(0, kProtoTcp, kVip, 80, SchedKind::Rr, std::move(dests), flags)};
  return c;
}
CoreConfig two_servers(FwdMethod fwd = FwdMethod::Masq, uint32_t flags = 0) {
  return nat({mkdest(0, "192.168.1.10", 80, fwd), mkdest(1, "192.168.1.11", 80, fwd)}, flags);
}

Bytes syn(uint16_t cport, const char* client = kClient) {
  return Pkt().ipv4(client, kVip).tcp(cport, 80, kTcpSyn).frame();
}
Bytes in(uint16_t cport, uint8_t flags, const char* client = kClient) {
  return Pkt().ipv4(client, kVip).tcp(cport, 80, flags).frame();
}

// Spoofed SYNs from random sources in 198.18.128.0/17, as a flood sends them.
struct Flood {
  std::mt19937 rng{7};
  std::vector<std::string> addrs;
  Bytes next() {
    uint32_t r = rng();
    std::string a = "198.18." + std::to_string(128 + ((r >> 8) & 127)) + "." + std::to_string(r & 255);
    return Pkt().ipv4(a.c_str(), kVip).tcp(static_cast<uint16_t>(1024 + (r >> 16) % 60000), 80, kTcpSyn).frame();
  }
};

const ConnInfo* find_conn(const std::vector<ConnInfo>& v, const char* client, uint16_t cport) {
  for (const ConnInfo& c : v)
    if (!c.is_template && c.caddr == ip4(client) && c.cport == hton16(cport)) return &c;
  return nullptr;
}

uint32_t counted(Harness& h, DestId n) {
  uint32_t s = 0;
  for (DestId d = 0; d < n; ++d) s += h.load(d).active + h.load(d).inactive;
  return s;
}

TEST(EngineSynFlood, TheBudgetIsAQuarterOfTheTableUnlessSetAndNeverAboveIt) {
  EXPECT_EQ(Harness(two_servers(), 1024).worker->half_open_budget(), 256u);
  EXPECT_EQ(Harness(two_servers(), 1024, {}, {16, 64}, 100).worker->half_open_budget(), 100u);
  EXPECT_EQ(Harness(two_servers(), 1024, {}, {16, 64}, 5000).worker->half_open_budget(), 1024u);
}

TEST(EngineSynFlood, TheTableNeverHoldsMoreHalfOpenEntriesThanTheBudget) {
  Harness h(two_servers(), 1024);
  const uint32_t budget = h.worker->half_open_budget();
  Flood f;
  uint32_t forwarded = 0, most = 0;
  for (int i = 0; i < 10 * 1024; ++i) {
    if (h.send(f.next()).v.action == Action::Transmit) ++forwarded;
    most = std::max(most, h.worker->half_open_count());
  }
  EXPECT_EQ(most, budget);
  EXPECT_EQ(h.worker->conn_count(), budget) << "the rest of the table stays free for established connections";
  EXPECT_EQ(forwarded, 10u * 1024) << "no SYN failed for want of room";
  EXPECT_EQ(h.drops(DropReason::TableFull), 0u);
  EXPECT_EQ(h.events(Event::HalfOpenEvicted), 10u * 1024 - budget);
}

TEST(EngineSynFlood, AnEstablishedConnectionSurvivesAFloodOfTenTimesTheTable) {
  Harness h(two_servers(), 1024);
  auto first = h.send(syn(40000));
  ASSERT_EQ(first.v.action, Action::Transmit);
  h.send(Pkt().ipv4(addr(first.p.daddr).c_str(), kClient).tcp(80, 40000, kTcpSyn | kTcpAck).frame());
  h.send(in(40000, kTcpAck));
  Flood f;
  for (int i = 0; i < 10 * 1024; ++i) h.send(f.next());
  auto later = h.send(in(40000, kTcpAck | kTcpPsh));
  EXPECT_EQ(later.v.action, Action::Transmit);
  EXPECT_EQ(later.p.daddr, first.p.daddr);
  const std::vector<ConnInfo> all = conns(h);  // c points into it
  const ConnInfo* c = find_conn(all, kClient, 40000);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->state, kTcpEstablished);
}

TEST(EngineSynFlood, ALegitimateSynDuringAFloodGetsAnEntryAndCompletesItsHandshake) {
  Harness h(two_servers(), 1024);
  const uint32_t budget = h.worker->half_open_budget();
  Flood f;
  for (int i = 0; i < 4 * 1024; ++i) h.send(f.next());
  auto s = h.send(syn(40001));
  ASSERT_EQ(s.v.action, Action::Transmit);
  ASSERT_NE(find_conn(conns(h), kClient, 40001), nullptr);
  // Its handshake has until `budget` newer SYNs arrive: one fewer and it is still there.
  for (uint32_t i = 0; i + 1 < budget; ++i) h.send(f.next());
  h.send(Pkt().ipv4(addr(s.p.daddr).c_str(), kClient).tcp(80, 40001, kTcpSyn | kTcpAck).frame());
  EXPECT_EQ(h.send(in(40001, kTcpAck)).v.action, Action::Transmit);
  for (int i = 0; i < 4 * 1024; ++i) h.send(f.next());
  const std::vector<ConnInfo> all = conns(h);  // c points into it
  const ConnInfo* c = find_conn(all, kClient, 40001);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->state, kTcpEstablished);
  EXPECT_EQ(h.worker->half_open_count(), budget);
}

TEST(EngineSynFlood, HalfOpenEntriesAreEvictedOldestFirstPassingOverCompletedOnes) {
  Harness h(two_servers(), 1024, {}, {16, 64}, 8);
  for (uint16_t p = 1; p <= 8; ++p) h.send(syn(p));
  h.send(in(3, kTcpAck));  // 3 completes its handshake: no longer half-open
  std::vector<uint16_t> gone;
  for (uint16_t p = 9; p <= 14; ++p) {
    h.send(syn(p));
    for (uint16_t q = 1; q < p; ++q)
      if (!find_conn(conns(h), kClient, q) && std::find(gone.begin(), gone.end(), q) == gone.end()) gone.push_back(q);
  }
  EXPECT_EQ(gone, (std::vector<uint16_t>{1, 2, 4, 5, 6}));
  EXPECT_NE(find_conn(conns(h), kClient, 3), nullptr);
  EXPECT_EQ(h.worker->half_open_count(), 8u);
  EXPECT_EQ(h.worker->conn_count(), 9u);
}

TEST(EngineSynFlood, AHalfOpenEntryOlderThanBudgetManyNewerConnectionsGoesEvenBelowTheBudget) {
  // The ring keeps the order of `budget` handshakes; one that outlives that many newer ones
  // (all completed here, so the count stays at 1) is the oldest and makes way.
  Harness h(two_servers(), 1024, {}, {16, 64}, 4);
  h.send(syn(1));
  for (uint16_t p = 2; p <= 4; ++p) {
    h.send(syn(p));
    h.send(in(p, kTcpAck));
  }
  EXPECT_NE(find_conn(conns(h), kClient, 1), nullptr);
  h.send(syn(5));
  EXPECT_EQ(find_conn(conns(h), kClient, 1), nullptr);
  EXPECT_EQ(h.events(Event::HalfOpenEvicted), 1u);
  EXPECT_EQ(h.worker->half_open_count(), 1u);
}

TEST(EngineSynFlood, EvictedEntriesGiveBackTheirRealServersCounts) {
  Harness h(two_servers(), 1024);
  Flood f;
  for (int i = 0; i < 5000; ++i) h.send(f.next());
  EXPECT_EQ(counted(h, 2), h.worker->conn_count()) << "every evicted entry unbound from its server";
  EXPECT_EQ(h.load(0).active + h.load(1).active, h.worker->half_open_count());
  h.advance(61);  // SYN_RECV times out
  EXPECT_EQ(h.worker->conn_count(), 0u);
  EXPECT_EQ(counted(h, 2), 0u);
  EXPECT_EQ(h.worker->half_open_count(), 0u);
}

TEST(EngineSynFlood, EvictedFullNatEntriesGiveBackTheirLocalPorts) {
  // 100 local ports (the harness's 5000-5099) and a budget of 50: a flood of 1,000 SYNs only
  // gets through if every eviction frees its port.
  Harness h(two_servers(FwdMethod::FullNat), 1024, {ip4("10.9.0.1")}, {16, 64}, 50);
  Flood f;
  uint32_t forwarded = 0;
  for (int i = 0; i < 1000; ++i)
    if (h.send(f.next()).v.action == Action::Transmit) ++forwarded;
  EXPECT_EQ(forwarded, 1000u);
  EXPECT_EQ(h.drops(DropReason::FnatPortsExhausted), 0u);
  EXPECT_EQ(counted(h, 2), 50u);
}

TEST(EngineSynFlood, EvictedChildrenOfATemplateLetItExpire) {
  // A flood from one /24 under persistence: every connection is a child of one template. Had an
  // eviction not told the template, its children would never reach zero and it would live on.
  CoreConfig c = two_servers(FwdMethod::Masq, kSvcPersistent);
  c.services[0].persist_timeout_s = 100;
  c.services[0].netmask = ip4("255.255.255.0");
  Harness h(c, 1024, {}, {16, 64}, 16);
  for (uint16_t p = 1000; p < 1200; ++p) ASSERT_EQ(h.send(syn(p)).v.action, Action::Transmit);
  EXPECT_EQ(h.worker->half_open_count(), 16u);
  EXPECT_EQ(h.load(0).persist + h.load(1).persist, 1u);
  h.advance(61);
  EXPECT_EQ(h.worker->conn_count(), 1u) << "the template outlives its children by the timeout";
  h.advance(101);
  EXPECT_EQ(h.worker->conn_count(), 0u);
  EXPECT_EQ(h.load(0).persist + h.load(1).persist, 0u);
  EXPECT_EQ(counted(h, 2), 0u);
}

TEST(EngineSynFlood, AFullTableMakesRoomFromItsHalfOpenEntriesBelowTheBudget) {
  // 12 established + 4 half-open fill a 16-entry table whose budget (8) is not reached: a new
  // SYN still gets in, in place of the oldest half-open one.
  Harness h(two_servers(), 16, {}, {16, 64}, 8);
  for (uint16_t p = 1; p <= 12; ++p) {
    h.send(syn(p));
    h.send(in(p, kTcpAck));
  }
  for (uint16_t p = 13; p <= 16; ++p) h.send(syn(p));
  ASSERT_EQ(h.worker->conn_count(), 16u);
  EXPECT_EQ(h.send(syn(17)).v.action, Action::Transmit);
  auto v = conns(h);
  EXPECT_EQ(find_conn(v, kClient, 13), nullptr);
  for (uint16_t p = 1; p <= 12; ++p) EXPECT_NE(find_conn(v, kClient, p), nullptr) << p;
  EXPECT_NE(find_conn(v, kClient, 17), nullptr);
  EXPECT_EQ(h.drops(DropReason::TableFull), 0u);
}

}  // namespace
}  // namespace fulcrum::test
