// A graceful restart: what a worker saves (save_conns), the file it goes through
// (restart_file.h) and what a new worker makes of it (restore_conn): the same table, bound to
// the same servers with the same counts, its timeouts less the time down, expired entries and
// vanished servers skipped and counted, a SYN-proxied connection's seq shift kept, and any file
// that is not exactly ours refused.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <set>

#include "engine_test_util.h"
#include "restart_file.h"

namespace fulcrum::test {
namespace {

const char* kClient = "172.16.5.20";
const char* kVip = "10.0.0.1";

CoreConfig nat2(uint32_t flags = 0) {
  CoreConfig c;
  c.services = {mksvc(0, kProtoTcp, kVip, 80, SchedKind::Rr,
                      {mkdest(0, "192.168.1.10", 8080, FwdMethod::Masq), mkdest(1, "192.168.1.11", 8080, FwdMethod::Masq)},
                      flags),
                mksvc(1, kProtoUdp, kVip, 53, SchedKind::Rr, {mkdest(2, "192.168.1.12", 53, FwdMethod::Masq)})};
  return c;
}

Bytes tin(uint16_t cport, uint8_t flags) { return Pkt().ipv4(kClient, kVip).tcp(cport, 80, flags).frame(); }

// SYN, SYN-ACK, ACK: ESTABLISHED; the server it went to.
be32 open(Harness& h, uint16_t cport) {
  be32 server = h.send(tin(cport, kTcpSyn)).p.daddr;
  h.send(Pkt().ipv4(addr(server).c_str(), kClient).tcp(8080, cport, kTcpSyn | kTcpAck).frame());
  h.send(tin(cport, kTcpAck));
  return server;
}

std::vector<restart::SavedConn> save(Harness& h, restart::SaveCounts* counts = nullptr) {
  std::vector<restart::SavedConn> v;
  std::vector<restart::SavedConn6> v6;
  restart::SaveCounts n;
  h.worker->save_conns(h.now, v, v6, n);
  if (counts) *counts = n;
  return v;
}

restart::RestoreCounts restore(Harness& h, const std::vector<restart::SavedConn>& v, uint32_t down_ticks) {
  restart::RestoreCounts n;
  for (const auto& s : v) n.add(h.worker->restore_conn(s, down_ticks, h.now));
  return n;
}

struct TmpFile {
  std::string path = "/tmp/fulcrum_restart_test_" + std::to_string(::getpid()) + ".bin";
  ~TmpFile() { std::remove(path.c_str()); }
};

std::string key(const ConnInfo& i) {
  return std::to_string(i.proto) + (i.is_template ? "T " : " ") + addr(i.caddr) + ":" + std::to_string(ntoh16(i.cport)) +
         ">" + addr(i.vaddr) + ":" + std::to_string(ntoh16(i.vport)) + ">" + addr(i.daddr) + ":" +
         std::to_string(ntoh16(i.dport)) + " s" + std::to_string(i.state) + " d" + std::to_string(i.dest);
}

std::multiset<std::string> keys(Harness& h) {
  std::multiset<std::string> s;
  for (const ConnInfo& i : conns(h)) s.insert(key(i));
  return s;
}

TEST(Restart, ARoundTripThroughTheFileGivesTheSameTableBoundToTheSameServersWithTheSameCounts) {
  Harness a(nat2(kSvcPersistent));
  for (uint16_t p = 40000; p < 40006; ++p) open(a, p);
  a.send(tin(40005, kTcpFin | kTcpAck));  // one closing: inactive
  a.send(Pkt().ipv4(kClient, kVip).udp(5000, 53).payload("q").frame());
  a.advance(7);  // time has passed: what is saved is what is left
  restart::SaveCounts sc;
  auto saved = save(a, &sc);
  EXPECT_EQ(sc.saved, a.worker->conn_count());
  EXPECT_EQ(sc.synproxy, 0u);

  TmpFile f;
  restart::Dump d;
  d.saved_unix_ms = 1234;
  d.nworkers = 1;
  d.conns = saved;
  ASSERT_EQ(restart::write_dump(f.path, d), "");
  restart::Dump back;
  std::string why;
  ASSERT_EQ(restart::read_dump(f.path, back, why), restart::ReadResult::Ok) << why;
  EXPECT_EQ(back.saved_unix_ms, 1234u);
  ASSERT_EQ(back.conns.size(), saved.size());

  Harness b(nat2(kSvcPersistent));
  b.now = 777777;  // another process: its own clock
  restart::RestoreCounts rc = restore(b, back.conns, 0);
  EXPECT_EQ(rc.restored, saved.size());
  EXPECT_EQ(rc.skipped(), 0u);
  EXPECT_EQ(keys(b), keys(a));
  for (DestId d = 0; d < 3; ++d) {
    EXPECT_EQ(b.load(d).active, a.load(d).active) << "dest " << d;
    EXPECT_EQ(b.load(d).inactive, a.load(d).inactive) << "dest " << d;
    EXPECT_EQ(b.load(d).persist, a.load(d).persist) << "dest " << d;
  }
  EXPECT_EQ(b.load(0).active + b.load(1).active, 5u);
  EXPECT_EQ(b.load(0).persist + b.load(1).persist, 1u) << "the client's template, counted once";
  // Same time left (whole seconds, rounded up), and not marked synced: they were made here.
  std::map<std::string, uint32_t> left;
  for (const ConnInfo& i : conns(a)) left[key(i)] = i.expires_in_ticks;
  for (const ConnInfo& i : conns(b)) {
    if (i.is_template) {
      // It controls live connections: kept for the persistence timeout, as the sweep re-arms it.
      EXPECT_EQ(i.expires_in_ticks, b.snap().service(0)->persist_ticks) << key(i);
      EXPECT_FALSE(i.synced) << key(i);
      continue;
    }
    EXPECT_GE(i.expires_in_ticks, left[key(i)]) << key(i);
    EXPECT_LT(i.expires_in_ticks, left[key(i)] + kTicksPerSec) << key(i);
    EXPECT_FALSE(i.synced) << key(i);
  }
  // The flows go on: mid-flow segments to the same server, replies back through the VIP.
  for (uint16_t p = 40000; p < 40005; ++p) {
    be32 server = 0;
    for (const ConnInfo& i : conns(a))
      if (i.cport == port(p) && !i.is_template) server = i.daddr;
    auto o = b.send(tin(p, kTcpAck));
    ASSERT_EQ(o.v.action, Action::Transmit);
    EXPECT_EQ(o.p.daddr, server);
    auto r = b.send(Pkt().ipv4(addr(server).c_str(), kClient).tcp(8080, p, kTcpAck).frame());
    ASSERT_EQ(r.v.action, Action::Transmit);
    EXPECT_EQ(r.p.saddr, ip4(kVip));
  }
  EXPECT_EQ(b.worker->stats().svc[0].conns, 0u) << "nothing was scheduled again";
}

TEST(Restart, TimeoutsShrinkByTheTimeDownAndWhatRanOutIsDroppedAndCounted) {
  Harness a(nat2());
  open(a, 40100);                                                      // ESTABLISHED: 900 s
  a.send(Pkt().ipv4(kClient, kVip).udp(5001, 53).payload("q").frame());  // UDP: 300 s
  auto saved = save(a);
  ASSERT_EQ(saved.size(), 2u);

  Harness b(nat2());
  restart::RestoreCounts rc = restore(b, saved, secs_to_ticks(400));
  EXPECT_EQ(rc.restored, 1u);
  EXPECT_EQ(rc.expired, 1u) << "the UDP entry's 300 s ran out during 400 s down";
  auto v = conns(b);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].proto, kProtoTcp);
  EXPECT_EQ(v[0].expires_in_ticks, secs_to_ticks(500));
  EXPECT_EQ(b.load(0).active + b.load(1).active, 1u);
}

