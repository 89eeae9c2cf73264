// Connection sync of IPv6 connections (engine_sync6.cc): a master sends them under the same
// rules as IPv4 ones (threshold, period, state changes, templates with their connections), as
// version 1 IPv6 records; a backup installs what arrives into its IPv6 table with the kernel's
// checks, so the flow's next packet goes to the same server -- for NAT, DR, TUN, FullNAT with
// IPv6 local addresses, NAT64 (Fulcrum's mandatory parameter) and persistence templates of an
// IPv6 prefix; and what it cannot take is counted, never installed.
#include <cstdio>
#include <set>

#include "engine_test_util.h"
#include "sync_record.h"
#include "sync_wire.h"

namespace fulcrum::test {
namespace {

constexpr const char* kCip = "2001:db8:1::2";
constexpr const char* kVip = "2001:db8::100";
constexpr const char* kRip = "2001:db8:2::10";
constexpr const char* kRip2 = "2001:db8:2::11";
constexpr const char* kLip = "2001:db8:3::1";
constexpr const char* kRip4 = "198.18.2.10";
constexpr const char* kLip4 = "198.18.3.1";

CoreConfig svc6(FwdMethod fwd, uint32_t flags = 0) {
  CoreConfig c;
  c.services = {mksvc6(0, kProtoTcp, kVip, 80, SchedKind::Rr,
                       {mkdest6(0, kRip, 8080, fwd), mkdest6(1, kRip2, 8080, fwd)}, flags)};
  return c;
}

CoreConfig nat64() {
  CoreConfig c;
  c.services = {mksvc6(0, kProtoTcp, kVip, 80, SchedKind::Rr, {mkdest(0, kRip4, 8080, FwdMethod::FullNat)})};
  return c;
}

Bytes tin(uint16_t cport, uint8_t flags, const char* client = kCip) {
  return Pkt().ipv6(client, kVip).tcp(cport, 80, flags).frame();
}

// A director: its worker, with the local addresses FullNAT and NAT64 need.
Harness director(const CoreConfig& c) { return Harness(c, 1024, {ip4(kLip4)}, {16, 64}, 0, {addr6(kLip)}); }

struct Master {
  Harness h;
  std::unique_ptr<SyncSideArray> side;
  explicit Master(const CoreConfig& c) : h(director(c)) {
    side = std::make_unique<SyncSideArray>(h.worker->slot_count());
    h.worker->set_sync_master(side->get());
  }
  std::vector<sync::SyncRecord6> take() {
    EXPECT_EQ(h.worker->sync_pending4(), 0u) << "IPv6 connections make no IPv4 records";
    std::vector<sync::SyncRecord6> v(h.worker->sync_records6(), h.worker->sync_records6() + h.worker->sync_pending6());
    h.worker->sync_taken();
    return v;
  }
  const ConnInfo only() {
    auto all = conns(h);
    EXPECT_EQ(all.size(), 1u);
    return all.empty() ? ConnInfo{} : all[0];
  }
};

// Records through the wire as a backup reads them: one message, read back, in ring form.
std::vector<sync::SyncRecord6> through_wire(const std::vector<sync::SyncRecord6>& in) {
  uint8_t buf[1472];
  sync::MessageWriter w(buf, sizeof buf, 0);
  for (const auto& r : in) EXPECT_TRUE(w.add(sync::to_wire(r)));
  std::vector<sync::SyncConn> got(sync::kMaxConns);
  const sync::ReadResult rr = sync::read_message(w.data(), w.size(), 0, got.data());
  EXPECT_EQ(rr.error, sync::MessageError::kNone);
  EXPECT_EQ(rr.conns, in.size());
  std::vector<sync::SyncRecord6> out;
  for (size_t i = 0; i < rr.conns; ++i) {
    EXPECT_TRUE(got[i].v6());
    sync::SyncRecord r4;
    EXPECT_FALSE(sync::from_wire(got[i], r4)) << "an IPv6 record has no IPv4 ring form";
    EXPECT_TRUE(sync::from_wire(got[i], out.emplace_back()));
  }
  return out;
}

std::string hex(const IpAddr& a) {
  std::string s;
  char b[3];
  for (uint8_t x : a.b) {
    std::snprintf(b, sizeof b, "%02x", x);
    s += b;
  }
  return s;
}

std::string key(const ConnInfo& i) {
  return std::to_string(i.proto) + (i.is_template ? "T " : " ") + hex(i.caddr_ip) + ":" + std::to_string(ntoh16(i.cport)) +
         ">" + hex(i.vaddr_ip) + ":" + std::to_string(ntoh16(i.vport)) + ">" + hex(i.daddr_ip) + ":" +
         std::to_string(ntoh16(i.dport)) + " s" + std::to_string(i.state) + " f" + std::to_string(static_cast<int>(i.fwd)) +
         " l" + hex(i.laddr_ip) + ":" + std::to_string(ntoh16(i.lport)) + " fam" + std::to_string(i.family);
}

std::set<std::string> keys(Harness& h, bool want_synced) {
  std::set<std::string> s;
  for (const ConnInfo& i : conns(h)) {
    EXPECT_EQ(i.synced, want_synced) << key(i);
    s.insert(key(i));
  }
  return s;
}

// ---- master ----------------------------------------------------------------------------------

TEST(Sync6Emit, AnEstablishedIpv6FlowIsSentAtItsThirdPacketAndEveryFiftiethAfterAsAnIpv6Record) {
  Master m(svc6(FwdMethod::Masq));
  m.h.send6(tin(40000, kTcpSyn));
  m.h.send6(Pkt().ipv6(kRip, kCip).tcp(8080, 40000, kTcpSyn | kTcpAck).frame());
  m.h.send6(tin(40000, kTcpAck));
  EXPECT_TRUE(m.take().empty()) << "two incoming packets: below sync_threshold";
  m.h.send6(tin(40000, kTcpAck));
  auto r = m.take();
  ASSERT_EQ(r.size(), 1u) << "the 3rd packet";
  EXPECT_EQ(r[0].protocol, kProtoTcp);
  EXPECT_EQ(r[0].caddr, addr6(kCip));
  EXPECT_EQ(r[0].cport, port(40000));
  EXPECT_EQ(r[0].vaddr, addr6(kVip));
  EXPECT_EQ(r[0].vport, port(80));
  EXPECT_EQ(r[0].daddr, addr6(kRip));
  EXPECT_EQ(r[0].dport, port(8080));
  EXPECT_EQ(r[0].state, kTcpEstablished);
  EXPECT_EQ(r[0].timeout_s, 900u);
  EXPECT_EQ(r[0].flags, sync::kFwdMasq);
  EXPECT_EQ(r[0].has_fullnat, 0);
  EXPECT_TRUE(sync::to_wire(r[0]).v6());
  for (int pkt = 4; pkt <= 52; ++pkt) m.h.send6(tin(40000, kTcpAck));
  EXPECT_TRUE(m.take().empty()) << "packets 4..52";
  m.h.send6(tin(40000, kTcpAck));
  EXPECT_EQ(m.take().size(), 1u) << "the 53rd";
  // A state change goes at once.
  m.h.send6(tin(40000, kTcpFin | kTcpAck));
  r = m.take();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].state, kTcpCloseWait);
  EXPECT_NE(r[0].flags & sync::kFlagInactive, 0u);
}

