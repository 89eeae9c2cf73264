// The SYN proxy for IPv6 clients, with crafted packets (engine_synproxy_test.cc is IPv4's): a SYN
// is answered with a cookie over the 128-bit addresses and costs no entry, however many come; an
// ACK returning a valid cookie opens the connection to an IPv6 server (NAT, FullNAT with an IPv6
// local address) or an IPv4 one (NAT64); the server's SYN-ACK completes its handshake at the
// director; later segments are shifted between the two sequence spaces both ways. Frames are
// compared byte for byte with ones pktgen builds from scratch (its own checksum arithmetic).
#include <gtest/gtest.h>

#include "engine_test_util.h"

namespace fulcrum {
namespace {

using test::Bytes;
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
constexpr const char* kLip = "2001:db8:3::1";
constexpr uint16_t kCport = 40000;
constexpr uint32_t kIsn = 1000000;  // the client's
constexpr uint32_t kServerIsn = 7777777;

CoreConfig proxied(FwdMethod fwd = FwdMethod::Masq, const char* rip = kRip) {
  CoreConfig c;
  DestConfig d = std::string(rip).find(':') != std::string::npos ? test::mkdest6(0, rip, 8080, fwd)
                                                                   : test::mkdest(0, rip, 8080, fwd);
  c.services = {test::mksvc6(0, kProtoTcp, kVip, 80, SchedKind::Rr, {d}, kSvcSynProxy)};
  return c;
}

uint32_t seq_of(const Harness::Out& o) { return ntoh32(load32(o.frame.data() + o.p.l4_off + 4)); }

Pkt back() { return Pkt().eth(mac("02:00:00:00:00:01"), mac("02:00:00:00:00:02")); }
Bytes mss_opt(uint16_t mss) { return {2, 4, uint8_t(mss >> 8), uint8_t(mss)}; }

Bytes syn(uint16_t mss = 1440, uint16_t cport = kCport) {
  return Pkt().ipv6(kCip, kVip).tcp(cport, 80, kTcpSyn).seq(kIsn).tcp_options(mss_opt(mss)).frame();
}
Bytes client(uint8_t flags, uint32_t seq, uint32_t ack, std::string_view data = {}, uint16_t cport = kCport) {
  Pkt k;
  k.ipv6(kCip, kVip).tcp(cport, 80, flags).seq(seq).ack(ack);
  if (!data.empty()) k.payload(data);
  return k.frame();
}
Bytes server(uint8_t flags, uint32_t seq, uint32_t ack, std::string_view data = {}) {
  Pkt k;
  k.ipv6(kRip, kCip).tcp(8080, kCport, flags).seq(seq).ack(ack);
  if (!data.empty()) k.payload(data);
  return k.frame();
}

// The client's handshake with the director; returns the cookie.
uint32_t handshake(Harness& h) {
  auto sa = h.send6(syn());
  EXPECT_EQ(sa.v.action, Action::Transmit6);
  return seq_of(sa);
}

Bytes toa6(const char* cip, uint16_t cport) {
  const test::Ip6 a = test::ip6(cip);
  Bytes b = {254, 20, uint8_t(cport >> 8), uint8_t(cport)};
  b.insert(b.end(), a.begin(), a.end());
  return b;
}

TEST(SynProxy6, ASynIsAnsweredWithACookieAndCostsNoEntryHoweverManyCome) {
  Harness h(proxied());
  auto sa = h.send6(syn(1400));
  ASSERT_EQ(sa.v.action, Action::Transmit6);
  EXPECT_EQ(sa.route6, test::addr6(kCip));
  const uint32_t cookie = seq_of(sa);
  // From the VIP, the client's ISN + 1 acknowledged, the MSS of an IPv6 link of 1500 bytes.
  EXPECT_EQ(diff(sa.frame, back().ipv6(kVip, kCip).tcp(80, kCport, kTcpSyn | kTcpAck).seq(cookie).ack(kIsn + 1)
                               .win(65535).tcp_options(mss_opt(1440)).frame()),
            "");
  EXPECT_EQ(verify_checksums(sa.frame), "");
  EXPECT_EQ(h.worker->conn_count(), 0u);
  // A flood from random sources in 2001:db8::/32: nothing in the table, no server hears of it.
  uint64_t x = 0x1234567;
  for (uint32_t i = 1; i <= 5000; ++i) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    char src[64];
    std::snprintf(src, sizeof src, "2001:db8:%x:%x:%x:%x:%x:%x", unsigned(x >> 48), unsigned(x >> 32) & 0xffff,
                  unsigned(x >> 16) & 0xffff, unsigned(x) & 0xffff, i & 0xffff, unsigned(x >> 40) & 0xffff);
    auto o = h.send6(Pkt().ipv6(src, kVip).tcp(static_cast<uint16_t>(i), 80, kTcpSyn).seq(static_cast<uint32_t>(x)).frame());
    ASSERT_EQ(o.v.action, Action::Transmit6) << src;
  }
  EXPECT_EQ(h.worker->conn6_count(), 0u);
  EXPECT_EQ(h.worker->synproxy_count(), 0u);
  EXPECT_EQ(h.load(0).active + h.load(0).inactive, 0u);
  EXPECT_EQ(h.events(Event::SynProxySynAck), 5001u);
}

TEST(SynProxy6, AnAckWithoutAValidCookieIsDroppedAndCounted) {
  Harness h(proxied());
  const uint32_t cookie = handshake(h);
  // (The cookie's low bits carry the MSS index, 2 here: cookie + 1 + 4 is past the last one.)
  EXPECT_EQ(h.send6(client(kTcpAck, kIsn + 1, cookie + 5)).v.reason, DropReason::SynProxyBadCookie);
  EXPECT_EQ(h.send6(client(kTcpAck, kIsn + 100, cookie + 1)).v.reason, DropReason::SynProxyBadCookie);
  EXPECT_EQ(h.send6(client(kTcpAck, kIsn + 1, cookie + 1, {}, kCport + 1)).v.reason, DropReason::SynProxyBadCookie);
  // The same ports from a client one bit away, low or high in the address.
  EXPECT_EQ(h.send6(Pkt().ipv6("2001:db8:1::3", kVip).tcp(kCport, 80, kTcpAck).seq(kIsn + 1).ack(cookie + 1).frame()).v.reason,
            DropReason::SynProxyBadCookie);
  EXPECT_EQ(h.send6(Pkt().ipv6("2001:db9:1::2", kVip).tcp(kCport, 80, kTcpAck).seq(kIsn + 1).ack(cookie + 1).frame()).v.reason,
            DropReason::SynProxyBadCookie);
  h.now += 3 * kCookieBucketTicks;  // too old
  EXPECT_EQ(h.send6(client(kTcpAck, kIsn + 1, cookie + 1)).v.reason, DropReason::SynProxyBadCookie);
  EXPECT_EQ(h.drops(DropReason::SynProxyBadCookie), 6u);
  EXPECT_EQ(h.send6(client(kTcpFin | kTcpAck, kIsn + 1, cookie + 1)).v.reason, DropReason::NoConnection);
  EXPECT_EQ(h.worker->conn_count(), 0u);
}

TEST(SynProxy6, AValidAckOpensTheConnectionAndEverySegmentIsShiftedBothWays) {
  Harness h(proxied());
  const uint32_t cookie = handshake(h);
  // The client's ACK becomes the SYN to the real server: the client's ISN and (cookie) MSS.
  auto s = h.send6(client(kTcpAck, kIsn + 1, cookie + 1));
  ASSERT_EQ(s.v.action, Action::Transmit6);
  EXPECT_EQ(s.route6, test::addr6(kRip));
  EXPECT_EQ(diff(s.frame, Pkt().ipv6(kCip, kRip).tcp(kCport, 8080, kTcpSyn).seq(kIsn).ack(0).tcp_options(mss_opt(1440)).frame()),
            "");
  EXPECT_EQ(h.worker->conn6_count(), 1u);
  EXPECT_EQ(h.worker->synproxy_count(), 1u);
  EXPECT_EQ(h.load(0).active, 1u);
  EXPECT_EQ(h.worker->half_open_count(), 0u) << "the IPv4 table's count is untouched";

  // The server's SYN-ACK becomes the ACK that completes its handshake.
  auto a = h.send6(server(kTcpSyn | kTcpAck, kServerIsn, kIsn + 1));
  ASSERT_EQ(a.v.action, Action::Transmit6);
  EXPECT_EQ(a.route6, test::addr6(kRip));
  EXPECT_EQ(diff(a.frame, Pkt().ipv6(kCip, kRip).tcp(kCport, 8080, kTcpAck).seq(kIsn + 1).ack(kServerIsn + 1).frame()), "");

  auto d = h.send6(client(kTcpAck | kTcpPsh, kIsn + 1, cookie + 1, "GET / HTTP/1.0\r\n\r\n"));
  ASSERT_EQ(d.v.action, Action::Transmit6);
  EXPECT_EQ(diff(d.frame, Pkt().ipv6(kCip, kRip).tcp(kCport, 8080, kTcpAck | kTcpPsh).seq(kIsn + 1).ack(kServerIsn + 1)
                              .payload("GET / HTTP/1.0\r\n\r\n").frame()),
            "");
  auto r = h.send6(server(kTcpAck | kTcpPsh, kServerIsn + 1, kIsn + 19, "HTTP/1.0 200 OK\r\n"));
  ASSERT_EQ(r.v.action, Action::Transmit6);
  EXPECT_EQ(r.route6, test::addr6(kCip));
  EXPECT_EQ(diff(r.frame, Pkt().ipv6(kVip, kCip).tcp(80, kCport, kTcpAck | kTcpPsh).seq(cookie + 1).ack(kIsn + 19)
                              .payload("HTTP/1.0 200 OK\r\n").frame()),
            "");
  EXPECT_EQ(verify_checksums(r.frame), "");
  const auto listed = test::conns(h);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].state, kTcpEstablished);

  // SACK blocks of the client name the server's sequence space.
  const uint32_t sl = cookie + 1001, sr = cookie + 2001;
  Bytes opt = {1, 1, 5, 10, uint8_t(sl >> 24), uint8_t(sl >> 16), uint8_t(sl >> 8), uint8_t(sl),
               uint8_t(sr >> 24), uint8_t(sr >> 16), uint8_t(sr >> 8), uint8_t(sr)};
  auto sk = h.send6(Pkt().ipv6(kCip, kVip).tcp(kCport, 80, kTcpAck).seq(kIsn + 19).ack(cookie + 1).tcp_options(opt).frame());
  const uint32_t tl = kServerIsn + 1001, tr = kServerIsn + 2001;
  Bytes topt = {1, 1, 5, 10, uint8_t(tl >> 24), uint8_t(tl >> 16), uint8_t(tl >> 8), uint8_t(tl),
                uint8_t(tr >> 24), uint8_t(tr >> 16), uint8_t(tr >> 8), uint8_t(tr)};
  EXPECT_EQ(diff(sk.frame, Pkt().ipv6(kCip, kRip).tcp(kCport, 8080, kTcpAck).seq(kIsn + 19).ack(kServerIsn + 1)
                               .tcp_options(topt).frame()),
            "");

  // Gone with its entry, as IPv4's.
  h.send6(client(kTcpRst, kIsn + 19, 0));
  h.advance(11);
  EXPECT_EQ(h.worker->conn_count(), 0u);
  EXPECT_EQ(h.worker->synproxy_count(), 0u);
  EXPECT_EQ(h.load(0).active + h.load(0).inactive, 0u);
}

