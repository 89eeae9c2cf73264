// The dataplane benchmark's native part (src/cli/bench_dataplane.ts runs it and compares):
//   null       one worker forwarding established NAT flows between two net_null ports, and a
//              plain io-forward loop on the same ports; both stamp the same frames on receive
//              (net_null delivers empty buffers), so the difference is the balancing. Then the
//              same with IPv6 clients, VIP and real servers (null_fwd6_mpps).
//   director   the director side over real vdevs (af_xdp on veth): --mode fwd (Fulcrum, UDP
//              NAT service) or --mode io (io-forward with a MAC rewrite), counting what leaves.
//   gen        a UDP generator on one vdev: frames to the VIP from --flows source ports.
//   synflood   one worker on net_null taking a SYN flood from distinct spoofed sources (a table
//              of 2 x --flows entries, the default half-open budget) while legitimate clients
//              open connections: a client's SYN every --gap packets, its ACK --lag packets later.
//              --synproxy 1: the service answers SYNs with cookies; the clients' ACKs return them.
// Each prints one JSON object. Fulcrum's path is LcoreWorker::forward, the one run() uses.
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "checksum.h"
#include "eal.h"
#include "lcore_worker.h"
#include "mbuf_pool.h"
#include "port.h"
#include "route.h"
#include "snapshot.h"
#include "pktgen.h"

using namespace fulcrum;
using namespace fulcrum::dp;

namespace {

constexpr uint32_t kFrameLen = 60;    // an IPv4 frame (TCP ACK), padded to Ethernet's minimum
constexpr uint32_t kFrameLen6 = 74;   // an IPv6 one
constexpr uint32_t kSlot = 96;        // bytes per prepared frame, either family
const Mac kSinkMac{{0x02, 0, 0, 0, 0, 0x99}};

be32 v4(uint32_t host) { return hton32(host); }

struct Args {
  std::string mode = "null";
  std::string sub = "fwd";
  std::string ports[2];
  double seconds = 3, warmup = 1;
  uint32_t flows = 100000;
  uint32_t proto = kProtoTcp;
  unsigned cpu = 1;
  uint32_t gap = 1000, lag = 10000;  // synflood: legitimate clients
  bool synproxy = false;             // synflood: the service is SYN-proxied
};

// Pseudo-random client tuples (regular patterns hash unrealistically well).
std::vector<uint8_t> make_frames(uint32_t flows, uint8_t proto, uint8_t flags, be32 vip, uint16_t vport) {
  std::vector<uint8_t> frames(size_t{flows} * kSlot);
  std::mt19937_64 rng(42);
  for (uint32_t i = 0; i < flows; ++i) {
    uint64_t r = rng();
    be32 c = v4(0xc6120000u | (static_cast<uint32_t>(r) & 0x0000fffe) | 2);  // 198.18.x.y, never .0/.1
    be16 cp = hton16(static_cast<uint16_t>(1024 + (r >> 40) % 64000));
    test::Pkt pkt;
    pkt.ipv4(c, vip);
    if (proto == kProtoTcp)
      pkt.tcp(ntoh16(cp), vport, flags);
    else
      pkt.udp(ntoh16(cp), vport).payload_size(18);
    test::Bytes f = pkt.pad_to(kFrameLen).frame();
    std::memcpy(&frames[size_t{i} * kSlot], f.data(), std::min<size_t>(f.size(), kSlot));
  }
  return frames;
}

// The same flows as IPv6: clients in 2001:db8:18::/64 to a VIP there.
const char* const kVip6 = "2001:db8:18::100";
std::vector<uint8_t> make_frames6(uint32_t flows, uint8_t flags) {
  std::vector<uint8_t> frames(size_t{flows} * kSlot);
  std::mt19937_64 rng(42);
  const test::Ip6 vip = test::ip6(kVip6);
  for (uint32_t i = 0; i < flows; ++i) {
    uint64_t r = rng();
    test::Ip6 c = test::ip6("2001:db8:18::");
    std::memcpy(&c[8], &r, 8);
    c[15] |= 2;  // never ::0/::1
    test::Bytes f = test::Pkt().ipv6(c, vip).tcp(static_cast<uint16_t>(1024 + (r >> 40) % 64000), 80, flags).frame();
    std::memcpy(&frames[size_t{i} * kSlot], f.data(), std::min<size_t>(f.size(), kSlot));
  }
  return frames;
}

inline void stamp(rte_mbuf* m, const uint8_t* frame, uint32_t len = kFrameLen) {
  std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), frame, kSlot);
  m->data_len = static_cast<uint16_t>(len);
  m->pkt_len = len;
}