TEST(Restart, AnEntryWhoseServerOrServiceIsGoneIsSkippedAndCounted) {
  Harness a(nat2());
  std::map<be32, int> per_server;
  for (uint16_t p = 40200; p < 40204; ++p) ++per_server[open(a, p)];
  a.send(Pkt().ipv4(kClient, kVip).udp(5002, 53).payload("q").frame());
  auto saved = save(a);
  ASSERT_EQ(saved.size(), 5u);

  CoreConfig c = nat2();
  c.services[0].dests.pop_back();  // 192.168.1.11 left the service while the director was down
  c.services.pop_back();           // and the UDP service with it
  Harness b(c);
  restart::RestoreCounts rc = restore(b, saved, 0);
  EXPECT_EQ(rc.no_dest, uint64_t(per_server[ip4("192.168.1.11")]));
  EXPECT_EQ(rc.no_service, 1u);
  EXPECT_EQ(rc.restored, uint64_t(per_server[ip4("192.168.1.10")]));
  for (const ConnInfo& i : conns(b)) EXPECT_EQ(i.daddr, ip4("192.168.1.10"));
  EXPECT_EQ(b.load(0).active, uint64_t(per_server[ip4("192.168.1.10")]));
}

TEST(Restart, AFullNatConnectionKeepsItsLocalPortAndGoesOnlyWhereThatPortIsOwned) {
  CoreConfig c;
  c.services = {mksvc(0, kProtoTcp, kVip, 80, SchedKind::Rr, {mkdest(0, "192.168.1.10", 8080, FwdMethod::FullNat)})};
  Harness a(c, 1024, {ip4("10.255.0.1")});
  a.send(tin(40300, kTcpSyn));
  be16 lport = conns(a)[0].lport;
  a.send(Pkt().ipv4("192.168.1.10", "10.255.0.1").tcp(8080, ntoh16(lport), kTcpSyn | kTcpAck).frame());
  a.send(tin(40300, kTcpAck));
  auto saved = save(a);
  ASSERT_EQ(saved.size(), 1u);

  Harness b(c, 1024, {ip4("10.255.0.1")});  // the same share of local ports (5000..5099)
  EXPECT_EQ(restore(b, saved, 0).restored, 1u);
  auto r = b.send(Pkt().ipv4("192.168.1.10", "10.255.0.1").tcp(8080, ntoh16(lport), kTcpAck).frame());
  ASSERT_EQ(r.v.action, Action::Transmit) << "the server's reply finds the restored connection";
  EXPECT_EQ(r.p.daddr, ip4(kClient));
  EXPECT_EQ(r.p.dport, port(40300));

  // With another worker count the port may be another worker's: that worker's replies would
  // never reach this one, so it is skipped and counted.
  Harness other(c, 1024, {ip4("10.255.0.1")});
  other.worker.reset();
  other.opts.port_lo = 6000;
  other.opts.port_hi = 6099;
  other.worker = std::make_unique<Worker>(other.opts);
  other.snaps.clear();
  other.apply(c);
  EXPECT_EQ(restore(other, saved, 0).fnat_moved, 1u);
  EXPECT_EQ(other.worker->conn_count(), 0u);
}

