// The Worker's connection handling with a controllable clock: accounting as ipvsadm shows it
// (ActiveConn/InActConn/PersistConn), timeouts and expiry, persistence templates, a full
// table, quiesced and deleted real servers.
#include <map>

#include "engine_test_util.h"

namespace fulcrum::test {
namespace {

const char* kClient = "172.16.5.20";
const char* kVip = "10.0.0.1";

CoreConfig nat(std::vector<DestConfig> dests, SchedKind k = SchedKind::Rr, uint32_t flags = 0, uint16_t port = 80) {
  CoreConfig c;
  c.services = {mksvc(0, kProtoTcp, kVip, port, k, std::move(dests), flags)};
  return c;
}

Bytes syn(uint16_t cport, const char* client = kClient, uint16_t vport = 80) {
  return Pkt().ipv4(client, kVip).tcp(cport, vport, kTcpSyn).frame();
}
Bytes in(uint16_t cport, uint8_t flags, const char* client = kClient) {
  return Pkt().ipv4(client, kVip).tcp(cport, 80, flags).frame();
}
Bytes out(uint16_t cport, uint8_t flags, const char* server = "192.168.1.10") {
  return Pkt().ipv4(server, kClient).tcp(80, cport, flags).frame();
}

TEST(EngineAccounting, RealServerIdsAboveSixteenBitsKeepTheirConnectionsAndCounts) {
  // 10,000 services x 100 servers need ids up to 20 bits; the record keeps them in 16 + 4 bits
  // beside the TCP state, so a state change must not disturb the id and the reverse.
  const DestId big = kMaxDests - 1;
  CoreConfig c = nat({mkdest(big, "192.168.1.10", 80, FwdMethod::Masq), mkdest(70000, "192.168.1.11", 80, FwdMethod::Masq)});
  Harness h(c, 1024, {}, WorkerLimits{16, kMaxDests});
  std::map<be32, DestId> id_of = {{ip4("192.168.1.10"), big}, {ip4("192.168.1.11"), 70000}};
  for (uint16_t port = 40000; port < 40004; ++port) {
    Verdict v = h.send(syn(port)).v;
    ASSERT_EQ(v.action, Action::Transmit);
  }
  EXPECT_EQ(h.load(big).active + h.load(70000).active, 4u);
  for (uint16_t port = 40000; port < 40004; ++port) {
    ConnInfo before{};
    for (const ConnInfo& i : conns(h))
      if (i.cport == hton16(port)) before = i;
    ASSERT_EQ(before.dest, id_of[before.daddr]);
    const char* server = before.daddr == ip4("192.168.1.10") ? "192.168.1.10" : "192.168.1.11";
    EXPECT_EQ(h.send(out(port, kTcpSyn | kTcpAck, server)).v.action, Action::Transmit);
    EXPECT_EQ(h.send(in(port, kTcpAck)).v.action, Action::Transmit);
    EXPECT_EQ(h.send(in(port, kTcpFin | kTcpAck)).v.action, Action::Transmit);
    for (const ConnInfo& i : conns(h))
      if (i.cport == hton16(port)) {
        EXPECT_EQ(i.dest, before.dest) << "a state change keeps the id";
        EXPECT_EQ(i.state, kTcpCloseWait) << "the id keeps the state (a client FIN: CLOSE_WAIT)";
      }
  }
  EXPECT_EQ(h.load(big).active + h.load(70000).active, 0u);
  EXPECT_EQ(h.load(big).inactive + h.load(70000).inactive, 4u);
  EXPECT_EQ(h.worker->stats().dest[big].conns + h.worker->stats().dest[70000].conns, 4u);
  h.advance(121);
  EXPECT_EQ(h.worker->conn_count(), 0u);
  EXPECT_EQ(h.load(big).inactive + h.load(70000).inactive, 0u);
}

TEST(EngineAccounting, NatFlowMovesBetweenInactiveAndActiveAndExpiresAfterTimeWait) {
  Harness h(nat({mkdest(0, "192.168.1.10", 80, FwdMethod::Masq)}));
  h.send(syn(40000));
  // SYN_RECV counts as active since Linux 4.8 ("count pre-established TCP states as active").
  EXPECT_EQ(h.load(0).active, 1u);
  EXPECT_EQ(h.load(0).inactive, 0u);
  h.send(out(40000, kTcpSyn | kTcpAck));
  h.send(in(40000, kTcpAck));  // ESTABLISHED: active
  EXPECT_EQ(h.load(0).active, 1u);
  EXPECT_EQ(h.load(0).inactive, 0u);
  auto c = conns(h);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].state, kTcpEstablished);
  EXPECT_EQ(c[0].expires_in_ticks, 900 * kTicksPerSec);
  h.send(in(40000, kTcpAck | kTcpFin));  // ES -> CLOSE_WAIT: inactive
  EXPECT_EQ(conns(h)[0].state, kTcpCloseWait);
  EXPECT_EQ(h.load(0).inactive, 1u);
  EXPECT_EQ(h.load(0).active, 0u);
  h.send(out(40000, kTcpAck | kTcpFin));  // CW -> TIME_WAIT (120 s)
  EXPECT_EQ(conns(h)[0].state, kTcpTimeWait);
  h.advance(119);
  EXPECT_EQ(h.worker->conn_count(), 1u) << "counters fall only when the entry expires";
  EXPECT_EQ(h.load(0).inactive, 1u);
  h.advance(2);
  EXPECT_EQ(h.worker->conn_count(), 0u);
  EXPECT_EQ(h.load(0).inactive, 0u);
  EXPECT_EQ(h.worker->stats().dest[0].conns, 1u) << "conns counts scheduled connections, not live ones";
}

