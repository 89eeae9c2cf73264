// See lcore_worker.h. The burst path is poll -> steer (only with several workers) -> core ->
// route -> neighbour -> TX buffer; ARP and the exception path are their own functions so the
// common case stays a straight line.
#include "lcore_worker.h"

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_pause.h>
#include <rte_prefetch.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include <algorithm>
#include <cstring>

#include "dp_limits.h"
#include "nd.h"
#include "snapshot_rcu.h"
#include "steer.h"

namespace fulcrum::dp {

namespace {

constexpr uint16_t kBeEthIpv4 = 0x0008;  // 0x0800 as it lies in memory
constexpr uint16_t kBeEthIpv6 = 0xdd86;  // 0x86dd as it lies in memory

// An untagged IPv6 frame whose fixed header says TCP or UDP: never neighbour discovery (ICMPv6),
// so the core takes it without the ND filter looking at it.
inline bool ipv6_tcp_udp(const uint8_t* f, uint16_t et) {
  return et == kBeEthIpv6 && (f[14 + 6] == kProtoTcp || f[14 + 6] == kProtoUdp);
}

inline bool addr6_less(const IpAddr& a, const IpAddr& b) { return a.b < b.b; }
static_assert(kPortIdBound >= RTE_MAX_ETHPORTS, "Shared::port_index must cover every DPDK port id");
static_assert(kBurst <= kTxBuffer, "a handover queue holds one RX burst");

// The core may have moved the frame's start (TUN, TOA) or changed its length.
inline void set_frame(rte_mbuf* m, const PacketBuf& b) {
  m->data_off = static_cast<uint16_t>(b.data - static_cast<uint8_t*>(m->buf_addr));
  m->data_len = static_cast<uint16_t>(b.len);
  m->pkt_len = b.len;
}

inline void set_macs(rte_mbuf* m, const Mac& dst, const Mac& src) {
  uint8_t* f = rte_pktmbuf_mtod(m, uint8_t*);
  std::memcpy(f, dst.b, 6);
  std::memcpy(f + 6, src.b, 6);
}

}  // namespace

LcoreWorker::LcoreWorker(Shared& shared, uint16_t id, const WorkerOptions& core_opts)
    : sh_(shared),
      id_(id),
      core_(core_opts),
      txq_(shared.ports.size()),
      tapq_(shared.ports.size()),
      handq_(shared.nworkers),
      bufs_(new PacketBuf[kBurst]),
      verdicts_(new Verdict[kBurst]) {
  vips6_.reserve(core_opts.limits.max_services);
  vips6_prev_.reserve(core_opts.limits.max_services);
  for (size_t i = 0; i < sh_.ports.size(); ++i) {
    txq_[i].port_id = sh_.ports[i].id;
    tapq_[i].port_id = sh_.ports[i].tap_id;
    for (be32 a : sh_.ports[i].cfg.floating) floating_.push_back({i, a});
    for (const IpAddr& a : sh_.ports[i].cfg.floating6) floating6_.push_back({i, a});
  }
  // A director that starts as a backup (ha.vrrp) answers for nothing until told otherwise.
  owner_word_ = sh_.ownership.load();
  owner_ = VipOwnership::owns(owner_word_);
  // The first snapshot is taken here, before the lcore runs, so its scheduler state is built
  // off the packet path.
  if (const Snapshot* s = sh_.snapshot.load(std::memory_order_acquire)) on_snapshot(s);
}

LcoreWorker::~LcoreWorker() = default;

int LcoreWorker::run() {
  rte_rcu_qsbr_thread_online(sh_.qsbr, id_);
  const uint64_t tsc_per_ms = std::max<uint64_t>(1, sh_.tsc_hz / 1000);
  uint32_t empty = 0;
  while (!sh_.stop.load(std::memory_order_relaxed)) {
    uint64_t now_ms = rte_rdtsc() / tsc_per_ms;
    between_bursts(
        sh_.qsbr, id_, sh_.snapshot, core_.snapshot(), [&](const Snapshot* s) { on_snapshot(s); },
        [&] { serve_commands(now_ms); });
    if (uint64_t w = sh_.ownership.load(); w != owner_word_) [[unlikely]]
      on_ownership(w, now_ms);
    if (garp_.due(now_ms)) [[unlikely]]
      announce();

    uint64_t before = rx_;
    for (size_t pi = 0; pi < sh_.ports.size(); ++pi) poll_port(pi, now_ms);
    if (sh_.nworkers > 1) {
      rte_mbuf* m[kBurst];
      for (uint32_t from = 0; from < sh_.nworkers; ++from) {
        if (from == id_) continue;
        unsigned n = rte_ring_sc_dequeue_burst(sh_.handover[from * sh_.nworkers + id_], reinterpret_cast<void**>(m),
                                               kBurst, nullptr);
        if (n) {
          rx_ += n;
          input(m, static_cast<uint16_t>(n), now_ms);
        }
      }
    }
    flush_all();
    housekeeping(now_ms);
    ++polls_;
    if (rx_ != before) {
      ++busy_polls_;
      empty = 0;
    } else {
      idle(++empty);
    }
  }
  flush_all();
  rte_rcu_qsbr_thread_offline(sh_.qsbr, id_);
  return 0;
}

void LcoreWorker::poll_port(size_t pi, uint64_t now_ms) {
  const Port& p = sh_.ports[pi];
  rte_mbuf* m[kBurst];
  uint16_t n = rte_eth_rx_burst(p.id, id_, m, kBurst);
  if (n) {
    rx_ += n;
    if (sh_.nworkers > 1) n = steer(m, n);
    input(m, n, now_ms);
  }
  if (p.has_tap) {
    // What the kernel sends on the TAP leaves through the port unchanged.
    uint16_t k = rte_eth_rx_burst(p.tap_id, id_, m, kBurst);
    if (k) {
      rx_ += k;
      dpc_.add(DpCounter::FromTap, k);
      for (uint16_t i = 0; i < k; ++i) tx(txq_[pi], m[i]);
    }
  }
}

// Keeps the packets this worker owns at the front of m and hands the rest to their owners.
uint16_t LcoreWorker::steer(rte_mbuf** m, uint16_t n) {
  struct IsVirtual {
    const Snapshot* snap;
    const std::vector<IpAddr>* vips6;
    bool operator()(be32 daddr) const { return snap->is_virtual_v4(daddr); }
    bool operator()(const IpAddr& daddr) const {
      return std::binary_search(vips6->begin(), vips6->end(), daddr, addr6_less);
    }
  } is_virtual{core_.snapshot(), &vips6_};
  uint16_t kept = 0;
  for (uint16_t i = 0; i < n; ++i) {
    uint32_t owner = frame_owner(sh_.steer, is_virtual, rte_pktmbuf_mtod(m[i], const uint8_t*), m[i]->data_len, id_);
    if (owner == id_) {
      m[kept++] = m[i];
    } else {
      TxQueue& q = handq_[owner];
      q.pkts[q.n++] = m[i];
    }
  }
  for (uint32_t w = 0; w < sh_.nworkers; ++w) {
    TxQueue& q = handq_[w];
    if (!q.n) continue;
    unsigned sent = rte_ring_sp_enqueue_burst(sh_.handover[id_ * sh_.nworkers + w], reinterpret_cast<void**>(q.pkts),
                                              q.n, nullptr);
    dpc_.add(DpCounter::HandedOver, sent);
    if (sent < q.n) {
      dpc_.add(DpCounter::HandoverFull, q.n - sent);
      rte_pktmbuf_free_bulk(q.pkts + sent, q.n - sent);
    }
    q.n = 0;
  }
  return kept;
}

void LcoreWorker::input(rte_mbuf** in, uint16_t n, uint64_t now_ms) {
  if (!owner_) [[unlikely]]
    n = drop_unowned(in, n);
  rte_mbuf* m[kBurst];
  PacketBuf* bufs = bufs_.get();
  uint16_t k = 0;
  for (uint16_t i = 0; i < n; ++i) {
    rte_mbuf* x = in[i];
    if (x->nb_segs > 1) [[unlikely]] {
      drop_multiseg(x);
      continue;
    }
    uint8_t* data = rte_pktmbuf_mtod(x, uint8_t*);
    // A NIC's frame is not in this core's cache yet: fetched for the whole burst before the
    // core parses the first (l3fwd does the same). net_null's frames are, and lose ~nothing.
    rte_prefetch0(data);
    m[k] = x;
    bufs[k] = PacketBuf{data, x->data_len, rte_pktmbuf_headroom(x), rte_pktmbuf_tailroom(x)};
    ++k;
  }
  // Neighbour discovery is the dataplane's and never reaches the core (ARP does, and comes back
  // as the kernel's: the core has no IPv4 in it to look at). A second pass over the burst, after
  // every frame's prefetch was issued: an IPv4 frame costs one compare of bytes the core reads
  // next anyway; anything else is looked at out of line.
  for (uint16_t i = 0; i < k; ++i) {
    uint16_t et;
    std::memcpy(&et, bufs[i].data + 12, 2);
    if (et != kBeEthIpv4 && !ipv6_tcp_udp(bufs[i].data, et)) [[unlikely]] {
      k = take_nd(m, bufs, k, i, now_ms);
      break;
    }
  }
  core_.process_burst(bufs, k, verdicts_.get(), static_cast<uint32_t>(now_ms / kMsPerTick));
  if (core_.sync_pending()) [[unlikely]]
    sync_out();
  // The common case inline: a frame to transmit towards a next hop in the hop cache. Anything
  // else (a miss, a held frame to release, the kernel's, a drop) is output()'s.
  const Verdict* verdicts = verdicts_.get();
  uint64_t generation = neigh_.generation();
  uint64_t generation6 = neigh6_.generation();
  for (uint16_t i = 0; i < k; ++i) {
    const Verdict& v = verdicts[i];
    if (v.action == Action::Transmit && !v.release) [[likely]] {
      const HopCacheEntry& hc = hops_[hop_slot(v.route_dst)];
      if (hc.dst == v.route_dst && hc.generation == generation) [[likely]] {
        set_frame(m[i], bufs[i]);
        std::memcpy(bufs[i].data, hc.macs, sizeof hc.macs);
        tx(txq_[hc.port], m[i]);
        continue;
      }
    } else if (v.action == Action::Transmit6 && !v.release) {
      // IPv6's common case inline too (through output() it cost a call and a second hop-cache
      // walk per packet).
      const IpAddr& dst = core_.route6_dst(i);
      const HopCacheEntry6& hc = hops6_[hop_slot6(dst)];
      if (hc.dst == dst && hc.generation == generation6) [[likely]] {
        set_frame(m[i], bufs[i]);
        std::memcpy(bufs[i].data, hc.macs, sizeof hc.macs);
        tx(txq_[hc.port], m[i]);
        continue;
      }
    }
    output(m[i], bufs[i], v, i, now_ms);
    generation = neigh_.generation();  // the slow path may have learnt or forgotten a neighbour
    generation6 = neigh6_.generation();
  }
}

// From position `from` on (a frame that is not IPv4), takes the ND frames out of the burst and
// keeps the rest in order; returns how many are left.
[[gnu::noinline]] uint16_t LcoreWorker::take_nd(rte_mbuf** m, PacketBuf* bufs, uint16_t k, uint16_t from, uint64_t now_ms) {
  uint16_t kept = from;
  for (uint16_t i = from; i < k; ++i) {
    uint16_t et;
    std::memcpy(&et, bufs[i].data + 12, 2);
    if (et != kBeEthIpv4 && !ipv6_tcp_udp(bufs[i].data, et) && nd_frame(m[i], now_ms)) continue;
    if (kept != i) {
      m[kept] = m[i];
      bufs[kept] = bufs[i];
    }
    ++kept;
  }
  return kept;
}

// True when the frame was ND (answered, learnt from, given to the kernel or dropped).
bool LcoreWorker::nd_frame(rte_mbuf* m, uint64_t now_ms) {
  NdView v;
  switch (nd_parse(rte_pktmbuf_mtod(m, const uint8_t*), m->data_len, v)) {
    case NdParse::NotNd:
      return false;
    case NdParse::Bad:
      dpc_.add(DpCounter::NdBad);
      rte_pktmbuf_free(m);
      return true;
    case NdParse::Ok:
      nd_input(m, v, now_ms);
      return true;
  }
  return false;
}

// Out of line, so the burst loop above stays small.
[[gnu::noinline]] void LcoreWorker::output(rte_mbuf* m, const PacketBuf& b, const Verdict& v, uint16_t pos,
                                           uint64_t now_ms) {
  switch (v.action) {
    case Action::Transmit6:
      set_frame(m, b);
      transmit_ip6(m, core_.route6_dst(pos), now_ms);
      if (v.release) release_held(v.release, now_ms);
      break;
    case Action::Transmit:
      set_frame(m, b);
      transmit_ip(m, v.route_dst, now_ms);
      if (v.release) release_held(v.release, now_ms);
      break;
    case Action::TransmitSrc:
      set_frame(m, b);
      transmit_src(m, v.route_dst, now_ms);
      if (v.release) release_held(v.release, now_ms);
      break;
    case Action::Transmit6Src:
      set_frame(m, b);
      transmit_src6(m, now_ms);
      if (v.release) release_held(v.release, now_ms);
      break;
    case Action::Kernel: {
      const uint8_t* f = rte_pktmbuf_mtod(m, const uint8_t*);
      if (f[12] == 0x08 && f[13] == 0x06)
        arp_input(m, now_ms);
      else
        to_tap(m);
      break;
    }
    case Action::Drop:
      rte_pktmbuf_free(m);
      break;
  }
}

// While the other director owns the VIPs (ha.vrrp: this one is BACKUP or FAULT), traffic to
// them that still reaches this one (a neighbour's stale ARP entry, a switch still flooding) is
// dropped and counted rather than balanced: the owner balances it, and two directors
// scheduling one flow would split it. It is not given to the kernel either: the kernel does
// not hold the VIPs, so it could only drop it, or route it back out, after a copy to the TAP.
[[gnu::noinline]] uint16_t LcoreWorker::drop_unowned(rte_mbuf** m, uint16_t n) {
  const Snapshot* snap = core_.snapshot();
  uint16_t kept = 0;
  for (uint16_t i = 0; i < n; ++i) {
    be32 dst;
    IpAddr dst6;
    const uint8_t* f = rte_pktmbuf_mtod(m[i], const uint8_t*);
    if ((frame_ipv4_dst(f, m[i]->data_len, dst) && snap->is_virtual_v4(dst)) ||
        (frame_ipv6_dst(f, m[i]->data_len, dst6) && std::binary_search(vips6_.begin(), vips6_.end(), dst6, addr6_less))) {
      dpc_.add(DpCounter::NotVipOwner);
      rte_pktmbuf_free(m[i]);
      continue;
    }
    m[kept++] = m[i];
  }
  return kept;
}

void LcoreWorker::drop_multiseg(rte_mbuf* m) {
  dpc_.add(DpCounter::RxMultiSeg);
  rte_pktmbuf_free(m);
}

// A frame the core kept (a proxied connection's first data, SYN proxy) is due: it goes through
// the core again as a new packet, after the segment that released it. Taken even without an
// mbuf to put it in, so its place in the core is free again.
void LcoreWorker::release_held(uint16_t release, uint64_t now_ms) {
  rte_mbuf* m = rte_pktmbuf_alloc(sh_.pool);
  if (!m || rte_pktmbuf_tailroom(m) < Worker::kHeldFrameBytes) [[unlikely]] {
    PacketBuf scratch{held_scratch_.get(), 0, 0, Worker::kHeldFrameBytes};
    core_.take_held(release, scratch);
    dpc_.add(DpCounter::NoMbuf);
    if (m) rte_pktmbuf_free(m);
    return;
  }
  PacketBuf b{rte_pktmbuf_mtod(m, uint8_t*), 0, rte_pktmbuf_headroom(m), rte_pktmbuf_tailroom(m)};
  if (!core_.take_held(release, b)) {
    rte_pktmbuf_free(m);
    return;
  }
  b.tailroom -= b.len;
  const Verdict v = core_.process(b, static_cast<uint32_t>(now_ms / kMsPerTick));
  if (v.action == Action::Transmit6) {
    set_frame(m, b);
    transmit_ip6(m, core_.route6_dst(0), now_ms);
    return;
  }
  if (v.action == Action::TransmitSrc || v.action == Action::Transmit6Src) [[unlikely]] {
    set_frame(m, b);
    if (v.action == Action::TransmitSrc)
      transmit_src(m, v.route_dst, now_ms);
    else
      transmit_src6(m, now_ms);
    return;
  }
  if (v.action != Action::Transmit) {
    rte_pktmbuf_free(m);
    return;
  }
  set_frame(m, b);
  transmit_ip(m, v.route_dst, now_ms);
}

void LcoreWorker::transmit_ip(rte_mbuf* m, be32 dst, uint64_t now_ms) {
  HopCacheEntry& hc = hops_[hop_slot(dst)];
  if (hc.dst == dst && hc.generation == neigh_.generation()) {
    std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), hc.macs, sizeof hc.macs);
    tx(txq_[hc.port], m);
    return;
  }
  NextHop nh;
  if (!sh_.routes->lookup(dst, nh)) [[unlikely]] {
    dpc_.add(DpCounter::NoRoute);
    rte_pktmbuf_free(m);
    return;
  }
  be32 target = nh.gateway ? nh.gateway : dst;
  NeighTable::Result r = neigh_.resolve(nh.port, target, now_ms, m);
  switch (r.outcome) {
    case NeighTable::Outcome::Ready:
      set_macs(m, *r.mac, sh_.ports[nh.port].mac);
      if (r.request) [[unlikely]] {
        tx(txq_[nh.port], m);
        send_arp(nh.port, sh_.ports[nh.port].cfg.addr, target, r.mac);
        return;  // confirming a stale answer: not cached until it is confirmed
      }
      hc.dst = dst;
      hc.port = nh.port;
      std::memcpy(hc.macs, rte_pktmbuf_mtod(m, const uint8_t*), sizeof hc.macs);  // as just written
      hc.generation = neigh_.generation();
      tx(txq_[nh.port], m);
      return;
    case NeighTable::Outcome::Queued:
      if (r.request) send_arp(nh.port, sh_.ports[nh.port].cfg.addr, target, nullptr);
      return;
    case NeighTable::Outcome::QueueFull:
      dpc_.add(DpCounter::NeighQueueFull);
      break;
    case NeighTable::Outcome::TableFull:
      dpc_.add(DpCounter::NeighTableFull);
      break;
  }
  rte_pktmbuf_free(m);
}