TEST(SynProxy6, AProxiedConnectionWhoseServerNeverAnswersTimesOutOfSynRecv) {
  Harness h(proxied());
  const uint32_t cookie = handshake(h);
  h.send6(client(kTcpAck, kIsn + 1, cookie + 1));
  EXPECT_EQ(test::conns(h)[0].state, kTcpSynRecv);
  h.advance(61);  // SYN_RECV's 60 s
  EXPECT_EQ(h.worker->conn_count(), 0u);
  EXPECT_EQ(h.worker->synproxy_count(), 0u);
}

TEST(SynProxy6, TheClientsFirstDataIsKeptUntilTheServerAnswersThenSentOn) {
  Harness h(proxied());
  const uint32_t cookie = handshake(h);
  h.send6(client(kTcpAck, kIsn + 1, cookie + 1));
  auto held = h.send6(client(kTcpAck | kTcpPsh, kIsn + 1, cookie + 1, "GET /"));
  EXPECT_EQ(held.v.action, Action::Drop);
  EXPECT_EQ(held.v.reason, DropReason::None) << "kept, not dropped";
  auto a = h.send6(server(kTcpSyn | kTcpAck, kServerIsn, kIsn + 1));
  ASSERT_EQ(a.v.action, Action::Transmit6);
  ASSERT_NE(a.v.release, 0);
  TestBuf b(Bytes(Worker::kHeldFrameBytes));
  ASSERT_TRUE(h.worker->take_held(a.v.release, b.pb));
  Verdict v = h.worker->process(b.pb, h.now);
  ASSERT_EQ(v.action, Action::Transmit6);
  EXPECT_EQ(h.worker->route6_dst(0), test::addr6(kRip));
  EXPECT_EQ(diff(b.bytes(), Pkt().ipv6(kCip, kRip).tcp(kCport, 8080, kTcpAck | kTcpPsh).seq(kIsn + 1).ack(kServerIsn + 1)
                                .payload("GET /").frame()),
            "");
}