TEST(Sync6Emit, NothingWhileNoMasterRunsAndAHandshakeIsNotSent) {
  Harness h = director(svc6(FwdMethod::Route));
  for (int i = 0; i < 5; ++i) h.send6(tin(40000, kTcpAck));
  EXPECT_EQ(h.worker->sync_pending(), 0u);
  Master m(svc6(FwdMethod::Route));
  for (int i = 0; i < 3; ++i) m.h.send6(tin(40001, kTcpSyn));
  EXPECT_TRUE(m.take().empty()) << "SYN_RECV is not a state the kernel syncs";
}

TEST(Sync6Emit, NeitherAProxiedConnectionNorOneToAnIpv4TunnelServerIsSent) {
  // As IPv4's: a proxied connection's seq shift is not in the record (a backup could not follow
  // it); a tunnel server of the other family cannot be named in an IPv6 record.
  Master proxied(svc6(FwdMethod::Masq, kSvcSynProxy));
  const auto seq_of = [](const Harness::Out& o) { return ntoh32(load32(o.frame.data() + o.p.l4_off + 4)); };
  const uint32_t cookie = seq_of(proxied.h.send6(Pkt().ipv6(kCip, kVip).tcp(40010, 80, kTcpSyn).seq(100).tcp_options({2, 4, 5, 0xa0}).frame()));
  proxied.h.send6(Pkt().ipv6(kCip, kVip).tcp(40010, 80, kTcpAck).seq(101).ack(cookie + 1).frame());
  ASSERT_EQ(proxied.h.worker->synproxy_count(), 1u);
  for (int i = 0; i < 60; ++i) proxied.h.send6(Pkt().ipv6(kCip, kVip).tcp(40010, 80, kTcpAck).seq(101).ack(cookie + 1).frame());
  EXPECT_TRUE(proxied.take().empty());

  CoreConfig mixed;
  mixed.services = {mksvc6(0, kProtoTcp, kVip, 80, SchedKind::Rr, {mkdest(0, kRip4, 80, FwdMethod::Tunnel)})};
  Master m(mixed);
  for (int i = 0; i < 60; ++i) m.h.send6(tin(40011, i ? kTcpAck : kTcpSyn));
  EXPECT_EQ(m.h.worker->conn_count(), 1u);
  EXPECT_TRUE(m.take().empty());
}