bool LcoreWorker::is_local_addr(be32 a) const {
  return std::binary_search(sh_.local_addrs.begin(), sh_.local_addrs.end(), a);
}

bool LcoreWorker::is_floating(size_t pi, be32 a) const {
  const std::vector<be32>& f = sh_.ports[pi].cfg.floating;
  return std::find(f.begin(), f.end(), a) != f.end();
}

// ARP: answer for the port's address, and while this director owns its VIPs (always, without
// ha.vrrp) for every VIP, every FullNAT local address and the port's floating addresses; learn
// the sender; give the kernel what is about its own addresses (and every reply, since the
// kernel may have asked).
void LcoreWorker::arp_input(rte_mbuf* m, uint64_t now_ms) {
  ArpView a;
  if (!arp_parse(rte_pktmbuf_mtod(m, const uint8_t*), m->data_len, a)) {
    dpc_.add(DpCounter::ArpBad);
    rte_pktmbuf_free(m);
    return;
  }
  size_t pi = m->port < kPortIdBound ? sh_.port_index[m->port] : 0;
  const Port& p = sh_.ports[pi];
  const Snapshot* snap = core_.snapshot();
  auto is_mine = [&](be32 x) {
    return (p.cfg.addr && x == p.cfg.addr) || snap->has_vip_v4(x) || is_local_addr(x) || is_floating(pi, x);
  };
  bool ours = owner_ ? is_mine(a.tpa) : (p.cfg.addr && a.tpa == p.cfg.addr);
  // A sender claiming one of our addresses (our own gratuitous ARP looped back, or a conflict)
  // must not become a neighbour (the owner's gratuitous ARP for a VIP, while we are its backup).
  bool useful_sender = a.spa != 0 && !a.sha.is_zero() && !is_mine(a.spa);
  if (a.op == kArpRequest && ours) {
    if (useful_sender) learned(pi, a.spa, a.sha, now_ms, true, true);
    arp_make_reply(rte_pktmbuf_mtod(m, uint8_t*), a, p.mac);
    dpc_.add(DpCounter::ArpReplied);
    tx(txq_[pi], m);
    return;
  }
  if (useful_sender) learned(pi, a.spa, a.sha, now_ms, a.op == kArpReply && ours, true);
  to_tap(m);
}