TEST(EngineAccounting, DrUsesTheInputOnlyTableUntilAReplyIsSeen) {
  Harness h(nat({mkdest(0, "192.168.1.10", 80, FwdMethod::Route)}));
  h.send(syn(40000));
  h.send(in(40000, kTcpAck));
  EXPECT_EQ(conns(h)[0].state, kTcpEstablished);
  h.send(in(40000, kTcpAck | kTcpFin));  // input-only: ES + FIN -> FIN_WAIT (NAT would say CLOSE_WAIT)
  EXPECT_EQ(conns(h)[0].state, kTcpFinWait);
  EXPECT_EQ(conns(h)[0].expires_in_ticks, 120 * kTicksPerSec);
}

TEST(EngineAccounting, UdpIsAlwaysInactiveAndUsesTheUdpTimeout) {
  CoreConfig c;
  c.services = {mksvc(0, kProtoUdp, kVip, 53, SchedKind::Rr, {mkdest(0, "192.168.1.10", 53, FwdMethod::Masq)})};
  c.timeouts.udp = 30;
  Harness h(c);
  h.send(Pkt().ipv4(kClient, kVip).udp(1000, 53).frame());
  h.send(Pkt().ipv4("192.168.1.10", kClient).udp(53, 1000).frame());
  EXPECT_EQ(h.load(0).inactive, 1u);
  EXPECT_EQ(h.load(0).active, 0u);
  EXPECT_EQ(conns(h)[0].expires_in_ticks, 30 * kTicksPerSec);
  h.advance(31);
  EXPECT_EQ(h.worker->conn_count(), 0u);
}

TEST(EngineTimeouts, SetChangesEstablishedFinWaitAndUdpForNewPackets) {
  CoreConfig c = nat({mkdest(0, "192.168.1.10", 80, FwdMethod::Masq)});
  Harness h(c);
  c.timeouts = {60, 30, 10};
  h.apply(c);
  h.send(syn(40000));
  h.send(in(40000, kTcpAck));
  EXPECT_EQ(conns(h)[0].expires_in_ticks, 60 * kTicksPerSec);
}

TEST(EngineTimeouts, AnEntryPastItsTimeIsGoneEvenBeforeTheSweepReachesIt) {
  Harness h(nat({mkdest(0, "192.168.1.10", 80, FwdMethod::Masq), mkdest(1, "192.168.1.11", 80, FwdMethod::Masq)}));
  h.send(syn(40000));  // SYN_RECV, 60 s
  h.now += 61 * kTicksPerSec;  // no housekeeping
  // The old entry is dead: a new SYN from the same client port starts a new connection.
  auto r = h.send(syn(40000));
  ASSERT_EQ(r.v.action, Action::Transmit);
  EXPECT_EQ(h.worker->conn_count(), 1u);
  EXPECT_EQ(h.load(0).active + h.load(1).active, 1u);
  // And a stray ACK for the dead one is not forwarded.
  h.now += 61 * kTicksPerSec;
  EXPECT_EQ(h.send(in(40000, kTcpAck)).v.action, Action::Drop);
}

