// Tunnels across families: an IPv4 tunnel server in an IPv6 service (IPv6 in IPv4, protocol 41)
// and an IPv6 one in an IPv4 service (IPv4 in IPv6, next header 4), as the kernel's
// ip_vs_tunnel_xmit / ip_vs_tunnel_xmit_v6 encapsulate them. Expected frames are built from
// scratch by pktgen (its own checksums); the encapsulations alone, then through the Worker:
// the verdict's family, the outer source, packet too big and fragmentation needed, and what the
// snapshot still refuses across families.
#include "engine_test_util.h"
#include "icmp6.h"
#include "rewrite.h"

namespace fulcrum::test {
namespace {

constexpr const char* kCip6 = "2001:db8:1::2";
constexpr const char* kVip6 = "2001:db8::100";
constexpr const char* kRip4 = "198.18.2.10";
constexpr const char* kCip4 = "198.18.0.2";
constexpr const char* kVip4 = "198.18.1.100";
constexpr const char* kRip6 = "2001:db8:2::10";
constexpr uint16_t kCport = 40000;

// The MACs of a frame sent back where it came from (pktgen's defaults swapped).
Pkt back() { return Pkt().eth(mac("02:00:00:00:00:01"), mac("02:00:00:00:00:02")); }

CoreConfig v6_service_v4_server() {
  CoreConfig c;
  c.services = {mksvc6(0, kProtoTcp, kVip6, 80, SchedKind::Rr, {mkdest(0, kRip4, 80, FwdMethod::Tunnel)})};
  return c;
}

CoreConfig v4_service_v6_server() {
  CoreConfig c;
  c.services = {mksvc(0, kProtoTcp, kVip4, 80, SchedKind::Rr, {mkdest6(0, kRip6, 80, FwdMethod::Tunnel)})};
  return c;
}

// ---- the encapsulations ------------------------------------------------------------------------

TEST(TunEncap6in4, PrependsAnIpv4HeaderAsTheKernelDoes) {
  const Pkt inner = Pkt().ipv6(kCip6, kVip6).ttl(57).tos(0xb8).tcp(kCport, 80, kTcpSyn).payload("abc");
  TestBuf b(inner.frame());
  Parsed p;
  ASSERT_EQ(parse_frame(b.pb.data, b.pb.len, p), DropReason::None);
  ASSERT_EQ(tun_encap_6in4(b.pb, p, ip4("198.18.1.1"), ip4(kRip4), 0x0102, 1500), DropReason::None);
  // TOS = traffic class, TTL = hop limit, DF clear, the id given, protocol 41, ethertype IPv4.
  const Bytes want = Pkt().ipv4("198.18.1.1", kRip4).ttl(57).tos(0xb8).ip_id(0x0102).raw_l4(41).payload(inner.ip()).frame();
  EXPECT_EQ(diff(b.bytes(), want), "");
  EXPECT_EQ(p.family, 4);
  EXPECT_EQ(p.proto, 41);
  EXPECT_EQ(p.l4_off, 14u + 20u);
  EXPECT_EQ(p.ip_tot_len, inner.ip().size() + 20);
  Parsed again;
  ASSERT_EQ(parse_frame(b.pb.data, b.pb.len, again), DropReason::None);
  EXPECT_EQ(again.daddr, p.daddr);
}

TEST(TunEncap6in4, KeepsTheVlanTagAndDropsTrailingPadding) {
  const Pkt inner = Pkt().vlan(7).ipv6(kCip6, kVip6).udp(kCport, 53).payload("q");
  TestBuf b(Pkt(inner).pad_to(128).frame());
  Parsed p;
  ASSERT_EQ(parse_frame(b.pb.data, b.pb.len, p), DropReason::None);
  ASSERT_EQ(tun_encap_6in4(b.pb, p, ip4("198.18.1.1"), ip4(kRip4), 1, 1500), DropReason::None);
  EXPECT_EQ(diff(b.bytes(), Pkt().vlan(7).ipv4("198.18.1.1", kRip4).ip_id(1).raw_l4(41).payload(inner.ip()).frame()), "");
}

TEST(TunEncap6in4, TooBigForTheLinkLessTheOuterHeaderFails) {
  const Pkt inner = Pkt().ipv6(kCip6, kVip6).tcp(kCport, 80).payload_size(1000);  // 1060 bytes of IPv6
  Parsed p;
  TestBuf b(inner.frame());
  ASSERT_EQ(parse_frame(b.pb.data, b.pb.len, p), DropReason::None);
  EXPECT_EQ(tun_encap_6in4(b.pb, p, 0, ip4(kRip4), 1, 1079), DropReason::TunTooBigDf);
  EXPECT_EQ(b.bytes(), inner.frame()) << "untouched";
  EXPECT_EQ(tun_encap_6in4(b.pb, p, 0, ip4(kRip4), 1, 1080), DropReason::None);  // exactly fits
  TestBuf c(inner.frame(), 19);
  ASSERT_EQ(parse_frame(c.pb.data, c.pb.len, p), DropReason::None);
  EXPECT_EQ(tun_encap_6in4(c.pb, p, 0, ip4(kRip4), 1, 1500), DropReason::TunNoHeadroom);
}

TEST(TunEncap4in6, PrependsAnIpv6HeaderAsTheKernelDoes) {
  const Pkt inner = Pkt().ipv4(kCip4, kVip4).ttl(57).tos(0x28).df().tcp(kCport, 80, kTcpSyn).payload("abc");
  TestBuf b(inner.frame());
  Parsed p;
  ASSERT_EQ(parse_frame(b.pb.data, b.pb.len, p), DropReason::None);
  const Ip6 src = ip6("2001:db8:1::1"), dst = ip6(kRip6);
  ASSERT_EQ(tun_encap_4in6(b.pb, p, src.data(), dst.data(), 1500), DropReason::None);
  // Traffic class = TOS, flow label 0, hop limit = TTL, next header 4, ethertype IPv6; the
  // inner header (its checksum) untouched.
  const Bytes want = Pkt().ipv6("2001:db8:1::1", kRip6).ttl(57).tos(0x28).raw_l4(4).payload(inner.ip()).frame();
  EXPECT_EQ(diff(b.bytes(), want), "");
  EXPECT_EQ(p.family, 6);
  EXPECT_EQ(p.proto, kProtoIpip);
  EXPECT_EQ(p.l4_off, 14u + 40u);
}

TEST(TunEncap4in6, TooBigFailsByTheInnerDfBit) {
  const Pkt df = Pkt().ipv4(kCip4, kVip4).df().tcp(kCport, 80).payload_size(1000);  // 1040 bytes
  const Pkt nodf = Pkt().ipv4(kCip4, kVip4).tcp(kCport, 80).payload_size(1000);
  const Ip6 a = ip6(kRip6);
  Parsed p;
  TestBuf b(df.frame());
  ASSERT_EQ(parse_frame(b.pb.data, b.pb.len, p), DropReason::None);
  EXPECT_EQ(tun_encap_4in6(b.pb, p, a.data(), a.data(), 1079), DropReason::TunTooBigDf);
  EXPECT_EQ(b.bytes(), df.frame()) << "untouched";
  TestBuf c(nodf.frame());
  ASSERT_EQ(parse_frame(c.pb.data, c.pb.len, p), DropReason::None);
  EXPECT_EQ(tun_encap_4in6(c.pb, p, a.data(), a.data(), 1079), DropReason::TunTooBigNoDf);
  EXPECT_EQ(tun_encap_4in6(c.pb, p, a.data(), a.data(), 1080), DropReason::None);  // exactly fits
}

// ---- through the Worker: IPv6 service, IPv4 tunnel server -------------------------------------

TEST(EngineTun6in4, AnIpv6ClientsPacketLeavesAsIpv4ForTheDataplaneToSource) {
  Harness h(v6_service_v4_server());
  const Pkt inner = Pkt().ipv6(kCip6, kVip6).ttl(57).tos(0x20).tcp(kCport, 80, kTcpSyn).payload_size(30);
  auto o = h.send(inner.frame());
  // Without a tunnel source the outer source is 0: the egress port's address goes there.
  ASSERT_EQ(o.v.action, Action::TransmitSrc);
  EXPECT_EQ(o.v.route_dst, ip4(kRip4));
  EXPECT_EQ(diff(o.frame, Pkt().ipv4("0.0.0.0", kRip4).ttl(57).tos(0x20).ip_id(1).raw_l4(41).payload(inner.ip()).frame()), "");
  // The connection is the IPv6 client's, counted and listed with its IPv4 server.
  EXPECT_EQ(h.worker->conn6_count(), 1u);
  EXPECT_EQ(h.worker->stats().dest[0].conns, 1u);
  std::vector<ConnInfo> conns;
  h.worker->list_conns(0, 16, conns, h.now);
  ASSERT_EQ(conns.size(), 1u);
  EXPECT_EQ(conns[0].family, 6);
  EXPECT_EQ(conns[0].fwd, FwdMethod::Tunnel);
  EXPECT_EQ(conns[0].daddr_ip, IpAddr::from_v4(ip4(kRip4)));
  // The next segment takes the same way (the established path), with the next IP id.
  auto o2 = h.send(Pkt().ipv6(kCip6, kVip6).tcp(kCport, 80, kTcpAck).frame());
  ASSERT_EQ(o2.v.action, Action::TransmitSrc);
  EXPECT_EQ(o2.p.proto, 41);
  EXPECT_EQ(load16(o2.frame.data() + 18), hton16(2));
}

TEST(EngineTun6in4, TheConfiguredTunnelSourceIsTheOuterSource) {
  CoreConfig c = v6_service_v4_server();
  c.tunnel_source = ip4("198.18.1.1");
  c.services[0].proto = kProtoUdp;
  Harness h(c);
  const Pkt inner = Pkt().ipv6(kCip6, kVip6).udp(kCport, 80).payload("x");
  auto o = h.send(inner.frame());
  ASSERT_EQ(o.v.action, Action::Transmit);
  EXPECT_EQ(o.v.route_dst, ip4(kRip4));
  EXPECT_EQ(diff(o.frame, Pkt().ipv4("198.18.1.1", kRip4).ip_id(1).raw_l4(41).payload(inner.ip()).frame()), "");
}

TEST(EngineTun6in4, TooBigAnswersPacketTooBigWithTheLinkMtuLessTheIpv4Header) {
  CoreConfig c = v6_service_v4_server();
  c.mtu = 1280;
  Harness h(c);
  const Pkt big = Pkt().ipv6(kCip6, kVip6).tcp(kCport, 80, kTcpSyn).payload_size(1210);  // 1270 bytes: 1290 outer
  auto o = h.send6(big.frame());
  ASSERT_EQ(o.v.action, Action::Transmit6);
  EXPECT_EQ(o.route6, addr6(kCip6));
  Bytes quote = big.ip();
  quote.resize(1280 - 48);
  EXPECT_EQ(diff(o.frame, back().ipv6(kVip6, kCip6).icmp_error(2, 0, quote, 1280 - 20).frame()), "");
  EXPECT_EQ(h.drops(DropReason::TunTooBigDf), 1u);
  EXPECT_EQ(h.events(Event::FragNeededSent), 1u);
  // One that fits goes (1260 bytes of IPv6: 1280 outer).
  auto ok = h.send(Pkt().ipv6(kCip6, kVip6).tcp(kCport + 1, 80, kTcpSyn).payload_size(1200).frame());
  EXPECT_EQ(ok.v.action, Action::TransmitSrc);
  EXPECT_EQ(ok.p.ip_tot_len, 1280u);
}

// ---- through the Worker: IPv4 service, IPv6 tunnel server -------------------------------------

TEST(EngineTun4in6, AnIpv4ClientsPacketLeavesAsIpv6ForTheDataplaneToSource) {
  Harness h(v4_service_v6_server());
  const Pkt inner = Pkt().ipv4(kCip4, kVip4).ttl(57).tos(0x10).df().tcp(kCport, 80, kTcpSyn).payload_size(30);
  auto o = h.send(inner.frame());
  // The destination is the frame's own (outer) one; its source :: for the dataplane to fill.
  ASSERT_EQ(o.v.action, Action::Transmit6Src);
  EXPECT_EQ(diff(o.frame, Pkt().ipv6("::", kRip6).ttl(57).tos(0x10).raw_l4(4).payload(inner.ip()).frame()), "");
  EXPECT_EQ(h.worker->conn_count(), 1u);
  EXPECT_EQ(h.worker->conn6_count(), 0u) << "the IPv4 client's table";
  std::vector<ConnInfo> conns;
  h.worker->list_conns(0, 16, conns, h.now);
  ASSERT_EQ(conns.size(), 1u);
  EXPECT_EQ(conns[0].family, 4);
  EXPECT_EQ(conns[0].fwd, FwdMethod::Tunnel);
  EXPECT_EQ(conns[0].daddr_ip, addr6(kRip6)) << "listed with its IPv6 server";
  // Established segments, and ICMP errors from the client about the connection, take it too.
  auto o2 = h.send(Pkt().ipv4(kCip4, kVip4).tcp(kCport, 80, kTcpAck).payload("more").frame());
  ASSERT_EQ(o2.v.action, Action::Transmit6Src);
  EXPECT_EQ(o2.p.proto, kProtoIpip);
  const Bytes quoted = Pkt().ipv4(kVip4, kCip4).tcp(80, kCport, kTcpAck).ip();
  auto e = h.send(Pkt().ipv4(kCip4, kVip4).icmp_error(3, 3, quoted).frame());
  ASSERT_EQ(e.v.action, Action::Transmit6Src);
  EXPECT_EQ(h.events(Event::IcmpRelated), 1u);
}

TEST(EngineTun4in6, TheConfiguredIpv6TunnelSourceIsTheOuterSource) {
  CoreConfig c = v4_service_v6_server();
  c.tunnel_source6 = addr6("2001:db8:1::1");
  c.tunnel_source = ip4("198.18.1.1");  // IPv4 outer headers' only
  Harness h(c);
  const Pkt inner = Pkt().ipv4(kCip4, kVip4).tcp(kCport, 80, kTcpSyn);
  auto o = h.send(inner.frame());
  ASSERT_EQ(o.v.action, Action::Transmit6Src) << "towards its own destination; the dataplane keeps a set source";
  EXPECT_EQ(diff(o.frame, Pkt().ipv6("2001:db8:1::1", kRip6).raw_l4(4).payload(inner.ip()).frame()), "");
}

TEST(EngineTun6in6, TheConfiguredIpv6TunnelSourceReplacesTheVip) {
  CoreConfig c;
  c.services = {mksvc6(0, kProtoTcp, kVip6, 80, SchedKind::Rr, {mkdest6(0, kRip6, 80, FwdMethod::Tunnel)})};
  c.tunnel_source6 = addr6("2001:db8:1::1");
  Harness h(c);
  const Pkt inner = Pkt().ipv6(kCip6, kVip6).tcp(kCport, 80, kTcpSyn);
  auto o = h.send6(inner.frame());
  ASSERT_EQ(o.v.action, Action::Transmit6);
  EXPECT_EQ(o.route6, addr6(kRip6));
  EXPECT_EQ(diff(o.frame, Pkt().ipv6("2001:db8:1::1", kRip6).raw_l4(41).payload(inner.ip()).frame()), "");
  // Unset again (a delta): the VIP, as before.
  CoreDelta d;
  d.tunnel_source6 = IpAddr{};
  ASSERT_TRUE(h.apply_delta(d).empty());
  auto o2 = h.send6(Pkt().ipv6(kCip6, kVip6).tcp(kCport + 1, 80, kTcpSyn).frame());
  EXPECT_EQ(IpAddr::from_v6(o2.frame.data() + 14 + 8), addr6(kVip6));
}

TEST(SnapshotMixedFamily, TheIpv6TunnelSourceMustBeAnIpv6UnicastAddress) {
  for (const IpAddr& bad : {IpAddr::from_v4(ip4("198.18.1.1")), addr6("ff02::1")}) {
    CoreConfig c = v4_service_v6_server();
    c.tunnel_source6 = bad;
    std::vector<std::string> errors;
    EXPECT_FALSE(build_snapshot(c, WorkerLimits{16, 64}, nullptr, errors));
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0], "tunnelSource6: must be an IPv6 unicast address");
  }
}