void LcoreWorker::learned(size_t pi, be32 ip, const Mac& mac, uint64_t now_ms, bool create, bool tell_others) {
  bool known = neigh_.lookup(static_cast<uint16_t>(pi), ip) != nullptr;
  neigh_.learn(static_cast<uint16_t>(pi), ip, mac, now_ms, create, [&](void* pkt, const Mac& mm) {
    rte_mbuf* q = static_cast<rte_mbuf*>(pkt);
    set_macs(q, mm, sh_.ports[pi].mac);
    tx(txq_[pi], q);
  });
  if (!known && neigh_.lookup(static_cast<uint16_t>(pi), ip)) dpc_.add(DpCounter::ArpLearned);
  if (!tell_others || sh_.nworkers == 1) return;
  NeighUpdate u{static_cast<uint16_t>(pi), UpdateKind::Arp, static_cast<uint8_t>(create), {}, 1, 1, 0, {}};
  std::memcpy(u.mac, mac.b, 6);
  std::memcpy(u.addr, &ip, 4);
  share_update(&u);
}

void LcoreWorker::share_update(const NeighUpdate* update) {
  for (uint32_t w = 0; w < sh_.nworkers; ++w)
    if (w != id_) rte_ring_mp_enqueue_elem(sh_.neigh_updates[w], const_cast<NeighUpdate*>(update), kNeighUpdateBytes);
}

