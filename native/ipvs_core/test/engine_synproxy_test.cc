// The SYN proxy with crafted packets: a SYN is answered with a cookie and costs no entry; only
// an ACK that returns a valid cookie opens the connection to the real server (with the client's
// ISN and MSS); the server's SYN-ACK completes that handshake at the director; every later
// segment is shifted between the two sequence spaces both ways (SACK blocks too), byte-exact
// and with valid checksums.
#include "engine_test_util.h"

namespace fulcrum::test {
namespace {

const char* kClient = "172.16.5.20";
const char* kVip = "10.0.0.1";
const char* kServer = "192.168.1.10";
constexpr uint32_t kIsn = 1000000;      // the client's
constexpr uint32_t kServerIsn = 7777777;

CoreConfig proxied(FwdMethod fwd = FwdMethod::Masq) {
  CoreConfig c;
  c.services = {mksvc(0, kProtoTcp, kVip, 80, SchedKind::Rr, {mkdest(0, kServer, 8080, fwd)}, kSvcSynProxy)};
  return c;
}

uint32_t seq_of(const Harness::Out& o) { return ntoh32(load32(o.frame.data() + o.p.l4_off + 4)); }
uint32_t ack_of(const Harness::Out& o) { return ntoh32(load32(o.frame.data() + o.p.l4_off + 8)); }
uint16_t mss_of(const Harness::Out& o) { return tcp_mss_option(o.frame.data(), o.p); }

Bytes client(uint8_t flags, uint32_t seq, uint32_t ack, std::string_view data = {}, uint16_t cport = 40000) {
  Pkt k;
  k.ipv4(kClient, kVip).tcp(cport, 80, flags).seq(seq).ack(ack);
  if (!data.empty()) k.payload(data);
  return k.frame();
}
Bytes server(uint8_t flags, uint32_t seq, uint32_t ack, std::string_view data = {}, uint16_t cport = 40000) {
  Pkt k;
  k.ipv4(kServer, kClient).tcp(8080, cport, flags).seq(seq).ack(ack);
  if (!data.empty()) k.payload(data);
  return k.frame();
}
Bytes syn(uint16_t mss = 1460, uint16_t cport = 40000) {
  return Pkt().ipv4(kClient, kVip).tcp(cport, 80, kTcpSyn).seq(kIsn).tcp_options({2, 4, uint8_t(mss >> 8), uint8_t(mss)}).frame();
}

// The client's handshake with the director; returns the cookie.
uint32_t handshake(Harness& h) {
  auto sa = h.send(syn());
  EXPECT_EQ(sa.v.action, Action::Transmit);
  return seq_of(sa);
}

TEST(SynProxy, ASynIsAnsweredWithACookieAndCostsNoEntry) {
  Harness h(proxied());
  auto sa = h.send(syn(1400));
  ASSERT_EQ(sa.v.action, Action::Transmit);
  EXPECT_EQ(sa.v.route_dst, ip4(kClient));
  EXPECT_EQ(sa.p.saddr, ip4(kVip));
  EXPECT_EQ(sa.p.daddr, ip4(kClient));
  EXPECT_EQ(sa.p.sport, port(80));
  EXPECT_EQ(sa.p.dport, port(40000));
  EXPECT_EQ(sa.p.tcp_flags, kTcpSyn | kTcpAck);
  EXPECT_EQ(ack_of(sa), kIsn + 1);
  EXPECT_EQ(mss_of(sa), 1460);
  EXPECT_EQ(verify_checksums(sa.frame), "");
  EXPECT_EQ(h.worker->conn_count(), 0u);
  // A flood of them: still nothing in the table, and no real server heard of it.
  for (uint16_t p = 1; p <= 5000; ++p)
    h.send(Pkt().ipv4(("198.18." + std::to_string(128 + p / 256) + "." + std::to_string(p % 256)).c_str(), kVip)
               .tcp(p, 80, kTcpSyn).seq(p).frame());
  EXPECT_EQ(h.worker->conn_count(), 0u);
  EXPECT_EQ(h.worker->half_open_count(), 0u);
  EXPECT_EQ(h.load(0).active + h.load(0).inactive, 0u);
  EXPECT_EQ(h.events(Event::SynProxySynAck), 5001u);
}

TEST(SynProxy, AnAckWithoutAValidCookieIsDroppedAndCounted) {
  Harness h(proxied());
  const uint32_t cookie = handshake(h);
  auto forged = h.send(client(kTcpAck, kIsn + 1, cookie + 2));
  EXPECT_EQ(forged.v.reason, DropReason::SynProxyBadCookie);
  auto other_isn = h.send(client(kTcpAck, kIsn + 100, cookie + 1));
  EXPECT_EQ(other_isn.v.reason, DropReason::SynProxyBadCookie);
  auto other_port = h.send(client(kTcpAck, kIsn + 1, cookie + 1, {}, 40001));
  EXPECT_EQ(other_port.v.reason, DropReason::SynProxyBadCookie);
  h.now += 3 * kCookieBucketTicks;  // two buckets on: too old
  EXPECT_EQ(h.send(client(kTcpAck, kIsn + 1, cookie + 1)).v.reason, DropReason::SynProxyBadCookie);
  EXPECT_EQ(h.drops(DropReason::SynProxyBadCookie), 4u);
  EXPECT_EQ(h.worker->conn_count(), 0u);
}

TEST(SynProxy, TheCookieCarriesTheClientsMss) {
  Harness h(proxied());
  for (uint16_t mss : {536, 1300, 1440, 1460, 9000}) {
    auto sa = h.send(syn(mss, 41000));
    auto s = h.send(client(kTcpAck, kIsn + 1, seq_of(sa) + 1, {}, 41000));
    ASSERT_EQ(s.v.action, Action::Transmit) << mss;
    EXPECT_EQ(mss_of(s), mss >= 1460 ? 1460 : mss >= 1440 ? 1440 : mss >= 1220 ? 1220 : 536) << mss;
    h.worker->flush_all(h.now);
  }
}

TEST(SynProxy, AValidAckOpensTheConnectionAndEverySegmentIsShiftedBothWays) {
  Harness h(proxied());
  const uint32_t cookie = handshake(h);
  // The client's ACK becomes the SYN to the real server, with the client's ISN and MSS.
  auto s = h.send(client(kTcpAck, kIsn + 1, cookie + 1));
  ASSERT_EQ(s.v.action, Action::Transmit);
  EXPECT_EQ(s.v.route_dst, ip4(kServer));
  EXPECT_EQ(s.p.tcp_flags, kTcpSyn);
  EXPECT_EQ(seq_of(s), kIsn);
  EXPECT_EQ(s.p.saddr, ip4(kClient));
  EXPECT_EQ(s.p.daddr, ip4(kServer));
  EXPECT_EQ(s.p.dport, port(8080));
  EXPECT_EQ(mss_of(s), 1460);
  EXPECT_EQ(verify_checksums(s.frame), "");
  EXPECT_EQ(h.worker->conn_count(), 1u);
  EXPECT_EQ(h.worker->synproxy_count(), 1u);
  EXPECT_EQ(h.load(0).active, 1u);

  // The server's SYN-ACK becomes the ACK that completes its handshake; the client hears nothing.
  auto a = h.send(server(kTcpSyn | kTcpAck, kServerIsn, kIsn + 1));
  ASSERT_EQ(a.v.action, Action::Transmit);
  EXPECT_EQ(a.v.route_dst, ip4(kServer));
  EXPECT_EQ(a.p.tcp_flags, kTcpAck);
  EXPECT_EQ(a.p.saddr, ip4(kClient));
  EXPECT_EQ(a.p.sport, port(40000));
  EXPECT_EQ(a.p.daddr, ip4(kServer));
  EXPECT_EQ(seq_of(a), kIsn + 1);
  EXPECT_EQ(ack_of(a), kServerIsn + 1);
  EXPECT_EQ(verify_checksums(a.frame), "");

  // Client -> server: ack shifted into the server's space, data untouched.
  auto d = h.send(client(kTcpAck | kTcpPsh, kIsn + 1, cookie + 1, "GET / HTTP/1.0\r\n\r\n"));
  ASSERT_EQ(d.v.action, Action::Transmit);
  EXPECT_EQ(d.p.daddr, ip4(kServer));
  EXPECT_EQ(seq_of(d), kIsn + 1);
  EXPECT_EQ(ack_of(d), kServerIsn + 1);
  EXPECT_EQ(std::string(d.frame.begin() + d.p.payload_off, d.frame.begin() + d.p.payload_off + d.p.payload_len),
            "GET / HTTP/1.0\r\n\r\n");
  EXPECT_EQ(verify_checksums(d.frame), "");
  // Server -> client: seq shifted into the cookie's space, from the VIP.
  auto r = h.send(server(kTcpAck | kTcpPsh, kServerIsn + 1, kIsn + 19, "HTTP/1.0 200 OK\r\n"));
  ASSERT_EQ(r.v.action, Action::Transmit);
  EXPECT_EQ(r.p.saddr, ip4(kVip));
  EXPECT_EQ(r.p.sport, port(80));
  EXPECT_EQ(seq_of(r), cookie + 1);
  EXPECT_EQ(ack_of(r), kIsn + 19);
  EXPECT_EQ(verify_checksums(r.frame), "");
  auto listed = std::vector<ConnInfo>{};
  h.worker->list_conns(0, 10, listed, h.now);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].state, kTcpEstablished);

