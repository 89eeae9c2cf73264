// Packet-in / expected-packet-out for the tuple rewrites (NAT and FullNAT, both directions,
// IPv4 and IPv6, TCP and UDP incl. checksum 0), DR's MAC rewrite and TTL decrement. The
// expected frame is built from scratch by pktgen (full checksums), so a byte-exact match also
// proves the incremental checksums.
#include <gtest/gtest.h>

#include <random>

#include "pktgen.h"
#include "rewrite.h"

namespace fulcrum {
namespace {

using test::Bytes;
using test::ip4;
using test::Pkt;
using test::port;

// The kernel selftest's addresses: client, VIP, real server, director's inside address (LIP).
constexpr const char* kCip = "10.0.0.2";
constexpr const char* kVip = "207.175.44.110";
constexpr const char* kRip = "172.16.0.2";
constexpr const char* kLip = "172.16.0.1";
constexpr uint16_t kCport = 40000, kVport = 8080, kRport = 80, kLport = 5001;

const Bytes kSynOpts = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 1, 2, 3, 4, 0, 0, 0, 0, 1, 3, 3, 7};

Parsed parsed(const Bytes& f) {
  Parsed p;
  EXPECT_EQ(parse_frame(f.data(), uint32_t(f.size()), p), DropReason::None);
  return p;
}

// Run `op` on a copy of `in` and compare with `want` byte for byte; also re-parse the result
// and check that `p` was kept in step with it.
template <class Op>
void expect_rewrite(const Bytes& in, const Bytes& want, Op op) {
  Bytes f = in;
  Parsed p = parsed(f);
  ASSERT_EQ(op(f.data(), p), DropReason::None);
  EXPECT_EQ(test::diff(f, want), "");
  EXPECT_EQ(test::verify_checksums(f), "");
  Parsed q = parsed(f);
  EXPECT_EQ(p.saddr, q.saddr);
  EXPECT_EQ(p.daddr, q.daddr);
  EXPECT_EQ(p.sport, q.sport);
  EXPECT_EQ(p.dport, q.dport);
}

TEST(Nat, InTcp) {
  auto mk = [](const char* d, uint16_t dp) {
    return Pkt().ipv4(kCip, d).tcp(kCport, dp, kTcpSyn).tcp_options(kSynOpts).payload("GET /").frame();
  };
  expect_rewrite(mk(kVip, kVport), mk(kRip, kRport),
                 [](uint8_t* f, Parsed& p) { return nat_in_v4(f, p, ip4(kRip), port(kRport)); });
}

TEST(Nat, OutTcp) {
  auto mk = [](const char* s, uint16_t sp) {
    return Pkt().ipv4(s, kCip).ttl(63).df().tcp(sp, kCport, kTcpSyn | kTcpAck).seq(99).ack(8).frame();
  };
  expect_rewrite(mk(kRip, kRport), mk(kVip, kVport),
                 [](uint8_t* f, Parsed& p) { return nat_out_v4(f, p, ip4(kVip), port(kVport)); });
}

TEST(Nat, InUdpAndZeroChecksumPreserved) {
  auto mk = [](const char* d, uint16_t dp, bool zero) {
    Pkt k = Pkt().ipv4(kCip, d).udp(kCport, dp).payload_size(33);
    if (zero) k.udp_zero_csum();
    return k.frame();
  };
  auto op = [](uint8_t* f, Parsed& p) { return nat_in_v4(f, p, ip4(kRip), port(kRport)); };
  expect_rewrite(mk(kVip, kVport, false), mk(kRip, kRport, false), op);
  expect_rewrite(mk(kVip, kVport, true), mk(kRip, kRport, true), op);
}

TEST(Nat, VlanAndIpOptions) {
  auto mk = [](const char* d, uint16_t dp) {
    return Pkt().vlan(42).ipv4(kCip, d).ip_options({7, 7, 4, 0, 0, 0, 0}).tcp(kCport, dp).payload_size(100).frame();
  };
  expect_rewrite(mk(kVip, kVport), mk(kRip, kRport),
                 [](uint8_t* f, Parsed& p) { return nat_in_v4(f, p, ip4(kRip), port(kRport)); });
}

TEST(FullNat, InAndOut) {
  expect_rewrite(
      Pkt().ipv4(kCip, kVip).tcp(kCport, kVport, kTcpAck).payload("data").frame(),
      Pkt().ipv4(kLip, kRip).tcp(kLport, kRport, kTcpAck).payload("data").frame(),
      [](uint8_t* f, Parsed& p) { return fnat_in_v4(f, p, ip4(kLip), port(kLport), ip4(kRip), port(kRport)); });
  expect_rewrite(
      Pkt().ipv4(kRip, kLip).tcp(kRport, kLport, kTcpAck | kTcpPsh).payload("reply").frame(),
      Pkt().ipv4(kVip, kCip).tcp(kVport, kCport, kTcpAck | kTcpPsh).payload("reply").frame(),
      [](uint8_t* f, Parsed& p) { return fnat_out_v4(f, p, ip4(kVip), port(kVport), ip4(kCip), port(kCport)); });
  expect_rewrite(
      Pkt().ipv4(kCip, kVip).udp(kCport, kVport).payload_size(7).frame(),
      Pkt().ipv4(kLip, kRip).udp(kLport, kRport).payload_size(7).frame(),
      [](uint8_t* f, Parsed& p) { return fnat_in_v4(f, p, ip4(kLip), port(kLport), ip4(kRip), port(kRport)); });
}

TEST(Nat, Ipv6InOutTcpUdp) {
  const auto c = test::ip6("2001:db8:1::c"), v = test::ip6("2001:db8:2::100"), r = test::ip6("fd00::2"),
             l = test::ip6("fd00::1");
  expect_rewrite(Pkt().ipv6(c, v).tcp(kCport, kVport, kTcpSyn).payload("x").frame(),
                 Pkt().ipv6(c, r).tcp(kCport, kRport, kTcpSyn).payload("x").frame(),
                 [&](uint8_t* f, Parsed& p) { return nat_in_v6(f, p, r.data(), port(kRport)); });
  expect_rewrite(Pkt().ipv6(r, c).udp(kRport, kCport).payload_size(20).frame(),
                 Pkt().ipv6(v, c).udp(kVport, kCport).payload_size(20).frame(),
                 [&](uint8_t* f, Parsed& p) { return nat_out_v6(f, p, v.data(), port(kVport)); });
  expect_rewrite(Pkt().ipv6(c, v).ipv6_ext(60, {}).tcp(kCport, kVport).payload_size(9).frame(),
                 Pkt().ipv6(l, r).ipv6_ext(60, {}).tcp(kLport, kRport).payload_size(9).frame(),
                 [&](uint8_t* f, Parsed& p) { return fnat_in_v6(f, p, l.data(), port(kLport), r.data(), port(kRport)); });
  expect_rewrite(Pkt().ipv6(r, l).tcp(kRport, kLport).frame(), Pkt().ipv6(v, c).tcp(kVport, kCport).frame(),
                 [&](uint8_t* f, Parsed& p) { return fnat_out_v6(f, p, v.data(), port(kVport), c.data(), port(kCport)); });
  // ICMPv6 carries the addresses in its pseudo-header.
  expect_rewrite(Pkt().ipv6(c, v).icmp_echo(1, 2).frame(), Pkt().ipv6(c, r).icmp_echo(1, 2).frame(),
                 [&](uint8_t* f, Parsed& p) { return nat_in_v6(f, p, r.data(), 0); });
}

TEST(Nat, RefusesWhatItCannotDo) {
  Bytes sctp = Pkt().ipv4(kCip, kVip).raw_l4(kProtoSctp).payload_size(16).frame();
  Bytes f = sctp;
  Parsed p = parsed(f);
  EXPECT_EQ(nat_in_v4(f.data(), p, ip4(kRip), port(kRport)), DropReason::L4Unsupported);
  EXPECT_EQ(f, sctp);
  Bytes v6 = Pkt().ipv6("2001:db8::1", "2001:db8::2").tcp(1, 2).frame();
  p = parsed(v6);
  EXPECT_EQ(nat_in_v4(v6.data(), p, ip4(kRip), port(kRport)), DropReason::WrongFamily);
  Bytes v4 = Pkt().ipv4(kCip, kVip).tcp(1, 2).frame();
  p = parsed(v4);
  const auto a = test::ip6("::1");
  EXPECT_EQ(nat_in_v6(v4.data(), p, a.data(), 0), DropReason::WrongFamily);
}

TEST(Nat, RandomTuplesAlwaysVerify) {
  std::mt19937 rng(11);
  for (int i = 0; i < 2000; ++i) {
    Pkt k = Pkt().ipv4(rng(), rng());
    if (i % 2) {
      k.tcp(uint16_t(rng()), uint16_t(rng()), uint8_t(rng()));
    } else {
      k.udp(uint16_t(rng()), uint16_t(rng()));
    }
    Bytes f = k.payload_size(rng() % 64).frame();
    Parsed p = parsed(f);
    ASSERT_EQ(fnat_in_v4(f.data(), p, rng(), uint16_t(rng()), rng(), uint16_t(rng())), DropReason::None);
    ASSERT_EQ(test::verify_checksums(f), "") << i;
    if (i % 2 == 0) {
      ASSERT_NE(load16(f.data() + p.l4_off + 6), 0) << "UDP checksum became 0";
    }
  }
}

TEST(L2, DrRewritesMacsOnly) {
  const auto rs_mac = test::mac("52:54:00:aa:bb:cc"), our_mac = test::mac("02:fe:00:00:00:01");
  Pkt base = Pkt().vlan(9).ipv4(kCip, kVip).tcp(kCport, kVport).payload("abc");
  Bytes f = base.frame();
  l2_set_macs(f.data(), rs_mac.data(), our_mac.data());
  Bytes want = Pkt(base).eth(rs_mac, our_mac).frame();
  EXPECT_EQ(test::diff(f, want), "");
  l2_swap_macs(f.data());
  EXPECT_EQ(test::diff(f, Pkt(base).eth(our_mac, rs_mac).frame()), "");
  l2_set_dst(f.data(), rs_mac.data());
  l2_set_src(f.data(), our_mac.data());
  EXPECT_EQ(test::diff(f, want), "");
}

TEST(L2, DecTtl) {
  Bytes f = Pkt().ipv4(kCip, kVip).ttl(2).udp(1, 2).frame();
  Parsed p = parsed(f);
  ASSERT_TRUE(ip_dec_ttl(f.data(), p));
  EXPECT_EQ(test::diff(f, Pkt().ipv4(kCip, kVip).ttl(1).udp(1, 2).frame()), "");
  EXPECT_FALSE(ip_dec_ttl(f.data(), p));
  Bytes g = Pkt().ipv6("2001:db8::1", "2001:db8::2").ttl(5).udp(1, 2).frame();
  p = parsed(g);
  ASSERT_TRUE(ip_dec_ttl(g.data(), p));
  EXPECT_EQ(test::diff(g, Pkt().ipv6("2001:db8::1", "2001:db8::2").ttl(4).udp(1, 2).frame()), "");
}

}  // namespace
}  // namespace fulcrum
