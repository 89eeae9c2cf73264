// IPv6 through the Worker: services on IPv6 VIPs, every forwarding method's rewritten bytes
// (against frames built from scratch, whose checksums pktgen computes its own way), ICMPv6
// errors both ways, echo, port unreachable and packet too big, FullNAT with IPv6 local addresses
// and TOA's IPv6 form, NAT64, persistence by prefix, expiry, listings, and malformed IPv6.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "conn_table6.h"
#include "engine_test_util.h"
#include "sched/hash.h"

namespace fulcrum {
namespace {

using test::Bytes;
using test::Ip6;
using test::diff;
using test::Harness;
using test::ip4;
using test::mac;
using test::Pkt;
using test::port;
using test::TestBuf;
using test::verify_checksums;

constexpr const char* kCip = "2001:db8:1::2";
constexpr const char* kVip = "2001:db8::100";
constexpr const char* kRip = "2001:db8:2::10";
constexpr const char* kRip2 = "2001:db8:2::11";
constexpr const char* kLip = "2001:db8:3::1";
constexpr uint16_t kCport = 40000;

CoreConfig one_service(FwdMethod fwd, uint16_t rport = 8080, uint8_t proto = kProtoTcp) {
  CoreConfig cfg;
  cfg.services.push_back(test::mksvc6(0, proto, kVip, 80, SchedKind::Rr, {test::mkdest6(0, kRip, rport, fwd)}));
  return cfg;
}

// The MACs of a frame sent back where it came from (pktgen's defaults swapped).
Pkt back() { return Pkt().eth(mac("02:00:00:00:00:01"), mac("02:00:00:00:00:02")); }

TEST(ConnTable6, RecordIsOneCacheLineAndKeysAreWhole128BitAddresses) {
  EXPECT_EQ(sizeof(ConnV6), 64u);
  ConnTable6 t(ConnTable6::Options{64, 42});
  ConnV6 a{};
  a.proto = kProtoTcp;
  a.caddr = test::addr6("2001:db8::1");
  a.cport = port(1000);
  a.vaddr = test::addr6(kVip);
  a.vport = port(80);
  ConnV6 b = a;
  b.caddr.b[15] = 2;  // differs in the last byte only
  ConnV6 c = a;
  c.caddr.b[0] ^= 0x80;  // and in the first only
  const uint32_t ia = t.insert(a), ib = t.insert(b), ic = t.insert(c);
  ASSERT_NE(ia, ConnTable6::kNone);
  ASSERT_NE(ib, ConnTable6::kNone);
  EXPECT_EQ(t.find_in(t.hash_of(a), kProtoTcp, a.caddr.b.data(), a.cport, a.vaddr.b.data(), a.vport), ia);
  EXPECT_EQ(t.find_in(t.hash_of(b), kProtoTcp, b.caddr.b.data(), b.cport, b.vaddr.b.data(), b.vport), ib);
  EXPECT_EQ(t.find_in(t.hash_of(c), kProtoTcp, c.caddr.b.data(), c.cport, c.vaddr.b.data(), c.vport), ic);
  EXPECT_NE(t.hash_of(a), t.hash_of(b));
  EXPECT_NE(t.hash_of(a), t.hash_of(c));
  // Another VIP, port or protocol is another connection.
  EXPECT_EQ(t.find_in(t.hash_of(a), kProtoTcp, a.caddr.b.data(), a.cport, b.caddr.b.data(), a.vport), ConnTable6::kNone);
  EXPECT_EQ(t.find_in(t.hash(kProtoUdp, a.caddr, a.cport), kProtoUdp, a.caddr.b.data(), a.cport, a.vaddr.b.data(),
                      a.vport),
            ConnTable6::kNone);
  t.erase(ib);
  EXPECT_EQ(t.find_in(t.hash_of(b), kProtoTcp, b.caddr.b.data(), b.cport, b.vaddr.b.data(), b.vport), ConnTable6::kNone);
  EXPECT_EQ(t.find_in(t.hash_of(a), kProtoTcp, a.caddr.b.data(), a.cport, a.vaddr.b.data(), a.vport), ia);
  EXPECT_EQ(t.size(), 2u);
}

TEST(ConnTable6, PrefixMasksTheClientNet) {
  const IpAddr a = test::addr6("2001:db8:1:2:3:4:5:6");
  EXPECT_EQ(ip6_prefix(a, 64), test::addr6("2001:db8:1:2::"));
  EXPECT_EQ(ip6_prefix(a, 36), test::addr6("2001:db8::"));
  EXPECT_EQ(ip6_prefix(a, 128), a);
  EXPECT_EQ(ip6_prefix(a, 0), IpAddr{});
}

// ---- services ------------------------------------------------------------------------------

TEST(SnapshotIpv6, FindsServicesByVipAndPortBesideIpv4Ones) {
  CoreConfig cfg = one_service(FwdMethod::Masq);
  cfg.services.push_back(test::mksvc(1, kProtoTcp, "198.18.0.1", 80, SchedKind::Rr,
                                     {test::mkdest(1, "198.18.1.1", 80, FwdMethod::Masq)}));
  auto all_ports = test::mksvc6(2, kProtoUdp, kVip, 0, SchedKind::Rr, {test::mkdest6(2, kRip, 0, FwdMethod::Route)},
                                kSvcPersistent);
  cfg.services.push_back(all_ports);
  Harness h(cfg);
  const Ip6 vip = test::ip6(kVip);
  ASSERT_NE(h.snap().find_v6(kProtoTcp, vip.data(), port(80)), nullptr);
  EXPECT_EQ(h.snap().find_v6(kProtoTcp, vip.data(), port(80))->id, 0);
  EXPECT_EQ(h.snap().find_v6(kProtoTcp, vip.data(), port(81)), nullptr);
  EXPECT_EQ(h.snap().find_v6(kProtoUdp, vip.data(), port(53))->id, 2);  // the VIP's port-0 service
  EXPECT_EQ(h.snap().find_v4(kProtoTcp, ip4("198.18.0.1"), port(80))->id, 1);
  ASSERT_EQ(h.snap().vips_v6().size(), 1u);
  EXPECT_EQ(h.snap().vips_v6()[0], test::addr6(kVip));
  EXPECT_EQ(h.snap().vips_v4().size(), 1u);
  // Removing the IPv6 services empties the IPv6 index and VIPs, and leaves IPv4's alone.
  CoreDelta d;
  d.remove = {0, 2};
  EXPECT_TRUE(h.apply_delta(d).empty());
  EXPECT_EQ(h.snap().find_v6(kProtoTcp, vip.data(), port(80)), nullptr);
  EXPECT_TRUE(h.snap().vips_v6().empty());
  EXPECT_EQ(h.snap().find_v4(kProtoTcp, ip4("198.18.0.1"), port(80))->id, 1);
}

TEST(SnapshotIpv6, RefusesDuplicatesMixedFamiliesAndBadPrefixes) {
  std::vector<std::string> errors;
  CoreConfig dup = one_service(FwdMethod::Masq);
  dup.services.push_back(test::mksvc6(1, kProtoTcp, kVip, 80, SchedKind::Rr, {}));
  EXPECT_EQ(build_snapshot(dup, {16, 64}, nullptr, errors), nullptr);
  ASSERT_FALSE(errors.empty());
  EXPECT_NE(errors[0].find("already exists"), std::string::npos) << errors[0];

  errors.clear();
  CoreConfig mixed = one_service(FwdMethod::Masq);
  mixed.services[0].dests.push_back(test::mkdest(1, "198.18.1.1", 80, FwdMethod::Masq));
  EXPECT_EQ(build_snapshot(mixed, {16, 64}, nullptr, errors), nullptr);
  ASSERT_FALSE(errors.empty());
  EXPECT_NE(errors[0].find("NAT64"), std::string::npos) << errors[0];

  errors.clear();
  CoreConfig v6_in_v4;
  v6_in_v4.services.push_back(test::mksvc(0, kProtoTcp, "198.18.0.1", 80, SchedKind::Rr,
                                          {test::mkdest6(0, kRip, 80, FwdMethod::Masq)}));
  EXPECT_EQ(build_snapshot(v6_in_v4, {16, 64}, nullptr, errors), nullptr);

  errors.clear();
  CoreConfig prefix = one_service(FwdMethod::Masq);
  prefix.services[0].flags = kSvcPersistent;
  prefix.services[0].netmask6 = 0;
  EXPECT_EQ(build_snapshot(prefix, {16, 64}, nullptr, errors), nullptr);
  ASSERT_FALSE(errors.empty());
  EXPECT_NE(errors[0].find("1..128"), std::string::npos) << errors[0];
}

TEST(SnapshotIpv6, APrefixLengthChangeIsAChange) {
  CoreConfig cfg = one_service(FwdMethod::Masq);
  cfg.services[0].flags = kSvcPersistent;
  cfg.services[0].netmask6 = 64;
  Harness h(cfg);
  EXPECT_EQ(h.snap().service(0)->plen6, 64);
  EXPECT_TRUE(h.snap().service(0)->v6);
  cfg.services[0].netmask6 = 48;
  h.apply(cfg);
  EXPECT_EQ(h.snap().service(0)->plen6, 48);
}

// ---- forwarding --------------------------------------------------------------------------------

TEST(EngineIpv6, NatRewritesBothDirectionsExactly) {
  Harness h(one_service(FwdMethod::Masq));
  auto o = h.send6(Pkt().ipv6(kCip, kVip).tcp(kCport, 80, kTcpSyn).frame());
  ASSERT_EQ(o.v.action, Action::Transmit6);
  EXPECT_EQ(o.route6, test::addr6(kRip));
  EXPECT_EQ(diff(o.frame, Pkt().ipv6(kCip, kRip).tcp(kCport, 8080, kTcpSyn).frame()), "");
  EXPECT_EQ(verify_checksums(o.frame), "");

  o = h.send6(Pkt().ipv6(kRip, kCip).tcp(8080, kCport, kTcpSyn | kTcpAck).frame());
  ASSERT_EQ(o.v.action, Action::Transmit6);
  EXPECT_EQ(o.route6, test::addr6(kCip));
  EXPECT_EQ(diff(o.frame, Pkt().ipv6(kVip, kCip).tcp(80, kCport, kTcpSyn | kTcpAck).frame()), "");

  o = h.send6(Pkt().ipv6(kCip, kVip).tcp(kCport, 80, kTcpAck).payload("GET / HTTP/1.0\r\n\r\n").frame());
  EXPECT_EQ(diff(o.frame, Pkt().ipv6(kCip, kRip).tcp(kCport, 8080, kTcpAck).payload("GET / HTTP/1.0\r\n\r\n").frame()),
            "");
  EXPECT_EQ(verify_checksums(o.frame), "");
  EXPECT_EQ(h.load(0).active, 1u);
  EXPECT_EQ(h.worker->stats().dest[0].inpkts, 2u);
  EXPECT_EQ(h.worker->stats().dest[0].outpkts, 1u);
}

TEST(EngineIpv6, ManyVipsAreEachFoundAndAnAddressBetweenThemIsNone) {
  // Past eight VIPs the set is searched (twelve here), not scanned: every one must still be found, in any
  // order of configuration, and an address that sorts between two of them must not.
  CoreConfig cfg;
  for (uint16_t i = 0; i < 12; ++i) {
    const uint16_t n = static_cast<uint16_t>((i * 5) % 12);  // configured out of order
    const std::string vip = "2001:db8::" + std::to_string(0x100 + 2 * n);
    cfg.services.push_back(test::mksvc6(i, kProtoTcp, vip.c_str(), 80, SchedKind::Rr,
                                        {test::mkdest6(i, kRip, 8080, FwdMethod::Masq)}));
  }
  Harness h(cfg);
  ASSERT_EQ(h.snap().vips_v6().size(), 12u);
  for (uint16_t n = 0; n < 12; ++n) {
    const std::string vip = "2001:db8::" + std::to_string(0x100 + 2 * n);
    auto o = h.send6(Pkt().ipv6(kCip, vip.c_str()).tcp(static_cast<uint16_t>(kCport + n), 80, kTcpSyn).frame());
    EXPECT_EQ(o.v.action, Action::Transmit6) << vip;
    EXPECT_TRUE(h.snap().is_virtual_v6(test::ip6(vip.c_str()).data())) << vip;
  }
  EXPECT_EQ(h.worker->conn6_count(), 12u);
  const std::string between = "2001:db8::" + std::to_string(0x100 + 2 * 6 + 1);
  EXPECT_FALSE(h.snap().may_be_virtual_v6(test::ip6(between.c_str()).data()));
  EXPECT_FALSE(h.snap().is_virtual_v6(test::ip6(between.c_str()).data()));
  auto o = h.send6(Pkt().ipv6(kCip, between.c_str()).tcp(kCport, 80, kTcpSyn).frame());
  EXPECT_EQ(o.v.action, Action::Kernel);
}

TEST(SnapshotIpv6, ChangesKeepTheIndexSortedAndWhole) {
  // Deltas that remove some IPv6 services and add others (out of order) leave the index as a
  // build from scratch would: every live service found, every removed one gone, VIPs sorted.
  const auto vip_of = [](uint16_t n) { return "2001:db8::" + std::to_string(0x100 + 2 * n); };
  CoreConfig cfg;
  for (uint16_t i = 0; i < 10; ++i)
    cfg.services.push_back(test::mksvc6(i, kProtoTcp, vip_of(static_cast<uint16_t>((i * 3) % 10)).c_str(), 80,
                                        SchedKind::Rr, {test::mkdest6(i, kRip, 8080, FwdMethod::Masq)}));
  Harness h(cfg);
  CoreDelta d;
  d.remove = {7, 0, 4};
  for (uint16_t i : {13, 11, 12})
    d.upsert.push_back(test::mksvc6(i, kProtoTcp, vip_of(i).c_str(), static_cast<uint16_t>(80 + i % 2), SchedKind::Rr,
                                    {test::mkdest6(i, kRip, 8080, FwdMethod::Masq)}));
  ASSERT_TRUE(h.apply_delta(d).empty());
  for (uint16_t i = 0; i < 14; ++i) {
    if (i == 10) continue;  // no service has id 10
    const uint16_t n = i < 10 ? static_cast<uint16_t>((i * 3) % 10) : i;
    const uint16_t vport = i < 10 ? 80 : static_cast<uint16_t>(80 + i % 2);
    const ServiceSnap* found = h.snap().find_v6(kProtoTcp, test::ip6(vip_of(n).c_str()).data(), port(vport));
    const bool removed = i == 7 || i == 0 || i == 4;
    if (removed) {
      EXPECT_EQ(found, nullptr) << i;
    } else {
      ASSERT_NE(found, nullptr) << i;
      EXPECT_EQ(found->id, i);
    }
  }
  const std::vector<IpAddr>& vips = h.snap().vips_v6();
  EXPECT_EQ(vips.size(), 10u);
  EXPECT_TRUE(std::is_sorted(vips.begin(), vips.end(), [](const IpAddr& a, const IpAddr& b) {
    return std::memcmp(a.b.data(), b.b.data(), 16) < 0;
  }));
}

TEST(EngineIpv6, NatUdpWithPayload) {
  Harness h(one_service(FwdMethod::Masq, 5353, kProtoUdp));
  auto o = h.send6(Pkt().ipv6(kCip, kVip).udp(kCport, 80).payload("query").frame());
  ASSERT_EQ(o.v.action, Action::Transmit6);
  EXPECT_EQ(diff(o.frame, Pkt().ipv6(kCip, kRip).udp(kCport, 5353).payload("query").frame()), "");
  o = h.send6(Pkt().ipv6(kRip, kCip).udp(5353, kCport).payload("answer!").frame());
  EXPECT_EQ(diff(o.frame, Pkt().ipv6(kVip, kCip).udp(80, kCport).payload("answer!").frame()), "");
  EXPECT_EQ(verify_checksums(o.frame), "");
}

TEST(EngineIpv6, DirectRoutingLeavesTheFrameAndRoutesToTheServer) {
  Harness h(one_service(FwdMethod::Route, 80));
  const Bytes in = Pkt().ipv6(kCip, kVip).tcp(kCport, 80, kTcpSyn).frame();
  auto o = h.send6(in);
  ASSERT_EQ(o.v.action, Action::Transmit6);
  EXPECT_EQ(o.route6, test::addr6(kRip));
  EXPECT_EQ(diff(o.frame, in), "");
}

Bytes ip6_header(const char* src, const char* dst, uint8_t nh, uint16_t payload, uint8_t hop = 64) {
  Bytes h(40, 0);
  h[0] = 0x60;
  h[4] = uint8_t(payload >> 8);
  h[5] = uint8_t(payload);
  h[6] = nh;
  h[7] = hop;
  const Ip6 s = test::ip6(src), d = test::ip6(dst);
  std::copy(s.begin(), s.end(), h.begin() + 8);
  std::copy(d.begin(), d.end(), h.begin() + 24);
  return h;
}

TEST(EngineIpv6, TunnelEncapsulatesIpv6InIpv6) {
  Harness h(one_service(FwdMethod::Tunnel, 80));
  const Pkt inner = Pkt().ipv6(kCip, kVip).ttl(57).tcp(kCport, 80, kTcpSyn).payload_size(30);
  const Bytes in = inner.frame();
  auto o = h.send6(in);
  ASSERT_EQ(o.v.action, Action::Transmit6);
  EXPECT_EQ(o.route6, test::addr6(kRip));
  const Bytes ip = inner.ip();
  Bytes want(in.begin(), in.begin() + 14);  // L2 as it was (ethertype IPv6 already)
  const Bytes outer = ip6_header(kVip, kRip, 41, static_cast<uint16_t>(ip.size()), 57);
  want.insert(want.end(), outer.begin(), outer.end());
  want.insert(want.end(), ip.begin(), ip.end());
  EXPECT_EQ(diff(o.frame, want), "");
  EXPECT_EQ(verify_checksums(o.frame), "");  // the inner packet's too
}

TEST(EngineIpv6, TunnelTooBigForTheLinkAnswersPacketTooBig) {
  CoreConfig cfg = one_service(FwdMethod::Tunnel, 80);
  cfg.mtu = 1280;
  Harness h(cfg);
  const Pkt big = Pkt().ipv6(kCip, kVip).tcp(kCport, 80, kTcpSyn).payload_size(1230);  // 1290 bytes of IPv6
  auto o = h.send6(big.frame());
  ASSERT_EQ(o.v.action, Action::Transmit6);
  EXPECT_EQ(o.route6, test::addr6(kCip));
  Bytes quote = big.ip();
  quote.resize(1280 - 48);  // as much as fits in the minimum MTU
  EXPECT_EQ(diff(o.frame, back().ipv6(kVip, kCip).icmp_error(2, 0, quote, 1280 - 40).frame()), "");
  EXPECT_EQ(h.drops(DropReason::TunTooBigDf), 1u);
  EXPECT_EQ(h.events(Event::FragNeededSent), 1u);
}

// ---- ICMPv6 --------------------------------------------------------------------------------

TEST(EngineIpv6, IcmpErrorsAboutANatConnectionAreRewrittenBothWays) {
  Harness h(one_service(FwdMethod::Masq));
  h.send6(Pkt().ipv6(kCip, kVip).tcp(kCport, 80, kTcpSyn).frame());
  // The server side: port unreachable about the SYN as the server got it.
  auto o = h.send6(Pkt().ipv6(kRip, kCip)
                       .icmp_error(1, 4, Pkt().ipv6(kCip, kRip).tcp(kCport, 8080, kTcpSyn).ip())
                       .frame());
  ASSERT_EQ(o.v.action, Action::Transmit6);
  EXPECT_EQ(o.route6, test::addr6(kCip));
  EXPECT_EQ(diff(o.frame, Pkt().ipv6(kVip, kCip)
                              .icmp_error(1, 4, Pkt().ipv6(kCip, kVip).tcp(kCport, 80, kTcpSyn).ip())
                              .frame()),
            "");
  EXPECT_EQ(verify_checksums(o.frame), "");
  // The client side: packet too big about a reply as the client got it.
  o = h.send6(Pkt().ipv6(kCip, kVip)
                  .icmp_error(2, 0, Pkt().ipv6(kVip, kCip).tcp(80, kCport, kTcpSyn | kTcpAck).ip(), 1400)
                  .frame());
  ASSERT_EQ(o.v.action, Action::Transmit6);
  EXPECT_EQ(o.route6, test::addr6(kRip));
  EXPECT_EQ(diff(o.frame, Pkt().ipv6(kCip, kRip)
                              .icmp_error(2, 0, Pkt().ipv6(kRip, kCip).tcp(8080, kCport, kTcpSyn | kTcpAck).ip(), 1400)
                              .frame()),
            "");
  EXPECT_EQ(h.events(Event::IcmpRelated), 2u);
}

TEST(EngineIpv6, EchoToAVipIsAnsweredNeighbourDiscoveryGoesToTheKernel) {
  Harness h(one_service(FwdMethod::Masq));
  auto o = h.send6(Pkt().ipv6(kCip, kVip).icmp_echo(7, 1).payload("ping").frame());
  ASSERT_EQ(o.v.action, Action::Transmit6);
  EXPECT_EQ(o.route6, test::addr6(kCip));
  EXPECT_EQ(diff(o.frame, back().ipv6(kVip, kCip).icmp_echo(7, 1, true).payload("ping").frame()), "");
  EXPECT_EQ(h.events(Event::EchoReplied), 1u);
  // Echo to an address that is no VIP, and neighbour solicitation: the kernel's / dataplane's.
  EXPECT_EQ(h.send6(Pkt().ipv6(kCip, "2001:db8::1").icmp_echo(7, 1).frame()).v.action, Action::Kernel);
  EXPECT_EQ(h.send6(Pkt().ipv6(kCip, "ff02::1:ff00:100").ttl(255).icmp(135, 0).payload_size(16).frame()).v.action,
            Action::Kernel);
}

TEST(EngineIpv6, NoUsableServerAnswersPortUnreachable) {
  CoreConfig cfg;
  cfg.services.push_back(test::mksvc6(0, kProtoTcp, kVip, 80, SchedKind::Wlc,
                                      {test::mkdest6(0, kRip, 80, FwdMethod::Masq, 0)}));
  Harness h(cfg);
  const Pkt syn = Pkt().ipv6(kCip, kVip).tcp(kCport, 80, kTcpSyn);
  auto o = h.send6(syn.frame());
  ASSERT_EQ(o.v.action, Action::Transmit6);
  EXPECT_EQ(o.route6, test::addr6(kCip));
  EXPECT_EQ(diff(o.frame, back().ipv6(kVip, kCip).icmp_error(1, 4, syn.ip()).frame()), "");
  EXPECT_EQ(h.drops(DropReason::NoDestination), 1u);
}

// ---- FullNAT, NAT64 ------------------------------------------------------------------------------

Bytes toa6(const char* cip, uint16_t cport) {
  const Ip6 a = test::ip6(cip);
  Bytes b = {254, 20, uint8_t(cport >> 8), uint8_t(cport)};
  b.insert(b.end(), a.begin(), a.end());
  return b;
}

TEST(EngineIpv6, FullNatUsesAnIpv6LocalAddressAndSendsTheClientInToa) {
  Harness h(one_service(FwdMethod::FullNat), 1024, {}, {16, 64}, 0, {test::addr6(kLip)});
  auto o = h.send6(Pkt().ipv6(kCip, kVip).tcp(kCport, 80, kTcpSyn).frame());
  ASSERT_EQ(o.v.action, Action::Transmit6);
  EXPECT_EQ(o.route6, test::addr6(kRip));
  const auto listed = test::conns(h);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].laddr_ip, test::addr6(kLip));
  const uint16_t lport = ntoh16(listed[0].lport);
  EXPECT_GE(lport, 5000);
  EXPECT_EQ(diff(o.frame, Pkt().ipv6(kLip, kRip).tcp(lport, 8080, kTcpSyn).frame()), "");