// ---- master -> wire -> backup, per forwarding method --------------------------------------------

// Opens a connection on the master (the server's SYN-ACK through `reply` when there is one),
// sends it through the wire to a fresh backup, and checks the backup lists it as the master
// does, marked synced, with the same server, and forwards its next packet there.
void round_trip(const CoreConfig& cfg, FwdMethod fwd) {
  Master m(cfg);
  auto o = m.h.send6(tin(40000, kTcpSyn));
  ASSERT_TRUE(o.v.action == Action::Transmit6 || o.v.action == Action::Transmit);
  const ConnInfo c = m.only();
  const bool has_reply = fwd == FwdMethod::Masq || fwd == FwdMethod::FullNat;
  if (has_reply) {
    const uint16_t lport = ntoh16(c.lport);
    if (c.daddr_ip.is_v4())
      m.h.send6(Pkt().ipv4(kRip4, kLip4).tcp(8080, lport, kTcpSyn | kTcpAck).frame());
    else if (fwd == FwdMethod::FullNat)
      m.h.send6(Pkt().ipv6(kRip, kLip).tcp(8080, lport, kTcpSyn | kTcpAck).frame());
    else
      m.h.send6(Pkt().ipv6(kRip, kCip).tcp(8080, 40000, kTcpSyn | kTcpAck).frame());
  }
  m.h.send6(tin(40000, kTcpAck));
  m.h.send6(tin(40000, kTcpAck));
  auto sent = m.take();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].has_fullnat, fwd == FwdMethod::FullNat);

  Harness b = director(cfg);
  for (const auto& r : through_wire(sent)) EXPECT_EQ(b.worker->sync_install6(r, b.now), SyncInstall::Installed);
  EXPECT_EQ(keys(b, true), keys(m.h, false));
  EXPECT_EQ(b.worker->sync_counters().installed, 1u);
  const ConnInfo bc = conns(b)[0];
  EXPECT_EQ(b.load(bc.dest).active, 1u) << "ESTABLISHED: counted active";
  // The flow's next packet: forwarded to the sent server, no new schedule.
  const auto next = b.send6(tin(40000, kTcpAck));
  if (c.daddr_ip.is_v4()) {
    ASSERT_EQ(next.v.action, Action::Transmit);
    EXPECT_EQ(next.v.route_dst, c.daddr_ip.v4());
    EXPECT_EQ(next.p.sport, c.lport) << "the synced local port";
  } else {
    ASSERT_EQ(next.v.action, Action::Transmit6);
    EXPECT_EQ(next.route6, c.daddr_ip);
  }
  EXPECT_EQ(b.worker->conn6_count(), 1u);
  // The master's next packet of that flow goes out the same way (FullNAT: the same addresses
  // and ports; the backup sends the client's address in TOA again on its first segment, as it
  // does for IPv4 -- the option is not synced).
  const auto mine = m.h.send6(tin(40000, kTcpAck));
  if (fwd != FwdMethod::FullNat) {
    EXPECT_EQ(diff(next.frame, mine.frame), "");
  } else {
    EXPECT_EQ(next.p.sport, mine.p.sport);
    EXPECT_EQ(next.p.dport, mine.p.dport);
    EXPECT_EQ(next.v.route_dst, mine.v.route_dst);
    EXPECT_EQ(next.route6, mine.route6);
  }
}

