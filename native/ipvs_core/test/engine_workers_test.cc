// Several workers, one director: the real servers' counts, thresholds, overload, the rr/wrr
// cycle and persistent clients' ties are the director's, whichever worker a connection lands on. The shared counts are
// driven from two threads at once (run under the sanitizer build too), then the issue's table
// (two workers, connections one at a time, alternating) is checked against the kernel's
// choices.
#include <atomic>
#include <map>
#include <string>
#include <thread>

#include "engine_test_util.h"

namespace fulcrum::test {
namespace {

const char* kVip = "10.0.0.1";

DestSnap limits(uint32_t upper, uint32_t lower = 0) {
  DestSnap d;
  d.u_threshold = upper;
  d.l_threshold = lower;
  return d;
}

// ---- the shared counts under concurrent updates ----------------------------------------------

TEST(SharedCounts, TheUpperThresholdIsHardWhenTwoThreadsBindAtOnce) {
  DestCounter c;
  const DestSnap d = limits(4);
  std::atomic<uint32_t> held{0}, most{0};
  std::atomic<uint64_t> refused{0};
  auto work = [&](int seed) {
    for (int i = 0; i < 200000; ++i) {
      if (!c.try_bind(d, 0)) {
        refused.fetch_add(1);
        continue;
      }
      uint32_t now = held.fetch_add(1) + 1;
      uint32_t m = most.load();
      while (now > m && !most.compare_exchange_weak(m, now)) {
      }
      const bool active = (i + seed) % 3 == 0;
      if (active) c.set_active(true);
      held.fetch_sub(1);
      c.unbind(d, active, 0);
    }
  };
  std::thread a(work, 0), b(work, 1);
  a.join();
  b.join();
  EXPECT_LE(most.load(), 4u);
  const DestLoad l = c.get();
  EXPECT_EQ(l.active, 0u);
  EXPECT_EQ(l.inactive, 0u);
  EXPECT_FALSE(l.overload);  // everything unbound: below 3/4 of -x
}

TEST(SharedCounts, CountsStayExactUnderConcurrentBindsStateChangesAndUnbinds) {
  DestCounter c;
  const DestSnap d = limits(0);
  constexpr int kEach = 100000;
  auto bind_all = [&](bool activate) {
    for (int i = 0; i < kEach; ++i) {
      c.bind(d, 0);
      if (activate && i % 2) c.set_active(true);
      c.bind_template(d, 0);
    }
  };
  std::thread a(bind_all, true), b(bind_all, false);
  a.join();
  b.join();
  DestLoad l = c.get();
  EXPECT_EQ(l.active, uint32_t{kEach / 2});
  EXPECT_EQ(l.inactive, uint32_t{2 * kEach - kEach / 2});
  EXPECT_EQ(c.persist(), uint32_t{2 * kEach});
  auto unbind_all = [&](bool activated) {
    for (int i = 0; i < kEach; ++i) {
      c.unbind(d, activated && i % 2, 0);
      c.unbind_template(d, 0);
    }
  };
  std::thread x(unbind_all, true), y(unbind_all, false);
  x.join();
  y.join();
  l = c.get();
  EXPECT_EQ(l.active + l.inactive + c.persist(), 0u);
}

TEST(SharedCounts, OverloadSetsAtTheUpperThresholdAndClearsAtTheKernelsPoint) {
  DestCounter c;
  const DestSnap d = limits(4);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(c.try_bind(d, 0));
  EXPECT_TRUE(c.get().overload);
  EXPECT_FALSE(c.try_bind(d, 0));
  c.unbind(d, false, 0);  // 3: 12 is not below 12
  EXPECT_TRUE(c.get().overload);
  c.unbind(d, false, 0);  // 2: 8 < 12
  EXPECT_FALSE(c.get().overload);
}

// ---- a director of several workers -------------------------------------------------------------

struct Director {
  WorkerLimits lim{16, 64};
  SharedLoad shared{64, 16, 2};
  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<std::unique_ptr<Snapshot>> snaps;
  uint32_t now = 1000;