TEST(SynProxy6, ClientSegmentsBeforeTheServerAnswersSendTheSynAgain) {
  Harness h(proxied());
  const uint32_t cookie = handshake(h);
  h.send6(client(kTcpAck, kIsn + 1, cookie + 1));
  auto again = h.send6(client(kTcpAck, kIsn + 1, cookie + 1));
  EXPECT_EQ(diff(again.frame, Pkt().ipv6(kCip, kRip).tcp(kCport, 8080, kTcpSyn).seq(kIsn).ack(0).tcp_options(mss_opt(1440)).frame()),
            "");
}

TEST(SynProxy6, AServersResetReachesTheClientInItsOwnSequenceSpace) {
  Harness h(proxied());
  const uint32_t cookie = handshake(h);
  h.send6(client(kTcpAck, kIsn + 1, cookie + 1));
  auto r = h.send6(server(kTcpRst | kTcpAck, 0, kIsn + 1));
  ASSERT_EQ(r.v.action, Action::Transmit6);
  EXPECT_EQ(r.route6, test::addr6(kCip));
  EXPECT_EQ(diff(r.frame, Pkt().ipv6(kVip, kCip).tcp(80, kCport, kTcpRst).seq(cookie + 1).ack(0).win(0).frame()), "");
  EXPECT_EQ(test::conns(h)[0].state, kTcpClose);
}