TEST(Sync6RoundTrip, Nat) { round_trip(svc6(FwdMethod::Masq), FwdMethod::Masq); }
TEST(Sync6RoundTrip, DirectRouting) { round_trip(svc6(FwdMethod::Route), FwdMethod::Route); }
TEST(Sync6RoundTrip, Tunnel) { round_trip(svc6(FwdMethod::Tunnel), FwdMethod::Tunnel); }
TEST(Sync6RoundTrip, FullNatWithAnIpv6LocalAddress) { round_trip(svc6(FwdMethod::FullNat), FwdMethod::FullNat); }
TEST(Sync6RoundTrip, Nat64) { round_trip(nat64(), FwdMethod::FullNat); }

TEST(Sync6RoundTrip, ATemplateOfAnIpv6PrefixSendsTheClientsNewConnectionsToItsServer) {
  CoreConfig c = svc6(FwdMethod::Route, kSvcPersistent);
  c.services[0].netmask6 = 64;
  c.services[0].persist_timeout_s = 600;
  Master m(c);
  // Round robin's first pick is server 0: make the client's server the second one.
  m.h.send6(tin(1, kTcpSyn, "2001:db8:9::1"));
  for (int i = 0; i < 3; ++i) m.h.send6(tin(40000, i == 0 ? kTcpSyn : kTcpAck));
  m.h.send6(tin(40000, kTcpAck));
  std::vector<sync::SyncRecord6> sent;
  for (const auto& r : m.take())
    if (r.caddr == addr6(kCip) || r.caddr == addr6("2001:db8:1::")) sent.push_back(r);
  ASSERT_EQ(sent.size(), 2u) << "the connection and its template";
  const sync::SyncRecord6& t = sent[1];
  ASSERT_NE(t.flags & sync::kFlagTemplate, 0u);
  EXPECT_EQ(t.caddr, addr6("2001:db8:1::")) << "the client's /64";
  EXPECT_EQ(t.cport, 0);
  EXPECT_EQ(t.daddr, addr6(kRip2));
  EXPECT_EQ(t.timeout_s, 600u);

  Harness b = director(c);
  for (const auto& r : through_wire(sent)) EXPECT_EQ(b.worker->sync_install6(r, b.now), SyncInstall::Installed);
  EXPECT_EQ(b.load(1).persist, 1u);
  // Another client of the same /64 on the backup: the template's server, not round robin's.
  EXPECT_EQ(b.send6(tin(5000, kTcpSyn, "2001:db8:1::77")).route6, addr6(kRip2));
  // Sent again: the same template, refreshed.
  EXPECT_EQ(b.worker->sync_install6(through_wire({t})[0], b.now), SyncInstall::Updated);
}

TEST(Sync6RoundTrip, AFwmarkTemplateTravelsWithTheKernelsFormOfItsAddress) {
  CoreConfig c;
  ServiceConfig fw6;
  fw6.id = 0;
  fw6.fwmark = 9;
  fw6.fwmark_v6 = true;
  fw6.sched = SchedKind::Rr;
  fw6.flags = kSvcPersistent;
  fw6.netmask6 = 64;
  fw6.dests = {mkdest6(0, kRip, 0, FwdMethod::Route), mkdest6(1, kRip2, 0, FwdMethod::Route)};
  c.services = {fw6};
  MatchRule rule;
  rule.dst_prefix = addr6(kVip);
  rule.prefix_len = 128;
  rule.mark = 9;
  c.rules = {rule};
  Master m(c);
  for (int i = 0; i < 3; ++i) m.h.send6(tin(40000, i == 0 ? kTcpSyn : kTcpAck));
  auto sent = m.take();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].fwmark, 9u) << "a fwmark service's connection carries its mark";
  const sync::SyncRecord6& t = sent[1];
  EXPECT_EQ(t.protocol, 0);
  EXPECT_EQ(t.fwmark, 9u);
  IpAddr kernel_form{};
  kernel_form.b[3] = 9;  // htonl(mark) in the first word (ip_vs_sched_persist)
  EXPECT_EQ(t.vaddr, kernel_form);
  Harness b = director(c);
  for (const auto& r : through_wire(sent)) EXPECT_EQ(b.worker->sync_install6(r, b.now), SyncInstall::Installed);
  EXPECT_EQ(keys(b, true), keys(m.h, false));
}