TEST(EngineTun4in6, TooBigWithDfAnswersFragNeededWithTheLinkMtuLessTheIpv6Header) {
  CoreConfig c = v4_service_v6_server();
  c.mtu = 600;
  Harness h(c);
  const Pkt big = Pkt().ipv4(kCip4, kVip4).df().tcp(kCport, 80, kTcpSyn).payload_size(530);  // 570 bytes: 610 outer
  auto o = h.send(big.frame());
  ASSERT_EQ(o.v.action, Action::Transmit);
  EXPECT_EQ(o.v.route_dst, ip4(kCip4));
  Bytes quote = big.ip();
  quote.resize(576 - 28);
  EXPECT_EQ(diff(o.frame, back().ipv4(kVip4, kCip4).tos(0xc0).ip_id(1).icmp_error(3, 4, quote, 600 - 40).frame()), "");
  EXPECT_EQ(h.drops(DropReason::TunTooBigDf), 1u);
  EXPECT_EQ(h.events(Event::FragNeededSent), 1u);
}

TEST(EngineTun4in6, TooBigWithoutDfIsDroppedAndCounted) {
  CoreConfig c = v4_service_v6_server();
  c.mtu = 600;
  Harness h(c);
  auto o = h.send(Pkt().ipv4(kCip4, kVip4).tcp(kCport, 80, kTcpSyn).payload_size(530).frame());
  EXPECT_EQ(o.v.action, Action::Drop);
  EXPECT_EQ(o.v.reason, DropReason::TunTooBigNoDf);
  EXPECT_EQ(h.drops(DropReason::TunTooBigNoDf), 1u);
}

