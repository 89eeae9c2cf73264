// TOA insertion and IPIP encapsulation: growth into head- or tailroom, the option bytes on the
// wire, lengths, incremental checksums against from-scratch frames, and each refusal (options
// full, MTU, no room, DF too big) leaving the frame untouched.
#include <gtest/gtest.h>

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
constexpr const char* kLip = "172.16.0.1";
constexpr const char* kRip = "172.16.0.2";
constexpr const char* kDip = "172.16.0.1";
constexpr uint16_t kCport = 40000;

const Bytes kSynOpts = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 1, 2, 3, 4, 0, 0, 0, 0, 1, 3, 3, 7};

Bytes toa_opt(const char* cip, uint16_t cport) {
  const be32 a = ip4(cip);
  const uint8_t* ab = reinterpret_cast<const uint8_t*>(&a);
  return {254, 8, uint8_t(cport >> 8), uint8_t(cport), ab[0], ab[1], ab[2], ab[3]};
}

Bytes cat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

Parsed parsed(const uint8_t* f, uint32_t n) {
  Parsed p;
  EXPECT_EQ(parse_frame(f, n, p), DropReason::None);
  return p;
}

// A FullNAT'ed segment (LIP → RIP) with the given options and payload.
Pkt seg(const Bytes& opts, size_t payload) {
  return Pkt().vlan(12).ipv4(kLip, kRip).df().tcp(5001, 80, kTcpAck).seq(77).ack(5)
      .tcp_options(opts).payload_size(payload);
}

void check_toa(const Bytes& opts, size_t payload, uint32_t headroom, uint32_t tailroom, bool expect_head) {
  const Bytes in = seg(opts, payload).frame();
  TestBuf b(in, headroom, tailroom);
  uint8_t* const before = b.pb.data;
  Parsed p = parsed(b.pb.data, b.pb.len);
  ASSERT_EQ(toa_insert_v4(b.pb, p, ip4(kCip), port(kCport), 1500), DropReason::None);
  const Bytes want = seg(cat(toa_opt(kCip, kCport), opts), payload).frame();
  EXPECT_EQ(test::diff(b.bytes(), want), "");
  EXPECT_EQ(test::verify_checksums(b.bytes()), "");
  EXPECT_EQ(b.pb.data == before - 8, expect_head);
  EXPECT_EQ(b.pb.headroom, headroom - (expect_head ? 8 : 0));
  EXPECT_EQ(b.pb.tailroom, tailroom - (expect_head ? 0 : 8));
  // The option on the wire, first in the options, and p in step with the frame.
  const uint8_t* tcp = b.pb.data + 18 + 20;
  EXPECT_EQ(tcp[12] >> 4, int(5 + opts.size() / 4 + 2));
  EXPECT_EQ(tcp[20], 254);
  EXPECT_EQ(tcp[21], 8);
  EXPECT_EQ(load16(tcp + 22), port(kCport));
  EXPECT_EQ(load32(tcp + 24), ip4(kCip));
  const Parsed q = parsed(b.pb.data, b.pb.len);
  EXPECT_EQ(p.ip_tot_len, q.ip_tot_len);
  EXPECT_EQ(p.l4_len, q.l4_len);
  EXPECT_EQ(p.payload_off, q.payload_off);
  EXPECT_EQ(p.payload_len, q.payload_len);
  EXPECT_EQ(q.payload_len, payload);
}

TEST(Toa, InsertMovesHeadersIntoHeadroom) {
  check_toa(kSynOpts, 1000, 64, 64, true);
  check_toa({}, 200, 64, 0, true);
}

TEST(Toa, InsertMovesShortTailIntoTailroom) {
  check_toa({}, 0, 64, 64, false);       // bare ACK: nothing after the fixed header
  check_toa(kSynOpts, 10, 64, 64, false);
  check_toa(kSynOpts, 1000, 0, 8, false);  // no headroom: the tail must move
}

TEST(Toa, OptionsUpTo40Bytes) {
  check_toa(Bytes(32, 1), 5, 64, 64, false);  // 32 + 8 = 40: fits
  const Bytes in = seg(Bytes(36, 1), 5).frame();
  TestBuf b(in, 64, 64);
  Parsed p = parsed(b.pb.data, b.pb.len);
  EXPECT_EQ(toa_insert_v4(b.pb, p, ip4(kCip), port(kCport), 1500), DropReason::ToaOptionsFull);
  EXPECT_EQ(b.bytes(), in);
}

TEST(Toa, Refusals) {
  const Bytes in = seg(kSynOpts, 100).frame();  // IP total length 20 + 40 + 100 = 160
  {
    TestBuf b(in, 64, 64);
    Parsed p = parsed(b.pb.data, b.pb.len);
    EXPECT_EQ(toa_insert_v4(b.pb, p, ip4(kCip), port(kCport), 167), DropReason::ToaMtu);
    EXPECT_EQ(b.bytes(), in);
    EXPECT_EQ(toa_insert_v4(b.pb, p, ip4(kCip), port(kCport), 168), DropReason::None);
  }
  {
    TestBuf b(in, 7, 7);
    Parsed p = parsed(b.pb.data, b.pb.len);
    EXPECT_EQ(toa_insert_v4(b.pb, p, ip4(kCip), port(kCport), 1500), DropReason::ToaNoRoom);
    EXPECT_EQ(b.bytes(), in);
  }
  {
    const Bytes u = Pkt().ipv4(kLip, kRip).udp(1, 2).frame();
    TestBuf b(u);
    Parsed p = parsed(b.pb.data, b.pb.len);
    EXPECT_EQ(toa_insert_v4(b.pb, p, ip4(kCip), port(kCport), 1500), DropReason::ToaNotTcp);
  }
}