uint64_t opackets(uint16_t port) {
  rte_eth_stats st{};
  rte_eth_stats_get(port, &st);
  return st.opackets;
}

// The director's world for one worker: ports, routes, a snapshot with one NAT service.
struct Director {
  PortSet ports;
  std::unique_ptr<RouteTable> routes;
  std::unique_ptr<Snapshot> snap;
  std::unique_ptr<Shared> shared;
  std::unique_ptr<LcoreWorker> worker;

  static constexpr uint64_t kCookieSecret = 42;  // fixed, so the bench's clients can return cookies
  std::unique_ptr<RouteTable6> routes6;
  Director(const std::vector<PortConfig>& pcs, rte_mempool* pool, uint8_t proto, uint32_t flows, uint32_t servers,
           uint32_t flags = 0, bool v6 = false) {
    ports.open(pcs, 1, pool);
    routes = std::make_unique<RouteTable>("bench_routes",
                                          std::vector<PortAddr>{{v4(0xc6120001), 16}, {v4(0xc6130001), 16}},
                                          // Clients (the SYN proxy's answers) through one gateway the
                                          // sink stands for, as a router would be.
                                          std::vector<RouteSpec>{{v4(0xc6120000), 17, v4(0xc6120002), 0},
                                                                 {v4(0xc6128000), 17, v4(0xc6120002), 0}});
    CoreConfig cfg;
    ServiceConfig svc;
    svc.proto = proto;
    svc.vip = v6 ? IpAddr::from_v6(test::ip6(kVip6).data()) : IpAddr::from_v4(v4(0xc6120064));  // 198.18.0.100
    svc.port = 80;
    svc.sched = SchedKind::Wlc;
    svc.flags = flags;
    for (uint32_t i = 0; i < servers; ++i) {
      DestConfig d;
      d.addr = v6 ? server6(i) : IpAddr::from_v4(v4(0xc613000b + i));  // 198.19.0.11... / 2001:db8:19::11...
      d.port = 8080;
      d.fwd = FwdMethod::Masq;
      d.id = static_cast<DestId>(i);
      svc.dests.insert(svc.dests.begin(), d);
    }
    cfg.services.push_back(svc);
    WorkerLimits lim{16, 64};
    std::vector<std::string> problems;
    snap = build_snapshot(cfg, lim, nullptr, problems);
    if (!snap) throw std::runtime_error("bench config refused: " + problems[0]);
    shared = std::make_unique<Shared>();
    shared->ports = ports.ports();
    for (size_t i = 0; i < shared->ports.size(); ++i) shared->port_index[shared->ports[i].id] = static_cast<uint16_t>(i);
    shared->routes = routes.get();
    if (v6) {
      routes6 = std::make_unique<RouteTable6>(
          "bench_routes6",
          std::vector<std::vector<PortAddr6>>{{{IpAddr::from_v6(test::ip6("2001:db8:18::1").data()), 64}},
                                              {{IpAddr::from_v6(test::ip6("2001:db8:19::1").data()), 64}}},
          std::vector<RouteSpec6>{});
      shared->routes6 = routes6.get();
    }
    shared->pool = pool;
    shared->nworkers = 1;
    shared->tsc_hz = rte_get_tsc_hz();
    shared->snapshot.store(snap.get());
    WorkerOptions wo;
    wo.conn_capacity = std::max<uint32_t>(1024, flows * 2);
    // The IPv6 run's flows live in the IPv6 table, by default a quarter of the IPv4 one's size:
    // sized alike, or most IPv6 flows never fit and their packets are dropped, not forwarded.
    if (v6) wo.conn6_capacity = wo.conn_capacity;
    wo.limits = lim;
    wo.synproxy_secret = kCookieSecret;
    worker = std::make_unique<LcoreWorker>(*shared, 0, wo);
    // Real servers answer ARP in life; here the sink does not, so they are learnt up front.
    for (uint32_t i = 0; i < servers; ++i) {
      if (v6)
        worker->learn_neighbour6(1, server6(i), kSinkMac, now_ms());
      else
        worker->learn_neighbour(1, v4(0xc613000b + i), kSinkMac, now_ms());
    }
    worker->learn_neighbour(0, v4(0xc6120002), kSinkMac, now_ms());
  }
  uint64_t now_ms() const { return rte_rdtsc() / (rte_get_tsc_hz() / 1000); }
  static IpAddr server6(uint32_t i) {
    test::Ip6 a = test::ip6("2001:db8:19::");
    a[15] = static_cast<uint8_t>(0x11 + i);
    return IpAddr::from_v6(a.data());
  }
};