TEST(Restart, ASynProxiedConnectionKeepsItsSeqShift) {
  CoreConfig c;
  c.services = {mksvc(0, kProtoTcp, kVip, 80, SchedKind::Rr, {mkdest(0, "192.168.1.10", 8080, FwdMethod::Masq)}, kSvcSynProxy)};
  constexpr uint32_t kIsn = 1000000, kServerIsn = 7777777;
  auto seq_of = [](const Harness::Out& o) { return ntoh32(load32(o.frame.data() + o.p.l4_off + 4)); };
  auto ack_of = [](const Harness::Out& o) { return ntoh32(load32(o.frame.data() + o.p.l4_off + 8)); };
  auto from_server = [&](uint32_t seq, uint32_t ack) {
    return Pkt().ipv4("192.168.1.10", kClient).tcp(8080, 40500, kTcpAck).seq(seq).ack(ack).payload("data").frame();
  };
  Harness a(c);
  auto sa = a.send(Pkt().ipv4(kClient, kVip).tcp(40500, 80, kTcpSyn).seq(kIsn).tcp_options({2, 4, 5, 0xb4}).frame());
  const uint32_t cookie = seq_of(sa);
  a.send(Pkt().ipv4(kClient, kVip).tcp(40500, 80, kTcpAck).seq(kIsn + 1).ack(cookie + 1).frame());
  a.send(Pkt().ipv4("192.168.1.10", kClient).tcp(8080, 40500, kTcpSyn | kTcpAck).seq(kServerIsn).ack(kIsn + 1).frame());
  ASSERT_EQ(a.worker->synproxy_count(), 1u);
  auto before = a.send(from_server(kServerIsn + 1, kIsn + 1));
  ASSERT_EQ(before.v.action, Action::Transmit);
  ASSERT_EQ(seq_of(before), cookie + 1) << "the server's bytes in the client's sequence space";

  restart::SaveCounts n;
  auto saved = save(a, &n);
  ASSERT_EQ(saved.size(), 1u);
  EXPECT_EQ(n.synproxy, 1u);
  Harness b(c);
  EXPECT_EQ(restore(b, saved, 0).restored, 1u);
  EXPECT_EQ(b.worker->synproxy_count(), 1u);
  auto out = b.send(from_server(kServerIsn + 5, kIsn + 1));
  ASSERT_EQ(out.v.action, Action::Transmit);
  EXPECT_EQ(seq_of(out), cookie + 5) << "server -> client: seq - delta, as before the restart";
  auto in = b.send(Pkt().ipv4(kClient, kVip).tcp(40500, 80, kTcpAck).seq(kIsn + 1).ack(cookie + 9).frame());
  ASSERT_EQ(in.v.action, Action::Transmit);
  EXPECT_EQ(ack_of(in), kServerIsn + 9) << "client -> server: ack + delta";
  EXPECT_EQ(verify_checksums(in.frame), "");
}