TEST(EngineTun4in6, ConnectionsToAnIpv6ServerAreNotSynced) {
  // The same flow to an IPv4 tunnel server (second VIP) is synced; to the IPv6 one it is not:
  // an IPv4 sync record cannot name an IPv6 server (nor does the kernel's).
  CoreConfig c = v4_service_v6_server();
  c.services.push_back(mksvc(1, kProtoTcp, "198.18.1.101", 80, SchedKind::Rr, {mkdest(1, "198.18.2.11", 80, FwdMethod::Tunnel)}));
  Harness h(c);
  SyncSideArray side(h.worker->slot_count());
  h.worker->set_sync_master(side.get());
  for (const char* vip : {kVip4, "198.18.1.101"}) {
    h.send(Pkt().ipv4(kCip4, vip).tcp(kCport, 80, kTcpSyn).frame());
    for (int i = 0; i < 5; ++i) h.send(Pkt().ipv4(kCip4, vip).tcp(kCport, 80, kTcpAck).frame());
  }
  ASSERT_GT(h.worker->sync_pending(), 0u);
  for (uint32_t i = 0; i < h.worker->sync_pending(); ++i) EXPECT_EQ(h.worker->sync_records()[i].vaddr, ip4("198.18.1.101"));
  h.worker->set_sync_master(nullptr);
}