TEST(EngineTimeouts, ASynOnATimeWaitConnectionIsScheduledAfresh) {
  Harness h(nat({mkdest(0, "192.168.1.10", 80, FwdMethod::Masq), mkdest(1, "192.168.1.11", 80, FwdMethod::Masq)}));
  auto first = h.send(syn(40000));
  const be32 d1 = first.p.daddr;
  h.send(Pkt().ipv4(addr(d1).c_str(), kClient).tcp(80, 40000, kTcpSyn | kTcpAck).frame());
  h.send(in(40000, kTcpAck));
  h.send(in(40000, kTcpAck | kTcpFin));
  h.send(Pkt().ipv4(addr(d1).c_str(), kClient).tcp(80, 40000, kTcpAck | kTcpFin).frame());
  ASSERT_EQ(conns(h)[0].state, kTcpTimeWait);
  auto again = h.send(syn(40000));
  EXPECT_NE(again.p.daddr, d1) << "rr moved on: the SYN was scheduled, not sent down the old entry";
  EXPECT_EQ(conns(h).size(), 1u);
  EXPECT_EQ(conns(h)[0].state, kTcpSynRecv);
}

TEST(EngineTable, AFullTableOfEstablishedConnectionsDropsNewOnesAndKeepsForwarding) {
  Harness h(nat({mkdest(0, "192.168.1.10", 80, FwdMethod::Masq)}), 16);
  for (uint16_t p = 1; p <= 16; ++p) {
    ASSERT_EQ(h.send(syn(p)).v.action, Action::Transmit);
    h.send(in(p, kTcpAck));  // ESTABLISHED: never evicted for a new connection
  }
  ASSERT_EQ(h.worker->conn_count(), 16u);
  for (uint16_t p = 17; p <= 40; ++p) EXPECT_EQ(h.send(syn(p)).v.reason, DropReason::TableFull);
  EXPECT_EQ(h.drops(DropReason::TableFull), 24u);
  EXPECT_EQ(h.send(in(1, kTcpAck)).v.action, Action::Transmit);
  EXPECT_EQ(h.load(0).inactive + h.load(0).active, 16u);
}

TEST(EngineQuiesce, WeightZeroTakesNoNewConnectionsButKeepsItsOwn) {
  CoreConfig c = nat({mkdest(0, "192.168.1.10", 80, FwdMethod::Masq), mkdest(1, "192.168.1.11", 80, FwdMethod::Masq)});
  Harness h(c);
  auto a = h.send(syn(1));
  auto b = h.send(syn(2));
  ASSERT_NE(a.p.daddr, b.p.daddr);
  c.services[0].dests[0].weight = 0;  // 192.168.1.10
  h.apply(c);
  for (uint16_t p = 10; p < 20; ++p) EXPECT_EQ(h.send(syn(p)).p.daddr, ip4("192.168.1.11"));
  uint16_t on_quiesced = a.p.daddr == ip4("192.168.1.10") ? 1 : 2;
  auto cont = h.send(in(on_quiesced, kTcpAck));
  EXPECT_EQ(cont.v.action, Action::Transmit);
  EXPECT_EQ(cont.p.daddr, ip4("192.168.1.10"));
}