void LcoreWorker::to_tap(rte_mbuf* m) {
  size_t pi = m->port < kPortIdBound ? sh_.port_index[m->port] : 0;
  if (!sh_.ports[pi].has_tap) {
    dpc_.add(DpCounter::NoKernelPath);
    rte_pktmbuf_free(m);
    return;
  }
  dpc_.add(DpCounter::ToTap);
  tx(tapq_[pi], m);
}

void LcoreWorker::send_arp(size_t pi, be32 spa, be32 tpa, const Mac* unicast) {
  rte_mbuf* m = rte_pktmbuf_alloc(sh_.pool);
  if (!m) {
    dpc_.add(DpCounter::NoMbuf);
    return;
  }
  uint8_t* f = rte_pktmbuf_mtod(m, uint8_t*);
  uint32_t len = arp_write_request(f, sh_.ports[pi].mac, spa, tpa, unicast ? *unicast : kBroadcast);
  m->data_len = static_cast<uint16_t>(len);
  m->pkt_len = len;
  dpc_.add(spa == tpa ? DpCounter::GarpSent : DpCounter::ArpRequested);
  tx(txq_[pi], m);
}

void LcoreWorker::tx(TxQueue& q, rte_mbuf* m) {
  q.pkts[q.n++] = m;
  if (q.n == kTxBuffer) flush(q);
}