TEST(EngineTun4in6, MhPlacesAnIpv6ServerOfAnIpv4ServiceByItsFirstWordAsTheKernel) {
  // ip_vs_mh folds dest addresses by the service's family: addr->ip, the first word of an IPv6
  // one. So 2001:db8:2::10 takes the slots 32.1.13.184 (0x20010db8) would.
  auto cfg = [](DestConfig first) {
    CoreConfig c;
    ServiceConfig s = mksvc(0, kProtoTcp, kVip4, 80, SchedKind::Mh, {first, mkdest(1, "198.18.2.11", 80, FwdMethod::Tunnel)});
    s.mh_table_size = 251;
    c.services = {s};
    return c;
  };
  Harness mixed(cfg(mkdest6(0, kRip6, 80, FwdMethod::Tunnel)));
  Harness plain(cfg(mkdest(0, "32.1.13.184", 80, FwdMethod::Tunnel)));
  int firsts = 0;
  for (int i = 1; i <= 64; ++i) {
    const std::string client = "198.18.0." + std::to_string(i);
    const Bytes syn = Pkt().ipv4(client.c_str(), kVip4).tcp(kCport, 80, kTcpSyn).frame();
    const bool to_v6 = mixed.send(syn).v.action == Action::Transmit6Src;
    const bool to_first = plain.send(syn).v.route_dst == ip4("32.1.13.184");
    EXPECT_EQ(to_v6, to_first) << client;
    firsts += to_first;
  }
  EXPECT_GT(firsts, 0);
  EXPECT_LT(firsts, 64);
}

