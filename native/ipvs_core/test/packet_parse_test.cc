// parse_frame: the fields of well-formed frames (IPv4/IPv6, TCP/UDP/SCTP/ICMP/ICMPv6, VLAN,
// ARP, ICMP errors' inner tuple), one crafted frame per DropReason, and the robustness loops:
// every truncation of a valid frame is rejected, and no corruption makes parse read or report
// beyond the frame (run under ASan: each input sits in an exact-size heap buffer).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <random>
#include <set>
#include <string>

#include "packet.h"
#include "pktgen.h"

namespace fulcrum {
namespace {

using test::Bytes;
using test::ip4;
using test::Pkt;
using test::port;

constexpr const char* kCip = "10.0.0.2";
constexpr const char* kVip = "207.175.44.110";
constexpr const char* kRip = "172.16.0.2";

DropReason parse(const Bytes& f, Parsed& p) {
  // Exact-size heap copy so ASan flags any read past the end.
  std::unique_ptr<uint8_t[]> buf(new uint8_t[f.size() ? f.size() : 1]);
  if (!f.empty()) std::memcpy(buf.get(), f.data(), f.size());
  return parse_frame(buf.get(), uint32_t(f.size()), p);
}

Bytes tcp_syn_opts() {
  return Pkt().ipv4(kCip, kVip).tcp(40000, 8080, kTcpSyn).seq(7)
      .tcp_options({2, 4, 0x05, 0xb4, 4, 2, 8, 10, 1, 2, 3, 4, 0, 0, 0, 0, 1, 3, 3, 7})
      .payload("hello").frame();
}

// What must hold whenever parse says None: every offset inside the frame.
void expect_sane(const Parsed& p, uint32_t len) {
  if (p.cls != L3Class::Ipv4 && p.cls != L3Class::Ipv6) return;
  EXPECT_LE(p.l3_off + p.ip_tot_len, len);
  EXPECT_LE(p.l4_off + p.l4_len, len);
  EXPECT_LE(p.payload_off + p.payload_len, len);
  EXPECT_LE(p.l4_off + p.l4_len, p.l3_off + p.ip_tot_len);
  if (p.proto == kProtoTcp) {
    EXPECT_GE(p.l4_len, 20u);
  }
  if (p.icmp_error) {
    EXPECT_LE(p.inner.l4_off + p.inner.l4_len, p.l4_off + p.l4_len);
    EXPECT_GE(p.inner.l3_off, p.l4_off + 8);
    if (p.inner.has_ports) {
      EXPECT_GE(p.inner.l4_len, 8u);
    }
  }
}

TEST(Parse, Ipv4TcpFields) {
  Bytes f = tcp_syn_opts();
  Parsed p;
  ASSERT_EQ(parse(f, p), DropReason::None);
  EXPECT_EQ(p.cls, L3Class::Ipv4);
  EXPECT_EQ(p.family, 4);
  EXPECT_EQ(p.l2_len, 14);
  EXPECT_EQ(p.l3_off, 14u);
  EXPECT_EQ(p.l4_off, 34u);
  EXPECT_EQ(p.proto, kProtoTcp);
  EXPECT_EQ(p.saddr, ip4(kCip));
  EXPECT_EQ(p.daddr, ip4(kVip));
  EXPECT_EQ(p.sport, port(40000));
  EXPECT_EQ(p.dport, port(8080));
  EXPECT_EQ(p.tcp_flags, kTcpSyn);
  EXPECT_EQ(p.payload_off, 34u + 40);
  EXPECT_EQ(p.payload_len, 5u);
  EXPECT_EQ(p.ip_tot_len, 20u + 40 + 5);
  EXPECT_EQ(p.l4_len, 45u);
  EXPECT_EQ(p.ttl, 64);
  EXPECT_FALSE(p.df);
  EXPECT_FALSE(p.ip_options);
  EXPECT_FALSE(p.has_vlan);
  EXPECT_FALSE(p.icmp_error);
  EXPECT_EQ(test::verify_checksums(f), "");
}

TEST(Parse, DfTtlTos) {
  Parsed p;
  ASSERT_EQ(parse(Pkt().ipv4(kCip, kVip).df().ttl(3).tos(0x2e).udp(1, 2).frame(), p), DropReason::None);
  EXPECT_TRUE(p.df);
  EXPECT_EQ(p.ttl, 3);
  EXPECT_EQ(p.tos, 0x2e);
  EXPECT_EQ(p.frag, 0x4000);
}

TEST(Parse, VlanTagged) {
  Bytes f = Pkt().vlan(0x2064).ipv4(kCip, kVip).udp(5353, 53).payload("q").frame();
  Parsed p;
  ASSERT_EQ(parse(f, p), DropReason::None);
  EXPECT_TRUE(p.has_vlan);
  EXPECT_EQ(p.vlan_tci, 0x2064);
  EXPECT_EQ(p.l2_len, 18);
  EXPECT_EQ(p.l3_off, 18u);
  EXPECT_EQ(p.l4_off, 38u);
  EXPECT_EQ(p.proto, kProtoUdp);
  EXPECT_EQ(p.dport, port(53));
  EXPECT_EQ(p.payload_len, 1u);
}

TEST(Parse, QinQ) {
  Parsed p;
  EXPECT_EQ(parse(Pkt().qinq(10).vlan(20).ipv4(kCip, kVip).udp(1, 2).frame(), p), DropReason::QinQ);
  // Two 802.1Q tags.
  Bytes f = Pkt().vlan(20).ipv4(kCip, kVip).udp(1, 2).frame();
  f.insert(f.begin() + 12, {0x81, 0x00, 0x00, 0x0a});
  EXPECT_EQ(parse(f, p), DropReason::QinQ);
}

TEST(Parse, ArpAndOtherEthertypes) {
  Parsed p;
  Bytes arp = Pkt().ethertype(kEthArp).payload_size(28).frame();
  ASSERT_EQ(parse(arp, p), DropReason::None);
  EXPECT_EQ(p.cls, L3Class::Arp);
  EXPECT_EQ(p.ethertype, kEthArp);
  arp.resize(14 + 27);
  EXPECT_EQ(parse(arp, p), DropReason::ArpTrunc);
  ASSERT_EQ(parse(Pkt().vlan(5).ethertype(kEthArp).payload_size(28).frame(), p), DropReason::None);
  EXPECT_EQ(p.cls, L3Class::Arp);
  ASSERT_EQ(parse(Pkt().ethertype(0x88cc).payload_size(30).frame(), p), DropReason::None);
  EXPECT_EQ(p.cls, L3Class::Other);
  EXPECT_EQ(p.ethertype, 0x88cc);
}

TEST(Parse, Ipv4OptionsAcceptedAndFlagged) {
  Bytes f = Pkt().ipv4(kCip, kVip).ip_options({7, 7, 4, 0, 0, 0, 0}).tcp(1, 80).payload("x").frame();
  Parsed p;
  ASSERT_EQ(parse(f, p), DropReason::None);
  EXPECT_TRUE(p.ip_options);
  EXPECT_EQ(p.ip_hdr_len(), 28u);
  EXPECT_EQ(p.l4_off, 14u + 28);
  EXPECT_EQ(p.dport, port(80));
  EXPECT_EQ(p.payload_len, 1u);
}

TEST(Parse, TrailingEthernetPaddingIgnored) {
  Bytes f = Pkt().ipv4(kCip, kVip).udp(1000, 53).payload("ab").pad_to(60).frame();
  ASSERT_EQ(f.size(), 60u);
  Parsed p;
  ASSERT_EQ(parse(f, p), DropReason::None);
  EXPECT_EQ(p.ip_tot_len, 30u);
  EXPECT_EQ(p.payload_len, 2u);
  EXPECT_EQ(p.frame_ip_end(), 44u);
}

TEST(Parse, Fragments) {
  Parsed p;
  EXPECT_EQ(parse(Pkt().ipv4(kCip, kVip).mf().udp(1, 2).payload_size(16).frame(), p), DropReason::Fragment);
  EXPECT_EQ(p.saddr, ip4(kCip));  // filled before the verdict, for logs
  EXPECT_EQ(parse(Pkt().ipv4(kCip, kVip).frag_offset(3).raw_l4(kProtoUdp).payload_size(16).frame(), p),
            DropReason::Fragment);
  EXPECT_EQ(parse(Pkt().ipv6("2001:db8::1", "2001:db8::2").ipv6_frag(0, true).udp(1, 2).frame(), p),
            DropReason::Fragment);
}

// Patch a byte of the IP header and fix its checksum, so only the intended check fails.
Bytes patch_ip(Bytes f, size_t ip_off, size_t at, uint8_t v, bool fix_csum = true) {
  f[ip_off + at] = v;
  if (fix_csum) {
    size_t ihl = size_t(f[ip_off] & 15) * 4;
    ihl = std::clamp<size_t>(ihl, 20, f.size() - ip_off);
    f[ip_off + 10] = f[ip_off + 11] = 0;
    Bytes h(f.begin() + ip_off, f.begin() + ip_off + ihl);
    uint16_t c = test::ref_csum(h);
    f[ip_off + 10] = uint8_t(c >> 8);
    f[ip_off + 11] = uint8_t(c);
  }
  return f;
}

TEST(Parse, Ipv4Malformations) {
  const Bytes good = Pkt().ipv4(kCip, kVip).tcp(1, 2).payload_size(10).frame();
  Parsed p;
  EXPECT_EQ(parse(Bytes(good.begin(), good.begin() + 13), p), DropReason::L2Trunc);
  EXPECT_EQ(parse(Bytes(good.begin(), good.begin() + 14 + 19), p), DropReason::Ipv4Trunc);
  EXPECT_EQ(parse(patch_ip(good, 14, 0, 0x65), p), DropReason::Ipv4BadVersion);
  EXPECT_EQ(parse(patch_ip(good, 14, 0, 0x44), p), DropReason::Ipv4BadIhl);
  EXPECT_EQ(parse(patch_ip(good, 14, 0, 0x4f), p), DropReason::Ipv4Trunc);  // IHL 60 > 50 bytes
  EXPECT_EQ(parse(patch_ip(good, 14, 3, 19), p), DropReason::Ipv4TotLenShort);
  EXPECT_EQ(parse(patch_ip(good, 14, 3, 51), p), DropReason::Ipv4TotLenLong);
  EXPECT_EQ(parse(patch_ip(good, 14, 2, 0xff), p), DropReason::Ipv4TotLenLong);
  EXPECT_EQ(parse(patch_ip(good, 14, 8, 63, false), p), DropReason::Ipv4BadCsum);
}

TEST(Parse, TcpMalformations) {
  Parsed p;
  // Fewer than 20 bytes of TCP.
  EXPECT_EQ(parse(Pkt().ipv4(kCip, kVip).raw_l4(kProtoTcp).payload_size(19).frame(), p), DropReason::TcpTrunc);
  Bytes f = Pkt().ipv4(kCip, kVip).tcp(1, 2).payload_size(8).frame();
  Bytes g = f;
  g[34 + 12] = 0x40;  // doff 4
  EXPECT_EQ(parse(g, p), DropReason::TcpBadDoff);
  g[34 + 12] = 0x80;  // doff 8 = 32 bytes > 28 available
  EXPECT_EQ(parse(g, p), DropReason::TcpDoffLong);
  g[34 + 12] = 0x70;  // doff 7 = 28 bytes: all options, no payload
  ASSERT_EQ(parse(g, p), DropReason::None);
  EXPECT_EQ(p.payload_len, 0u);
}

TEST(Parse, UdpLengths) {
  Parsed p;
  EXPECT_EQ(parse(Pkt().ipv4(kCip, kVip).raw_l4(kProtoUdp).payload_size(7).frame(), p), DropReason::UdpTrunc);
  Bytes f = Pkt().ipv4(kCip, kVip).udp(1, 2).payload_size(10).frame();
  Bytes g = f;
  g[34 + 5] = 7;
  EXPECT_EQ(parse(g, p), DropReason::UdpBadLen);
  g[34 + 5] = 19;
  EXPECT_EQ(parse(g, p), DropReason::UdpLenLong);
  g[34 + 5] = 12;  // shorter than the IP payload: legal, the rest ignored
  ASSERT_EQ(parse(g, p), DropReason::None);
  EXPECT_EQ(p.payload_len, 4u);
}

TEST(Parse, Sctp) {
  Parsed p;
  Bytes sctp = {0x0b, 0xb8, 0x1f, 0x90, 0, 0, 0, 1, 0, 0, 0, 0};
  ASSERT_EQ(parse(Pkt().ipv4(kCip, kVip).raw_l4(kProtoSctp).payload(sctp).frame(), p), DropReason::None);
  EXPECT_EQ(p.sport, port(3000));
  EXPECT_EQ(p.dport, port(8080));
  sctp.resize(11);
  EXPECT_EQ(parse(Pkt().ipv4(kCip, kVip).raw_l4(kProtoSctp).payload(sctp).frame(), p), DropReason::SctpTrunc);
}

TEST(Parse, OtherIpProtocolPassesOpaque) {
  Parsed p;
  ASSERT_EQ(parse(Pkt().ipv4(kCip, kVip).raw_l4(47).payload_size(3).frame(), p), DropReason::None);
  EXPECT_EQ(p.proto, 47);
  EXPECT_EQ(p.sport, 0);
  EXPECT_EQ(p.payload_len, 3u);
}

TEST(Parse, IcmpEcho) {
  Parsed p;
  ASSERT_EQ(parse(Pkt().ipv4(kCip, kVip).icmp_echo(0x4242, 1).payload("ping").frame(), p), DropReason::None);
  EXPECT_EQ(p.proto, kProtoIcmp);
  EXPECT_EQ(p.icmp_type, 8);
  EXPECT_EQ(p.icmp_id, port(0x4242));
  EXPECT_FALSE(p.icmp_error);
  EXPECT_EQ(parse(Pkt().ipv4(kCip, kVip).raw_l4(kProtoIcmp).payload_size(7).frame(), p), DropReason::IcmpTrunc);
}

TEST(Parse, IcmpErrorInnerTuple) {
  // The RS says port unreachable about what the director sent it.
  const Bytes quoted = Pkt().ipv4(kCip, kRip).udp(40000, 8080).payload_size(30).ip();
  Bytes f = Pkt().ipv4(kRip, kCip).icmp_error(3, 3, quoted).frame();
  Parsed p;
  ASSERT_EQ(parse(f, p), DropReason::None);
  EXPECT_TRUE(p.icmp_error);
  EXPECT_EQ(p.icmp_type, 3);
  EXPECT_EQ(p.icmp_code, 3);
  EXPECT_EQ(p.inner.family, 4);
  EXPECT_EQ(p.inner.proto, kProtoUdp);
  EXPECT_TRUE(p.inner.has_ports);
  EXPECT_EQ(p.inner.saddr, ip4(kCip));
  EXPECT_EQ(p.inner.daddr, ip4(kRip));
  EXPECT_EQ(p.inner.sport, port(40000));
  EXPECT_EQ(p.inner.dport, port(8080));
  EXPECT_EQ(p.inner.l3_off, 14u + 20 + 8);
  EXPECT_EQ(p.inner.l4_off, 14u + 20 + 8 + 20);
  EXPECT_EQ(p.inner.l4_len, 38u);
  // Time exceeded and parameter problem quote too; a truncated quote (IP + 8) suffices.
  const Bytes q8(quoted.begin(), quoted.begin() + 28);
  ASSERT_EQ(parse(Pkt().ipv4(kRip, kCip).icmp_error(11, 0, q8).frame(), p), DropReason::None);
  EXPECT_EQ(p.inner.l4_len, 8u);
  ASSERT_EQ(parse(Pkt().ipv4(kRip, kCip).icmp_error(12, 0, q8).frame(), p), DropReason::None);
  EXPECT_TRUE(p.icmp_error);
}

TEST(Parse, IcmpErrorInnerMalformations) {
  const Bytes quoted = Pkt().ipv4(kCip, kRip).tcp(40000, 8080).ip();
  Parsed p;
  auto err = [&](const Bytes& q) { return parse(Pkt().ipv4(kRip, kCip).icmp_error(3, 1, q).frame(), p); };
  EXPECT_EQ(err(Bytes(quoted.begin(), quoted.begin() + 19)), DropReason::IcmpInnerTrunc);
  EXPECT_EQ(err(Bytes(quoted.begin(), quoted.begin() + 27)), DropReason::IcmpInnerTrunc);  // 7 L4 bytes
  Bytes q = quoted;
  q[0] = 0x65;
  EXPECT_EQ(err(q), DropReason::IcmpInnerBad);
  q[0] = 0x43;
  EXPECT_EQ(err(q), DropReason::IcmpInnerBad);
  q[0] = 0x4f;  // IHL 60 beyond the quote
  EXPECT_EQ(err(q), DropReason::IcmpInnerTrunc);
  q = quoted;
  q[2] = 0;
  q[3] = 10;  // quoted total length < IHL
  EXPECT_EQ(err(q), DropReason::IcmpInnerBad);
  q = quoted;
  q[2] = 0;
  q[3] = 24;  // quoted total says only 4 L4 bytes existed
  EXPECT_EQ(err(q), DropReason::IcmpInnerTrunc);
  EXPECT_EQ(err(Pkt().ipv4(kCip, kRip).frag_offset(2).raw_l4(kProtoTcp).payload_size(20).ip()),
            DropReason::IcmpInnerFragment);
  // Inner ICMP (an error about a ping) has no ports but parses.
  ASSERT_EQ(err(Pkt().ipv4(kCip, kRip).icmp_echo(1, 1).ip()), DropReason::None);
  EXPECT_FALSE(p.inner.has_ports);
  EXPECT_EQ(p.inner.proto, kProtoIcmp);
}

TEST(Parse, Ipv6TcpUdp) {
  Parsed p;
  Bytes f = Pkt().ipv6("2001:db8::c", "2001:db8::100").tcp(40000, 443, kTcpSyn | kTcpAck).payload("abc").frame();
  ASSERT_EQ(parse(f, p), DropReason::None);
  EXPECT_EQ(p.cls, L3Class::Ipv6);
  EXPECT_EQ(p.family, 6);
  EXPECT_EQ(p.proto, kProtoTcp);
  EXPECT_EQ(p.l4_off, 14u + 40);
  EXPECT_EQ(p.ip_tot_len, 40u + 23);
  EXPECT_EQ(p.tcp_flags, kTcpSyn | kTcpAck);
  EXPECT_EQ(p.dport, port(443));
  EXPECT_EQ(std::memcmp(f.data() + p.v6_saddr_off(), test::ip6("2001:db8::c").data(), 16), 0);
  EXPECT_EQ(std::memcmp(f.data() + p.v6_daddr_off(), test::ip6("2001:db8::100").data(), 16), 0);
  EXPECT_EQ(test::verify_checksums(f), "");

  f = Pkt().vlan(7).ipv6("2001:db8::c", "2001:db8::100").tos(0xb8).ttl(9).udp(5000, 53).payload_size(12).frame();
  ASSERT_EQ(parse(f, p), DropReason::None);
  EXPECT_EQ(p.proto, kProtoUdp);
  EXPECT_EQ(p.l4_off, 18u + 40);
  EXPECT_EQ(p.payload_len, 12u);
  EXPECT_EQ(p.tos, 0xb8);
  EXPECT_EQ(p.ttl, 9);
}

TEST(Parse, Ipv6ExtensionHeaders) {
  Parsed p;
  Bytes f = Pkt().ipv6("2001:db8::c", "2001:db8::100")
                .ipv6_ext(0, {1, 4, 0, 0, 0, 0})      // hop-by-hop, PadN
                .ipv6_ext(60, Bytes(14, 0))           // destination options, 16 bytes
                .ipv6_ext(43, {0, 0, 0, 0, 0, 0})     // routing
                .tcp(1, 80).frame();
  ASSERT_EQ(parse(f, p), DropReason::None);
  EXPECT_EQ(p.proto, kProtoTcp);
  EXPECT_EQ(p.l4_off, 14u + 40 + 8 + 16 + 8);
  EXPECT_TRUE(p.ip_options);
  EXPECT_EQ(p.dport, port(80));
  EXPECT_EQ(test::verify_checksums(f), "");

  Pkt chain = Pkt().ipv6("2001:db8::c", "2001:db8::100");
  for (int i = 0; i < 9; ++i) chain.ipv6_ext(60, {});
  EXPECT_EQ(parse(chain.udp(1, 2).frame(), p), DropReason::Ipv6ExtChain);

  // Extension header length beyond the payload.
  Bytes g = Pkt().ipv6("2001:db8::c", "2001:db8::100").ipv6_ext(60, {}).udp(1, 2).frame();
  g[14 + 40 + 1] = 4;
  EXPECT_EQ(parse(g, p), DropReason::Ipv6ExtTrunc);
}

TEST(Parse, Ipv6Malformations) {
  const Bytes good = Pkt().ipv6("2001:db8::c", "2001:db8::100").udp(1, 2).payload_size(4).frame();
  Parsed p;
  EXPECT_EQ(parse(Bytes(good.begin(), good.begin() + 14 + 39), p), DropReason::Ipv6Trunc);
  Bytes g = good;
  g[14] = 0x40;
  EXPECT_EQ(parse(g, p), DropReason::Ipv6BadVersion);
  g = good;
  g[14 + 5] = 13;  // payload length 13 > 12 present
  EXPECT_EQ(parse(g, p), DropReason::Ipv6PayloadLenLong);
  g = good;
  g[14 + 5] = 7;  // payload length 7 < UDP header
  EXPECT_EQ(parse(g, p), DropReason::UdpTrunc);
}

TEST(Parse, Icmpv6EchoAndError) {
  Parsed p;
  ASSERT_EQ(parse(Pkt().ipv6("2001:db8::c", "2001:db8::100").icmp_echo(9, 1).frame(), p), DropReason::None);
  EXPECT_EQ(p.proto, kProtoIcmpv6);
  EXPECT_EQ(p.icmp_type, 128);
  EXPECT_EQ(p.icmp_id, port(9));
  EXPECT_FALSE(p.icmp_error);

  const Bytes quoted = Pkt().ipv6("2001:db8::c", "2001:db8::2").ipv6_ext(60, {}).tcp(40000, 8080).payload_size(100).ip();
  Bytes f = Pkt().ipv6("2001:db8::2", "2001:db8::c").icmp_error(2, 0, quoted, 1280).frame();
  ASSERT_EQ(parse(f, p), DropReason::None);
  EXPECT_EQ(test::verify_checksums(f), "");
  EXPECT_TRUE(p.icmp_error);
  EXPECT_EQ(p.icmp_type, 2);
  EXPECT_EQ(p.inner.family, 6);
  EXPECT_EQ(p.inner.proto, kProtoTcp);
  EXPECT_EQ(p.inner.l3_off, 14u + 40 + 8);
  EXPECT_EQ(p.inner.l4_off, 14u + 40 + 8 + 40 + 8);
  EXPECT_EQ(p.inner.sport, port(40000));
  EXPECT_EQ(p.inner.dport, port(8080));
  for (uint8_t t : {1, 3, 4}) {
    ASSERT_EQ(parse(Pkt().ipv6("2001:db8::2", "2001:db8::c").icmp_error(t, 0, quoted).frame(), p), DropReason::None);
    EXPECT_TRUE(p.icmp_error);
  }
  EXPECT_EQ(parse(Pkt().ipv6("2001:db8::2", "2001:db8::c").icmp_error(1, 4, Bytes(quoted.begin(), quoted.begin() + 39)).frame(), p),
            DropReason::IcmpInnerTrunc);
  EXPECT_EQ(parse(Pkt().ipv6("2001:db8::2", "2001:db8::c").icmp_error(1, 4, Bytes(quoted.begin(), quoted.begin() + 55)).frame(), p),
            DropReason::IcmpInnerTrunc);  // ext header but only 7 TCP bytes
  EXPECT_EQ(parse(Pkt().ipv6("2001:db8::2", "2001:db8::c").raw_l4(kProtoIcmpv6).payload_size(6).frame(), p),
            DropReason::IcmpTrunc);
}

// A set of valid frames covering every layer the parser walks.
std::vector<Bytes> corpus() {
  const Bytes q4 = Pkt().ipv4(kCip, kRip).ip_options({1, 1, 1, 1}).tcp(40000, 8080).payload_size(12).ip();
  const Bytes q6 = Pkt().ipv6("2001:db8::c", "2001:db8::2").ipv6_ext(0, {}).udp(40000, 53).payload_size(5).ip();
  return {
      tcp_syn_opts(),
      Pkt().vlan(100).ipv4(kCip, kVip).ip_options({7, 3, 4}).udp(1, 2).payload("xyz").frame(),
      Pkt().ipv4(kCip, kVip).icmp_echo(1, 2).payload_size(9).frame(),
      Pkt().ipv4(kRip, kCip).icmp_error(3, 3, q4).frame(),
      Pkt().ipv4(kCip, kVip).raw_l4(kProtoSctp).payload_size(16).frame(),
      Pkt().ipv6("2001:db8::c", "2001:db8::100").ipv6_ext(60, {1, 2}).tcp(1, 2).payload_size(3).frame(),
      Pkt().vlan(3).ipv6("2001:db8::c", "2001:db8::100").udp(1, 2).frame(),
      Pkt().ipv6("2001:db8::2", "2001:db8::c").icmp_error(1, 4, q6).frame(),
      Pkt().ethertype(kEthArp).payload_size(28).frame(),
  };
}

TEST(ParseRobust, EveryTruncationIsRejected) {
  for (const Bytes& f : corpus()) {
    Parsed p;
    ASSERT_EQ(parse(f, p), DropReason::None) << test::hex(f);
    expect_sane(p, uint32_t(f.size()));
    for (size_t n = 0; n < f.size(); ++n) {
      Bytes t(f.begin(), f.begin() + n);
      EXPECT_NE(parse(t, p), DropReason::None) << "truncated to " << n << " of " << f.size();
    }
  }
}

TEST(ParseRobust, CorruptionNeverEscapesTheFrame) {
  std::mt19937 rng(7);
  for (const Bytes& f : corpus()) {
    // Every byte, every value at a few offsets; random multi-byte damage elsewhere.
    for (size_t i = 0; i < f.size(); ++i) {
      for (int v : {0x00, 0x01, 0x45, 0x4f, 0x7f, 0x80, 0xff, int(rng() & 0xff)}) {
        Bytes g = f;
        g[i] = uint8_t(v);
        Parsed p;
        if (parse(g, p) == DropReason::None) expect_sane(p, uint32_t(g.size()));
      }
    }
    for (int iter = 0; iter < 3000; ++iter) {
      Bytes g = f;
      int k = 1 + int(rng() % 4);
      for (int j = 0; j < k; ++j) g[rng() % g.size()] = uint8_t(rng());
      g.resize(g.size() - rng() % 4 + (rng() % 2) * 3, 0);
      Parsed p;
      if (parse(g, p) == DropReason::None) expect_sane(p, uint32_t(g.size()));
    }
  }
}

TEST(DropReasonNames, AllNamedAndUnique) {
  std::set<std::string> seen;
  for (unsigned i = 0; i < kDropReasonCount; ++i) {
    std::string n = drop_reason_name(static_cast<DropReason>(i));
    EXPECT_FALSE(n.empty());
    EXPECT_NE(n, "unknown");
    EXPECT_TRUE(seen.insert(n).second) << n;
  }
  EXPECT_STREQ(drop_reason_name(DropReason::Fragment), "fragment");
  EXPECT_STREQ(drop_reason_name(DropReason::kCount), "unknown");
}

// parse_frame's fast paths (untagged IPv4 without options, untagged IPv6 without extension
// headers; TCP or UDP) and the general parser
// must agree on every frame, field for field and on the drop reason: common frames, and each
// one corrupted at random (bytes of the headers and the frame's length), so the fast path's
// hand-offs to the general parser are exercised too.
TEST(Parse, FastPathAgreesWithTheGeneralParser) {
  const Bytes seeds[] = {
      tcp_syn_opts(),
      Pkt().ipv4(kCip, kVip).tcp(40000, 80, kTcpAck).payload_size(100).frame(),
      Pkt().ipv4(kCip, kVip).df().ttl(3).tos(0x2e).udp(1, 2).frame(),
      Pkt().ipv4(kCip, kVip).udp(1000, 53).payload("ab").pad_to(60).frame(),
      Pkt().ipv4(kCip, kVip).tcp(1, 2).pad_to(64).frame(),
      Pkt().vlan(7).ipv4(kCip, kVip).tcp(1, 2).frame(),
      Pkt().ipv4(kCip, kVip).ip_options({7, 7, 4, 0, 0, 0, 0}).tcp(1, 80).payload("x").frame(),
      Pkt().ipv4(kCip, kVip).mf().udp(1, 2).payload_size(16).frame(),
      Pkt().ipv4(kCip, kVip).icmp_echo(0x4242, 1).payload("ping").frame(),
      // IPv6's fast path (untagged, TCP or UDP right after the fixed header) and its hand-offs.
      Pkt().ipv6("2001:db8::2", "2001:db8::1").tcp(40000, 80, kTcpAck).payload_size(100).frame(),
      Pkt().ipv6("2001:db8::2", "2001:db8::1").tos(0xb8).udp(1000, 53).payload("ab").pad_to(80).frame(),
      Pkt().ipv6("2001:db8::2", "2001:db8::1").ipv6_ext(0, Bytes(6, 0)).tcp(1, 2).frame(),
      Pkt().vlan(7).ipv6("2001:db8::2", "2001:db8::1").udp(1, 2).frame(),
  };
  std::mt19937 rng(14);
  uint32_t fast_taken = 0, fast6_taken = 0;
  for (const Bytes& seed : seeds) {
    for (int round = 0; round < 3000; ++round) {
      Bytes f = seed;
      if (round > 0) {
        const int flips = 1 + static_cast<int>(rng() % 3);
        for (int k = 0; k < flips; ++k) f[rng() % std::min<size_t>(f.size(), 80)] = static_cast<uint8_t>(rng());
        if (rng() % 4 == 0) f.resize(rng() % (f.size() + 1));
      }
      std::unique_ptr<uint8_t[]> buf(new uint8_t[f.size() ? f.size() : 1]);
      if (!f.empty()) std::memcpy(buf.get(), f.data(), f.size());
      Parsed a, b;
      std::memset(static_cast<void*>(&a), 0x5a, sizeof a);  // whatever the caller's scratch held
      std::memset(static_cast<void*>(&b), 0xa5, sizeof b);
      const DropReason ra = parse_frame(buf.get(), uint32_t(f.size()), a);
      const DropReason rb = parse_frame_general(buf.get(), uint32_t(f.size()), b);
      ASSERT_EQ(ra, rb) << "seed " << (&seed - seeds) << " round " << round;
      ASSERT_EQ(std::memcmp(&a, &b, sizeof a), 0) << "seed " << (&seed - seeds) << " round " << round;
      fast_taken += ra == DropReason::None && a.cls == L3Class::Ipv4 && !a.ip_options && !a.has_vlan &&
                    (a.proto == kProtoTcp || a.proto == kProtoUdp);
      fast6_taken += ra == DropReason::None && a.cls == L3Class::Ipv6 && !a.ip_options && !a.has_vlan &&
                     (a.proto == kProtoTcp || a.proto == kProtoUdp);
    }
  }
  EXPECT_GT(fast_taken, 3000u);  // the fast path's own frames were among them
  EXPECT_GT(fast6_taken, 1000u);  // and IPv6's
}

}  // namespace
}  // namespace fulcrum