  o = h.send6(Pkt().ipv6(kRip, kLip).tcp(8080, lport, kTcpSyn | kTcpAck).frame());
  ASSERT_EQ(o.v.action, Action::Transmit6);
  EXPECT_EQ(o.route6, test::addr6(kCip));
  EXPECT_EQ(diff(o.frame, Pkt().ipv6(kVip, kCip).tcp(80, kCport, kTcpSyn | kTcpAck).frame()), "");

  o = h.send6(Pkt().ipv6(kCip, kVip).tcp(kCport, 80, kTcpAck).payload("hi").frame());
  EXPECT_EQ(diff(o.frame, Pkt().ipv6(kLip, kRip).tcp(lport, 8080, kTcpAck).tcp_options(toa6(kCip, kCport))
                              .payload("hi").frame()),
            "");
  EXPECT_EQ(verify_checksums(o.frame), "");
  EXPECT_EQ(h.events(Event::ToaInserted), 1u);
  // A reply to the local address from anyone but the server is not the connection's.
  EXPECT_EQ(h.send6(Pkt().ipv6(kRip2, kLip).tcp(8080, lport, kTcpAck).frame()).v.action, Action::Drop);
}

TEST(EngineIpv6, Nat64TranslatesToAnIpv4ServerAndBack) {
  CoreConfig cfg;
  cfg.services.push_back(test::mksvc6(0, kProtoTcp, kVip, 80, SchedKind::Rr,
                                      {test::mkdest(0, "198.18.2.10", 8080, FwdMethod::FullNat)}));
  Harness h(cfg, 1024, {ip4("198.18.3.1")});
  auto o = h.send6(Pkt().ipv6(kCip, kVip).tcp(kCport, 80, kTcpSyn).frame());
  ASSERT_EQ(o.v.action, Action::Transmit);
  EXPECT_EQ(o.v.route_dst, ip4("198.18.2.10"));
  const auto listed = test::conns(h);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].family, 6);
  EXPECT_EQ(listed[0].laddr, ip4("198.18.3.1"));
  const uint16_t lport = ntoh16(listed[0].lport);
  EXPECT_EQ(diff(o.frame, Pkt().ipv4("198.18.3.1", "198.18.2.10").ip_id(1).df().tcp(lport, 8080, kTcpSyn).frame()),
            "");
  EXPECT_EQ(verify_checksums(o.frame), "");

  o = h.send6(Pkt().ipv4("198.18.2.10", "198.18.3.1").ttl(63).tcp(8080, lport, kTcpSyn | kTcpAck).frame());
  ASSERT_EQ(o.v.action, Action::Transmit6);
  EXPECT_EQ(o.route6, test::addr6(kCip));
  EXPECT_EQ(diff(o.frame, Pkt().ipv6(kVip, kCip).ttl(63).tcp(80, kCport, kTcpSyn | kTcpAck).frame()), "");

  // The first ACK carries the IPv6 client in TOA, inside the IPv4 packet.
  o = h.send6(Pkt().ipv6(kCip, kVip).tcp(kCport, 80, kTcpAck).frame());
  EXPECT_EQ(diff(o.frame, Pkt().ipv4("198.18.3.1", "198.18.2.10").ip_id(2).df().tcp(lport, 8080, kTcpAck)
                              .tcp_options(toa6(kCip, kCport)).frame()),
            "");
  EXPECT_EQ(verify_checksums(o.frame), "");
  EXPECT_EQ(h.load(0).active, 1u);
}