// ---- what stays refused across families --------------------------------------------------------

TEST(SnapshotMixedFamily, OnlyTunnelsAndNat64CrossFamilies) {
  for (FwdMethod fwd : {FwdMethod::Masq, FwdMethod::Route, FwdMethod::FullNat}) {
    CoreConfig c;
    c.services = {mksvc(0, kProtoTcp, kVip4, 80, SchedKind::Rr, {mkdest6(0, kRip6, 80, fwd)})};
    std::vector<std::string> errors;
    EXPECT_FALSE(build_snapshot(c, WorkerLimits{16, 64}, nullptr, errors));
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0], "services[0].dests[0].address: an IPv6 real server in an IPv4 service needs tun (IPv4 in IPv6)");
  }
  for (FwdMethod fwd : {FwdMethod::Masq, FwdMethod::Route}) {
    CoreConfig c;
    c.services = {mksvc6(0, kProtoTcp, kVip6, 80, SchedKind::Rr, {mkdest(0, kRip4, 80, fwd)})};
    std::vector<std::string> errors;
    EXPECT_FALSE(build_snapshot(c, WorkerLimits{16, 64}, nullptr, errors));
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0],
              "services[0].dests[0].address: an IPv4 real server in an IPv6 service needs tun (IPv6 in IPv4) or fullnat (NAT64)");
  }
  std::vector<std::string> errors;
  EXPECT_TRUE(build_snapshot(v6_service_v4_server(), WorkerLimits{16, 64}, nullptr, errors));
  EXPECT_TRUE(build_snapshot(v4_service_v6_server(), WorkerLimits{16, 64}, nullptr, errors));
  EXPECT_TRUE(errors.empty());
}

}  // namespace
}  // namespace fulcrum::test