TEST(Toa, TrailingPaddingDropped) {
  // A bare ACK padded to 60 bytes: the padding is not part of the segment and must go.
  const Bytes in = Pkt().ipv4(kLip, kRip).tcp(5001, 80).pad_to(60).frame();
  ASSERT_EQ(in.size(), 60u);
  // Headroom 0: the 6 padding bytes plus 2 of tailroom make the 8 the tail needs.
  for (uint32_t head : {0u, 64u}) {
    TestBuf b(in, head, 2);
    Parsed p = parsed(b.pb.data, b.pb.len);
    ASSERT_EQ(toa_insert_v4(b.pb, p, ip4(kCip), port(kCport), 1500), DropReason::None) << head;
    EXPECT_EQ(test::diff(b.bytes(), Pkt().ipv4(kLip, kRip).tcp(5001, 80).tcp_options(toa_opt(kCip, kCport)).frame()), "");
  }
}

Pkt inner_pkt() {
  return Pkt().ipv4("10.0.0.2", "207.175.44.110").ttl(61).tos(0x28).df().tcp(40000, 8080, kTcpSyn)
      .tcp_options(kSynOpts).payload("hi");
}

TEST(Tun, EncapsulatesAsIpip) {
  const Bytes in = inner_pkt().frame();
  TestBuf b(in, 64, 0);
  Parsed p = parsed(b.pb.data, b.pb.len);
  ASSERT_EQ(tun_encap_v4(b.pb, p, ip4(kDip), ip4(kRip), 0x0102, 1500), DropReason::None);
  const Bytes want = Pkt().ipv4(kDip, kRip).ttl(61).tos(0x28).df().ip_id(0x0102).raw_l4(kProtoIpip)
                         .payload(inner_pkt().ip()).frame();
  EXPECT_EQ(test::diff(b.bytes(), want), "");
  EXPECT_EQ(test::verify_checksums(b.bytes()), "");
  EXPECT_EQ(b.pb.headroom, 44u);
  // Inner untouched.
  EXPECT_EQ(Bytes(b.pb.data + 34, b.pb.data + b.pb.len), inner_pkt().ip());
  const Parsed q = parsed(b.pb.data, b.pb.len);
  EXPECT_EQ(q.proto, kProtoIpip);
  EXPECT_EQ(p.proto, q.proto);
  EXPECT_EQ(p.l4_off, q.l4_off);
  EXPECT_EQ(p.ip_tot_len, q.ip_tot_len);
  EXPECT_EQ(p.saddr, ip4(kDip));
  EXPECT_EQ(p.daddr, ip4(kRip));
}

TEST(Tun, NoDfCopiedAndVlanKept) {
  const Bytes in = Pkt().vlan(77).ipv4("10.0.0.2", "207.175.44.110").udp(1, 53).payload_size(10).pad_to(70).frame();
  TestBuf b(in, 20, 0);
  Parsed p = parsed(b.pb.data, b.pb.len);
  ASSERT_EQ(tun_encap_v4(b.pb, p, ip4(kDip), ip4(kRip), 9, 1500), DropReason::None);
  const Bytes want = Pkt().vlan(77).ipv4(kDip, kRip).ip_id(9).raw_l4(kProtoIpip)
                         .payload(Pkt().ipv4("10.0.0.2", "207.175.44.110").udp(1, 53).payload_size(10).ip()).frame();
  EXPECT_EQ(test::diff(b.bytes(), want), "");
  EXPECT_EQ(b.pb.headroom, 0u);
}

TEST(Tun, Refusals) {
  const Bytes in = inner_pkt().frame();  // IP total length 20 + 40 + 2 = 62
  TestBuf b(in, 64, 0);
  Parsed p = parsed(b.pb.data, b.pb.len);
  EXPECT_EQ(tun_encap_v4(b.pb, p, ip4(kDip), ip4(kRip), 1, 81), DropReason::TunTooBigDf);
  EXPECT_EQ(b.bytes(), in);
  const Bytes nodf = Pkt().ipv4("10.0.0.2", "207.175.44.110").udp(1, 2).payload_size(100).frame();
  TestBuf c(nodf, 64, 0);
  Parsed pc = parsed(c.pb.data, c.pb.len);
  EXPECT_EQ(tun_encap_v4(c.pb, pc, ip4(kDip), ip4(kRip), 1, 100), DropReason::TunTooBigNoDf);
  TestBuf d(in, 19, 100);
  Parsed pd = parsed(d.pb.data, d.pb.len);
  EXPECT_EQ(tun_encap_v4(d.pb, pd, ip4(kDip), ip4(kRip), 1, 1500), DropReason::TunNoHeadroom);
  EXPECT_EQ(d.bytes(), in);
  EXPECT_EQ(tun_encap_v4(b.pb, p, ip4(kDip), ip4(kRip), 1, 82), DropReason::None);  // exactly fits
}

}  // namespace
}  // namespace fulcrum