// ---- scheduling, persistence, state --------------------------------------------------------------

TEST(EngineIpv6, SourceHashingFoldsTheFourWordsAsTheKernel) {
  CoreConfig cfg;
  std::vector<DestConfig> dests;
  for (DestId d = 0; d < 4; ++d)
    dests.push_back(test::mkdest6(d, ("2001:db8:2::" + std::to_string(10 + d)).c_str(), 80, FwdMethod::Route));
  cfg.services.push_back(test::mksvc6(0, kProtoTcp, kVip, 80, SchedKind::Sh, dests));
  Harness h(cfg);
  const SchedTables& t = h.snap().service(0)->tables;
  for (const char* client : {"2001:db8:1::2", "2001:db8:77::9", "fe80::1234"}) {
    const DestId want = t.buckets[sched_hash::hash_32(sched_hash::fold_host(test::addr6(client), true), 8)];
    auto o = h.send6(Pkt().ipv6(client, kVip).tcp(kCport, 80, kTcpSyn).frame());
    ASSERT_EQ(o.v.action, Action::Transmit6);
    EXPECT_EQ(o.route6, h.snap().dest(want).addr) << client;
  }
}

TEST(EngineIpv6, PersistenceKeepsAPrefixOnOneServer) {
  CoreConfig cfg;
  cfg.services.push_back(test::mksvc6(0, kProtoTcp, kVip, 80, SchedKind::Rr,
                                      {test::mkdest6(0, kRip, 80, FwdMethod::Route), test::mkdest6(1, kRip2, 80, FwdMethod::Route)},
                                      kSvcPersistent));
  cfg.services[0].netmask6 = 64;
  Harness h(cfg);
  const IpAddr first = h.send6(Pkt().ipv6("2001:db8:1::2", kVip).tcp(1000, 80, kTcpSyn).frame()).route6;
  EXPECT_EQ(h.send6(Pkt().ipv6("2001:db8:1::3", kVip).tcp(1001, 80, kTcpSyn).frame()).route6, first);
  EXPECT_EQ(h.send6(Pkt().ipv6("2001:db8:1:0:ffff::9", kVip).tcp(1002, 80, kTcpSyn).frame()).route6, first);
  const IpAddr other = h.send6(Pkt().ipv6("2001:db8:1:1::2", kVip).tcp(1003, 80, kTcpSyn).frame()).route6;
  EXPECT_NE(other, first);  // another /64: scheduled (rr moved on)
  int templates = 0;
  for (const ConnInfo& c : test::conns(h))
    if (c.is_template) {
      ++templates;
      EXPECT_TRUE(c.caddr_ip == test::addr6("2001:db8:1::") || c.caddr_ip == test::addr6("2001:db8:1:1::"));
    }
  EXPECT_EQ(templates, 2);
  EXPECT_EQ(h.load(0).persist + h.load(1).persist, 2u);
}