// ---- the file ----------------------------------------------------------------------------------

restart::Dump sample() {
  Harness a(nat2());
  for (uint16_t p = 40400; p < 40410; ++p) open(a, p);
  restart::Dump d;
  d.saved_unix_ms = 99;
  d.nworkers = 2;
  d.conns = save(a);
  return d;
}

std::string bytes_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
void put(const std::string& path, const std::string& b) { std::ofstream(path, std::ios::binary | std::ios::trunc) << b; }

restart::ReadResult read(const std::string& path, std::string& why) {
  restart::Dump d;
  auto r = restart::read_dump(path, d, why);
  if (r != restart::ReadResult::Ok) {
    EXPECT_TRUE(d.conns.empty());
  }
  return r;
}

TEST(RestartFile, NoFileIsMissingNotRefused) {
  std::string why;
  EXPECT_EQ(read("/tmp/fulcrum_restart_test_nonexistent.bin", why), restart::ReadResult::Missing);
}

TEST(RestartFile, ATruncatedFileIsRefused) {
  TmpFile f;
  ASSERT_EQ(restart::write_dump(f.path, sample()), "");
  std::string b = bytes_of(f.path);
  std::string why;
  for (size_t cut : {b.size() - 1, b.size() - 48, size_t{60}, size_t{47}, size_t{0}}) {
    put(f.path, b.substr(0, cut));
    EXPECT_EQ(read(f.path, why), restart::ReadResult::Refused) << cut;
    EXPECT_FALSE(why.empty());
  }
}

TEST(RestartFile, ACorruptOrForeignFileIsRefusedWithItsReason) {
  TmpFile f;
  ASSERT_EQ(restart::write_dump(f.path, sample()), "");
  const std::string good = bytes_of(f.path);
  std::string why;
  std::string b = good;
  b[100] ^= 1;  // an entry's byte
  put(f.path, b);
  EXPECT_EQ(read(f.path, why), restart::ReadResult::Refused);
  EXPECT_NE(why.find("checksum"), std::string::npos) << why;
  b = good;
  b[0] = 'X';
  put(f.path, b);
  EXPECT_EQ(read(f.path, why), restart::ReadResult::Refused);
  EXPECT_NE(why.find("not a Fulcrum"), std::string::npos) << why;
  b = good;
  b[12] ^= 0x7;  // the layout word: another build's records
  put(f.path, b);
  EXPECT_EQ(read(f.path, why), restart::ReadResult::Refused);
  EXPECT_NE(why.find("layout"), std::string::npos) << why;
  b = good;
  b[8] = 9;  // a future format version
  put(f.path, b);
  EXPECT_EQ(read(f.path, why), restart::ReadResult::Refused);
  EXPECT_NE(why.find("version"), std::string::npos) << why;
  put(f.path, std::string(4096, 'z'));
  EXPECT_EQ(read(f.path, why), restart::ReadResult::Refused);
  put(f.path, good);
  EXPECT_EQ(read(f.path, why), restart::ReadResult::Ok) << why;
}