  // Gone with its entry.
  h.send(client(kTcpRst, kIsn + 19, 0));
  h.advance(11);
  EXPECT_EQ(h.worker->conn_count(), 0u);
  EXPECT_EQ(h.worker->synproxy_count(), 0u);
  EXPECT_EQ(h.load(0).active + h.load(0).inactive, 0u);
}

TEST(SynProxy, SackBlocksOfTheClientAreShiftedIntoTheServersSpace) {
  Harness h(proxied());
  const uint32_t cookie = handshake(h);
  h.send(client(kTcpAck, kIsn + 1, cookie + 1));
  h.send(server(kTcpSyn | kTcpAck, kServerIsn, kIsn + 1));
  const uint32_t l = cookie + 1001, r = cookie + 2001;
  Bytes opt = {1, 1, 5, 10, uint8_t(l >> 24), uint8_t(l >> 16), uint8_t(l >> 8), uint8_t(l),
               uint8_t(r >> 24), uint8_t(r >> 16), uint8_t(r >> 8), uint8_t(r)};
  auto o = h.send(Pkt().ipv4(kClient, kVip).tcp(40000, 80, kTcpAck).seq(kIsn + 1).ack(cookie + 1).tcp_options(opt).frame());
  ASSERT_EQ(o.v.action, Action::Transmit);
  const uint8_t* sack = o.frame.data() + o.p.l4_off + 20 + 4;
  EXPECT_EQ(ntoh32(load32(sack)), kServerIsn + 1001);
  EXPECT_EQ(ntoh32(load32(sack + 4)), kServerIsn + 2001);
  EXPECT_EQ(ack_of(o), kServerIsn + 1);
  EXPECT_EQ(verify_checksums(o.frame), "");
}