TEST(EngineDelete, PacketsOfADeletedServersConnectionsAreDroppedUntilItComesBack) {
  CoreConfig both = nat({mkdest(0, "192.168.1.10", 80, FwdMethod::Masq), mkdest(1, "192.168.1.11", 80, FwdMethod::Masq)});
  Harness h(both);
  uint16_t on0 = 0;
  for (uint16_t p = 1; p <= 2; ++p)
    if (h.send(syn(p)).p.daddr == ip4("192.168.1.10")) on0 = p;
  ASSERT_NE(on0, 0);
  CoreConfig one = both;
  one.services[0].dests.erase(one.services[0].dests.begin());  // deletes id 0 (192.168.1.10)
  h.apply(one);
  auto d = h.send(in(on0, kTcpAck));
  EXPECT_EQ(d.v.action, Action::Drop);
  EXPECT_EQ(d.v.reason, DropReason::DestUnavailable);
  for (uint16_t p = 10; p < 14; ++p) EXPECT_EQ(h.send(syn(p)).p.daddr, ip4("192.168.1.11"));
  h.apply(both);
  EXPECT_EQ(h.send(in(on0, kTcpAck)).v.action, Action::Transmit);
}

TEST(EnginePersistence, AClientNetworkStaysOnOneServerWhileTheTemplateLives) {
  CoreConfig c = nat({mkdest(0, "192.168.1.10", 80, FwdMethod::Masq), mkdest(1, "192.168.1.11", 80, FwdMethod::Masq),
                      mkdest(2, "192.168.1.12", 80, FwdMethod::Masq)},
                     SchedKind::Rr, kSvcPersistent);
  c.services[0].persist_timeout_s = 300;
  c.services[0].netmask = ip4("255.255.255.0");
  Harness h(c);
  be32 first = h.send(syn(1000, "172.16.5.20")).p.daddr;
  for (uint16_t p = 1001; p < 1010; ++p) EXPECT_EQ(h.send(syn(p, "172.16.5.20")).p.daddr, first);
  EXPECT_EQ(h.send(syn(2000, "172.16.5.99")).p.daddr, first) << "same /24 under -M 255.255.255.0";
  EXPECT_NE(h.send(syn(3000, "172.16.6.1")).p.daddr, first) << "another /24 is scheduled";
  uint32_t persist = h.load(0).persist + h.load(1).persist + h.load(2).persist;
  EXPECT_EQ(persist, 2u);
  auto listed = conns(h);
  size_t templates = 0;
  for (const ConnInfo& i : listed)
    if (i.is_template) {
      ++templates;
      EXPECT_EQ(i.cport, 0);
      EXPECT_EQ(i.state, kTcpNone);
    }
  EXPECT_EQ(templates, 2u);
  // Templates are not counted as connections.
  EXPECT_EQ(h.worker->stats().svc[0].conns, 12u);
}

TEST(EnginePersistence, TemplateOutlivesItsLastConnectionByTheTimeoutThenExpires) {
  CoreConfig c = nat({mkdest(0, "192.168.1.10", 80, FwdMethod::Masq), mkdest(1, "192.168.1.11", 80, FwdMethod::Masq)},
                     SchedKind::Rr, kSvcPersistent);
  c.services[0].persist_timeout_s = 100;
  Harness h(c);
  be32 first = h.send(syn(1000)).p.daddr;  // SYN_RECV: 60 s
  h.advance(61);                            // connection gone; template lives 100 s from then
  EXPECT_EQ(h.worker->conn_count(), 1u);
  EXPECT_EQ(h.send(syn(1001)).p.daddr, first);
  h.advance(61);
  h.advance(101);
  EXPECT_EQ(h.worker->conn_count(), 0u);
  EXPECT_EQ(h.load(0).persist + h.load(1).persist, 0u);
  EXPECT_EQ(h.load(0).active + h.load(1).active, 0u);
}

TEST(EnginePersistence, AllPortServiceKeepsThePacketsPort) {
  CoreConfig c = nat({mkdest(0, "192.168.1.10", 0, FwdMethod::Masq)}, SchedKind::Rr, kSvcPersistent, 0);
  Harness h(c);
  auto r = h.send(syn(1000, kClient, 443));
  ASSERT_EQ(r.v.action, Action::Transmit);
  EXPECT_EQ(r.p.dport, port(443));
  EXPECT_EQ(h.send(syn(1001, kClient, 8443)).p.dport, port(8443));
}