TEST(RestartFile, AWriteReplacesTheOldFileWholeAndLeavesNoTemporary) {
  TmpFile f;
  put(f.path, "old");
  restart::Dump d = sample();
  ASSERT_EQ(restart::write_dump(f.path, d), "");
  EXPECT_NE(::access((f.path + ".tmp").c_str(), F_OK), 0);
  restart::Dump back;
  std::string why;
  ASSERT_EQ(restart::read_dump(f.path, back, why), restart::ReadResult::Ok);
  EXPECT_EQ(back.nworkers, 2u);
  ASSERT_EQ(back.conns.size(), d.conns.size());
  EXPECT_EQ(std::memcmp(back.conns.data(), d.conns.data(), d.conns.size() * sizeof(restart::SavedConn)), 0);
  EXPECT_NE(restart::write_dump("/nonexistent-dir/x.bin", d), "") << "an unwritable place is an error, not a crash";
}

}  // namespace
}  // namespace fulcrum::test

// ---- IPv6 entries ------------------------------------------------------------------------------

namespace fulcrum::test {
namespace {

constexpr const char* kCip6 = "2001:db8:1::2";
constexpr const char* kVip6 = "2001:db8::100";
constexpr const char* kLip6 = "2001:db8:3::1";
constexpr const char* kLip4 = "198.18.3.1";

// IPv6 services on one VIP, a port per method: NAT (80), DR (81), FullNAT (82), NAT64 (83),
// and DR with a /64 persistence (84).
CoreConfig v6_services() {
  CoreConfig c;
  c.services = {mksvc6(0, kProtoTcp, kVip6, 80, SchedKind::Rr, {mkdest6(0, "2001:db8:2::10", 8080, FwdMethod::Masq)}),
                mksvc6(1, kProtoTcp, kVip6, 81, SchedKind::Rr, {mkdest6(1, "2001:db8:2::11", 81, FwdMethod::Route)}),
                mksvc6(2, kProtoTcp, kVip6, 82, SchedKind::Rr, {mkdest6(2, "2001:db8:2::12", 82, FwdMethod::FullNat)}),
                mksvc6(3, kProtoTcp, kVip6, 83, SchedKind::Rr, {mkdest(3, "198.18.2.10", 83, FwdMethod::FullNat)}),
                mksvc6(4, kProtoTcp, kVip6, 84, SchedKind::Rr,
                       {mkdest6(4, "2001:db8:2::13", 84, FwdMethod::Route), mkdest6(5, "2001:db8:2::14", 84, FwdMethod::Route)},
                       kSvcPersistent)};
  c.services[4].netmask6 = 64;
  return c;
}

Harness director6() { return Harness(v6_services(), 1024, {ip4(kLip4)}, {16, 64}, 0, {addr6(kLip6)}); }

std::string key6(const ConnInfo& i) {
  std::string s = std::to_string(i.proto) + (i.is_template ? "T" : "") + " f" + std::to_string(i.family) + " fwd" +
                  std::to_string(static_cast<int>(i.fwd)) + " s" + std::to_string(i.state) + " d" + std::to_string(i.dest);
  for (const IpAddr* a : {&i.caddr_ip, &i.vaddr_ip, &i.daddr_ip, &i.laddr_ip})
    for (uint8_t b : a->b) s += std::to_string(b) + ".";
  return s + " " + std::to_string(ntoh16(i.cport)) + ">" + std::to_string(ntoh16(i.vport)) + ">" +
         std::to_string(ntoh16(i.dport)) + " l" + std::to_string(ntoh16(i.lport));
}

std::multiset<std::string> keys6(Harness& h) {
  std::multiset<std::string> s;
  for (const ConnInfo& i : conns(h)) {
    EXPECT_FALSE(i.synced) << "made here before the stop, not synced";
    s.insert(key6(i));
  }
  return s;
}

// Each service's connection, three client packets each (DR/TUN see no replies).
void open6(Harness& h) {
  for (uint16_t vport = 80; vport <= 84; ++vport) {
    auto pkt = [&](uint8_t f) { return Pkt().ipv6(kCip6, kVip6).tcp(static_cast<uint16_t>(41000 + vport), vport, f).frame(); };
    h.send6(pkt(kTcpSyn));
    h.send6(pkt(kTcpAck));
  }
}

TEST(Restart6, IpvSixAndNat64EntriesAndATemplateComeBackThroughTheFileBoundToTheSameServers) {
  Harness a = director6();
  open6(a);
  a.advance(3);
  restart::Dump d;
  restart::SaveCounts sc;
  a.worker->save_conns(a.now, d.conns, d.conns6, sc);
  EXPECT_TRUE(d.conns.empty());
  EXPECT_EQ(d.conns6.size(), 6u) << "five connections and a template";
  EXPECT_EQ(sc.v6, 6u);
  EXPECT_EQ(sc.saved, 6u);
  TmpFile f;
  ASSERT_EQ(restart::write_dump(f.path, d), "");
  restart::Dump back;
  std::string why;
  ASSERT_EQ(restart::read_dump(f.path, back, why), restart::ReadResult::Ok) << why;
  ASSERT_EQ(back.conns6.size(), 6u);
  EXPECT_EQ(std::memcmp(back.conns6.data(), d.conns6.data(), d.conns6.size() * sizeof(restart::SavedConn6)), 0);

  Harness b = director6();
  b.now = a.now + 2 * kTicksPerSec;
  restart::RestoreCounts rc;
  for (const auto& s : back.conns6) rc.add(b.worker->restore_conn6(s, 2 * kTicksPerSec, b.now));
  EXPECT_EQ(rc.restored, 6u);
  EXPECT_EQ(rc.skipped(), 0u);
  std::multiset<std::string> want = keys6(a);
  EXPECT_EQ(keys6(b), want);
  for (DestId id = 0; id < 6; ++id) {
    EXPECT_EQ(b.load(id).active, a.load(id).active) << id;
    EXPECT_EQ(b.load(id).inactive, a.load(id).inactive) << id;
    EXPECT_EQ(b.load(id).persist, a.load(id).persist) << id;
  }
  // The time left: the saved less the time down (listings show it).
  for (const ConnInfo& i : conns(b)) {
    if (!i.is_template) {
      EXPECT_LE(i.expires_in_ticks, 900 * kTicksPerSec - 5 * kTicksPerSec);
    }
  }
  // Their packets go on to the same servers (NAT64: to the IPv4 server, from the same local port).
  for (uint16_t vport = 80; vport <= 83; ++vport) {
    const Bytes next = Pkt().ipv6(kCip6, kVip6).tcp(static_cast<uint16_t>(41000 + vport), vport, kTcpAck).frame();
    auto ob = b.send6(next);
    auto oa = a.send6(next);
    EXPECT_EQ(ob.v.action, oa.v.action) << vport;
    EXPECT_EQ(ob.route6, oa.route6) << vport;
    EXPECT_EQ(ob.v.route_dst, oa.v.route_dst) << vport;
  }
  // The template keeps the client's /64 on its server.
  const IpAddr first = a.send6(Pkt().ipv6("2001:db8:1::99", kVip6).tcp(5, 84, kTcpSyn).frame()).route6;
  EXPECT_EQ(b.send6(Pkt().ipv6("2001:db8:1::99", kVip6).tcp(5, 84, kTcpSyn).frame()).route6, first);
}

TEST(Restart6, AnIpv6EntryWhoseTimeRanOutOrWhoseServerIsGoneIsSkippedAndCounted) {
  Harness a = director6();
  open6(a);
  restart::Dump d;
  restart::SaveCounts sc;
  a.worker->save_conns(a.now, d.conns, d.conns6, sc);
  CoreConfig fewer = v6_services();
  fewer.services.erase(fewer.services.begin());  // NAT's service gone
  fewer.services[0].dests[0].addr = addr6("2001:db8:2::99");  // DR's server replaced
  Harness b(fewer, 1024, {ip4(kLip4)}, {16, 64}, 0, {addr6(kLip6)});
  restart::RestoreCounts rc;
  for (const auto& s : d.conns6) rc.add(b.worker->restore_conn6(s, 0, b.now));
  EXPECT_EQ(rc.no_service, 1u);
  EXPECT_EQ(rc.no_dest, 1u);
  EXPECT_EQ(rc.restored, 4u);
  restart::RestoreCounts late;
  Harness c = director6();
  for (const auto& s : d.conns6) late.add(c.worker->restore_conn6(s, 3600 * kTicksPerSec, c.now));
  EXPECT_EQ(late.expired, 6u);
  EXPECT_EQ(c.worker->conn_count(), 0u);
}

TEST(Restart6, ASynProxiedIpv6ConnectionKeepsItsSeqShiftThroughTheFile) {
  CoreConfig c;
  c.services = {test::mksvc6(0, kProtoTcp, kVip6, 80, SchedKind::Rr, {test::mkdest6(0, "2001:db8:2::10", 8080, FwdMethod::Masq)},
                             kSvcSynProxy)};
  constexpr uint32_t kIsn = 1000000, kServerIsn = 7777777;
  auto seq_of = [](const Harness::Out& o) { return ntoh32(load32(o.frame.data() + o.p.l4_off + 4)); };
  auto ack_of = [](const Harness::Out& o) { return ntoh32(load32(o.frame.data() + o.p.l4_off + 8)); };
  auto from_server = [&](uint32_t seq, uint32_t ack) {
    return Pkt().ipv6("2001:db8:2::10", kCip6).tcp(8080, 40500, kTcpAck).seq(seq).ack(ack).payload("data").frame();
  };
  Harness a(c);
  auto sa = a.send6(Pkt().ipv6(kCip6, kVip6).tcp(40500, 80, kTcpSyn).seq(kIsn).tcp_options({2, 4, 5, 0xa0}).frame());
  const uint32_t cookie = seq_of(sa);
  a.send6(Pkt().ipv6(kCip6, kVip6).tcp(40500, 80, kTcpAck).seq(kIsn + 1).ack(cookie + 1).frame());
  a.send6(Pkt().ipv6("2001:db8:2::10", kCip6).tcp(8080, 40500, kTcpSyn | kTcpAck).seq(kServerIsn).ack(kIsn + 1).frame());
  ASSERT_EQ(a.worker->synproxy_count(), 1u);
  ASSERT_EQ(seq_of(a.send6(from_server(kServerIsn + 1, kIsn + 1))), cookie + 1);

  restart::Dump d;
  restart::SaveCounts n;
  a.worker->save_conns(a.now, d.conns, d.conns6, n);
  ASSERT_EQ(d.conns6.size(), 1u);
  EXPECT_EQ(n.synproxy, 1u);
  EXPECT_EQ(d.conns6[0].proxied, 1u);
  TmpFile f;
  ASSERT_EQ(restart::write_dump(f.path, d), "");
  restart::Dump back;
  std::string why;
  ASSERT_EQ(restart::read_dump(f.path, back, why), restart::ReadResult::Ok) << why;
  Harness b(c);
  restart::RestoreCounts rc;
  for (const auto& s : back.conns6) rc.add(b.worker->restore_conn6(s, 0, b.now));
  EXPECT_EQ(rc.restored, 1u);
  EXPECT_EQ(b.worker->synproxy_count(), 1u);
  auto out = b.send6(from_server(kServerIsn + 5, kIsn + 1));
  ASSERT_EQ(out.v.action, Action::Transmit6);
  EXPECT_EQ(seq_of(out), cookie + 5) << "server -> client: seq - delta, as before the restart";
  auto in = b.send6(Pkt().ipv6(kCip6, kVip6).tcp(40500, 80, kTcpAck).seq(kIsn + 1).ack(cookie + 9).frame());
  ASSERT_EQ(in.v.action, Action::Transmit6);
  EXPECT_EQ(ack_of(in), kServerIsn + 9) << "client -> server: ack + delta";
  EXPECT_EQ(verify_checksums(in.frame), "");
}

TEST(Restart6, ConnectionsToATunnelServerOfTheOtherFamilyAreNotSavedButCounted) {
  // A record names its client and server in one family: neither direction of a mixed tunnel fits.
  CoreConfig c;
  c.services = {test::mksvc6(0, kProtoTcp, kVip6, 80, SchedKind::Rr, {test::mkdest(0, "198.18.2.10", 80, FwdMethod::Tunnel)}),
                test::mksvc(1, kProtoTcp, kVip, 80, SchedKind::Rr, {test::mkdest6(1, "2001:db8:2::10", 80, FwdMethod::Tunnel)})};
  Harness a(c);
  a.send6(Pkt().ipv6(kCip6, kVip6).tcp(40600, 80, kTcpSyn).frame());
  a.send(Pkt().ipv4(kClient, kVip).tcp(40601, 80, kTcpSyn).frame());
  ASSERT_EQ(a.worker->conn_count(), 2u);
  restart::Dump d;
  restart::SaveCounts n;
  a.worker->save_conns(a.now, d.conns, d.conns6, n);
  EXPECT_TRUE(d.conns.empty());
  EXPECT_TRUE(d.conns6.empty());
  EXPECT_EQ(n.skipped_mixed, 2u);
  EXPECT_EQ(n.saved, 0u);
}

// The previous format's checksum, as restart_file.cc computes it (a 64-bit FNV-1a over words).
uint64_t file_mix(uint64_t h, const void* p, size_t n) {
  const uint8_t* b = static_cast<const uint8_t*>(p);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, b + i, 8);
    h = (h ^ w) * 0x100000001b3ull;
    h ^= h >> 29;
  }
  for (; i < n; ++i) h = (h ^ b[i]) * 0x100000001b3ull;
  return h;
}