void LcoreWorker::flush(TxQueue& q) {
  if (!q.n) return;
  uint16_t sent = rte_eth_tx_burst(q.port_id, id_, q.pkts, q.n);
  tx_ += sent;
  if (sent < q.n) {
    dpc_.add(DpCounter::TxFull, q.n - sent);
    rte_pktmbuf_free_bulk(q.pkts + sent, q.n - sent);
  }
  q.n = 0;
}

void LcoreWorker::flush_all() {
  for (TxQueue& q : txq_) flush(q);
  for (TxQueue& q : tapq_) flush(q);
}

// A new snapshot: the core re-syncs its scheduler state; worker 0 announces new VIPs with
// gratuitous ARP on every port, so neighbours move to us at once.
void LcoreWorker::on_snapshot(const Snapshot* next) {
  const Snapshot* prev = core_.snapshot();
  core_.set_snapshot(next);
  refresh_vips6(prev, next);
  if (id_ != 0 || !owner_) return;  // a backup announces nothing; its takeover announces all
  auto announce = [&](be32 vip) {
    for (size_t pi = 0; pi < sh_.ports.size(); ++pi) send_arp(pi, vip, vip, nullptr);
  };
  if (prev && &next->vips_v4() == &prev->vips_v4()) return;  // the same VIP list, shared
  // A snapshot that follows the one this worker runs names what changed: only those services'
  // VIPs can be new (a weight change at 10,000 VIPs does not walk them all). Many changes (a
  // restore) walk the VIP list once instead.
  constexpr size_t kFewChanges = 64;
  const bool follows = prev && next->lineage() == prev->lineage() && next->seq() == prev->seq() + 1;
  if (follows && next->changed_services().size() <= kFewChanges) {
    for (SvcId id : next->changed_services()) {
      const ServiceSnap* svc = next->service(id);
      if (!svc || svc->fwmark || !svc->vip.is_v4()) continue;
      be32 vip = svc->vip.v4();
      if (prev->has_vip_v4(vip) || !next->has_vip_v4(vip)) continue;
      bool first = true;  // several changed services on one new VIP: announced once
      for (SvcId other : next->changed_services()) {
        if (other == id) break;
        const ServiceSnap* o = next->service(other);
        if (o && !o->fwmark && o->vip.is_v4() && o->vip.v4() == vip) first = false;
      }
      if (first) announce(vip);
    }
    return;
  }
  for (be32 vip : next->vips_v4())
    if (!prev || !prev->has_vip_v4(vip)) announce(vip);
}