struct Loop {
  const Args* a;
  Director* dir;        // null: io-forward
  uint16_t rx_port, tx_port;
  Mac tx_src;
  const std::vector<uint8_t>* frames;  // null: no stamping (real traffic)
  double mpps = 0;
  uint32_t frame_len = kFrameLen;
};

// Receives on rx_port and forwards (Fulcrum or io) for warmup + seconds; the rate is what
// left tx_port during the measured seconds.
int run_loop(void* arg) {
  Loop& l = *static_cast<Loop*>(arg);
  const uint64_t hz = rte_get_tsc_hz();
  const uint64_t t0 = rte_rdtsc();
  const uint64_t t_start = t0 + static_cast<uint64_t>(l.a->warmup * hz);
  const uint64_t t_end = t_start + static_cast<uint64_t>(l.a->seconds * hz);
  const uint64_t tsc_per_ms = hz / 1000;
  const uint32_t nflows = l.frames ? static_cast<uint32_t>(l.frames->size() / kSlot) : 0;
  uint32_t fi = 0;
  uint64_t base = 0;
  bool measuring = false;
  rte_mbuf* m[kBurst];
  for (;;) {
    uint64_t now = rte_rdtsc();
    if (!measuring && now >= t_start) {
      measuring = true;
      base = opackets(l.tx_port);
    }
    if (now >= t_end) break;
    uint16_t n = rte_eth_rx_burst(l.rx_port, 0, m, kBurst);
    if (!n) continue;
    if (l.frames)
      for (uint16_t i = 0; i < n; ++i) {
        stamp(m[i], &(*l.frames)[size_t{fi} * kSlot], l.frame_len);
        fi = fi + 1 == nflows ? 0 : fi + 1;
      }
    if (l.dir) {
      l.dir->worker->forward(m, n, now / tsc_per_ms);
    } else {
      for (uint16_t i = 0; i < n; ++i) {
        uint8_t* f = rte_pktmbuf_mtod(m[i], uint8_t*);
        std::memcpy(f, kSinkMac.b, 6);
        std::memcpy(f + 6, l.tx_src.b, 6);
      }
      uint16_t sent = rte_eth_tx_burst(l.tx_port, 0, m, n);
      if (sent < n) rte_pktmbuf_free_bulk(m + sent, n - sent);
    }
  }
  l.mpps = static_cast<double>(opackets(l.tx_port) - base) / l.a->seconds / 1e6;
  return 0;
}

