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
  restart::SaveCounts n;
  h.worker->save_conns(h.now, v, n);
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
