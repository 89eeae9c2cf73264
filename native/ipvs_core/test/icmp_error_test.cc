// ICMP: errors about NAT/FullNAT connections rewritten in both directions (the client must get
// a quote of exactly what it sent, the real server of exactly what it sent), echo replies, and
// generated port-unreachable / frag-needed, each compared byte for byte with a frame pktgen
// builds from scratch, and checksums (outer, ICMP, quoted IP, quoted L4) verified independently.
#include <gtest/gtest.h>

#include "icmp.h"
#include "pktgen.h"
#include "rewrite.h"

namespace fulcrum {
namespace {

using test::Bytes;
using test::ip4;
using test::Pkt;
using test::port;
using test::TestBuf;

constexpr const char* kCip = "10.0.0.2";
constexpr const char* kVip = "207.175.44.110";
constexpr const char* kRip = "172.16.0.2";
constexpr const char* kLip = "172.16.0.1";
constexpr const char* kRouter = "192.0.2.254";
constexpr uint16_t kCport = 40000, kVport = 8080, kRport = 80, kLport = 5001;

Parsed parsed(const uint8_t* f, size_t n) {
  Parsed p;
  EXPECT_EQ(parse_frame(f, uint32_t(n), p), DropReason::None);
  return p;
}

Bytes prefix(const Bytes& b, size_t n) { return Bytes(b.begin(), b.begin() + std::min(n, b.size())); }

// Client's packet and the same after NAT / FullNAT, as the real server receives it.
Pkt client_tcp(const char* s, uint16_t sp, const char* d, uint16_t dp) {
  return Pkt().ipv4(s, d).ttl(60).df().ip_id(0x5555).tcp(sp, dp, kTcpAck | kTcpPsh).seq(1).ack(2).payload_size(64);
}
Pkt client_udp(const char* s, uint16_t sp, const char* d, uint16_t dp, bool zero) {
  Pkt k = Pkt().ipv4(s, d).udp(sp, dp).payload_size(20);
  if (zero) k.udp_zero_csum();
  return k;
}

template <class Op>
void expect_icmp_rewrite(const Bytes& in, const Bytes& want, Op op) {
  ASSERT_EQ(test::verify_checksums(in), "");
  Bytes f = in;
  Parsed p = parsed(f.data(), f.size());
  ASSERT_TRUE(p.icmp_error);
  ASSERT_EQ(op(f.data(), p), DropReason::None);
  EXPECT_EQ(test::diff(f, want), "");
  EXPECT_EQ(test::verify_checksums(f), "");
  const Parsed q = parsed(f.data(), f.size());
  EXPECT_EQ(p.saddr, q.saddr);
  EXPECT_EQ(p.daddr, q.daddr);
  EXPECT_EQ(p.inner.saddr, q.inner.saddr);
  EXPECT_EQ(p.inner.daddr, q.inner.daddr);
  EXPECT_EQ(p.inner.sport, q.inner.sport);
  EXPECT_EQ(p.inner.dport, q.inner.dport);
}

// Quote lengths: IP + 8 (no TCP checksum quoted), IP + 20 (header incl. checksum), whole packet.
const size_t kQuotes[] = {28, 40, 1000};

TEST(IcmpNat, ErrorFromServerSideToClient) {
  const Bytes sent = client_tcp(kCip, kCport, kVip, kVport).ip();   // what the client sent
  const Bytes seen = client_tcp(kCip, kCport, kRip, kRport).ip();   // what the RS received
  for (size_t q : kQuotes) {
    for (const char* from : {kRip, kRouter}) {
      SCOPED_TRACE(testing::Message() << "quote " << q << " from " << from);
      expect_icmp_rewrite(Pkt().ipv4(from, kCip).icmp_error(3, 3, prefix(seen, q)).frame(),
                          Pkt().ipv4(kVip, kCip).icmp_error(3, 3, prefix(sent, q)).frame(),
                          [](uint8_t* f, Parsed& p) { return icmp_nat_to_client_v4(f, p, ip4(kVip), port(kVport)); });
    }
  }
}

TEST(IcmpNat, ErrorFromClientSideToServer) {
  // The RS's reply, before and after un-NAT; the client (or a router) complains about the latter.
  const Bytes rs_sent = client_tcp(kRip, kRport, kCip, kCport).ip();
  const Bytes cl_seen = client_tcp(kVip, kVport, kCip, kCport).ip();
  for (size_t q : kQuotes) {
    SCOPED_TRACE(q);
    expect_icmp_rewrite(Pkt().ipv4(kCip, kVip).icmp_error(3, 3, prefix(cl_seen, q)).frame(),
                        Pkt().ipv4(kCip, kRip).icmp_error(3, 3, prefix(rs_sent, q)).frame(),
                        [](uint8_t* f, Parsed& p) { return icmp_nat_to_server_v4(f, p, ip4(kRip), port(kRport)); });
  }
  // Time exceeded from a router, UDP with and without checksum.
  for (bool zero : {false, true}) {
    expect_icmp_rewrite(
        Pkt().vlan(5).ipv4(kRouter, kVip).icmp_error(11, 0, client_udp(kVip, kVport, kCip, kCport, zero).ip()).frame(),
        Pkt().vlan(5).ipv4(kRouter, kRip).icmp_error(11, 0, client_udp(kRip, kRport, kCip, kCport, zero).ip()).frame(),
        [](uint8_t* f, Parsed& p) { return icmp_nat_to_server_v4(f, p, ip4(kRip), port(kRport)); });
  }
}

TEST(IcmpFullNat, BothDirections) {
  const Bytes c_sent = client_tcp(kCip, kCport, kVip, kVport).ip();
  const Bytes rs_seen = client_tcp(kLip, kLport, kRip, kRport).ip();
  const Bytes rs_sent = client_tcp(kRip, kRport, kLip, kLport).ip();
  const Bytes c_seen = client_tcp(kVip, kVport, kCip, kCport).ip();
  for (size_t q : kQuotes) {
    SCOPED_TRACE(q);
    expect_icmp_rewrite(
        Pkt().ipv4(kRip, kLip).icmp_error(3, 3, prefix(rs_seen, q)).frame(),
        Pkt().ipv4(kVip, kCip).icmp_error(3, 3, prefix(c_sent, q)).frame(),
        [](uint8_t* f, Parsed& p) {
          return icmp_fnat_to_client_v4(f, p, ip4(kVip), port(kVport), ip4(kCip), port(kCport));
        });
    expect_icmp_rewrite(
        Pkt().ipv4(kCip, kVip).icmp_error(3, 4, prefix(c_seen, q), 1400).frame(),
        Pkt().ipv4(kLip, kRip).icmp_error(3, 4, prefix(rs_sent, q), 1400).frame(),
        [](uint8_t* f, Parsed& p) {
          return icmp_fnat_to_server_v4(f, p, ip4(kLip), port(kLport), ip4(kRip), port(kRport));
        });
  }
}

TEST(IcmpNat, RefusesNonErrors) {
  Bytes f = Pkt().ipv4(kCip, kVip).icmp_echo(1, 1).frame();
  Parsed p = parsed(f.data(), f.size());
  EXPECT_EQ(icmp_nat_to_server_v4(f.data(), p, ip4(kRip), port(kRport)), DropReason::IcmpNotError);
  Bytes g = Pkt().ipv4(kCip, kVip).tcp(1, 2).frame();
  p = parsed(g.data(), g.size());
  EXPECT_EQ(icmp_nat_to_server_v4(g.data(), p, ip4(kRip), port(kRport)), DropReason::IcmpNotError);
}

TEST(IcmpEcho, ReplyInPlace) {
  const Bytes in = Pkt().ipv4(kCip, kVip).ttl(50).ip_id(0x77).df().icmp_echo(0x1234, 9).payload("abcdefg").frame();
  TestBuf b(in);
  Parsed p = parsed(b.pb.data, b.pb.len);
  ASSERT_EQ(icmp_echo_reply_v4(b.pb, p), DropReason::None);
  l2_swap_macs(b.pb.data);
  const Bytes want = Pkt().eth(test::mac("02:00:00:00:00:01"), test::mac("02:00:00:00:00:02"))
                         .ipv4(kVip, kCip).ttl(64).ip_id(0x77).icmp_echo(0x1234, 9, true).payload("abcdefg").frame();
  EXPECT_EQ(test::diff(b.bytes(), want), "");
  EXPECT_EQ(test::verify_checksums(b.bytes()), "");
  EXPECT_EQ(p.icmp_type, 0);
  EXPECT_EQ(p.saddr, ip4(kVip));
}

TEST(IcmpEcho, OptionsAndPaddingDropped) {
  const Bytes in = Pkt().vlan(3).ipv4(kCip, kVip).ip_options({7, 7, 4, 0, 0, 0, 0}).icmp_echo(1, 2).pad_to(80).frame();
  TestBuf b(in);
  Parsed p = parsed(b.pb.data, b.pb.len);
  ASSERT_EQ(icmp_echo_reply_v4(b.pb, p), DropReason::None);
  EXPECT_EQ(test::diff(b.bytes(), Pkt().vlan(3).ipv4(kVip, kCip).icmp_echo(1, 2, true).frame()), "");
  EXPECT_EQ(b.pb.headroom, 128u + 8);
}

TEST(IcmpEcho, RefusesNonEcho) {
  const Bytes in = Pkt().ipv4(kCip, kVip).icmp_echo(1, 2, true).frame();
  TestBuf b(in);
  Parsed p = parsed(b.pb.data, b.pb.len);
  EXPECT_EQ(icmp_echo_reply_v4(b.pb, p), DropReason::IcmpNotEcho);
  EXPECT_EQ(b.bytes(), in);
}

Bytes expected_unreach(const Pkt& orig, uint8_t code, uint32_t rest, uint16_t id, uint8_t tos, size_t quote) {
  return Pkt().vlan(100).ipv4(kVip, kCip).tos(tos).ip_id(id).icmp_error(3, code, prefix(orig.ip(), quote), rest).frame();
}

TEST(IcmpGen, PortUnreachableViaHeadroomAndTailroom) {
  const Pkt orig = Pkt().vlan(100).ipv4(kCip, kVip).tos(0x2b).tcp(kCport, kVport, kTcpSyn).payload("x");
  const Bytes in = orig.frame();
  for (uint32_t head : {128u, 0u}) {
    SCOPED_TRACE(head);
    TestBuf b(in, head, 64);
    Parsed p = parsed(b.pb.data, b.pb.len);
    ASSERT_EQ(icmp_port_unreach_v4(b.pb, p, 0x4321), DropReason::None);
    // TOS: precedence "internetwork control" with the original's TOS bits (0x2b & 0x1e).
    EXPECT_EQ(test::diff(b.bytes(), expected_unreach(orig, 3, 0, 0x4321, 0xc0 | 0x0a, 1000)), "");
    EXPECT_EQ(test::verify_checksums(b.bytes()), "");
    EXPECT_TRUE(p.icmp_error);
    EXPECT_EQ(p.inner.saddr, ip4(kCip));
    EXPECT_EQ(p.inner.dport, port(kVport));
    EXPECT_EQ(b.pb.headroom + b.pb.len + b.pb.tailroom, head + in.size() + 64);
  }
}

TEST(IcmpGen, QuoteCutAt576Bytes) {
  const Pkt orig = Pkt().vlan(100).ipv4(kCip, kVip).udp(kCport, kVport).payload_size(1400);
  const Bytes in = orig.frame();
  for (uint32_t head : {64u, 0u}) {
    TestBuf b(in, head, 0);
    Parsed p = parsed(b.pb.data, b.pb.len);
    ASSERT_EQ(icmp_port_unreach_v4(b.pb, p, 1), DropReason::None);
    EXPECT_EQ(b.pb.len, 18u + 576);
    EXPECT_EQ(p.ip_tot_len, 576u);
    EXPECT_EQ(test::diff(b.bytes(), expected_unreach(orig, 3, 0, 1, 0xc0, 548)), "");
    EXPECT_EQ(test::verify_checksums(b.bytes()), "");
  }
}

TEST(IcmpGen, NoRoom) {
  const Bytes in = Pkt().ipv4(kCip, kVip).tcp(kCport, kVport, kTcpSyn).frame();
  TestBuf b(in, 27, 27);
  Parsed p = parsed(b.pb.data, b.pb.len);
  EXPECT_EQ(icmp_port_unreach_v4(b.pb, p, 1), DropReason::IcmpNoRoom);
  EXPECT_EQ(b.bytes(), in);
}

TEST(IcmpGen, SuppressedCases) {
  auto try_gen = [](const Bytes& in) {
    TestBuf b(in);
    Parsed p;
    parse_frame(b.pb.data, b.pb.len, p);
    return icmp_port_unreach_v4(b.pb, p, 1);
  };
  const Bytes quote = Pkt().ipv4(kVip, kCip).udp(1, 2).ip();
  EXPECT_EQ(try_gen(Pkt().ipv4(kCip, kVip).icmp_error(3, 3, quote).frame()), DropReason::IcmpSuppressed);
  EXPECT_EQ(try_gen(Pkt().ipv4(kCip, kVip).icmp(42, 0).frame()), DropReason::IcmpSuppressed);
  EXPECT_EQ(try_gen(Pkt().ipv4(kCip, "255.255.255.255").udp(1, 2).frame()), DropReason::IcmpSuppressed);
  EXPECT_EQ(try_gen(Pkt().ipv4(kCip, "224.0.0.5").udp(1, 2).frame()), DropReason::IcmpSuppressed);
  EXPECT_EQ(try_gen(Pkt().ipv4("0.0.0.0", kVip).udp(1, 2).frame()), DropReason::IcmpSuppressed);
  EXPECT_EQ(try_gen(Pkt().ipv4("239.1.1.1", kVip).udp(1, 2).frame()), DropReason::IcmpSuppressed);
  EXPECT_EQ(try_gen(Pkt().ipv4(kCip, kVip).frag_offset(4).raw_l4(kProtoUdp).payload_size(8).frame()),
            DropReason::IcmpSuppressed);
  // An echo request may be answered with an error; a first fragment too.
  EXPECT_EQ(try_gen(Pkt().ipv4(kCip, kVip).icmp_echo(1, 1).frame()), DropReason::None);
  EXPECT_EQ(try_gen(Pkt().ipv4(kCip, kVip).mf().udp(1, 2).payload_size(16).frame()), DropReason::None);
}

TEST(IcmpGen, FragNeededForTunnelTooBig) {
  const Pkt orig = Pkt().vlan(100).ipv4(kCip, kVip).df().tcp(kCport, kVport).payload_size(1460);
  const Bytes in = orig.frame();
  TestBuf b(in, 128, 0);
  Parsed p = parsed(b.pb.data, b.pb.len);
  const uint32_t mtu = 1500;
  ASSERT_EQ(tun_encap_v4(b.pb, p, ip4(kLip), ip4(kRip), 1, mtu), DropReason::TunTooBigDf);
  ASSERT_EQ(icmp_frag_needed_v4(b.pb, p, uint16_t(mtu - 20), 0x99), DropReason::None);
  EXPECT_EQ(test::diff(b.bytes(), expected_unreach(orig, 4, 1480, 0x99, 0xc0, 548)), "");
  EXPECT_EQ(test::verify_checksums(b.bytes()), "");
  EXPECT_EQ(p.icmp_code, 4);
  EXPECT_EQ(load16(b.pb.data + p.l4_off + 6), port(1480));
}

}  // namespace
}  // namespace fulcrum