// Sends the flows' frames through a worker once as SYN then ACK, so every flow is ESTABLISHED:
// burst by burst, as clients would (SYNs alone past the half-open budget would evict each other).
void establish(Director& d, uint32_t flows, uint8_t proto, rte_mempool* pool, bool v6 = false) {
  auto syn = v6 ? make_frames6(flows, kTcpSyn) : make_frames(flows, proto, kTcpSyn, v4(0xc6120064), 80);
  auto ack = v6 ? make_frames6(flows, kTcpAck) : make_frames(flows, proto, kTcpAck, v4(0xc6120064), 80);
  for (uint32_t i = 0; i < flows; i += kBurst) {
    uint16_t n = static_cast<uint16_t>(std::min<uint32_t>(kBurst, flows - i));
    for (const auto* frames : {&syn, &ack}) {
      if (proto != kProtoTcp && frames == &ack) break;
      rte_mbuf* m[kBurst];
      if (rte_pktmbuf_alloc_bulk(pool, m, n) != 0) throw std::runtime_error("out of mbufs");
      for (uint16_t k = 0; k < n; ++k) stamp(m[k], &(*frames)[size_t{i + k} * kSlot], v6 ? kFrameLen6 : kFrameLen);
      d.worker->forward(m, n, d.now_ms());
    }
  }
}

// rte_eal_wait_lcore spins; the main thread sleeps instead, so it leaves the other core to
// whatever shares the machine (the generator, the kernel's veth work).
void wait_sleeping(unsigned lcore) {
  while (rte_eal_get_lcore_state(lcore) != WAIT) usleep(10000);
  rte_eal_wait_lcore(lcore);
}

double launch(Loop& l, unsigned lcore) {
  rte_eal_remote_launch(run_loop, &l, lcore);
  wait_sleeping(lcore);
  return l.mpps;
}

rte_mempool* pool_for(uint32_t n) {
  rte_mempool* p = create_mbuf_pool("bench_mbufs", n, kMbufCache);  // as the dataplane makes it
  if (!p) throw std::runtime_error("cannot allocate mbufs");
  return p;
}

int bench_null(const Args& a) {
  EalInfo ei = eal_start({{"--log-level=error", "-m", "1024"}, {a.cpu}, {}});
  rte_mempool* pool = pool_for(16383);
  auto ack = make_frames(a.flows, kProtoTcp, kTcpAck, v4(0xc6120064), 80);
  double io, fwd;
  {
    PortSet ps;
    ps.open({{"in", "net_null0", 0, 0, "", {}}, {"out", "net_null1", 0, 0, "", {}}}, 1, pool);
    Loop l{&a, nullptr, ps.ports()[0].id, ps.ports()[1].id, ps.ports()[1].mac, &ack};
    io = launch(l, ei.worker_lcores[0]);
  }
  {
    Director d({{"clients", "net_null0", v4(0xc6120001), 16, "", {}}, {"servers", "net_null1", v4(0xc6130001), 16, "", {}}}, pool,
               kProtoTcp, a.flows, 8);
    establish(d, a.flows, kProtoTcp, pool);
    Loop l{&a, &d, d.ports.ports()[0].id, d.ports.ports()[1].id, d.ports.ports()[1].mac, &ack};
    fwd = launch(l, ei.worker_lcores[0]);
  }
  double fwd6;
  {
    auto ack6 = make_frames6(a.flows, kTcpAck);
    Director d({{"clients", "net_null0", v4(0xc6120001), 16, "", {}}, {"servers", "net_null1", v4(0xc6130001), 16, "", {}}}, pool,
               kProtoTcp, a.flows, 8, 0, true);
    establish(d, a.flows, kProtoTcp, pool, true);
    Loop l{&a, &d, d.ports.ports()[0].id, d.ports.ports()[1].id, d.ports.ports()[1].mac, &ack6};
    l.frame_len = kFrameLen6;
    fwd6 = launch(l, ei.worker_lcores[0]);
  }
  std::printf("{\"null_io_mpps\":%.2f,\"null_fwd_mpps\":%.2f,\"null_fwd6_mpps\":%.2f,\"flows\":%u,\"hugepages\":%s}\n", io, fwd,
              fwd6, a.flows, ei.hugepages ? "true" : "false");
  return 0;
}