TEST(SynProxy, TheClientsFirstDataBeforeTheServerAnswersIsKeptAndSentAfterTheHandshake) {
  Harness h(proxied());
  const uint32_t cookie = handshake(h);
  h.send(client(kTcpAck, kIsn + 1, cookie + 1));
  auto held = h.send(client(kTcpAck | kTcpPsh, kIsn + 1, cookie + 1, "GET / HTTP/1.0\r\n\r\n"));
  EXPECT_EQ(held.v.action, Action::Drop);
  EXPECT_EQ(held.v.reason, DropReason::None) << "kept, not dropped";
  EXPECT_EQ(h.events(Event::SynProxyHeld), 1u);
  auto a = h.send(server(kTcpSyn | kTcpAck, kServerIsn, kIsn + 1));
  ASSERT_EQ(a.v.action, Action::Transmit);
  EXPECT_EQ(a.p.tcp_flags, kTcpAck);
  ASSERT_NE(a.v.release, 0);
  TestBuf b(Bytes(Worker::kHeldFrameBytes));
  ASSERT_TRUE(h.worker->take_held(a.v.release, b.pb));
  EXPECT_FALSE(h.worker->take_held(a.v.release, b.pb)) << "taken once";
  Verdict v = h.worker->process(b.pb, h.now);
  ASSERT_EQ(v.action, Action::Transmit);
  Harness::Out d{v, b.bytes(), {}};
  parse_frame(d.frame.data(), static_cast<uint32_t>(d.frame.size()), d.p);
  EXPECT_EQ(d.p.daddr, ip4(kServer));
  EXPECT_EQ(ack_of(d), kServerIsn + 1);
  EXPECT_EQ(std::string(d.frame.begin() + d.p.payload_off, d.frame.begin() + d.p.payload_off + d.p.payload_len),
            "GET / HTTP/1.0\r\n\r\n");
  EXPECT_EQ(verify_checksums(d.frame), "");
}

