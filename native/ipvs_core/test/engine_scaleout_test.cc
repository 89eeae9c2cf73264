// Directors side by side behind ECMP: a flow the routers move from one director to another
// must go on. Two things make that so without sync: sloppy_tcp (the kernel sysctl: a segment
// other than SYN, never RST, starts a connection where none is) and schedulers that hash with
// the kernel's fixed keys (mh, sh), so every director with the same services and servers picks
// the same real server whatever its own per-start secrets.
#include <random>

#include "engine_test_util.h"

namespace fulcrum::test {
namespace {

const char* kClient = "172.16.5.20";
const char* kVip = "10.0.0.1";

CoreConfig nat3(SchedKind k = SchedKind::Rr, uint32_t flags = 0, bool sloppy = false) {
  CoreConfig c;
  c.services = {mksvc(0, kProtoTcp, kVip, 80, k,
                      {mkdest(0, "192.168.1.10", 8080, FwdMethod::Masq), mkdest(1, "192.168.1.11", 8080, FwdMethod::Masq),
                       mkdest(2, "192.168.1.12", 8080, FwdMethod::Masq)},
                      flags)};
  c.sloppy_tcp = sloppy;
  return c;
}

Bytes tin(uint16_t cport, uint8_t flags, const char* client = kClient) {
  return Pkt().ipv4(client, kVip).tcp(cport, 80, flags).frame();
}

const ConnInfo* find(const std::vector<ConnInfo>& v, uint16_t cport) {
  for (const ConnInfo& c : v)
    if (!c.is_template && c.cport == port(cport)) return &c;
  return nullptr;
}

// A director started with its own secrets: the connection table's hash seed and the
// schedulers' random source differ from every other director's.
void reseed(Harness& h, uint64_t seed) {
  h.opts.seed = seed;
  h.worker = std::make_unique<Worker>(h.opts);
  h.worker->set_snapshot(h.snaps.back().get());
}

TEST(SloppyTcp, OffAMidFlowSegmentWithoutAnEntryIsDropped) {
  Harness h(nat3());
  auto o = h.send(tin(40000, kTcpAck));
  EXPECT_EQ(o.v.action, Action::Drop);
  EXPECT_EQ(o.v.reason, DropReason::NoConnection);
  EXPECT_EQ(h.worker->conn_count(), 0u);
}

TEST(SloppyTcp, OnAMidFlowAckStartsAnEstablishedConnectionAndRepliesFollowIt) {
  Harness h(nat3(SchedKind::Rr, 0, true));
  auto o = h.send(tin(40001, kTcpAck | kTcpPsh));
  ASSERT_EQ(o.v.action, Action::Transmit);
  EXPECT_EQ(o.p.dport, port(8080));
  EXPECT_EQ(verify_checksums(o.frame), "");
  auto v = conns(h);
  const ConnInfo* c = find(v, 40001);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->state, kTcpEstablished) << "the kernel's NONE + ACK";
  EXPECT_EQ(c->daddr, o.p.daddr);
  EXPECT_EQ(h.events(Event::SloppyTcp), 1u);
  EXPECT_EQ(h.load(c->dest).active, 1u) << "ESTABLISHED counts as active on its server";
  // The server's answer goes back as the VIP; later segments use the entry.
  auto r = h.send(Pkt().ipv4(addr(o.p.daddr).c_str(), kClient).tcp(8080, 40001, kTcpAck).frame());
  ASSERT_EQ(r.v.action, Action::Transmit);
  EXPECT_EQ(r.p.saddr, ip4(kVip));
  EXPECT_EQ(r.p.sport, port(80));
  auto again = h.send(tin(40001, kTcpAck));
  EXPECT_EQ(again.p.daddr, o.p.daddr);
  EXPECT_EQ(h.events(Event::SloppyTcp), 1u) << "only the first segment found no entry";
  EXPECT_EQ(h.worker->conn_count(), 1u);
}

TEST(SloppyTcp, OnARstWithoutAnEntryIsStillDropped) {
  Harness h(nat3(SchedKind::Rr, 0, true));
  auto o = h.send(tin(40002, kTcpRst));
  EXPECT_EQ(o.v.reason, DropReason::NoConnection);
  o = h.send(tin(40002, kTcpRst | kTcpAck));
  EXPECT_EQ(o.v.reason, DropReason::NoConnection);
  EXPECT_EQ(h.worker->conn_count(), 0u);
}

TEST(SloppyTcp, OnAFinWithoutAnEntryStartsAClosingOne) {
  // The kernel schedules it too (NONE + FIN in: CLOSE), so the client's last segments of a
  // moved flow still reach its server.
  Harness h(nat3(SchedKind::Rr, 0, true));
  auto o = h.send(tin(40003, kTcpFin | kTcpAck));
  ASSERT_EQ(o.v.action, Action::Transmit);
  auto v = conns(h);
  ASSERT_NE(find(v, 40003), nullptr);
  EXPECT_EQ(find(v, 40003)->state, kTcpClose);
}

TEST(SloppyTcp, ADeltaTurnsItOnAndADeltaWithoutItKeepsIt) {
  Harness h(nat3());
  CoreDelta on;
  on.sloppy_tcp = true;
  ASSERT_TRUE(h.apply_delta(on).empty());
  EXPECT_EQ(h.send(tin(40004, kTcpAck)).v.action, Action::Transmit);
  CoreDelta other;
  other.timeouts = TimeoutConfig{};
  ASSERT_TRUE(h.apply_delta(other).empty());
  EXPECT_TRUE(h.snap().sloppy_tcp());
  EXPECT_EQ(h.send(tin(40005, kTcpAck)).v.action, Action::Transmit);
}

// Two directors, each with its own secrets; a flow begins on one and ECMP moves it to the
// other mid-flow. With mh or sh and sloppy_tcp, it lands on the same real server.
void expect_directors_alike(SchedKind k, uint32_t flags) {
  Harness a(nat3(k, flags, true)), b(nat3(k, flags, true));
  reseed(a, 0x1111);
  reseed(b, 0xfeedbeef12345ull);
  std::mt19937 rng(7);
  int moved = 0;
  std::vector<int> per_server(3, 0);
  for (int i = 0; i < 300; ++i) {
    const std::string client = "172.16." + std::to_string(rng() % 256) + "." + std::to_string(1 + rng() % 254);
    const uint16_t cport = static_cast<uint16_t>(1024 + rng() % 60000);
    auto syn = a.send(tin(cport, kTcpSyn, client.c_str()));
    ASSERT_EQ(syn.v.action, Action::Transmit);
    auto mid = b.send(tin(cport, kTcpAck, client.c_str()));
    ASSERT_EQ(mid.v.action, Action::Transmit);
    EXPECT_EQ(mid.p.daddr, syn.p.daddr) << client << ":" << cport;
    moved += mid.p.daddr == syn.p.daddr;
    ++per_server.at((ntoh32(syn.p.daddr) & 255) - 10);
  }
  EXPECT_EQ(moved, 300);
  for (int n : per_server) EXPECT_GT(n, 0) << "every server takes flows: the hash spreads them";
}

TEST(ScaleOut, MhOnTwoDirectorsWithDifferentSecretsPicksTheSameServer) {
  expect_directors_alike(SchedKind::Mh, 0);
}

TEST(ScaleOut, MhPortOnTwoDirectorsWithDifferentSecretsPicksTheSameServer) {
  expect_directors_alike(SchedKind::Mh, kSvcSched2);
}

TEST(ScaleOut, ShOnTwoDirectorsWithDifferentSecretsPicksTheSameServer) {
  expect_directors_alike(SchedKind::Sh, 0);
}

TEST(ScaleOut, ShPortOnTwoDirectorsWithDifferentSecretsPicksTheSameServer) {
  expect_directors_alike(SchedKind::Sh, kSvcSched2);
}

}  // namespace
}  // namespace fulcrum::test