int bench_director(const Args& a) {
  EalInfo ei = eal_start({{"--log-level=error"}, {a.cpu}, {}});
  rte_mempool* pool = pool_for(16383);
  double mpps;
  if (a.sub == "io") {
    PortSet ps;
    ps.open({{"in", a.ports[0], 0, 0, "", {}}, {"out", a.ports[1], 0, 0, "", {}}}, 1, pool);
    Loop l{&a, nullptr, ps.ports()[0].id, ps.ports()[1].id, ps.ports()[1].mac, nullptr};
    mpps = launch(l, ei.worker_lcores[0]);
  } else {
    Director d({{"clients", a.ports[0], v4(0xc6120001), 16, "", {}}, {"servers", a.ports[1], v4(0xc6130001), 16, "", {}}}, pool,
               kProtoUdp, a.flows, 1);
    Loop l{&a, &d, d.ports.ports()[0].id, d.ports.ports()[1].id, d.ports.ports()[1].mac, nullptr};
    mpps = launch(l, ei.worker_lcores[0]);
  }
  std::printf("{\"mode\":\"%s\",\"mpps\":%.3f}\n", a.sub.c_str(), mpps);
  return 0;
}

struct Flood {
  const Args* a;
  Director* dir;
  uint16_t rx_port;
  test::Bytes syn, ack;  // templates; each packet gets its own source
  // Readings over the measured seconds.
  uint64_t packets = 0, legit_syns = 0, legit_acks = 0, legit_lost = 0, flood_failed = 0, evicted = 0;
  uint32_t half_open_max = 0, budget = 0;
};

// Packet `pos` of the flood's stream: a legitimate client's SYN every `gap` packets, the same
// client's ACK `lag` packets after its SYN, spoofed SYNs from distinct sources in between.
// Legitimate clients come from 198.18.0.0/17, the flood from 198.18.128.0/17; nobody repeats.
enum class FloodPkt : uint8_t { Flood, LegitSyn, LegitAck };
FloodPkt flood_frame(const Flood& f, uint64_t pos, uint8_t* out, uint32_t tick) {
  const uint32_t gap = f.a->gap, lag = f.a->lag;
  FloodPkt kind = FloodPkt::Flood;
  uint64_t id = pos * 0x9e3779b1u;  // flood sources: scattered, distinct per position
  if (pos % gap == 0) {
    kind = FloodPkt::LegitSyn;
    id = pos / gap;
  } else if (pos % gap == gap / 2 && pos >= lag + gap / 2) {
    kind = FloodPkt::LegitAck;
    id = (pos - gap / 2 - lag) / gap;
  }
  const test::Bytes& t = kind == FloodPkt::LegitAck ? f.ack : f.syn;
  std::memcpy(out, t.data(), 64);
  const uint32_t net = kind == FloodPkt::Flood ? 0xc6128000u : 0xc6120000u;
  const be32 src = hton32(net | static_cast<uint32_t>(id & 0x7fff));
  const be16 sport = hton16(static_cast<uint16_t>(1024 + (id >> 15) % 64000));
  std::memcpy(out + 14 + 12, &src, 4);
  std::memcpy(out + 14 + 20, &sport, 2);
  if (kind == FloodPkt::LegitAck && f.a->synproxy) {
    // The client returns its cookie (its ISN is the template's 0; no MSS option: index 0).
    const uint32_t cookie = syn_cookie(Director::kCookieSecret, src, hton32(0xc6120064), sport, hton16(80), 0, 0, tick);
    const be32 s1 = hton32(1), a1 = hton32(cookie + 1);
    std::memcpy(out + 14 + 20 + 4, &s1, 4);
    std::memcpy(out + 14 + 20 + 8, &a1, 4);
  }
  out[14 + 10] = out[14 + 11] = 0;
  const uint16_t c = inet_csum(out + 14, 20);
  std::memcpy(out + 14 + 10, &c, 2);
  return kind;
}