TEST(SynProxy, ClientSegmentsBeforeTheServerAnswersSendTheSynAgain) {
  Harness h(proxied());
  const uint32_t cookie = handshake(h);
  h.send(client(kTcpAck, kIsn + 1, cookie + 1));  // its SYN is lost on the way
  auto again = h.send(client(kTcpAck, kIsn + 1, cookie + 1));  // the client's ACK again
  ASSERT_EQ(again.v.action, Action::Transmit);
  EXPECT_EQ(again.p.tcp_flags, kTcpSyn);
  EXPECT_EQ(seq_of(again), kIsn);
  h.send(client(kTcpAck | kTcpPsh, kIsn + 1, cookie + 1, "first"));  // kept
  auto more = h.send(client(kTcpAck | kTcpPsh, kIsn + 1, cookie + 1, "first"));  // sent again: resends the SYN
  EXPECT_EQ(more.p.tcp_flags, kTcpSyn);
  EXPECT_EQ(more.p.payload_len, 0u);
  EXPECT_EQ(h.drops(DropReason::SynProxyEarly), 1u);
}

TEST(SynProxy, AKeptFrameGoesWithItsConnection) {
  Harness h(proxied());
  for (uint16_t p = 0; p < 300; ++p) {  // more than there are places: each returns when its connection goes
    auto sa = h.send(syn(1460, static_cast<uint16_t>(30000 + p)));
    h.send(client(kTcpAck, kIsn + 1, seq_of(sa) + 1, {}, static_cast<uint16_t>(30000 + p)));
    auto k = h.send(client(kTcpAck | kTcpPsh, kIsn + 1, seq_of(sa) + 1, "x", static_cast<uint16_t>(30000 + p)));
    ASSERT_EQ(k.v.reason, DropReason::None) << p;
    h.worker->flush_all(h.now);
  }
  EXPECT_EQ(h.events(Event::SynProxyHeld), 300u);
}

TEST(SynProxy, AServersResetReachesTheClientInItsOwnSequenceSpace) {
  Harness h(proxied());
  const uint32_t cookie = handshake(h);
  h.send(client(kTcpAck, kIsn + 1, cookie + 1));
  auto r = h.send(server(kTcpRst | kTcpAck, 0, kIsn + 1));
  ASSERT_EQ(r.v.action, Action::Transmit);
  EXPECT_EQ(r.v.route_dst, ip4(kClient));
  EXPECT_EQ(r.p.tcp_flags, kTcpRst);
  EXPECT_EQ(r.p.saddr, ip4(kVip));
  EXPECT_EQ(seq_of(r), cookie + 1);
  EXPECT_EQ(verify_checksums(r.frame), "");
}