TEST(EngineIpv6, MatchRulesMarkIpv6PacketsForAnIpv6FwmarkService) {
  CoreConfig cfg;
  ServiceConfig fw6;
  fw6.id = 0;
  fw6.fwmark = 9;
  fw6.fwmark_v6 = true;
  fw6.sched = SchedKind::Rr;
  fw6.flags = kSvcPersistent;
  fw6.netmask6 = 64;
  fw6.dests = {test::mkdest6(0, kRip, 0, FwdMethod::Route), test::mkdest6(1, kRip2, 0, FwdMethod::Route)};
  ServiceConfig fw4 = fw6;  // the same mark in the IPv4 family: another service (as the kernel's)
  fw4.id = 1;
  fw4.fwmark_v6 = false;
  fw4.dests = {test::mkdest(2, "198.18.1.1", 0, FwdMethod::Route)};
  cfg.services = {fw6, fw4};
  MatchRule r;
  r.dst_prefix = test::addr6("2001:db8:100::");
  r.prefix_len = 48;
  r.mark = 9;
  cfg.rules = {r};
  Harness h(cfg);
  const Bytes syn = Pkt().ipv6(kCip, "2001:db8:100::5").tcp(kCport, 443, kTcpSyn).frame();
  auto o = h.send6(syn);
  ASSERT_EQ(o.v.action, Action::Transmit6);
  EXPECT_EQ(diff(o.frame, syn), "");  // DR
  const IpAddr first = o.route6;
  // Another port, another address in the prefix: the same server while the template lives.
  EXPECT_EQ(h.send6(Pkt().ipv6("2001:db8:1::99", "2001:db8:100:7::1").udp(5, 53).frame()).route6, first);
  int templates = 0;
  for (const ConnInfo& c : test::conns(h))
    if (c.is_template) {
      ++templates;
      EXPECT_EQ(c.proto, 0);
      EXPECT_EQ(c.caddr_ip, test::addr6("2001:db8:1::"));
      EXPECT_EQ(c.vaddr_ip, test::addr6("::9"));  // the mark
    }
  EXPECT_EQ(templates, 1);
  EXPECT_EQ(h.send6(Pkt().ipv6(kCip, "2001:db8:101::5").tcp(kCport, 443, kTcpSyn).frame()).v.action, Action::Kernel);
  EXPECT_EQ(h.send6(Pkt().ipv6(kCip, "2001:db8:100::7").icmp_echo(1, 1).frame()).v.action, Action::Transmit6);
  // The IPv4 service of the same mark is untouched by IPv6 traffic.
  EXPECT_EQ(h.load(2).inactive + h.load(2).active, 0u);

  std::vector<std::string> errors;
  cfg.rules[0].prefix_len = 129;
  EXPECT_EQ(build_snapshot(cfg, {16, 64}, nullptr, errors), nullptr);
}