// A master's records go to its thread; a full ring loses them, counted (the next packet
// count or state change sends the connection again).
void LcoreWorker::sync_out() {
  SyncChannels& ch = sh_.sync[id_];
  const uint32_t n = core_.sync_pending4();
  const unsigned sent = n ? rte_ring_sp_enqueue_burst_elem(ch.out, core_.sync_records(), sizeof(sync::SyncRecord), n, nullptr) : 0;
  sync_ring_dropped_ += n - sent;
  if (const uint32_t n6 = core_.sync_pending6()) {
    const unsigned sent6 = rte_ring_sp_enqueue_burst_elem(ch.out6, core_.sync_records6(), sizeof(sync::SyncRecord6), n6, nullptr);
    sync_ring_dropped_ += n6 - sent6;
  }
  core_.sync_taken();
  ch.counters.publish(core_.sync_counters(), sync_ring_dropped_);
}

// What a backup thread routed here is installed between bursts, a bounded number per pass.
void LcoreWorker::sync_in(uint32_t tick) {
  if (!sh_.sync) return;  // a Shared made without sync channels (the dataplane bench's)
  SyncChannels& ch = sh_.sync[id_];
  sync::SyncRecord r[kSyncInstallBurst];
  const unsigned n = rte_ring_sc_dequeue_burst_elem(ch.in, r, sizeof(sync::SyncRecord), kSyncInstallBurst, nullptr);
  for (unsigned i = 0; i < n; ++i) core_.sync_install(r[i], tick);
  unsigned n6 = 0;
  if (!rte_ring_empty(ch.in6)) {
    sync::SyncRecord6 r6[kSyncInstallBurst];
    n6 = rte_ring_sc_dequeue_burst_elem(ch.in6, r6, sizeof(sync::SyncRecord6), kSyncInstallBurst, nullptr);
    for (unsigned i = 0; i < n6; ++i) core_.sync_install6(r6[i], tick);
  }
  if (!(n | n6)) return;
  ch.counters.publish(core_.sync_counters(), sync_ring_dropped_);
}