TEST(EngineThresholds, AnOverloadedServerIsSkippedUntilItDrainsBelowTheLowerThreshold) {
  CoreConfig c = nat({mkdest(0, "192.168.1.10", 80, FwdMethod::Masq), mkdest(1, "192.168.1.11", 80, FwdMethod::Masq)});
  c.services[0].dests[0].u_threshold = 2;  // 192.168.1.10
  c.services[0].dests[0].l_threshold = 1;
  Harness h(c);
  int to0 = 0;
  for (uint16_t p = 1; p <= 10; ++p)
    if (h.send(syn(p)).p.daddr == ip4("192.168.1.10")) ++to0;
  EXPECT_EQ(to0, 2);
  EXPECT_TRUE(h.load(0).overload);
  h.advance(61);  // all SYN_RECV entries expire
  EXPECT_FALSE(h.load(0).overload);
}

TEST(EngineThresholds, ALocalityCacheHitOnAServerAtItsUpperThresholdFallsBackToWlc) {
  // lblc keeps its cached server on a hit whatever its overload flag (the kernel's rule), but
  // -x is a hard limit: the bind is refused and the miss path (wlc) picks another server.
  CoreConfig c = nat({mkdest(1, "192.168.1.11", 80, FwdMethod::Masq, 10), mkdest(0, "192.168.1.10", 80, FwdMethod::Masq)},
                     SchedKind::Lblc);
  c.services[0].dests[0].u_threshold = 2;  // 192.168.1.11, newest: wlc's first pick
  Harness h(c);
  EXPECT_EQ(h.send(syn(1)).p.daddr, ip4("192.168.1.11"));
  EXPECT_EQ(h.send(syn(2)).p.daddr, ip4("192.168.1.11"));  // the cache hit, now at -x
  EXPECT_EQ(h.send(syn(3)).p.daddr, ip4("192.168.1.10"));
  EXPECT_EQ(h.load(1).active + h.load(1).inactive, 2u);
}

TEST(EngineThresholds, RaisingTheUpperThresholdClearsOverloadAtOnce) {
  CoreConfig c = nat({mkdest(0, "192.168.1.10", 80, FwdMethod::Masq), mkdest(1, "192.168.1.11", 80, FwdMethod::Masq)});
  c.services[0].dests[0].u_threshold = 1;
  Harness h(c);
  for (uint16_t p = 1; p <= 4; ++p) h.send(syn(p));
  ASSERT_TRUE(h.load(0).overload);
  h.apply(c);  // unchanged threshold: still overloaded
  EXPECT_TRUE(h.load(0).overload);
  c.services[0].dests[0].u_threshold = 10;
  h.apply(c);
  EXPECT_FALSE(h.load(0).overload);
}

TEST(EngineOnePacket, UdpOpsSchedulesEveryDatagramAndKeepsNoEntry) {
  CoreConfig c;
  c.services = {mksvc(0, kProtoUdp, kVip, 53, SchedKind::Rr,
                      {mkdest(0, "192.168.1.10", 53, FwdMethod::Masq), mkdest(1, "192.168.1.11", 53, FwdMethod::Masq)},
                      kSvcOnePacket)};
  Harness h(c);
  be32 a = h.send(Pkt().ipv4(kClient, kVip).udp(1000, 53).frame()).p.daddr;
  be32 b = h.send(Pkt().ipv4(kClient, kVip).udp(1000, 53).frame()).p.daddr;
  EXPECT_NE(a, b);
  EXPECT_EQ(h.worker->conn_count(), 0u);
  EXPECT_EQ(h.worker->stats().svc[0].conns, 2u);
}

TEST(EngineFlush, FlushingAServerRemovesItsConnectionsAndTheirCounts) {
  Harness h(nat({mkdest(0, "192.168.1.10", 80, FwdMethod::Masq), mkdest(1, "192.168.1.11", 80, FwdMethod::Masq)}));
  for (uint16_t p = 1; p <= 6; ++p) h.send(syn(p));
  h.worker->flush_dest(0, h.now);
  EXPECT_EQ(h.load(0).active, 0u);
  EXPECT_EQ(h.load(1).active, 3u);
  EXPECT_EQ(h.worker->conn_count(), 3u);
  h.worker->flush_all(h.now);
  EXPECT_EQ(h.worker->conn_count(), 0u);
  EXPECT_EQ(h.load(1).active, 0u);
}

}  // namespace
}  // namespace fulcrum::test