TEST(EngineIpv6, ConnectionsExpireAndFlushWithTheirCounts) {
  Harness h(one_service(FwdMethod::Masq));
  h.send6(Pkt().ipv6(kCip, kVip).tcp(kCport, 80, kTcpSyn).frame());
  h.send6(Pkt().ipv6(kCip, kVip).tcp(kCport + 1, 80, kTcpSyn).frame());
  EXPECT_EQ(h.worker->conn6_count(), 2u);
  EXPECT_EQ(h.worker->half_open_count(), 0u);  // the IPv4 table's count; IPv6 keeps its own
  EXPECT_EQ(h.load(0).active, 2u);             // SYN_RECV counts as active (Linux >= 4.8)
  h.worker->flush_dest(0, h.now);
  EXPECT_EQ(h.worker->conn6_count(), 0u);
  EXPECT_EQ(h.load(0).active, 0u);

  h.send6(Pkt().ipv6(kCip, kVip).udp(kCport, 80).frame());  // no UDP service: the kernel's
  EXPECT_EQ(h.worker->conn6_count(), 0u);
  h.send6(Pkt().ipv6(kCip, kVip).tcp(kCport, 80, kTcpSyn).frame());
  EXPECT_EQ(h.worker->conn6_count(), 1u);
  const uint64_t gone = h.events(Event::ConnExpired);  // the two flushed
  h.advance(59);
  EXPECT_EQ(h.worker->conn6_count(), 1u);
  h.advance(2);  // past SYN_RECV's 60 s
  EXPECT_EQ(h.worker->conn6_count(), 0u);
  EXPECT_EQ(h.load(0).active + h.load(0).inactive, 0u);
  EXPECT_EQ(h.events(Event::ConnExpired), gone + 1);
  // A TCP segment other than SYN with no entry is dropped, as IPv4's.
  EXPECT_EQ(h.send6(Pkt().ipv6(kCip, kVip).tcp(kCport, 80, kTcpAck).frame()).v.action, Action::Drop);
}