// Ownership changed (ha.vrrp's MASTER, BACKUP or FAULT, published by the control thread):
// from the next burst on this worker takes VIP traffic or drops it. Worker 0 announces a
// takeover with gratuitous ARP (vip_owner.h's rounds), so neighbours move to this director.
void LcoreWorker::on_ownership(uint64_t word, uint64_t now_ms) {
  owner_word_ = word;
  owner_ = VipOwnership::owns(word);
  if (id_ != 0) return;
  if (owner_)
    garp_.start(now_ms);
  else
    garp_.stop();
}

// One slice of a gratuitous-ARP round: the VIPs and FullNAT local addresses on every port, the
// floating addresses on their own port; IPv6 ones as unsolicited advertisements.
void LcoreWorker::announce() {
  const std::vector<be32>& vips = core_.snapshot()->vips_v4();
  const size_t nv = vips.size(), nl = sh_.local_addrs.size(), nf = floating_.size();
  const size_t nv6 = vips6_.size(), nl6 = sh_.local_addrs6.size(), nf6 = floating6_.size();
  const size_t total = nv + nl + nf + nv6 + nl6 + nf6;
  const size_t first = garp_.first(), n = garp_.count(total);
  for (size_t i = first; i < first + n; ++i) {
    if (i < nv + nl) {
      be32 a = i < nv ? vips[i] : sh_.local_addrs[i - nv];
      for (size_t pi = 0; pi < sh_.ports.size(); ++pi) send_arp(pi, a, a, nullptr);
    } else if (i < nv + nl + nf) {
      const auto& [pi, a] = floating_[i - nv - nl];
      send_arp(pi, a, a, nullptr);
    } else {
      // IPv6: the unsolicited advertisement is the gratuitous ARP (RFC 4861 7.2.6).
      size_t j = i - nv - nl - nf;
      if (j >= nv6 + nl6) {
        const auto& [pi, a] = floating6_[j - nv6 - nl6];
        send_unsolicited_na(pi, a);
        continue;
      }
      const IpAddr& a = j < nv6 ? vips6_[j] : sh_.local_addrs6[j - nv6];
      for (size_t pi = 0; pi < sh_.ports.size(); ++pi) send_unsolicited_na(pi, a);
    }
  }
  garp_.advance(total);
}

void LcoreWorker::housekeeping(uint64_t now_ms) {
  uint32_t tick = static_cast<uint32_t>(now_ms / kMsPerTick);
  if (core_.sync_pending()) [[unlikely]]
    sync_out();  // records of held frames released outside a burst
  sync_in(tick);
  if (tick != last_tick_) {
    last_tick_ = tick;
    uint32_t budget =
        std::max<uint32_t>(kExpiryMinBudget, static_cast<uint32_t>(core_.conn_capacity() / kExpirySweepTicks));
    core_.housekeeping(tick, budget);
  }
  if (sh_.nworkers > 1) {
    NeighUpdate u[kNeighUpdateBurst];
    unsigned n =
        rte_ring_sc_dequeue_burst_elem(sh_.neigh_updates[id_], u, sizeof(NeighUpdate), kNeighUpdateBurst, nullptr);
    for (unsigned i = 0; i < n; ++i) {
      Mac mac;
      std::memcpy(mac.b, u[i].mac, 6);
      switch (u[i].kind) {
        case UpdateKind::Arp: {
          be32 ip;
          std::memcpy(&ip, u[i].addr, 4);
          learned(u[i].port, ip, mac, now_ms, u[i].create, false);
          break;
        }
        case UpdateKind::Nd:
          learned6(u[i].port, IpAddr::from_v6(u[i].addr), mac, now_ms, u[i].create, u[i].override_, u[i].reachable, false);
          break;
        case UpdateKind::Router:
          ra_router_ = RaRouter{u[i].port, IpAddr::from_v6(u[i].addr), now_ms + uint64_t{u[i].lifetime_s} * 1000};
          break;
      }
    }
  }
  neigh6_.tick(
      now_ms, [&](uint16_t pi, const IpAddr& ip, const Mac* unicast) { send_ns(pi, ip, unicast); },
      [&](void* pkt) {
        dpc_.add(DpCounter::NeighFailed);
        rte_pktmbuf_free(static_cast<rte_mbuf*>(pkt));
      });
  neigh_.tick(
      now_ms,
      [&](uint16_t pi, be32 ip, const Mac* unicast) { send_arp(pi, sh_.ports[pi].cfg.addr, ip, unicast); },
      [&](void* pkt) {
        dpc_.add(DpCounter::NeighFailed);
        rte_pktmbuf_free(static_cast<rte_mbuf*>(pkt));
      });
}

