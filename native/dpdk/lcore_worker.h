// One worker lcore: polls its RX queue on every port (and every port's TAP), hands packets it
// does not own to the owning worker, runs the packet core on the rest, routes and resolves
// what the core transmits, answers ARP, and between bursts reports its RCU quiescent state,
// picks up a new snapshot and answers commands (in that order: snapshot_rcu.h), expires
// connections and runs neighbour timers.
// Everything it touches on the packet path is its own: no locks, no allocation, no syscalls
// (sleeping when idle, if configured, is the one exception, and only when idle).
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "control.h"
#include "dp_counters.h"
#include "dp_limits.h"
#include "engine.h"
#include "nd.h"
#include "neigh.h"
#include "port.h"
#include "route.h"
#include "route6.h"
#include "steer.h"
#include "sync_channels.h"
#include "vip_owner.h"

struct rte_mbuf;
struct rte_mempool;
struct rte_ring;
struct rte_rcu_qsbr;

namespace fulcrum::dp {

// What one worker tells the others it learnt (an rte_ring element): a neighbour from ARP or
// ND, or the default router of a router advertisement.
enum class UpdateKind : uint8_t { Arp, Nd, Router };
struct NeighUpdate {
  uint16_t port;
  UpdateKind kind;
  uint8_t create;
  uint8_t mac[6];
  uint8_t override_;
  uint8_t reachable;
  uint32_t lifetime_s;  // Router
  uint8_t addr[16];     // Arp: the IPv4 address in the first 4 bytes
};
constexpr unsigned kNeighUpdateBytes = sizeof(NeighUpdate);
static_assert(kNeighUpdateBytes == 32);

struct IdleBackoff {
  bool enabled = true;
  uint32_t pause_after_polls = 64;   // empty polls before backing off
  uint32_t max_sleep_us = 200;       // sleeps grow to this; 0 = pause only, never sleep
};

// What all workers share: set up before they start and read-only while they run (except the
// atomics).
struct Shared {
  std::vector<Port> ports;
  uint16_t port_index[kPortIdBound] = {};  // DPDK port id -> index in ports
  const RouteTable* routes = nullptr;
  const RouteTable6* routes6 = nullptr;
  bool accept_ra = false;                // dataplane.acceptRa: an RA's default route is taken
  rte_mempool* pool = nullptr;
  rte_rcu_qsbr* qsbr = nullptr;
  std::atomic<const Snapshot*> snapshot{nullptr};
  std::atomic<bool> stop{false};
  // Whether this director owns its VIPs (vip_owner.h): read once per loop, between bursts.
  VipOwnership ownership;
  uint32_t nworkers = 1;
  std::vector<rte_ring*> handover;      // [from * nworkers + to], single producer/consumer
  std::vector<rte_ring*> neigh_updates; // per worker, many producers
  std::vector<rte_ring*> commands;      // per worker, the control thread produces
  rte_ring* replies = nullptr;          // workers produce, the control thread consumes
  void (*wake)(void*) = nullptr;        // wakes the control thread's event loop
  void* wake_arg = nullptr;
  std::vector<be32> local_addrs;        // FullNAT, sorted
  std::vector<IpAddr> local_addrs6;     // FullNAT's IPv6 ones, sorted (bytes): answered in ND
  SteerPlan steer;                      // points into local_addrs
  IdleBackoff backoff;
  uint64_t tsc_hz = 0;
  std::unique_ptr<SyncChannels[]> sync;  // per worker (sync_channels.h)
};

class LcoreWorker {
 public:
  LcoreWorker(Shared& shared, uint16_t id, const WorkerOptions& core_opts);
  ~LcoreWorker();
  // The lcore's main loop; returns when shared.stop is set.
  int run();
  // What run() does with a received burst, callable from another loop (the dataplane
  // benchmark feeds stamped frames through exactly this path): core, route, neighbour, TX.
  void forward(rte_mbuf** m, uint16_t n, uint64_t now_ms) {
    input(m, n, now_ms);
    flush_all();
  }
  // The packet core, for the benchmark's readings (from this lcore or a stopped one).
  const Worker& core() const { return core_; }
  // The same for a restart's save and restore: only while the lcore does not run.
  Worker& core() { return core_; }
  // Records a neighbour as if it had answered ARP (the benchmark's sink has no ARP).
  void learn_neighbour(size_t port, be32 ip, const Mac& mac, uint64_t now_ms) {
    learned(port, ip, mac, now_ms, true, false);
  }
  // The IPv6 equivalent (as a solicited advertisement would).
  void learn_neighbour6(size_t port, const IpAddr& ip, const Mac& mac, uint64_t now_ms) {
    learned6(port, ip, mac, now_ms, true, true, true, false);
  }

 private:
  struct TxQueue {
    uint16_t port_id = 0;
    uint16_t n = 0;
    rte_mbuf* pkts[kTxBuffer];
  };