TEST(SynProxy, FullNatConnectionsAreProxiedFromTheLocalAddressWithTheClientInTheCompletingAck) {
  Harness h(proxied(FwdMethod::FullNat), 1024, {ip4("10.9.0.1")});
  const uint32_t cookie = handshake(h);
  auto s = h.send(client(kTcpAck, kIsn + 1, cookie + 1));
  ASSERT_EQ(s.v.action, Action::Transmit);
  EXPECT_EQ(s.p.tcp_flags, kTcpSyn);
  EXPECT_EQ(s.p.saddr, ip4("10.9.0.1"));
  const be16 lport = s.p.sport;
  EXPECT_GE(ntoh16(lport), 5000);
  EXPECT_EQ(s.p.daddr, ip4(kServer));
  EXPECT_EQ(verify_checksums(s.frame), "");
  // The server answers the local address.
  auto a = h.send(Pkt().ipv4(kServer, "10.9.0.1").tcp(8080, ntoh16(lport), kTcpSyn | kTcpAck).seq(kServerIsn).ack(kIsn + 1).frame());
  ASSERT_EQ(a.v.action, Action::Transmit);
  EXPECT_EQ(a.p.tcp_flags, kTcpAck);
  EXPECT_EQ(a.p.saddr, ip4("10.9.0.1"));
  EXPECT_EQ(a.p.sport, lport);
  EXPECT_EQ(ack_of(a), kServerIsn + 1);
  const uint8_t* opt = a.frame.data() + a.p.l4_off + 20;
  ASSERT_EQ(opt[0], 254) << "TOA in the ACK that completes the handshake";
  EXPECT_EQ(load32(opt + 4), ip4(kClient));
  EXPECT_EQ(verify_checksums(a.frame), "");
  auto d = h.send(client(kTcpAck | kTcpPsh, kIsn + 1, cookie + 1, "GET /"));
  EXPECT_EQ(d.p.saddr, ip4("10.9.0.1"));
  EXPECT_EQ(ack_of(d), kServerIsn + 1);
  EXPECT_NE(d.frame[d.p.l4_off + 20], 254) << "once is enough";
  EXPECT_EQ(verify_checksums(d.frame), "");
  auto r = h.send(Pkt().ipv4(kServer, "10.9.0.1").tcp(8080, ntoh16(lport), kTcpAck).seq(kServerIsn + 1).ack(kIsn + 6).payload("ok").frame());
  ASSERT_EQ(r.v.action, Action::Transmit);
  EXPECT_EQ(r.p.daddr, ip4(kClient));
  EXPECT_EQ(r.p.saddr, ip4(kVip));
  EXPECT_EQ(seq_of(r), cookie + 1);
  EXPECT_EQ(verify_checksums(r.frame), "");
}

TEST(SynProxy, DrAndTunServersCannotBeProxied) {
  Harness h(proxied(FwdMethod::Route));
  const uint32_t cookie = handshake(h);
  EXPECT_EQ(h.send(client(kTcpAck, kIsn + 1, cookie + 1)).v.reason, DropReason::SynProxyNotNat);
  EXPECT_EQ(h.worker->conn_count(), 0u);
  EXPECT_EQ(h.load(0).active + h.load(0).inactive, 0u);
}

TEST(SynProxy, ConnectionsOfOtherServicesCarryNothingOfIt) {
  CoreConfig c = proxied();
  c.services[0].flags = 0;
  Harness h(c);
  EXPECT_EQ(h.send(syn()).v.route_dst, ip4(kServer)) << "a plain service forwards the SYN";
  EXPECT_EQ(h.worker->synproxy_count(), 0u);
  static_assert(sizeof(ConnV4) == 32);
}

}  // namespace
}  // namespace fulcrum::test