int run_flood(void* arg) {
  Flood& f = *static_cast<Flood*>(arg);
  const Worker& core = f.dir->worker->core();
  const uint64_t hz = rte_get_tsc_hz();
  const uint64_t t_start = rte_rdtsc() + static_cast<uint64_t>(f.a->warmup * hz);
  const uint64_t t_end = t_start + static_cast<uint64_t>(f.a->seconds * hz);
  const uint64_t tsc_per_ms = hz / 1000;
  // A legitimate client failed: its ACK found no entry (evicted), or its cookie was refused.
  auto lost = [&] {
    return core.stats().drops[static_cast<size_t>(DropReason::NoConnection)] +
           core.stats().drops[static_cast<size_t>(DropReason::SynProxyBadCookie)];
  };
  auto failed = [&] {
    uint64_t n = 0;
    for (unsigned r = 1; r < kDropReasonCount; ++r) n += core.stats().drops[r];
    return n - lost();
  };
  // What the flood cost: evictions, or (SYN proxy) SYNs answered with cookies.
  auto evictions = [&] {
    return core.stats().events[static_cast<size_t>(f.a->synproxy ? Event::SynProxySynAck : Event::HalfOpenEvicted)];
  };
  uint64_t pos = 0, base_lost = 0, base_failed = 0, base_evicted = 0;
  bool measuring = false;
  rte_mbuf* m[kBurst];
  for (;;) {
    const uint64_t now = rte_rdtsc();
    if (!measuring && now >= t_start) {
      measuring = true;
      base_lost = lost();
      base_failed = failed();
      base_evicted = evictions();
    }
    if (now >= t_end) break;
    uint16_t n = rte_eth_rx_burst(f.rx_port, 0, m, kBurst);
    for (uint16_t i = 0; i < n; ++i) {
      FloodPkt k = flood_frame(f, pos++, rte_pktmbuf_mtod(m[i], uint8_t*), static_cast<uint32_t>(now / tsc_per_ms / kMsPerTick));
      m[i]->data_len = m[i]->pkt_len = kFrameLen;
      if (measuring) {
        ++f.packets;
        f.legit_syns += k == FloodPkt::LegitSyn;
        f.legit_acks += k == FloodPkt::LegitAck;
      }
    }
    if (n) f.dir->worker->forward(m, n, now / tsc_per_ms);
    if (measuring) f.half_open_max = std::max(f.half_open_max, core.half_open_count());
  }
  f.legit_lost = lost() - base_lost;
  f.flood_failed = failed() - base_failed;
  f.evicted = evictions() - base_evicted;
  f.budget = core.half_open_budget();
  return 0;
}

int bench_synflood(const Args& a) {
  if (a.gap < 2 || a.lag % a.gap != 0) throw std::runtime_error("--lag must be a multiple of --gap (>= 2)");
  EalInfo ei = eal_start({{"--log-level=error", "-m", "1024"}, {a.cpu}, {}});
  rte_mempool* pool = pool_for(16383);
  Director d({{"clients", "net_null0", v4(0xc6120001), 16, "", {}}, {"servers", "net_null1", v4(0xc6130001), 16, "", {}}}, pool,
             kProtoTcp, a.flows, 8, a.synproxy ? kSvcSynProxy : 0);
  Flood f{&a, &d, d.ports.ports()[0].id,
          test::Pkt().ipv4("198.18.0.2", "198.18.0.100").tcp(40000, 80, kTcpSyn).pad_to(kFrameLen).frame(),
          test::Pkt().ipv4("198.18.0.2", "198.18.0.100").tcp(40000, 80, kTcpAck).pad_to(kFrameLen).frame()};
  rte_eal_remote_launch(run_flood, &f, ei.worker_lcores[0]);
  wait_sleeping(ei.worker_lcores[0]);
  const double flood_syns = static_cast<double>(f.packets - f.legit_syns - f.legit_acks);
  const double syn_rate = flood_syns / a.seconds;
  std::printf(
      "{\"synflood_mpps\":%.3f,\"synflood_syn_per_s\":%.0f,\"synflood_evicted_per_s\":%.0f,"
      "\"synflood_failed\":%lu,\"legit_handshakes\":%lu,\"legit_success\":%.5f,\"lag_packets\":%u,"
      "\"lag_us\":%.1f,\"half_open_budget\":%u,\"half_open_max\":%u,\"survival_ms\":%.2f,\"table\":%zu,\"entries\":%zu,\"synproxy\":%s}\n",
      f.packets / a.seconds / 1e6, syn_rate, f.evicted / a.seconds, static_cast<unsigned long>(f.flood_failed),
      static_cast<unsigned long>(f.legit_acks), f.legit_acks ? 1.0 - double(f.legit_lost) / f.legit_acks : 0.0, a.lag,
      a.lag / (f.packets / a.seconds) * 1e6, f.budget, f.half_open_max, f.budget / syn_rate * 1e3,
      d.worker->core().conn_capacity(), d.worker->core().conn_count(), a.synproxy ? "true" : "false");
  return 0;
}