TEST(EngineIpv6, ABurstReportsEachIpv6DestinationAtItsPosition) {
  CoreConfig cfg = one_service(FwdMethod::Masq);
  cfg.services.push_back(test::mksvc(1, kProtoTcp, "198.18.0.1", 80, SchedKind::Rr,
                                     {test::mkdest(1, "198.18.1.1", 80, FwdMethod::Masq)}));
  Harness h(cfg);
  std::vector<Bytes> frames = {Pkt().ipv4("198.18.5.5", "198.18.0.1").tcp(1, 80, kTcpSyn).frame(),
                               Pkt().ipv6(kCip, kVip).tcp(kCport, 80, kTcpSyn).frame(),
                               Pkt().ipv6("2001:db8:1::77", kVip).tcp(kCport, 80, kTcpSyn).frame(),
                               Pkt().ipv6(kCip, "2001:db8::9").tcp(1, 2, kTcpSyn).frame()};
  std::vector<TestBuf> bufs;
  std::vector<PacketBuf> pbs;
  for (const Bytes& f : frames) bufs.emplace_back(f);
  for (TestBuf& b : bufs) pbs.push_back(b.pb);
  Verdict v[4];
  h.worker->process_burst(pbs.data(), 4, v, h.now);
  EXPECT_EQ(v[0].action, Action::Transmit);
  EXPECT_EQ(v[0].route_dst, ip4("198.18.1.1"));
  EXPECT_EQ(v[1].action, Action::Transmit6);
  EXPECT_EQ(v[2].action, Action::Transmit6);
  EXPECT_EQ(h.worker->route6_dst(1), test::addr6(kRip));
  EXPECT_EQ(h.worker->route6_dst(2), test::addr6(kRip));
  EXPECT_EQ(v[3].action, Action::Kernel);  // not a VIP: the host's
}