// One command per pass: a listing or a flush is bounded work, and the burst comes first.
void LcoreWorker::serve_commands(uint64_t now_ms) {
  void* req;
  if (rte_ring_sc_dequeue(sh_.commands[id_], &req) == 0) [[unlikely]] {
    serve(*static_cast<Request*>(req), now_ms);
    while (rte_ring_mp_enqueue(sh_.replies, req) != 0) rte_pause();  // sized for every request: never spins long
    sh_.wake(sh_.wake_arg);
  }
}

void LcoreWorker::serve(Request& r, uint64_t now_ms) {
  uint32_t tick = static_cast<uint32_t>(now_ms / kMsPerTick);
  switch (r.type) {
    case CmdType::Sync:
      // Answered once this worker runs the snapshot the Sync was sent for. The control thread
      // publishes, then enqueues the Sync: both can fall between this round's load and this
      // dequeue, so the published pointer is looked at again (it is at least the Sync's, the
      // ring's ordering sees to that). Adopting here is still between bursts, after this
      // round's quiescent report: the snapshot replaced stays readable until the next one.
      if (const Snapshot* s = sh_.snapshot.load(std::memory_order_acquire); s != core_.snapshot()) on_snapshot(s);
      // The same for a change of VIP ownership: an answered Sync proves this worker acts on it.
      if (uint64_t w = sh_.ownership.load(); w != owner_word_) on_ownership(w, now_ms);
      break;
    case CmdType::Stats: {
      WorkerReport& w = r.reports[id_];
      w.stats = core_.stats();  // same sizes as the presized report: copies, no allocation
      for (size_t d = 0; d < w.load.size(); ++d) w.load[d] = core_.share(static_cast<DestId>(d));
      w.dp = dpc_;
      w.conns = core_.conn_count();
      w.conn_capacity = core_.conn_capacity() + core_.conn6_capacity();
      w.table_bytes = core_.table_memory_bytes() + core_.table6_memory_bytes();
      w.conns6 = core_.conn6_count();
      w.conn6_capacity = core_.conn6_capacity();
      w.half_open = core_.half_open_count();
      w.half_open_budget = core_.half_open_budget();
      w.half_open6 = core_.half_open6_count();  // the IPv6 table's own budget and eviction order
      w.half_open6_budget = core_.half_open6_budget();
      w.polls = polls_;
      w.busy_polls = busy_polls_;
      w.rx_packets = rx_;
      w.tx_packets = tx_;
      break;
    }
    case CmdType::ListConns:
      r.scratch.clear();
      r.next_cursor = core_.list_conns(r.cursor, r.max, r.scratch, tick);
      for (const ConnInfo& c : r.scratch)
        if (r.filter.matches(c)) r.conns.push_back(c);
      break;
    case CmdType::FlushAll:
      core_.flush_all(tick);
      break;
    case CmdType::FlushDest:
      core_.flush_dest(r.dest, tick);
      break;
    case CmdType::SyncConfig:
      if (r.sync_set_master) {
        if (core_.sync_pending()) sync_out();
        r.sync_old_sides[id_] = core_.set_sync_master(r.sync_sides[id_]);
      }
      core_.set_sync_sysctls(r.sync_sysctls);
      core_.set_backup_only(r.sync_backup_only);
      break;
    case CmdType::Neighbours:
      neigh_.for_each([&](const NeighEntry& e) {
        if (r.neigh.size() == r.neigh.capacity()) {
          r.neigh_truncated = true;  // never grown here: the worker does not allocate
          return;
        }
        r.neigh.push_back(NeighInfo{e.port, IpAddr::from_v4(e.ip), e.mac, static_cast<uint8_t>(e.state),
                                    e.confirmed_ms ? now_ms - e.confirmed_ms : 0, e.queued});
      });
      neigh6_.for_each([&](const NeighEntry6& e) {
        if (r.neigh.size() == r.neigh.capacity()) {
          r.neigh_truncated = true;
          return;
        }
        r.neigh.push_back(NeighInfo{e.port, e.ip, e.mac, static_cast<uint8_t>(e.state),
                                    e.confirmed_ms ? now_ms - e.confirmed_ms : 0, e.queued});
      });
      break;
  }
}

void LcoreWorker::idle(uint32_t empty) {
  const IdleBackoff& b = sh_.backoff;
  if (!b.enabled || empty < b.pause_after_polls) return;
  uint32_t stage = empty - b.pause_after_polls;
  if (stage < kIdlePauseStage || b.max_sleep_us == 0) {
    rte_pause();
    return;
  }
  // Sleeps double every kIdlePauseStage empty polls up to the bound, so a burst after a quiet
  // spell waits at most max_sleep_us.
  uint32_t us = std::min<uint32_t>(b.max_sleep_us,
                                   1u << std::min<uint32_t>((stage - kIdlePauseStage) / kIdlePauseStage, 20));
  rte_delay_us_sleep(us);
}

}  // namespace fulcrum::dp