struct Gen {
  const Args* a;
  uint16_t port;
  const std::vector<uint8_t>* frames;
  rte_mempool* pool;
  uint64_t sent = 0;
};

int run_gen(void* arg) {
  Gen& g = *static_cast<Gen*>(arg);
  const uint64_t hz = rte_get_tsc_hz();
  const uint64_t end = rte_rdtsc() + static_cast<uint64_t>((g.a->warmup + g.a->seconds) * hz);
  const uint32_t nflows = static_cast<uint32_t>(g.frames->size() / kSlot);
  uint32_t fi = 0;
  rte_mbuf* m[kBurst];
  while (rte_rdtsc() < end) {
    if (rte_pktmbuf_alloc_bulk(g.pool, m, kBurst) != 0) continue;
    for (uint16_t i = 0; i < kBurst; ++i) {
      stamp(m[i], &(*g.frames)[size_t{fi} * kSlot]);
      fi = fi + 1 == nflows ? 0 : fi + 1;
    }
    uint16_t s = rte_eth_tx_burst(g.port, 0, m, kBurst);
    g.sent += s;
    if (s < kBurst) rte_pktmbuf_free_bulk(m + s, kBurst - s);
  }
  return 0;
}

int bench_gen(const Args& a) {
  EalInfo ei = eal_start({{"--log-level=error"}, {a.cpu}, {}});
  rte_mempool* pool = pool_for(8191);
  PortSet ps;
  ps.open({{"gen", a.ports[0], 0, 0, "", {}}}, 1, pool);
  auto frames = make_frames(a.flows, kProtoUdp, 0, v4(0xc6120064), 80);
  Gen g{&a, ps.ports()[0].id, &frames, pool};
  rte_eal_remote_launch(run_gen, &g, ei.worker_lcores[0]);
  wait_sleeping(ei.worker_lcores[0]);
  std::printf("{\"sent\":%lu,\"mpps\":%.3f}\n", static_cast<unsigned long>(g.sent),
              static_cast<double>(g.sent) / (a.warmup + a.seconds) / 1e6);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  if (argc > 1) a.mode = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--seconds") a.seconds = std::stod(v);
    else if (k == "--warmup") a.warmup = std::stod(v);
    else if (k == "--flows") a.flows = static_cast<uint32_t>(std::stoul(v));
    else if (k == "--mode") a.sub = v;
    else if (k == "--in") a.ports[0] = v;
    else if (k == "--out") a.ports[1] = v;
    else if (k == "--cpu") a.cpu = static_cast<unsigned>(std::stoul(v));
    else if (k == "--gap") a.gap = static_cast<uint32_t>(std::stoul(v));
    else if (k == "--lag") a.lag = static_cast<uint32_t>(std::stoul(v));
    else if (k == "--synproxy") a.synproxy = v == "1";
    else {
      std::fprintf(stderr, "dataplane_bench: unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (a.flows < 1 || a.flows > 4000000) {
    std::fprintf(stderr, "dataplane_bench: --flows must be in 1..4000000\n");
    return 2;
  }
  try {
    if (a.mode == "null") return bench_null(a);
    if (a.mode == "director") return bench_director(a);
    if (a.mode == "gen") return bench_gen(a);
    if (a.mode == "synflood") return bench_synflood(a);
    std::fprintf(stderr, "usage: dataplane_bench null|director|gen|synflood [--seconds S] [--warmup S] [--flows N] "
                         "[--mode fwd|io] [--in VDEV] [--out VDEV] [--cpu N] [--gap N] [--lag N] [--synproxy 1]\n");
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dataplane_bench: %s\n", e.what());
    return 1;
  }
}