// ---- what a backup refuses ---------------------------------------------------------------------

sync::SyncRecord6 record(const char* rip = kRip) {
  sync::SyncRecord6 r{};
  r.protocol = kProtoTcp;
  r.caddr = addr6(kCip);
  r.vaddr = addr6(kVip);
  r.daddr = std::string(rip).find(':') == std::string::npos ? IpAddr::from_v4(ip4(rip)) : addr6(rip);
  r.cport = port(40000);
  r.vport = port(80);
  r.dport = port(8080);
  r.state = kTcpEstablished;
  r.timeout_s = 900;
  return r;
}

TEST(Sync6Install, WhatTheBackupCannotHoldIsSkippedAndCounted) {
  Harness b = director(svc6(FwdMethod::FullNat));
  sync::SyncRecord6 r = record();
  r.vaddr = addr6("2001:db8::101");
  EXPECT_EQ(b.worker->sync_install6(r, b.now), SyncInstall::NoService);
  r = record("2001:db8:2::99");
  EXPECT_EQ(b.worker->sync_install6(r, b.now), SyncInstall::NoDest);
  r = record();
  r.has_fullnat = 1;
  r.laddr = addr6("2001:db8:3::99");  // not a local address here
  r.lport = port(5000);
  EXPECT_EQ(b.worker->sync_install6(r, b.now), SyncInstall::FnatRefused);
  r.laddr = addr6(kLip);
  r.lport = port(6000);  // not this worker's port share
  EXPECT_EQ(b.worker->sync_install6(r, b.now), SyncInstall::FnatRefused);
  r = record("198.18.2.10");  // an IPv4 server without the NAT64 parameter: not a connection we make
  EXPECT_EQ(b.worker->sync_install6(r, b.now), SyncInstall::BadRecord);
  r = record();
  r.state = 15;
  EXPECT_EQ(b.worker->sync_install6(r, b.now), SyncInstall::BadRecord);
  EXPECT_EQ(b.worker->conn6_count(), 0u);
  const SyncCounters& n = b.worker->sync_counters();
  EXPECT_EQ(n.no_service, 1u);
  EXPECT_EQ(n.no_dest, 1u);
  EXPECT_EQ(n.fnat_refused, 2u);
  EXPECT_EQ(n.bad_record, 2u);
  for (DestId d = 0; d < 2; ++d) EXPECT_EQ(b.load(d).active + b.load(d).inactive, 0u);
}

TEST(Sync6Install, ARecordForAnotherServerReplacesTheEntryUnlessItIsTheOldOnesLastWord) {
  Harness b = director(svc6(FwdMethod::Masq));
  EXPECT_EQ(b.worker->sync_install6(record(kRip), b.now), SyncInstall::Installed);
  EXPECT_EQ(b.worker->sync_install6(record(kRip), b.now), SyncInstall::Updated);
  sync::SyncRecord6 stale = record(kRip2);
  stale.flags = sync::kFlagInactive;
  EXPECT_EQ(b.worker->sync_install6(stale, b.now), SyncInstall::Stale);
  EXPECT_EQ(b.worker->sync_install6(record(kRip2), b.now), SyncInstall::Replaced);
  ASSERT_EQ(conns(b).size(), 1u);
  EXPECT_EQ(conns(b)[0].daddr_ip, addr6(kRip2));
  EXPECT_EQ(b.load(0).active, 0u);
  EXPECT_EQ(b.load(1).active, 1u);
}

}  // namespace
}  // namespace fulcrum::test