  void poll_port(size_t pi, uint64_t now_ms);
  void input(rte_mbuf** m, uint16_t n, uint64_t now_ms);
  uint16_t drop_unowned(rte_mbuf** m, uint16_t n);
  void on_ownership(uint64_t word, uint64_t now_ms);
  void announce();
  void output(rte_mbuf* m, const PacketBuf& b, const Verdict& v, uint16_t pos, uint64_t now_ms);
  uint16_t take_nd(rte_mbuf** m, PacketBuf* bufs, uint16_t k, uint16_t from, uint64_t now_ms);
  bool nd_frame(rte_mbuf* m, uint64_t now_ms);
  void nd_input(rte_mbuf* m, const NdView& v, uint64_t now_ms);
  void transmit_ip6(rte_mbuf* m, const IpAddr& dst, uint64_t now_ms);
  bool ra_route(NextHop6& nh, uint64_t now_ms) const;
  void send_ns(size_t pi, const IpAddr& target, const Mac* unicast);
  void send_unsolicited_na(size_t pi, const IpAddr& addr);
  void learned6(size_t pi, const IpAddr& ip, const Mac& mac, uint64_t now_ms, bool create, bool override,
                bool reachable, bool tell_others);
  void router_learned(size_t pi, const IpAddr& router, uint32_t lifetime_s, uint64_t now_ms);
  void share_update(const NeighUpdate* update);
  bool is_mine6(size_t pi, const IpAddr& a, bool owner) const;
  void refresh_vips6(const Snapshot* prev, const Snapshot* next);
  void drop_multiseg(rte_mbuf* m);
  uint16_t steer(rte_mbuf** m, uint16_t n);
  void transmit_ip(rte_mbuf* m, be32 dst, uint64_t now_ms);
  // Tunnels across families whose outer source is the egress port's (lcore_worker_tun.cc).
  void transmit_src(rte_mbuf* m, be32 dst, uint64_t now_ms);
  void transmit_src6(rte_mbuf* m, uint64_t now_ms);
  void release_held(uint16_t release, uint64_t now_ms);
  void arp_input(rte_mbuf* m, uint64_t now_ms);
  void to_tap(rte_mbuf* m);
  void send_arp(size_t pi, be32 spa, be32 tpa, const Mac* unicast);
  void learned(size_t pi, be32 ip, const Mac& mac, uint64_t now_ms, bool create, bool tell_others);
  void tx(TxQueue& q, rte_mbuf* m);
  void flush(TxQueue& q);
  void flush_all();
  void on_snapshot(const Snapshot* next);
  void housekeeping(uint64_t now_ms);
  void serve_commands(uint64_t now_ms);
  void serve(Request& r, uint64_t now_ms);
  void idle(uint32_t empty_polls);
  void sync_out();
  void sync_in(uint32_t tick);
  bool is_local_addr(be32 a) const;
  bool is_floating(size_t pi, be32 a) const;

  Shared& sh_;
  const uint16_t id_;
  Worker core_;
  std::unique_ptr<uint8_t[]> held_scratch_{new uint8_t[Worker::kHeldFrameBytes]};
  NeighTable neigh_;
  NeighTable6 neigh6_;
  // The snapshot's IPv6 VIPs (sorted, bytes), answered in ND while owned; kept here (the core's
  // snapshot lists IPv4 ones only), rebuilt between bursts when an IPv6 service changed, into
  // room reserved at start (max_services), so it never allocates on the worker.
  std::vector<IpAddr> vips6_, vips6_prev_;
  // The default router a router advertisement named (dataplane.acceptRa): used when no
  // configured IPv6 route matches, until its lifetime ends.
  struct RaRouter {
    uint16_t port = 0;
    IpAddr addr;
    uint64_t until_ms = 0;
  } ra_router_;
  DpCounters dpc_;
  std::vector<TxQueue> txq_;      // per port
  std::vector<TxQueue> tapq_;     // per port (to its TAP)
  std::vector<TxQueue> handq_;    // per destination worker (mbufs waiting for the ring)
  // Destinations recently sent to, with their port and the frame's two MACs ready to write:
  // a hit skips the route and neighbour lookups and reads one line. Valid while the neighbour
  // table's generation is unchanged (routes never change while workers run). Direct-mapped;
  // a collision just costs a lookup.
  struct HopCacheEntry {
    be32 dst = 0;
    uint16_t port = 0;
    uint8_t macs[12] = {};  // destination, then source: the frame's first 12 bytes
    uint64_t generation = ~uint64_t{0};
  };
  static_assert(sizeof(HopCacheEntry) == 32, "two entries per cache line");
  static constexpr uint32_t kHopCache = 256;
  static uint32_t hop_slot(be32 dst) { return (dst * 0x9e3779b1u) >> 24; }
  alignas(64) HopCacheEntry hops_[kHopCache];
  // The same for IPv6 destinations (the IPv6 neighbour table's generation): without it every
  // IPv6 packet paid an lpm6 lookup and a neighbour lookup (measured on net_null below).
  struct HopCacheEntry6 {
    IpAddr dst;
    uint64_t generation = ~uint64_t{0};
    uint16_t port = 0;
    uint8_t macs[12] = {};
  };
  static_assert(sizeof(HopCacheEntry6) <= 48);
  static uint32_t hop_slot6(const IpAddr& dst) { return hop_slot(fold_v6(dst)); }
  HopCacheEntry6 hops6_[kHopCache];
  uint32_t last_tick_ = 0;
  // The ownership word last seen, and what it said; worker 0 announces a takeover.
  uint64_t owner_word_ = 0;
  bool owner_ = true;
  GarpSchedule garp_;
  std::vector<std::pair<size_t, be32>> floating_;  // every port's floating addresses, flat
  std::vector<std::pair<size_t, IpAddr>> floating6_;  // and its IPv6 ones
  uint64_t polls_ = 0, busy_polls_ = 0, rx_ = 0, tx_ = 0;
  uint64_t sync_ring_dropped_ = 0;
  std::unique_ptr<PacketBuf[]> bufs_;
  std::unique_ptr<Verdict[]> verdicts_;
};

}  // namespace fulcrum::dp
