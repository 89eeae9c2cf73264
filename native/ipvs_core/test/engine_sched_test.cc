// Schedulers as the Worker drives them, not only as sched_pick computes them: the clock the
// engine hands to lblc/lblcr, and wrr's first round when a service arrives with its servers in
// one snapshot (a config load, fvsadm -R) versus one server per snapshot (ipvsadm -R lines).
#include <string>

#include "engine_test_util.h"

namespace fulcrum::test {
namespace {

const char* kVip = "10.0.0.1";

Bytes syn_from(const std::string& client, uint16_t cport) {
  return Pkt().ipv4(client.c_str(), kVip).tcp(cport, 80, kTcpSyn).frame();
}

std::string client(int i) { return "172.16." + std::to_string(i / 250) + "." + std::to_string(1 + i % 250); }

// The server a new connection from client i went to, as its address.
std::string pick(Harness& h, int i) {
  Harness::Out o = h.send(syn_from(client(i), static_cast<uint16_t>(10000 + i)));
  EXPECT_EQ(o.v.action, Action::Transmit);
  return addr(o.v.route_dst);
}

// ---- lblc: locality entries live by the engine's clock ------------------------------------------

// B (newest, first in the list) gets the first connection and the VIP's locality entry; one
// connection kept established on B makes plain wlc prefer A, so where a later new connection
// goes tells whether the entry is still there.
TEST(EngineLblc, ALocalityEntrySurvivesWithinItsExpirationAndGoesAfterIt) {
  CoreConfig c;
  c.services = {mksvc(0, kProtoTcp, kVip, 80, SchedKind::Lblc,
                      {mkdest(1, "192.168.1.11", 80, FwdMethod::Route, 100),    // B
                       mkdest(0, "192.168.1.10", 80, FwdMethod::Route, 100)})};  // A
  Harness h(c);
  // Two days of uptime: an entry stamped with time 0 would be older than the 24 h expiration.
  h.now = 2 * 86400 * kTicksPerSec;
  const Bytes keep_syn = Pkt().ipv4("172.31.0.1", kVip).tcp(999, 80, kTcpSyn).frame();
  const Bytes keep_ack = Pkt().ipv4("172.31.0.1", kVip).tcp(999, 80, kTcpAck).frame();
  ASSERT_EQ(addr(h.send(keep_syn).v.route_dst), "192.168.1.11");
  h.send(keep_ack);
  // Runs the clock with housekeeping every 10 s, keeping the connection on B alive.
  auto run_for = [&](uint32_t seconds) {
    for (uint32_t t = 0; t < seconds; t += 10) {
      h.advance(10);
      if (t % 60 == 0) h.send(keep_ack);
    }
  };
  run_for(3600);  // the collector's full pass (every 30 checks of 60 s) has run at least once
  EXPECT_EQ(h.load(1).active, 1u);
  EXPECT_EQ(pick(h, 1), "192.168.1.11") << "the entry, one hour old, must still send the VIP to B";
  run_for(25 * 3600);  // the entry was last used 25 h ago: past lblc_expiration (24 h)
  EXPECT_EQ(h.load(1).active, 1u);
  EXPECT_EQ(pick(h, 2), "192.168.1.10") << "the expired entry must be gone: wlc picks the idle A";
}

// ---- wrr: a batch equals its lines applied in order -------------------------------------------

CoreConfig wrr_service(std::vector<DestConfig> dests) {
  CoreConfig c;
  c.services = {mksvc(0, kProtoTcp, kVip, 80, SchedKind::Wrr, std::move(dests))};
  return c;
}

std::string picks(Harness& h, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) {
    std::string a = pick(h, 100 + i);
    s += (i ? " " : "") + std::string(1, static_cast<char>('A' + (a.back() - '0')));
  }
  return s;
}

TEST(EngineWrr, AServiceArrivingWithItsServersStartsLikeTheServersAddedOneByOne) {
  const DestConfig a = mkdest(0, "192.168.1.10", 80, FwdMethod::Route, 3);
  const DestConfig b = mkdest(1, "192.168.1.11", 80, FwdMethod::Route, 2);
  const DestConfig c = mkdest(2, "192.168.1.12", 80, FwdMethod::Route, 1);
  // ipvsadm -R: -A, then -a A, -a B, -a C, each its own change.
  Harness lines(wrr_service({}));
  lines.apply(wrr_service({a}));
  lines.apply(wrr_service({b, a}));
  lines.apply(wrr_service({c, b, a}));
  // The same service in one snapshot (config file, restart).
  Harness batch(wrr_service({c, b, a}));
  // The kernel: after A alone cw = mw = 1, and adding B and C keeps cw = 1, so the first pass
  // visits every server newest first, then the passes at cw 3, 2, 1 follow.
  const std::string kernel = "C B A A B A C B A A B A";
  EXPECT_EQ(picks(lines, 12), kernel);
  EXPECT_EQ(picks(batch, 12), kernel);
}

// A service that exists without servers and then gets three in one change (fvsadm -R onto an
// existing service, a config reload) starts as its lines would have.
TEST(EngineWrr, ServersArrivingTogetherAtAnEmptyServiceStartLikeTheirLines) {
  const DestConfig a = mkdest(0, "192.168.1.10", 80, FwdMethod::Route, 4);
  const DestConfig b = mkdest(1, "192.168.1.11", 80, FwdMethod::Route, 2);
  const DestConfig c = mkdest(2, "192.168.1.12", 80, FwdMethod::Route, 1);
  Harness lines(wrr_service({}));
  lines.apply(wrr_service({a}));
  lines.apply(wrr_service({b, a}));
  lines.apply(wrr_service({c, b, a}));
  Harness batch(wrr_service({}));
  batch.apply(wrr_service({c, b, a}));
  EXPECT_EQ(picks(batch, 14), picks(lines, 14));
  EXPECT_EQ(picks(batch, 3), "C B A");  // still in step after 14
}

// Binding wrr to a service that already has servers (-E) starts at the maximum weight, as the
// kernel's init_service does.
TEST(EngineWrr, ChangingTheSchedulerToWrrStartsAtTheMaximumWeight) {
  std::vector<DestConfig> d = {mkdest(1, "192.168.1.11", 80, FwdMethod::Route, 1),
                               mkdest(0, "192.168.1.10", 80, FwdMethod::Route, 3)};  // B A
  CoreConfig rr;
  rr.services = {mksvc(0, kProtoTcp, kVip, 80, SchedKind::Rr, d)};
  Harness h(rr);
  h.apply(wrr_service(d));
  EXPECT_EQ(picks(h, 8), "A A B A A A B A");
}

}  // namespace
}  // namespace fulcrum::test