TEST(SynProxy6, FullNatProxiesFromTheIpv6LocalAddressWithTheClientInTheCompletingAck) {
  Harness h(proxied(FwdMethod::FullNat), 1024, {}, {16, 64}, 0, {test::addr6(kLip)});
  const uint32_t cookie = handshake(h);
  auto s = h.send6(client(kTcpAck, kIsn + 1, cookie + 1));
  ASSERT_EQ(s.v.action, Action::Transmit6);
  const uint16_t lport = ntoh16(s.p.sport);
  EXPECT_GE(lport, 5000);
  EXPECT_EQ(diff(s.frame, Pkt().ipv6(kLip, kRip).tcp(lport, 8080, kTcpSyn).seq(kIsn).ack(0).tcp_options(mss_opt(1440)).frame()),
            "");
  auto a = h.send6(Pkt().ipv6(kRip, kLip).tcp(8080, lport, kTcpSyn | kTcpAck).seq(kServerIsn).ack(kIsn + 1).frame());
  ASSERT_EQ(a.v.action, Action::Transmit6);
  EXPECT_EQ(diff(a.frame, Pkt().ipv6(kLip, kRip).tcp(lport, 8080, kTcpAck).seq(kIsn + 1).ack(kServerIsn + 1)
                              .tcp_options(toa6(kCip, kCport)).frame()),
            "");
  auto d = h.send6(client(kTcpAck | kTcpPsh, kIsn + 1, cookie + 1, "GET /"));
  EXPECT_EQ(diff(d.frame, Pkt().ipv6(kLip, kRip).tcp(lport, 8080, kTcpAck | kTcpPsh).seq(kIsn + 1).ack(kServerIsn + 1)
                              .payload("GET /").frame()),
            "") << "TOA once";
  auto r = h.send6(Pkt().ipv6(kRip, kLip).tcp(8080, lport, kTcpAck).seq(kServerIsn + 1).ack(kIsn + 6).payload("ok").frame());
  ASSERT_EQ(r.v.action, Action::Transmit6);
  EXPECT_EQ(diff(r.frame, Pkt().ipv6(kVip, kCip).tcp(80, kCport, kTcpAck).seq(cookie + 1).ack(kIsn + 6).payload("ok").frame()), "");
}