  Director(const CoreConfig& cfg, int n) {
    for (int i = 0; i < n; ++i) {
      WorkerOptions o;
      o.conn_capacity = 1 << 14;
      o.limits = lim;
      o.shared = &shared;
      o.seed = 0x5eed + i;
      o.worker_id = static_cast<uint16_t>(i);
      workers.push_back(std::make_unique<Worker>(o));
    }
    apply(cfg);
  }
  void apply(const CoreConfig& cfg) {
    std::vector<std::string> errors;
    auto s = build_snapshot(cfg, lim, snaps.empty() ? nullptr : snaps.back().get(), errors);
    ASSERT_TRUE(s) << (errors.empty() ? "" : errors.front());
    for (auto& w : workers) w->set_snapshot(s.get());
    snaps.push_back(std::move(s));
  }
  Verdict send(size_t w, const Bytes& frame) {
    TestBuf b(frame);
    return workers[w]->process(b.pb, now);
  }
  // active + inactive over the workers' shares, and the same from the shared counts.
  uint32_t held(DestId d) {
    uint32_t n = 0;
    for (const auto& w : workers) n += w->load(d).active + w->load(d).inactive;
    const DestLoad s = shared.total(d);
    EXPECT_EQ(n, s.active + s.inactive) << "dest " << d;
    return n;
  }
};

// A, B, C with weights 3, 2, 1 added in that order (so listed newest first), NAT.
CoreConfig abc(SchedKind k, uint32_t xa = 0, uint32_t xb = 0) {
  std::vector<DestConfig> d = {mkdest(2, "192.168.1.12", 80, FwdMethod::Masq, 1),
                               mkdest(1, "192.168.1.11", 80, FwdMethod::Masq, 2),
                               mkdest(0, "192.168.1.10", 80, FwdMethod::Masq, 3)};
  d[2].u_threshold = xa;
  d[1].u_threshold = xb;
  CoreConfig c;
  c.services = {mksvc(0, kProtoTcp, kVip, 80, k, d)};
  return c;
}

Bytes syn(uint16_t cport) { return Pkt().ipv4("172.16.5.20", kVip).tcp(cport, 80, kTcpSyn).frame(); }
Bytes rst(uint16_t cport) { return Pkt().ipv4("172.16.5.20", kVip).tcp(cport, 80, kTcpRst | kTcpAck).frame(); }

// Opens n connections one at a time, alternately on each worker; the real server of each (by
// its dest id), or -1 when refused.
std::vector<int> open_alternating(Director& dir, int n, uint16_t first_port = 1000) {
  std::vector<int> to;
  for (int i = 0; i < n; ++i) {
    Verdict v = dir.send(static_cast<size_t>(i) % dir.workers.size(), syn(static_cast<uint16_t>(first_port + i)));
    to.push_back(v.reason == DropReason::NoDestination ? -1 : static_cast<int>(ntoh32(v.route_dst) & 0xff) - 10);
  }
  return to;
}

int server_of(const Verdict& v) { return static_cast<int>(ntoh32(v.route_dst) & 0xff) - 10; }

std::map<int, int> tally(const std::vector<int>& v) {
  std::map<int, int> m;
  for (int x : v) ++m[x];
  return m;
}

TEST(TwoWorkers, FoFailsOverAtTheDirectorWideUpperThreshold) {
  Director dir(abc(SchedKind::Fo, 4), 2);
  auto m = tally(open_alternating(dir, 12));
  EXPECT_EQ(m[0], 4);  // A holds 4, then B takes the rest
  EXPECT_EQ(m[1], 8);
  EXPECT_EQ(dir.held(0), 4u);
  EXPECT_TRUE(dir.workers[1]->load(0).overload);
}

TEST(TwoWorkers, WlcNeverTakesAServerPastItsThresholdWhileConnectionsClose) {
  Director dir(abc(SchedKind::Wlc, 4, 3), 2);
  for (int i = 0; i < 30; ++i) {
    const uint16_t port = static_cast<uint16_t>(2000 + i);
    dir.send(static_cast<size_t>(i) % 2, syn(port));
    // Every third connection is closed (it stays, inactive, until it expires: still counted).
    if (i % 3 == 2) dir.send(static_cast<size_t>(i) % 2, rst(port));
    ASSERT_LE(dir.held(0), 4u) << "after connection " << i;
    ASSERT_LE(dir.held(1), 3u) << "after connection " << i;
  }
}

TEST(TwoWorkers, AnUpperThresholdGivenLaterCountsTheConnectionsAlreadyThere) {
  // Connections to a server without -x are counted in the workers' shards; -x given later
  // judges them too (kernel: the next bind sets the flag), and their going clears it.
  Director dir(abc(SchedKind::Fo), 2);
  auto m = tally(open_alternating(dir, 6));
  ASSERT_EQ(m[0], 6);
  dir.apply(abc(SchedKind::Fo, 4));
  m = tally(open_alternating(dir, 2, 2000));
  EXPECT_EQ(m[1], 2);
  EXPECT_EQ(dir.held(0), 6u);
  EXPECT_TRUE(dir.workers[0]->load(0).overload);
  for (auto& w : dir.workers) w->flush_all(dir.now);
  EXPECT_EQ(dir.held(0), 0u);
  EXPECT_FALSE(dir.workers[0]->load(0).overload);
}

TEST(TwoWorkers, OvfOverflowsOnDirectorWideActiveCountsAndRefusesWhenAllAreFull) {
  Director dir(abc(SchedKind::Ovf), 2);
  auto m = tally(open_alternating(dir, 12));
  EXPECT_EQ(m[0], 4);
  EXPECT_EQ(m[1], 3);
  EXPECT_EQ(m[2], 2);
  EXPECT_EQ(m[-1], 3);
}

TEST(TwoWorkers, RrAndLcShareTheKernelsCycle) {
  for (SchedKind k : {SchedKind::Rr, SchedKind::Lc}) {
    Director dir(abc(k), 2);
    std::vector<int> to = open_alternating(dir, 24);
    auto m = tally(to);
    EXPECT_EQ(m[0], 8) << sched_name(k);
    EXPECT_EQ(m[1], 8) << sched_name(k);
    EXPECT_EQ(m[2], 8) << sched_name(k);
    if (k == SchedKind::Rr) {  // newest first: C B A C B A ...
      for (size_t i = 0; i < to.size(); ++i) EXPECT_EQ(to[i], 2 - static_cast<int>(i % 3)) << i;
    }
  }
}

TEST(TwoWorkers, WrrKeepsTheKernelsCycleAcrossWorkers) {
  Director dir(abc(SchedKind::Wrr), 2);
  std::vector<int> to = open_alternating(dir, 12);
  // One worker alone (the kernel) gives this sequence; the two together must give it too.
  Director one(abc(SchedKind::Wrr), 1);
  EXPECT_EQ(to, open_alternating(one, 12));
}

TEST(TwoWorkers, AChangeMovesTheSharedRrCursorOnOnce) {
  Director dir(abc(SchedKind::Rr), 2);
  Director one(abc(SchedKind::Rr), 1);
  EXPECT_EQ(open_alternating(dir, 4), open_alternating(one, 4));
  CoreConfig c = abc(SchedKind::Rr);
  c.services[0].dests.erase(c.services[0].dests.begin() + 1);  // B goes
  dir.apply(c);
  one.apply(c);
  EXPECT_EQ(open_alternating(dir, 6, 3000), open_alternating(one, 6, 3000));
}

// ---- lblc / lblcr: one locality cache per service ---------------------------------------------------

TEST(TwoWorkers, LblcAndLblcrSendADestinationToItsServerWhicheverWorkerOwnsTheConnection) {
  // Every connection goes to the VIP, one destination address: the kernel sends them all to the
  // server cached for it until that one is busier than its weight while another is under half
  // of its own. A worker with a cache of its own would pick afresh (wlc) instead.
  for (SchedKind k : {SchedKind::Lblc, SchedKind::Lblcr}) {
    Director dir(abc(k), 2);
    Director one(abc(k), 1);
    EXPECT_EQ(open_alternating(dir, 12), open_alternating(one, 12)) << sched_name(k);
  }
}

// A service named by a mark over 10.0.8.0/24, so connections carry many destination addresses.
CoreConfig marked(SchedKind k, int32_t weight) {
  CoreConfig c = abc(k);
  ServiceConfig& s = c.services[0];
  s.fwmark = 7;
  s.proto = 0;
  s.port = 0;
  for (DestConfig& d : s.dests) d.weight = weight;
  MatchRule r;
  r.dst_prefix = IpAddr::from_v4(ip4("10.0.8.0"));
  r.prefix_len = 24;
  r.mark = 7;
  c.rules = {r};
  return c;
}

Bytes syn_to(const std::string& daddr, uint16_t cport) {
  return Pkt().ipv4("172.16.5.20", daddr.c_str()).tcp(cport, 80, kTcpSyn).frame();
}

TEST(TwoWorkers, TheLocalityCacheOutlivesAWeightChangeAndStartsAfreshWithANewScheduler) {
  Director dir(marked(SchedKind::Lblc, 100), 2);
  const int first = server_of(dir.send(0, syn_to("10.0.8.1", 1000)));
  CoreConfig c = marked(SchedKind::Lblc, 100);
  c.services[0].dests[2].weight = 101;  // a weight change: the kernel keeps the table
  dir.apply(c);
  EXPECT_EQ(server_of(dir.send(1, syn_to("10.0.8.1", 1001))), first);
  // lblcr replaces lblc: a new scheduler starts with an empty table (init_service), so the next
  // connection is wlc's choice; with `first` holding two connections that is another server.
  c.services[0].sched = SchedKind::Lblcr;
  dir.apply(c);
  EXPECT_NE(server_of(dir.send(1, syn_to("10.0.8.1", 1002))), first);
}

TEST(TwoWorkers, ACachedServerIdGivenToAnotherServerIsNotThatServer) {
  // A (id 0) is cached for 10.0.8.1; A is deleted and id 0 given to D at another address with
  // a small weight. The kernel's entry names A, no longer available: wlc chooses, and with B's
  // weight far above D's that is B, not the server that now holds A's id.
  Director dir(marked(SchedKind::Lblc, 1), 2);
  CoreConfig c = marked(SchedKind::Lblc, 1);
  c.services[0].dests = {c.services[0].dests[2]};  // A alone
  dir.apply(c);
  ASSERT_EQ(server_of(dir.send(0, syn_to("10.0.8.1", 1000))), 0);
  CoreConfig d = marked(SchedKind::Lblc, 1);
  d.services[0].dests = {mkdest(1, "192.168.1.11", 80, FwdMethod::Masq, 100),
                         mkdest(0, "192.168.1.40", 80, FwdMethod::Masq, 1)};
  dir.apply(d);
  const Verdict v = dir.send(1, syn_to("10.0.8.1", 1001));
  EXPECT_EQ(v.route_dst, ip4("192.168.1.11"));
}

// ---- persistence ------------------------------------------------------------------------------------

Bytes syn_from(const char* client, uint16_t cport) { return Pkt().ipv4(client, kVip).tcp(cport, 80, kTcpSyn).frame(); }

TEST(TwoWorkers, APersistentClientReachesOneServerWhicheverWorkerOwnsItsConnections) {
  CoreConfig c = abc(SchedKind::Rr);
  c.services[0].flags = kSvcPersistent;
  Director dir(c, 2);
  // Two clients over three servers: without the tie, rr would send a client's next connection
  // on the other worker to the next server in the cycle.
  const char* clients[] = {"172.16.5.20", "172.16.5.21"};
  int first[2];
  for (int k = 0; k < 2; ++k) first[k] = server_of(dir.send(static_cast<size_t>(k) % 2, syn_from(clients[k], 1000)));
  EXPECT_NE(first[0], first[1]);
  for (int i = 1; i <= 8; ++i)
    for (int k = 0; k < 2; ++k)
      EXPECT_EQ(server_of(dir.send(static_cast<size_t>(i + k) % 2, syn_from(clients[k], static_cast<uint16_t>(1000 + i)))),
                first[k])
          << "client " << k << " connection " << i;
}

TEST(TwoWorkers, APersistentTieMadeOnOneWorkerHoldsOnTheOtherUntilItLapses) {
  CoreConfig c = abc(SchedKind::Rr);
  c.services[0].flags = kSvcPersistent;
  c.services[0].persist_timeout_s = 60;
  Director dir(c, 2);
  const int s0 = server_of(dir.send(0, syn_from("172.16.5.20", 1000)));
  dir.now += 40 * kTicksPerSec;
  EXPECT_EQ(server_of(dir.send(1, syn_from("172.16.5.20", 1001))), s0);  // worker 1 has no template of its own
  for (int i = 0; i < 5; ++i) {  // connections time out, then their templates
    dir.now += 100 * kTicksPerSec;
    for (auto& w : dir.workers) w->housekeeping(dir.now, 1u << 20);
  }
  // Nothing ties the client any more: rr goes on from where it stood.
  EXPECT_NE(server_of(dir.send(0, syn_from("172.16.5.20", 2000))), s0);
}

// PersistConn over the workers: what -L --persistent-conn shows, summed as listings sum.
uint32_t persist_conns(Director& dir) {
  uint32_t n = 0;
  for (const auto& w : dir.workers)
    for (DestId d = 0; d < 3; ++d) n += w->load(d).persist;
  return n;
}

TEST(TwoWorkers, APersistentClientOnBothWorkersIsOnePersistConnForAsLongAsItsTieLives) {
  CoreConfig c = abc(SchedKind::Rr);
  c.services[0].flags = kSvcPersistent;
  c.services[0].persist_timeout_s = 60;
  Director dir(c, 2);
  auto housekeep = [&](uint32_t secs) {
    for (uint32_t s = 0; s < secs; s += 10) {
      dir.now += 10 * kTicksPerSec;
      for (auto& w : dir.workers) w->housekeeping(dir.now, 1u << 20);
    }
  };
  const int s0 = server_of(dir.send(0, syn_from("172.16.5.20", 1000)));
  // Worker 1 gets the client's next connection, held open (ESTABLISHED: 900 s).
  ASSERT_EQ(server_of(dir.send(1, syn_from("172.16.5.20", 1001))), s0);
  dir.send(1, Pkt().ipv4("172.16.5.20", kVip).tcp(1001, 80, kTcpAck).frame());
  EXPECT_EQ(persist_conns(dir), 1u) << "the kernel: one template per client";
  // Worker 0's connection closes; its template outlives its own timeout because worker 1's
  // connection keeps the client's tie, and the count stays one.
  dir.send(0, rst(1000));
  housekeep(300);
  EXPECT_EQ(persist_conns(dir), 1u);
  EXPECT_EQ(server_of(dir.send(0, syn_from("172.16.5.20", 1002))), s0);
  dir.send(0, rst(1002));
  // Everything closes: both templates lapse, nothing counts.
  dir.send(1, rst(1001));
  housekeep(400);
  EXPECT_EQ(persist_conns(dir), 0u);
}

// ---- IPv6 persistence: the same tie, keyed by -M's prefix of the client ----------------------

const char* kVip6 = "2001:db8::80";

// A, B, C as abc's, at 2001:db8:1::10, ::11, ::12, persistent with a /64 client prefix.
CoreConfig abc6(uint8_t plen = 64) {
  std::vector<DestConfig> d = {mkdest6(2, "2001:db8:1::12", 80, FwdMethod::Masq, 1),
                               mkdest6(1, "2001:db8:1::11", 80, FwdMethod::Masq, 2),
                               mkdest6(0, "2001:db8:1::10", 80, FwdMethod::Masq, 3)};
  CoreConfig c;
  c.services = {mksvc6(0, kProtoTcp, kVip6, 80, SchedKind::Rr, d, kSvcPersistent)};
  c.services[0].netmask6 = plen;
  return c;
}

Bytes syn6(const char* client, uint16_t cport, uint8_t flags = kTcpSyn) {
  return Pkt().ipv6(client, kVip6).tcp(cport, 80, flags).frame();
}

// The real server (0..2) worker w sent an IPv6 packet to, -1 when it sent none.
int server6_of(Director& dir, size_t w, const Verdict& v) {
  if (v.action != Action::Transmit6) return -1;
  return dir.workers[w]->route6_dst(0).b[15] - 0x10;
}
int send6(Director& dir, size_t w, const Bytes& f) { return server6_of(dir, w, dir.send(w, f)); }

TEST(TwoWorkers, TwoIpv6ClientsInOnePrefixReachOneServerWhicheverWorkerOwnsTheirConnections) {
  Director dir(abc6(64), 2);
  // Four clients in two /64s: without the director-wide tie, rr on the other worker would send
  // a client's next connection to the next server of its cycle.
  const char* net_a[] = {"2001:db8:5:1::20", "2001:db8:5:1:ffff::21"};
  const char* net_b[] = {"2001:db8:5:2::20", "2001:db8:5:2::9"};
  const int a = send6(dir, 0, syn6(net_a[0], 1000));
  const int b = send6(dir, 1, syn6(net_b[0], 1000));
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  EXPECT_NE(a, b) << "rr's shared cycle: the second prefix gets the next server";
  for (int i = 1; i <= 8; ++i)
    for (int k = 0; k < 2; ++k) {
      const auto port = static_cast<uint16_t>(1000 + i);
      EXPECT_EQ(send6(dir, static_cast<size_t>(i + k) % 2, syn6(net_a[k], port)), a) << "prefix a client " << k << " #" << i;
      EXPECT_EQ(send6(dir, static_cast<size_t>(i + k + 1) % 2, syn6(net_b[k], port)), b) << "prefix b client " << k << " #" << i;
    }
}

TEST(TwoWorkers, AnIpv6TieMadeOnOneWorkerHoldsOnTheOtherUntilItLapses) {
  CoreConfig c = abc6(64);
  c.services[0].persist_timeout_s = 60;
  Director dir(c, 2);
  const int s0 = send6(dir, 0, syn6("2001:db8:5:1::20", 1000));
  dir.now += 40 * kTicksPerSec;
  EXPECT_EQ(send6(dir, 1, syn6("2001:db8:5:1::77", 1001)), s0);  // worker 1 has no template of its own
  for (int i = 0; i < 5; ++i) {
    dir.now += 100 * kTicksPerSec;
    for (auto& w : dir.workers) w->housekeeping(dir.now, 1u << 20);
  }
  EXPECT_EQ(dir.workers[0]->conn6_count() + dir.workers[1]->conn6_count(), 0u);
  EXPECT_NE(send6(dir, 0, syn6("2001:db8:5:1::20", 2000)), s0) << "nothing ties the prefix: rr goes on";
}

TEST(TwoWorkers, AnIpv6PrefixOnBothWorkersIsOnePersistConnForAsLongAsItsTieLives) {
  CoreConfig c = abc6(64);
  c.services[0].persist_timeout_s = 60;
  Director dir(c, 2);
  auto housekeep = [&](uint32_t secs) {
    for (uint32_t s = 0; s < secs; s += 10) {
      dir.now += 10 * kTicksPerSec;
      for (auto& w : dir.workers) w->housekeeping(dir.now, 1u << 20);
    }
  };
  const int s0 = send6(dir, 0, syn6("2001:db8:5:1::20", 1000));
  ASSERT_EQ(send6(dir, 1, syn6("2001:db8:5:1::21", 1001)), s0);
  dir.send(1, syn6("2001:db8:5:1::21", 1001, kTcpAck));  // held open: ESTABLISHED
  EXPECT_EQ(persist_conns(dir), 1u) << "the kernel: one template per client prefix";
  dir.send(0, syn6("2001:db8:5:1::20", 1000, kTcpRst | kTcpAck));
  housekeep(300);
  EXPECT_EQ(persist_conns(dir), 1u) << "worker 0's template outlives its timeout while worker 1's connection lives";
  EXPECT_EQ(send6(dir, 0, syn6("2001:db8:5:1::22", 1002)), s0);
  dir.send(0, syn6("2001:db8:5:1::22", 1002, kTcpRst | kTcpAck));
  dir.send(1, syn6("2001:db8:5:1::21", 1001, kTcpRst | kTcpAck));
  housekeep(400);
  EXPECT_EQ(persist_conns(dir), 0u);
  EXPECT_EQ(dir.workers[0]->conn6_count() + dir.workers[1]->conn6_count(), 0u);
}

// ---- two threads driving two workers -----------------------------------------------------------

TEST(TwoWorkerThreads, ThresholdsHoldAndRrCountsAreExact) {
  for (SchedKind k : {SchedKind::Fo, SchedKind::Rr, SchedKind::Wrr}) {
    Director dir(abc(k, k == SchedKind::Fo ? 50 : 0), 2);
    constexpr int kEach = 3000;
    auto drive = [&](size_t w) {
      for (int i = 0; i < kEach; ++i) {
        Bytes f = Pkt().ipv4(w ? "172.16.6.1" : "172.16.5.1", kVip).tcp(static_cast<uint16_t>(1024 + i), 80, kTcpSyn).frame();
        TestBuf t(f);
        dir.workers[w]->process(t.pb, dir.now);
      }
    };
    std::thread a(drive, 0), b(drive, 1);
    a.join();
    b.join();
    const uint32_t total = dir.held(0) + dir.held(1) + dir.held(2);
    EXPECT_EQ(total, uint32_t{2 * kEach}) << sched_name(k);
    if (k == SchedKind::Fo) {
      EXPECT_EQ(dir.held(0), 50u);
      EXPECT_EQ(dir.held(1), uint32_t{2 * kEach - 50});
    } else if (k == SchedKind::Rr) {
      for (DestId d = 0; d < 3; ++d) EXPECT_EQ(dir.held(d), uint32_t{2 * kEach / 3}) << d;
    } else {  // wrr 3:2:1 over whole cycles of 6
      EXPECT_EQ(dir.held(0), uint32_t{kEach});
      EXPECT_EQ(dir.held(1), uint32_t{2 * kEach / 3});
      EXPECT_EQ(dir.held(2), uint32_t{kEach / 3});
    }
    for (auto& w : dir.workers) w->flush_all(dir.now);
    EXPECT_EQ(dir.held(0) + dir.held(1) + dir.held(2), 0u);
  }
}

// Both workers, each on its own thread, send `each` rounds of one SYN per key k < keys (frame(k,
// cport) builds it; ports differ per round and worker), then every key must have reached one
// real server, whichever worker and round; the connections are flushed and nothing is held.
template <class Frame>
void every_key_reaches_one_server(Director& dir, int keys, int each, Frame&& frame, const char* what) {
  std::vector<int> seen[2];
  auto drive = [&](size_t w) {
    for (int i = 0; i < each; ++i)
      for (int k = 0; k < keys; ++k) {
        Bytes f = frame(k, static_cast<uint16_t>(2000 + 2 * i + static_cast<int>(w)));
        TestBuf t(f);
        seen[w].push_back(server_of(dir.workers[w]->process(t.pb, dir.now)));
      }
  };
  std::thread a(drive, 0), b(drive, 1);
  a.join();
  b.join();
  for (int k = 0; k < keys; ++k)
    for (int i = 0; i < each; ++i) {
      ASSERT_EQ(seen[0][static_cast<size_t>(i * keys + k)], seen[0][static_cast<size_t>(k)]) << what << " key " << k;
      ASSERT_EQ(seen[1][static_cast<size_t>(i * keys + k)], seen[0][static_cast<size_t>(k)]) << what << " key " << k;
    }
  for (auto& w : dir.workers) w->flush_all(dir.now);
  EXPECT_EQ(dir.held(0) + dir.held(1) + dir.held(2), 0u);
}

TEST(TwoWorkerThreads, ClientsOpeningConnectionsOnBothWorkersAtOnceAreTiedToOneServer) {
  CoreConfig c = abc(SchedKind::Rr);
  c.services[0].flags = kSvcPersistent;
  Director dir(c, 2);
  every_key_reaches_one_server(dir, 200, 10, [](int k, uint16_t cport) {
    const std::string client = "172.17." + std::to_string(k / 250) + "." + std::to_string(k % 250 + 1);
    return Pkt().ipv4(client.c_str(), kVip).tcp(cport, 80, kTcpSyn).frame();
  }, "persistent client");
}

TEST(TwoWorkerThreads, Ipv6PrefixesOpeningConnectionsOnBothWorkersAtOnceAreTiedToOneServer) {
  Director dir(abc6(64), 2);
  constexpr int kKeys = 200, kEach = 10;
  std::vector<int> seen[2];
  auto drive = [&](size_t w) {
    for (int i = 0; i < kEach; ++i)
      for (int k = 0; k < kKeys; ++k) {
        // Each worker's clients differ in the low 64 bits: only the /64 ties them.
        const std::string client = "2001:db8:7:" + std::to_string(k + 1) + "::" + std::to_string(100 * w + i + 1);
        seen[w].push_back(send6(dir, w, syn6(client.c_str(), static_cast<uint16_t>(2000 + i))));
      }
  };
  std::thread a(drive, 0), b(drive, 1);
  a.join();
  b.join();
  for (int k = 0; k < kKeys; ++k)
    for (int i = 0; i < kEach; ++i) {
      ASSERT_GE(seen[0][static_cast<size_t>(k)], 0);
      ASSERT_EQ(seen[0][static_cast<size_t>(i * kKeys + k)], seen[0][static_cast<size_t>(k)]) << "prefix " << k;
      ASSERT_EQ(seen[1][static_cast<size_t>(i * kKeys + k)], seen[0][static_cast<size_t>(k)]) << "prefix " << k;
    }
  EXPECT_EQ(persist_conns(dir), static_cast<uint32_t>(kKeys)) << "one counted template per prefix";
  for (auto& w : dir.workers) w->flush_all(dir.now);
  EXPECT_EQ(dir.held(0) + dir.held(1) + dir.held(2), 0u);
  EXPECT_EQ(persist_conns(dir), 0u);
}

TEST(TwoWorkerThreads, EachDestinationAddressStaysOnOneServerUnderLblcAndLblcr) {
  // Both workers open connections to the same 200 destination addresses at once. Weights are
  // high enough that no server is "lblc-overloaded", so the kernel sends each address to the
  // one server its cache names; the workers, sharing the cache, must too.
  for (SchedKind k : {SchedKind::Lblc, SchedKind::Lblcr}) {
    Director dir(marked(k, 100000), 2);
    every_key_reaches_one_server(dir, 200, 10, [](int a, uint16_t cport) {
      return syn_to("10.0.8." + std::to_string(a + 1), cport);
    }, sched_name(k));
  }
}

}  // namespace
}  // namespace fulcrum::test