TEST(EngineIpv6, ListingsShowIpv6Connections) {
  Harness h(one_service(FwdMethod::Masq));
  h.send6(Pkt().ipv6(kCip, kVip).tcp(kCport, 80, kTcpSyn).frame());
  const auto all = test::conns(h);
  ASSERT_EQ(all.size(), 1u);
  const ConnInfo& c = all[0];
  EXPECT_EQ(c.family, 6);
  EXPECT_EQ(c.caddr_ip, test::addr6(kCip));
  EXPECT_EQ(c.vaddr_ip, test::addr6(kVip));
  EXPECT_EQ(c.daddr_ip, test::addr6(kRip));
  EXPECT_EQ(c.cport, port(kCport));
  EXPECT_EQ(c.dport, port(8080));
  EXPECT_EQ(c.state, kTcpSynRecv);
  EXPECT_EQ(c.caddr, 0u);  // the IPv4 fields stay empty
  EXPECT_FALSE(c.synced);
  // A restart file holds IPv6 entries beside the IPv4 ones (engine_restart_test.cc).
  std::vector<restart::SavedConn> saved;
  std::vector<restart::SavedConn6> saved6;
  restart::SaveCounts n;
  h.worker->save_conns(h.now, saved, saved6, n);
  EXPECT_TRUE(saved.empty());
  ASSERT_EQ(saved6.size(), 1u);
  EXPECT_EQ(n.v6, 1u);
  EXPECT_EQ(saved6[0].rec.caddr, test::addr6(kCip));
}