TEST(SynProxy6, Nat64ProxiesToAnIpv4ServerFromTheIpv4LocalAddress) {
  Harness h(proxied(FwdMethod::FullNat, "198.18.2.10"), 1024, {ip4("198.18.3.1")});
  const uint32_t cookie = handshake(h);
  // The SYN goes out IPv4, from the local address, with the client's ISN and the cookie's MSS.
  auto s = h.send6(client(kTcpAck, kIsn + 1, cookie + 1));
  ASSERT_EQ(s.v.action, Action::Transmit);
  EXPECT_EQ(s.v.route_dst, ip4("198.18.2.10"));
  const uint16_t lport = ntoh16(s.p.sport);
  EXPECT_EQ(diff(s.frame, Pkt().ipv4("198.18.3.1", "198.18.2.10").ip_id(1).df().tcp(lport, 8080, kTcpSyn).seq(kIsn).ack(0)
                              .tcp_options(mss_opt(1440)).frame()),
            "");
  // Its SYN-ACK becomes the IPv4 ACK that completes the handshake, with the IPv6 client in TOA.
  auto a = h.send6(Pkt().ipv4("198.18.2.10", "198.18.3.1").ip_id(7).tcp(8080, lport, kTcpSyn | kTcpAck).seq(kServerIsn)
                       .ack(kIsn + 1).frame());
  ASSERT_EQ(a.v.action, Action::Transmit);
  EXPECT_EQ(a.v.route_dst, ip4("198.18.2.10"));
  EXPECT_EQ(diff(a.frame, Pkt().ipv4("198.18.3.1", "198.18.2.10").ip_id(7).tcp(lport, 8080, kTcpAck).seq(kIsn + 1)
                              .ack(kServerIsn + 1).tcp_options(toa6(kCip, kCport)).frame()),
            "");
  // Both ways shifted through the translation.
  auto d = h.send6(client(kTcpAck | kTcpPsh, kIsn + 1, cookie + 1, "GET /"));
  ASSERT_EQ(d.v.action, Action::Transmit);
  EXPECT_EQ(diff(d.frame, Pkt().ipv4("198.18.3.1", "198.18.2.10").ip_id(2).df().tcp(lport, 8080, kTcpAck | kTcpPsh)
                              .seq(kIsn + 1).ack(kServerIsn + 1).payload("GET /").frame()),
            "");
  auto r = h.send6(Pkt().ipv4("198.18.2.10", "198.18.3.1").tcp(8080, lport, kTcpAck).seq(kServerIsn + 1).ack(kIsn + 6)
                       .payload("ok").frame());
  ASSERT_EQ(r.v.action, Action::Transmit6);
  EXPECT_EQ(r.route6, test::addr6(kCip));
  EXPECT_EQ(diff(r.frame, Pkt().ipv6(kVip, kCip).tcp(80, kCport, kTcpAck).seq(cookie + 1).ack(kIsn + 6).payload("ok").frame()), "");
  EXPECT_EQ(verify_checksums(r.frame), "");
}

TEST(SynProxy6, Nat64ServersResetReachesTheClientAsIpv6) {
  Harness h(proxied(FwdMethod::FullNat, "198.18.2.10"), 1024, {ip4("198.18.3.1")});
  const uint32_t cookie = handshake(h);
  auto s = h.send6(client(kTcpAck, kIsn + 1, cookie + 1));
  const uint16_t lport = ntoh16(s.p.sport);
  auto r = h.send6(Pkt().ipv4("198.18.2.10", "198.18.3.1").tcp(8080, lport, kTcpRst | kTcpAck).seq(0).ack(kIsn + 1).frame());
  ASSERT_EQ(r.v.action, Action::Transmit6);
  EXPECT_EQ(r.route6, test::addr6(kCip));
  EXPECT_EQ(diff(r.frame, Pkt().ipv6(kVip, kCip).tcp(80, kCport, kTcpRst).seq(cookie + 1).ack(0).win(0).frame()), "");
}

TEST(SynProxy6, DrServersCannotBeProxied) {
  Harness h(proxied(FwdMethod::Route));
  const uint32_t cookie = handshake(h);
  EXPECT_EQ(h.send6(client(kTcpAck, kIsn + 1, cookie + 1)).v.reason, DropReason::SynProxyNotNat);
  EXPECT_EQ(h.worker->conn_count(), 0u);
  EXPECT_EQ(h.load(0).active + h.load(0).inactive, 0u);
}

TEST(SynProxy6, ConnectionsOfOtherServicesCarryNothingOfIt) {
  CoreConfig c = proxied();
  c.services[0].flags = 0;
  Harness h(c);
  auto o = h.send6(syn());
  EXPECT_EQ(o.route6, test::addr6(kRip)) << "a plain service forwards the SYN";
  EXPECT_EQ(h.worker->synproxy_count(), 0u);
}

}  // namespace
}  // namespace fulcrum