TEST(RestartFile, AVersionOneFileFromTheBuildBeforeIsStillRead) {
  TmpFile f;
  restart::Dump d = sample();
  ASSERT_EQ(restart::write_dump(f.path, d), "");
  std::string b = bytes_of(f.path);
  // Version 1: the same header and entries, version 1, no IPv6 entry size in the layout's top
  // byte, count6 reserved (0), its own checksum.
  b[8] = 1;
  b[15] = 0;
  std::memset(&b[40], 0, 8);
  const uint64_t sum = file_mix(file_mix(0xcbf29ce484222325ull, b.data(), 48), b.data() + 48, b.size() - 48);
  std::memcpy(&b[40], &sum, 8);
  put(f.path, b);
  restart::Dump back;
  std::string why;
  ASSERT_EQ(restart::read_dump(f.path, back, why), restart::ReadResult::Ok) << why;
  EXPECT_EQ(back.conns.size(), d.conns.size());
  EXPECT_TRUE(back.conns6.empty());
  // A version 1 header that claims IPv6 entries is not one we wrote.
  b[36] = 1;
  put(f.path, b);
  EXPECT_EQ(restart::read_dump(f.path, back, why), restart::ReadResult::Refused);
}

TEST(RestartFile, IpvSixEntriesAreCoveredByTheSizeAndChecksumChecks) {
  Harness a = director6();
  open6(a);
  restart::Dump d;
  restart::SaveCounts sc;
  a.worker->save_conns(a.now, d.conns, d.conns6, sc);
  TmpFile f;
  ASSERT_EQ(restart::write_dump(f.path, d), "");
  const std::string good = bytes_of(f.path);
  std::string why;
  put(f.path, good.substr(0, good.size() - 1));
  EXPECT_EQ(read(f.path, why), restart::ReadResult::Refused);
  EXPECT_NE(why.find("truncated"), std::string::npos) << why;
  std::string b = good;
  b[good.size() - 50] ^= 1;  // a byte of the last IPv6 entry
  put(f.path, b);
  EXPECT_EQ(read(f.path, why), restart::ReadResult::Refused);
  EXPECT_NE(why.find("checksum"), std::string::npos) << why;
}

}  // namespace
}  // namespace fulcrum::test