// ---- bad input -----------------------------------------------------------------------------------

TEST(EngineIpv6, MalformedIpv6IsCountedNeverForwarded) {
  Harness h(one_service(FwdMethod::Masq));
  Bytes longer = Pkt().ipv6(kCip, kVip).tcp(kCport, 80, kTcpSyn).frame();
  longer[14 + 5] += 8;  // payload length past the frame
  EXPECT_EQ(h.send6(longer).v.action, Action::Drop);
  EXPECT_EQ(h.drops(DropReason::Ipv6PayloadLenLong), 1u);

  Pkt chain = Pkt().ipv6(kCip, kVip);
  for (int i = 0; i < 12; ++i) chain.ipv6_ext(60, Bytes(6, 1));
  EXPECT_EQ(h.send6(chain.tcp(kCport, 80, kTcpSyn).frame()).v.action, Action::Drop);
  EXPECT_EQ(h.drops(DropReason::Ipv6ExtChain), 1u);

  EXPECT_EQ(h.send6(Pkt().ipv6(kCip, kVip).ipv6_frag(0, true).tcp(kCport, 80, kTcpSyn).frame()).v.action, Action::Drop);
  EXPECT_EQ(h.drops(DropReason::Fragment), 1u);

  Bytes cut = Pkt().ipv6(kCip, kVip).tcp(kCport, 80, kTcpSyn).frame();
  cut.resize(14 + 30);
  EXPECT_EQ(h.send6(cut).v.action, Action::Drop);
  EXPECT_EQ(h.drops(DropReason::Ipv6Trunc), 1u);
  EXPECT_EQ(h.worker->conn6_count(), 0u);

  // The unspecified and multicast addresses are no source: no connection, no answer.
  EXPECT_EQ(h.send6(Pkt().ipv6("::", kVip).tcp(kCport, 80, kTcpSyn).frame()).v.action, Action::Drop);
  EXPECT_EQ(h.send6(Pkt().ipv6("ff02::1", kVip).udp(kCport, 80).frame()).v.action, Action::Drop);
  EXPECT_EQ(h.drops(DropReason::Ipv6BadSource), 2u);
  EXPECT_EQ(h.send6(Pkt().ipv6("::", kVip).icmp_echo(1, 1).frame()).v.action, Action::Kernel);
  EXPECT_EQ(h.worker->conn6_count(), 0u);

  // A hop-by-hop header before TCP is walked, and the connection made.
  auto o = h.send6(Pkt().ipv6(kCip, kVip).ipv6_ext(0, Bytes(6, 0)).tcp(kCport, 80, kTcpSyn).frame());
  EXPECT_EQ(o.v.action, Action::Transmit6);
  EXPECT_EQ(verify_checksums(o.frame), "");
}

}  // namespace
}  // namespace fulcrum
