// The Worker end to end for each forwarding method: a client's packets go in, the expected
// packets come out, both directions, with every checksum verified independently.
#include "engine_test_util.h"

namespace fulcrum::test {
namespace {

const char* kClient = "172.16.5.20";
const char* kVip = "10.0.0.1";

CoreConfig one_service(FwdMethod fwd, uint16_t rport = 8080) {
  CoreConfig c;
  c.services = {mksvc(0, kProtoTcp, kVip, 80, SchedKind::Rr, {mkdest(0, "192.168.1.10", rport, fwd)})};
  c.tunnel_source = ip4("172.16.0.1");
  return c;
}

TEST(EngineNat, RewritesDestinationInAndSourceOutWithValidChecksums) {
  Harness h(one_service(FwdMethod::Masq));
  auto in = h.send(Pkt().ipv4(kClient, kVip).tcp(40000, 80, kTcpSyn).payload("hello").frame());
  ASSERT_EQ(in.v.action, Action::Transmit);
  EXPECT_EQ(in.v.route_dst, ip4("192.168.1.10"));
  Bytes want = Pkt().ipv4(kClient, "192.168.1.10").tcp(40000, 8080, kTcpSyn).payload("hello").frame();
  EXPECT_EQ(diff(in.frame, want), "");
  EXPECT_EQ(verify_checksums(in.frame), "");

  auto out = h.send(Pkt().ipv4("192.168.1.10", kClient).tcp(8080, 40000, kTcpSyn | kTcpAck).payload("world").frame());
  ASSERT_EQ(out.v.action, Action::Transmit);
  EXPECT_EQ(out.v.route_dst, ip4(kClient));
  Bytes want_out = Pkt().ipv4(kVip, kClient).tcp(80, 40000, kTcpSyn | kTcpAck).payload("world").frame();
  EXPECT_EQ(diff(out.frame, want_out), "");
  EXPECT_EQ(verify_checksums(out.frame), "");

  const WorkerStats& st = h.worker->stats();
  EXPECT_EQ(st.dest[0].conns, 1u);
  EXPECT_EQ(st.dest[0].inpkts, 1u);
  EXPECT_EQ(st.dest[0].outpkts, 1u);
  EXPECT_EQ(st.dest[0].inbytes, Pkt().ipv4(kClient, kVip).tcp(40000, 80, kTcpSyn).payload("hello").ip().size());
  EXPECT_EQ(st.svc[0].conns, 1u);
  EXPECT_EQ(st.total.outpkts, 1u);
}

TEST(EngineNat, UdpWithZeroChecksumKeepsItZero) {
  CoreConfig c;
  c.services = {mksvc(0, kProtoUdp, kVip, 53, SchedKind::Rr, {mkdest(0, "192.168.1.10", 5353, FwdMethod::Masq)})};
  Harness h(c);
  auto in = h.send(Pkt().ipv4(kClient, kVip).udp(1111, 53).udp_zero_csum().payload("q").frame());
  ASSERT_EQ(in.v.action, Action::Transmit);
  EXPECT_EQ(in.p.daddr, ip4("192.168.1.10"));
  EXPECT_EQ(in.p.dport, port(5353));
  EXPECT_EQ(load16(in.frame.data() + in.p.l4_off + 6), 0);
  auto out = h.send(Pkt().ipv4("192.168.1.10", kClient).udp(5353, 1111).payload("a").frame());
  ASSERT_EQ(out.v.action, Action::Transmit);
  EXPECT_EQ(out.p.saddr, ip4(kVip));
  EXPECT_EQ(out.p.sport, port(53));
  EXPECT_EQ(verify_checksums(out.frame), "");
}

TEST(EngineFullNat, RewritesBothEndsAndCarriesTheClientInToa) {
  Harness h(one_service(FwdMethod::FullNat, 80), 1024, {ip4("10.255.0.1")});
  auto syn = h.send(Pkt().ipv4(kClient, kVip).tcp(40000, 80, kTcpSyn).frame());
  ASSERT_EQ(syn.v.action, Action::Transmit);
  EXPECT_EQ(syn.p.saddr, ip4("10.255.0.1"));
  EXPECT_EQ(syn.p.daddr, ip4("192.168.1.10"));
  uint16_t lport = ntoh16(syn.p.sport);
  EXPECT_GE(lport, 5000);
  EXPECT_LE(lport, 5099);
  EXPECT_EQ(syn.p.dport, port(80));
  EXPECT_EQ(verify_checksums(syn.frame), "");
  EXPECT_EQ(syn.p.l4_off + 20, syn.p.payload_off) << "no TOA on the SYN";

  // The real server answers the local address; the client sees the VIP.
  auto synack = h.send(Pkt().ipv4("192.168.1.10", "10.255.0.1").tcp(80, lport, kTcpSyn | kTcpAck).frame());
  ASSERT_EQ(synack.v.action, Action::Transmit);
  EXPECT_EQ(synack.v.route_dst, ip4(kClient));
  EXPECT_EQ(diff(synack.frame, Pkt().ipv4(kVip, kClient).tcp(80, 40000, kTcpSyn | kTcpAck).frame()), "");

  // The handshake's ACK carries TOA: kind 254, length 8, client port, client address.
  auto ack = h.send(Pkt().ipv4(kClient, kVip).tcp(40000, 80, kTcpAck).frame());
  ASSERT_EQ(ack.v.action, Action::Transmit);
  ASSERT_EQ(ack.p.payload_off - ack.p.l4_off, 28u);
  const uint8_t* opt = ack.frame.data() + ack.p.l4_off + 20;
  EXPECT_EQ(opt[0], 254);
  EXPECT_EQ(opt[1], 8);
  EXPECT_EQ(load16(opt + 2), port(40000));
  EXPECT_EQ(load32(opt + 4), ip4(kClient));
  EXPECT_EQ(verify_checksums(ack.frame), "");
  EXPECT_EQ(h.worker->stats().events[static_cast<size_t>(Event::ToaInserted)], 1u);

  // Only once.
  auto data = h.send(Pkt().ipv4(kClient, kVip).tcp(40000, 80, kTcpAck | kTcpPsh).payload("x").frame());
  EXPECT_EQ(data.p.payload_off - data.p.l4_off, 20u);

  // A reply from another host to the local port is not this connection's.
  auto forged = h.send(Pkt().ipv4("192.168.1.99", "10.255.0.1").tcp(80, lport, kTcpAck).frame());
  EXPECT_EQ(forged.v.action, Action::Drop);
  EXPECT_EQ(forged.v.reason, DropReason::NoConnection);
}

TEST(EngineFullNat, PortExhaustionIsCountedAndExistingFlowsContinue) {
  Harness h(one_service(FwdMethod::FullNat, 80), 1024, {ip4("10.255.0.1")});
  for (int i = 0; i < 100; ++i)
    ASSERT_EQ(h.send(Pkt().ipv4(kClient, kVip).tcp(10000 + i, 80, kTcpSyn).frame()).v.action, Action::Transmit);
  auto extra = h.send(Pkt().ipv4(kClient, kVip).tcp(20000, 80, kTcpSyn).frame());
  EXPECT_EQ(extra.v.action, Action::Drop);
  EXPECT_EQ(extra.v.reason, DropReason::FnatPortsExhausted);
  EXPECT_EQ(h.drops(DropReason::FnatPortsExhausted), 1u);
  EXPECT_EQ(h.send(Pkt().ipv4(kClient, kVip).tcp(10000, 80, kTcpAck).frame()).v.action, Action::Transmit);
  EXPECT_EQ(h.worker->conn_count(), 100u);
}

TEST(EngineDr, ChangesNothingAtL3AndRoutesToTheRealServer) {
  Harness h(one_service(FwdMethod::Route));
  Bytes sent = Pkt().ipv4(kClient, kVip).tcp(40000, 80, kTcpSyn).payload("abc").frame();
  auto in = h.send(sent);
  ASSERT_EQ(in.v.action, Action::Transmit);
  EXPECT_EQ(in.v.route_dst, ip4("192.168.1.10"));
  EXPECT_EQ(diff(in.frame, sent), "");
}

TEST(EngineTun, EncapsulatesInIpipFromTheTunnelSource) {
  Harness h(one_service(FwdMethod::Tunnel));
  Bytes inner = Pkt().ipv4(kClient, kVip).ttl(57).tos(0x10).df().tcp(40000, 80, kTcpSyn).payload("abc").ip();
  auto in = h.send(Pkt().ipv4(kClient, kVip).ttl(57).tos(0x10).df().tcp(40000, 80, kTcpSyn).payload("abc").frame());
  ASSERT_EQ(in.v.action, Action::Transmit);
  EXPECT_EQ(in.v.route_dst, ip4("192.168.1.10"));
  EXPECT_EQ(in.p.proto, kProtoIpip);
  EXPECT_EQ(in.p.saddr, ip4("172.16.0.1"));
  EXPECT_EQ(in.p.daddr, ip4("192.168.1.10"));
  EXPECT_EQ(in.p.ttl, 57);
  EXPECT_TRUE(in.p.df);
  EXPECT_EQ(Bytes(in.frame.begin() + in.p.l4_off, in.frame.end()), inner) << "inner packet untouched";
  EXPECT_EQ(verify_checksums(in.frame), "");
}

TEST(EngineTun, TooBigWithDfAnswersFragNeeded) {
  CoreConfig c = one_service(FwdMethod::Tunnel);
  c.mtu = 600;
  Harness h(c);
  auto in = h.send(Pkt().ipv4(kClient, kVip).df().tcp(40000, 80, kTcpSyn).payload_size(570).frame());
  ASSERT_EQ(in.v.action, Action::Transmit);
  EXPECT_EQ(in.v.route_dst, ip4(kClient));
  EXPECT_EQ(in.p.proto, kProtoIcmp);
  EXPECT_EQ(in.p.icmp_type, 3);
  EXPECT_EQ(in.p.icmp_code, 4);
  EXPECT_EQ(load16(in.frame.data() + in.p.l4_off + 6), port(580)) << "next-hop MTU = mtu - outer header";
  EXPECT_EQ(verify_checksums(in.frame), "");
}

TEST(EngineNoDest, AnswersPortUnreachableFromTheVipAndCountsTheDrop) {
  CoreConfig c;
  c.services = {mksvc(0, kProtoTcp, kVip, 80, SchedKind::Wlc, {mkdest(0, "192.168.1.10", 80, FwdMethod::Masq, 0)})};
  Harness h(c);
  auto r = h.send(Pkt().ipv4(kClient, kVip).tcp(40000, 80, kTcpSyn).frame());
  EXPECT_EQ(r.v.action, Action::Transmit);
  EXPECT_EQ(r.v.reason, DropReason::NoDestination);
  EXPECT_EQ(r.v.route_dst, ip4(kClient));
  EXPECT_EQ(r.p.proto, kProtoIcmp);
  EXPECT_EQ(r.p.icmp_type, 3);
  EXPECT_EQ(r.p.icmp_code, 3);
  EXPECT_EQ(r.p.saddr, ip4(kVip));
  EXPECT_EQ(r.p.daddr, ip4(kClient));
  EXPECT_EQ(verify_checksums(r.frame), "");
  EXPECT_EQ(h.drops(DropReason::NoDestination), 1u);
  EXPECT_EQ(h.worker->conn_count(), 0u);
}

TEST(EngineIcmp, EchoToAVipIsAnswered) {
  Harness h(one_service(FwdMethod::Masq));
  auto r = h.send(Pkt().ipv4(kClient, kVip).icmp_echo(7, 1).payload("ping").frame());
  ASSERT_EQ(r.v.action, Action::Transmit);
  EXPECT_EQ(r.p.icmp_type, 0);
  EXPECT_EQ(r.p.saddr, ip4(kVip));
  EXPECT_EQ(r.p.daddr, ip4(kClient));
  EXPECT_EQ(verify_checksums(r.frame), "");
  // Echo to an address that is not a VIP is the host's business.
  EXPECT_EQ(h.send(Pkt().ipv4(kClient, "10.0.0.77").icmp_echo(7, 1).frame()).v.action, Action::Kernel);
}

TEST(EngineIcmp, ErrorFromTheRealServerReachesTheClientAboutWhatItSent) {
  Harness h(one_service(FwdMethod::Masq));
  h.send(Pkt().ipv4(kClient, kVip).tcp(40000, 80, kTcpSyn).frame());
  Bytes as_forwarded = Pkt().ipv4(kClient, "192.168.1.10").tcp(40000, 8080, kTcpSyn).ip();
  auto r = h.send(Pkt().ipv4("192.168.1.10", kClient).icmp_error(3, 3, as_forwarded).frame());
  ASSERT_EQ(r.v.action, Action::Transmit);
  EXPECT_EQ(r.v.route_dst, ip4(kClient));
  EXPECT_EQ(r.p.saddr, ip4(kVip));
  ASSERT_EQ(r.p.inner.family, 4);
  EXPECT_EQ(r.p.inner.saddr, ip4(kClient));
  EXPECT_EQ(r.p.inner.daddr, ip4(kVip));
  EXPECT_EQ(r.p.inner.sport, port(40000));
  EXPECT_EQ(r.p.inner.dport, port(80));
  EXPECT_EQ(verify_checksums(r.frame), "");
}

TEST(EngineIcmp, ErrorFromTheClientSideAboutAReplyReachesTheRealServer) {
  Harness h(one_service(FwdMethod::Masq));
  h.send(Pkt().ipv4(kClient, kVip).tcp(40000, 80, kTcpSyn).frame());
  Bytes reply_as_sent = Pkt().ipv4(kVip, kClient).tcp(80, 40000, kTcpSyn | kTcpAck).ip();
  auto r = h.send(Pkt().ipv4("172.16.0.254", kVip).icmp_error(11, 0, reply_as_sent).frame());
  ASSERT_EQ(r.v.action, Action::Transmit);
  EXPECT_EQ(r.v.route_dst, ip4("192.168.1.10"));
  EXPECT_EQ(r.p.daddr, ip4("192.168.1.10"));
  EXPECT_EQ(r.p.inner.saddr, ip4("192.168.1.10"));
  EXPECT_EQ(r.p.inner.sport, port(8080));
  EXPECT_EQ(verify_checksums(r.frame), "");
}

TEST(EngineClassify, NonServiceTrafficGoesToTheKernelAndBadFramesAreCountedDrops) {
  Harness h(one_service(FwdMethod::Masq));
  EXPECT_EQ(h.send(Pkt().ipv4(kClient, "10.0.0.2").tcp(40000, 22, kTcpSyn).frame()).v.action, Action::Kernel);
  EXPECT_EQ(h.send(Pkt().ethertype(0x0806).payload_size(28).frame()).v.action, Action::Kernel);
  auto frag = h.send(Pkt().ipv4(kClient, kVip).mf().tcp(40000, 80, kTcpSyn).frame());
  EXPECT_EQ(frag.v.action, Action::Drop);
  EXPECT_EQ(frag.v.reason, DropReason::Fragment);
  Bytes trunc = Pkt().ipv4(kClient, kVip).tcp(40000, 80, kTcpSyn).frame();
  trunc.resize(40);
  EXPECT_EQ(h.send(trunc).v.action, Action::Drop);
  EXPECT_EQ(h.drops(DropReason::Fragment), 1u);
  // A TCP segment that is not a SYN and has no connection starts nothing.
  auto stray = h.send(Pkt().ipv4(kClient, kVip).tcp(40001, 80, kTcpAck).frame());
  EXPECT_EQ(stray.v.reason, DropReason::NoConnection);
  EXPECT_EQ(h.worker->conn_count(), 0u);
}

TEST(EngineClassify, MatchRulesNameFwmarkServices) {
  CoreConfig c;
  ServiceConfig s;
  s.id = 0;
  s.fwmark = 5;
  s.sched = SchedKind::Rr;
  s.dests = {mkdest(0, "192.168.1.10", 0, FwdMethod::Masq)};
  c.services = {s};
  MatchRule r;
  r.dst_prefix = IpAddr::from_v4(ip4("10.9.0.0"));
  r.prefix_len = 16;
  r.proto = kProtoTcp;
  r.port_lo = 8000;
  r.port_hi = 8999;
  r.mark = 5;
  c.rules = {r};
  Harness h(c);
  auto in = h.send(Pkt().ipv4(kClient, "10.9.3.4").tcp(40000, 8443, kTcpSyn).frame());
  ASSERT_EQ(in.v.action, Action::Transmit);
  EXPECT_EQ(in.p.daddr, ip4("192.168.1.10"));
  EXPECT_EQ(in.p.dport, port(8443)) << "a dest without a port keeps the packet's port";
  EXPECT_EQ(h.send(Pkt().ipv4(kClient, "10.9.3.4").tcp(40000, 9000, kTcpSyn).frame()).v.action, Action::Kernel);
  EXPECT_EQ(h.send(Pkt().ipv4(kClient, "10.8.3.4").tcp(40000, 8443, kTcpSyn).frame()).v.action, Action::Kernel);
}

}  // namespace
}  // namespace fulcrum::test
