// ICMP <-> ICMPv6 translation of errors about NAT64 connections, as RFC 7915 tabulates it:
// every ICMPv4 error type/code to its ICMPv6 form (section 4.2) and back (section 5.2), the
// parameter problem pointers (figures 3 and 6), packet too big / fragmentation needed MTUs; then
// through the Worker with a NAT64 connection open, byte for byte against packets pktgen builds
// from scratch (its own checksum arithmetic): the error from the IPv4 side reaches the IPv6
// client quoting the client's own packet, the client's error reaches the IPv4 server quoting its
// own reply, and what the RFC does not translate is dropped and counted.
#include <gtest/gtest.h>

#include "engine_test_util.h"
#include "nat64_icmp.h"

namespace fulcrum {
namespace {

using test::Bytes;
using test::diff;
using test::Harness;
using test::ip4;
using test::Pkt;
using test::verify_checksums;

struct Row {
  uint8_t type, code;
  uint32_t info;
  bool ok;
  uint8_t to_type, to_code;
  uint32_t to_info;
};

TEST(Nat64IcmpMap, Icmp4ErrorsTranslateAsRfc7915Section42Says) {
  const uint32_t mtu = 1500;
  const Row rows[] = {
      {3, 0, 0, true, 1, 0, 0},     {3, 1, 0, true, 1, 0, 0},     {3, 2, 0, true, 4, 1, 6},
      {3, 3, 0, true, 1, 4, 0},     {3, 5, 0, true, 1, 0, 0},     {3, 6, 0, true, 1, 0, 0},
      {3, 7, 0, true, 1, 0, 0},     {3, 8, 0, true, 1, 0, 0},     {3, 9, 0, true, 1, 1, 0},
      {3, 10, 0, true, 1, 1, 0},    {3, 11, 0, true, 1, 0, 0},    {3, 12, 0, true, 1, 0, 0},
      {3, 13, 0, true, 1, 1, 0},    {3, 14, 0, false, 0, 0, 0},   {3, 15, 0, true, 1, 1, 0},
      {3, 16, 0, false, 0, 0, 0},   {11, 0, 0, true, 3, 0, 0},    {11, 1, 0, true, 3, 1, 0},
      {4, 0, 0, false, 0, 0, 0},    {5, 1, 0, false, 0, 0, 0},    {12, 1, 0, false, 0, 0, 0},
      {12, 3, 0, false, 0, 0, 0},   {0, 0, 0, false, 0, 0, 0},    {8, 0, 0, false, 0, 0, 0},
      {13, 0, 0, false, 0, 0, 0},
      // Parameter problem, figure 3: the pointer (the word's first byte) to the IPv6 header's.
      {12, 0, 0u << 24, true, 4, 0, 0},  {12, 0, 1u << 24, true, 4, 0, 1},  {12, 0, 2u << 24, true, 4, 0, 4},
      {12, 0, 3u << 24, true, 4, 0, 4},  {12, 2, 8u << 24, true, 4, 0, 7},  {12, 0, 9u << 24, true, 4, 0, 6},
      {12, 0, 12u << 24, true, 4, 0, 8}, {12, 0, 15u << 24, true, 4, 0, 8}, {12, 0, 16u << 24, true, 4, 0, 24},
      {12, 0, 19u << 24, true, 4, 0, 24}, {12, 0, 4u << 24, false, 0, 0, 0}, {12, 0, 10u << 24, false, 0, 0, 0},
      {12, 0, 20u << 24, false, 0, 0, 0},
  };
  for (const Row& r : rows) {
    const IcmpXlat x = icmp4_to_icmp6(r.type, r.code, r.info, 1040, mtu);
    EXPECT_EQ(x.ok, r.ok) << int(r.type) << "/" << int(r.code) << " ptr " << (r.info >> 24);
    if (!r.ok || !x.ok) continue;
    EXPECT_EQ(x.type, r.to_type) << int(r.type) << "/" << int(r.code);
    EXPECT_EQ(x.code, r.to_code) << int(r.type) << "/" << int(r.code);
    EXPECT_EQ(x.info, r.to_info) << int(r.type) << "/" << int(r.code);
  }
}

TEST(Nat64IcmpMap, FragmentationNeededBecomesPacketTooBigTwentyBytesLargerWithinTheLink) {
  IcmpXlat x = icmp4_to_icmp6(3, 4, 1400, 1500, 1500);
  EXPECT_TRUE(x.ok);
  EXPECT_EQ(x.type, 2);
  EXPECT_EQ(x.code, 0);
  EXPECT_EQ(x.info, 1420u);
  EXPECT_EQ(icmp4_to_icmp6(3, 4, 1492, 1500, 1500).info, 1500u) << "never above the director's own link";
  EXPECT_EQ(icmp4_to_icmp6(3, 4, 9000, 9000, 9000).info, 9000u);
  EXPECT_EQ(icmp4_to_icmp6(3, 4, 0xdead0000u | 1300, 1500, 1500).info, 1320u) << "the MTU is the word's low 16 bits";
  // A router that reports no MTU: RFC 1191's plateau below the quoted packet's length, + 20.
  EXPECT_EQ(icmp4_to_icmp6(3, 4, 0, 1500, 1500).info, 1500u) << "1492 + 20, within the link";
  EXPECT_EQ(icmp4_to_icmp6(3, 4, 0, 1040, 1500).info, 1026u);
  EXPECT_EQ(icmp4_to_icmp6(3, 4, 0, 600, 1500).info, 528u);
}

TEST(Nat64IcmpMap, Icmp6ErrorsTranslateAsRfc7915Section52Says) {
  const Row rows[] = {
      {1, 0, 0, true, 3, 1, 0},  {1, 1, 0, true, 3, 10, 0}, {1, 2, 0, true, 3, 1, 0},  {1, 3, 0, true, 3, 1, 0},
      {1, 4, 0, true, 3, 3, 0},  {1, 5, 0, false, 0, 0, 0}, {1, 6, 0, false, 0, 0, 0}, {3, 0, 0, true, 11, 0, 0},
      {3, 1, 0, true, 11, 1, 0}, {4, 1, 0, true, 3, 2, 0},  {4, 2, 0, false, 0, 0, 0}, {128, 0, 0, false, 0, 0, 0},
      {137, 0, 0, false, 0, 0, 0},
      // Parameter problem, figure 6: the IPv6 pointer to the IPv4 header's (the word's first byte).
      {4, 0, 0, true, 12, 0, 0u << 24},  {4, 0, 1, true, 12, 0, 1u << 24},  {4, 0, 4, true, 12, 0, 2u << 24},
      {4, 0, 5, true, 12, 0, 2u << 24},  {4, 0, 6, true, 12, 0, 9u << 24},  {4, 0, 7, true, 12, 0, 8u << 24},
      {4, 0, 8, true, 12, 0, 12u << 24}, {4, 0, 23, true, 12, 0, 12u << 24}, {4, 0, 24, true, 12, 0, 16u << 24},
      {4, 0, 39, true, 12, 0, 16u << 24}, {4, 0, 2, false, 0, 0, 0},      {4, 0, 40, false, 0, 0, 0},
  };
  for (const Row& r : rows) {
    const IcmpXlat x = icmp6_to_icmp4(r.type, r.code, r.info, 1500);
    EXPECT_EQ(x.ok, r.ok) << int(r.type) << "/" << int(r.code) << " ptr " << r.info;
    if (!r.ok || !x.ok) continue;
    EXPECT_EQ(x.type, r.to_type) << int(r.type) << "/" << int(r.code);
    EXPECT_EQ(x.code, r.to_code) << int(r.type) << "/" << int(r.code);
    EXPECT_EQ(x.info, r.to_info) << int(r.type) << "/" << int(r.code);
  }
  // Packet too big: fragmentation needed, 20 bytes smaller, within the director's link.
  IcmpXlat x = icmp6_to_icmp4(2, 0, 1280, 1500);
  EXPECT_TRUE(x.ok);
  EXPECT_EQ(x.type, 3);
  EXPECT_EQ(x.code, 4);
  EXPECT_EQ(x.info, 1260u);
  EXPECT_EQ(icmp6_to_icmp4(2, 0, 9000, 1500).info, 1480u);
}

// ---- through the Worker --------------------------------------------------------------------------

constexpr const char* kCip = "2001:db8:1::2";
constexpr const char* kVip = "2001:db8::100";
constexpr const char* kRip = "198.18.2.10";
constexpr const char* kLip = "198.18.3.1";
constexpr const char* kRouter = "198.18.9.1";
constexpr uint16_t kCport = 40000;

struct Nat64 {
  Harness h;
  uint16_t lport = 0;
  explicit Nat64(uint8_t proto = kProtoTcp) : h(config(proto), 1024, {ip4(kLip)}) {
    Bytes syn = proto == kProtoTcp ? Pkt().ipv6(kCip, kVip).tcp(kCport, 80, kTcpSyn).frame()
                                   : Pkt().ipv6(kCip, kVip).udp(kCport, 80).payload("q").frame();
    auto o = h.send6(syn);
    EXPECT_EQ(o.v.action, Action::Transmit);
    lport = ntoh16(o.p.sport);
  }
  static CoreConfig config(uint8_t proto) {
    CoreConfig cfg;
    cfg.services.push_back(
        test::mksvc6(0, proto, kVip, 80, SchedKind::Rr, {test::mkdest(0, kRip, 8080, FwdMethod::FullNat)}));
    return cfg;
  }
};

// The first n bytes of an IP packet (a quote as routers cut it).
Bytes cut(Bytes b, size_t n) {
  b.resize(std::min(n, b.size()));
  return b;
}

TEST(Nat64Icmp, FragmentationNeededOnTheIpv4SideReachesTheClientAsPacketTooBigQuotingItsOwnPacket) {
  Nat64 n;
  // What the director sent the server (second IPv4 packet: id 2), quoted whole up to 548 bytes.
  const Bytes sent = Pkt().ipv4(kLip, kRip).ip_id(2).df().tcp(n.lport, 8080, kTcpAck | kTcpPsh).seq(5).ack(9)
                         .payload_size(1000).ip();
  auto o = n.h.send6(Pkt().ipv4(kRouter, kLip).ttl(250).icmp_error(3, 4, cut(sent, 548), 1400).frame());
  ASSERT_EQ(o.v.action, Action::Transmit6);
  EXPECT_EQ(o.route6, test::addr6(kCip));
  const Bytes own = Pkt().ipv6(kCip, kVip).tcp(kCport, 80, kTcpAck | kTcpPsh).seq(5).ack(9).payload_size(1000).ip();
  EXPECT_EQ(diff(o.frame, Pkt().ipv6(kVip, kCip).ttl(250).icmp_error(2, 0, cut(own, 40 + 528), 1420).frame()), "");
  EXPECT_EQ(verify_checksums(o.frame), "");
  EXPECT_EQ(n.h.events(Event::IcmpRelated), 1u);
}

TEST(Nat64Icmp, TimeExceededWithAnEightByteQuoteBecomesIcmp6TimeExceeded) {
  Nat64 n;
  const Bytes sent = Pkt().ipv4(kLip, kRip).ip_id(2).df().ttl(1).tcp(n.lport, 8080, kTcpAck).seq(5).ack(9).ip();
  auto o = n.h.send6(Pkt().ipv4(kRouter, kLip).icmp_error(11, 0, cut(sent, 28)).frame());
  ASSERT_EQ(o.v.action, Action::Transmit6);
  // The quote holds no TCP checksum: ports and sequence number only.
  const Bytes own = Pkt().ipv6(kCip, kVip).ttl(1).tcp(kCport, 80, kTcpAck).seq(5).ack(9).ip();
  EXPECT_EQ(diff(o.frame, Pkt().ipv6(kVip, kCip).icmp_error(3, 0, cut(own, 48)).frame()), "");
}

TEST(Nat64Icmp, PortUnreachableForUdpFromTheServerReachesTheClient) {
  Nat64 n(kProtoUdp);
  const Bytes sent = Pkt().ipv4(kLip, kRip).ip_id(1).df().udp(n.lport, 8080).payload("q").ip();
  auto o = n.h.send6(Pkt().ipv4(kRip, kLip).icmp_error(3, 3, sent).frame());
  ASSERT_EQ(o.v.action, Action::Transmit6);
  const Bytes own = Pkt().ipv6(kCip, kVip).udp(kCport, 80).payload("q").ip();
  EXPECT_EQ(diff(o.frame, Pkt().ipv6(kVip, kCip).icmp_error(1, 4, own).frame()), "");
}

TEST(Nat64Icmp, WhatTheRfcDoesNotTranslateIsDroppedAndCounted) {
  Nat64 n;
  const Bytes sent = cut(Pkt().ipv4(kLip, kRip).ip_id(2).df().tcp(n.lport, 8080, kTcpAck).ip(), 28);
  for (auto [type, code] : {std::pair<uint8_t, uint8_t>{4, 0}, {3, 14}, {12, 1}}) {
    auto o = n.h.send6(Pkt().ipv4(kRouter, kLip).icmp_error(type, code, sent).frame());
    EXPECT_EQ(o.v.action, Action::Drop) << int(type) << "/" << int(code);
    EXPECT_EQ(o.v.reason, DropReason::Nat64Icmp) << int(type) << "/" << int(code);
  }
  EXPECT_EQ(n.h.drops(DropReason::Nat64Icmp), 3u);
  // An error quoting the local port towards another server is not the connection's.
  const Bytes other = cut(Pkt().ipv4(kLip, "198.18.2.99").ip_id(2).df().tcp(n.lport, 8080, kTcpAck).ip(), 28);
  EXPECT_EQ(n.h.send6(Pkt().ipv4(kRouter, kLip).icmp_error(3, 3, other).frame()).v.action, Action::Kernel);
}

TEST(Nat64Icmp, TheClientsPacketTooBigReachesTheServerAsFragmentationNeededQuotingItsReply) {
  Nat64 n;
  // The reply the director sent the client, as the client quotes it.
  const Bytes reply = Pkt().ipv6(kVip, kCip).tcp(80, kCport, kTcpAck).seq(77).ack(5).payload_size(1300).ip();
  auto o = n.h.send6(Pkt().ipv6(kCip, kVip).ttl(60).icmp_error(2, 0, cut(reply, 1232), 1280).frame());
  ASSERT_EQ(o.v.action, Action::Transmit);
  EXPECT_EQ(o.v.route_dst, ip4(kRip));
  // As the server sent it, cut to an ICMPv4 error of 576 bytes; from the local address (id 2).
  const Bytes theirs = Pkt().ipv4(kRip, kLip).ip_id(0).df().tcp(8080, n.lport, kTcpAck).seq(77).ack(5).payload_size(1300).ip();
  EXPECT_EQ(diff(o.frame, Pkt().ipv4(kLip, kRip).ip_id(2).ttl(60).icmp_error(3, 4, cut(theirs, 548), 1260).frame()), "");
  EXPECT_EQ(verify_checksums(o.frame), "");
  EXPECT_EQ(n.h.events(Event::IcmpRelated), 1u);
}

TEST(Nat64Icmp, TheClientsPortUnreachableForUdpReachesTheServer) {
  Nat64 n(kProtoUdp);
  const Bytes reply = Pkt().ipv6(kVip, kCip).udp(80, kCport).payload("answer").ip();
  auto o = n.h.send6(Pkt().ipv6(kCip, kVip).icmp_error(1, 4, reply).frame());
  ASSERT_EQ(o.v.action, Action::Transmit);
  const Bytes theirs = Pkt().ipv4(kRip, kLip).ip_id(0).df().udp(8080, n.lport).payload("answer").ip();
  EXPECT_EQ(diff(o.frame, Pkt().ipv4(kLip, kRip).ip_id(2).icmp_error(3, 3, theirs).frame()), "");
  // Unreachable beyond scope (code 2) is host unreachable; code 5 has no IPv4 form.
  EXPECT_EQ(n.h.send6(Pkt().ipv6(kCip, kVip).icmp_error(1, 5, reply).frame()).v.reason, DropReason::Nat64Icmp);
}

}  // namespace
}  // namespace fulcrum
