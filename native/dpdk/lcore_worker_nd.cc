// The worker's IPv6 neighbour side (see lcore_worker.h): neighbour discovery in and out
// (nd.h), the IPv6 VIPs it answers for, and transmitting what the core sends as Transmit6
// (route6.h, then the IPv6 neighbour table). IPv4's ARP and transmit path stay in
// lcore_worker.cc; both share NeighTableT's queue, retries and aging.
//
// Who answers what, with the kernel behind the TAP holding the same addresses (port.cc gives
// the TAP each port address and the kernel makes the same EUI-64 link-local from the same MAC):
// the dataplane answers solicitations for the port's addresses, its link-local address, and
// (while it owns them) the VIPs, FullNAT local addresses and the port's floating addresses
// (ha.vrrp's: the IPv6 gateway of NAT real servers), and never gives those to the
// kernel, so one solicitation gets one answer. Every other solicitation and every
// advertisement goes to the kernel too, which resolves its own neighbours (health checks) with
// its own solicitations through the TAP and learns their answers there; the dataplane learns
// from what passes as well. Router advertisements never reach the kernel (accept_ra is off on
// the TAP): the dataplane takes a default route from them only with dataplane.acceptRa.
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <cstring>

#include "lcore_worker.h"

namespace fulcrum::dp {

namespace {

inline bool addr6_less(const IpAddr& a, const IpAddr& b) { return a.b < b.b; }


}  // namespace

bool LcoreWorker::is_mine6(size_t pi, const IpAddr& a, bool owner) const {
  const Port& p = sh_.ports[pi];
  if (a == p.link_local) return true;
  for (const PortAddr6& x : p.cfg.addrs6)
    if (a == x.addr) return true;
  if (!owner) return false;
  if (std::binary_search(vips6_.begin(), vips6_.end(), a, addr6_less) ||
      std::binary_search(sh_.local_addrs6.begin(), sh_.local_addrs6.end(), a, addr6_less))
    return true;
  const std::vector<IpAddr>& f = p.cfg.floating6;  // few, so scanned (as IPv4's)
  return std::find(f.begin(), f.end(), a) != f.end();
}

void LcoreWorker::nd_input(rte_mbuf* m, const NdView& v, uint64_t now_ms) {
  const size_t pi = m->port < kPortIdBound ? sh_.port_index[m->port] : 0;
  const Port& p = sh_.ports[pi];
  switch (v.type) {
    case kNdNeighSolicit: {
      dpc_.add(DpCounter::NdNsIn);
      // A sender claiming one of our addresses (our own announcement looped back, or a
      // conflict) must not become a neighbour; one running DAD (source ::) has no address yet.
      const bool sender = v.has_lladdr && !in6_is_unspecified(v.src) && !is_mine6(pi, v.src, true);
      if (is_mine6(pi, v.target, owner_)) {
        if (sender) learned6(pi, v.src, v.lladdr, now_ms, true, true, false, true);
        const uint32_t len = nd_make_na(rte_pktmbuf_mtod(m, uint8_t*), v, p.mac);
        m->data_len = static_cast<uint16_t>(len);
        m->pkt_len = len;
        dpc_.add(DpCounter::NdNaOut);
        tx(txq_[pi], m);
        return;
      }
      if (sender) learned6(pi, v.src, v.lladdr, now_ms, false, true, false, true);
      to_tap(m);
      return;
    }
    case kNdNeighAdvert:
      dpc_.add(DpCounter::NdNaIn);
      if (is_mine6(pi, v.target, true)) {
        // Our own announcement seen again, or a conflict: nobody here asked for it, and the
        // kernel must not take it for someone else holding its address.
        rte_pktmbuf_free(m);
        return;
      }
      learned6(pi, v.target, v.has_lladdr ? v.lladdr : v.eth_src, now_ms, false, v.flags & kNaOverride,
               v.flags & kNaSolicited, true);
      to_tap(m);  // the kernel may have asked
      return;
    case kNdRouterAdvert:
      if (!sh_.accept_ra) {
        dpc_.add(DpCounter::NdRaIgnored);
        rte_pktmbuf_free(m);
        return;
      }
      dpc_.add(DpCounter::NdRaAccepted);
      if (v.has_lladdr) learned6(pi, v.src, v.lladdr, now_ms, true, true, false, true);
      router_learned(pi, v.src, v.router_lifetime_s, now_ms);
      rte_pktmbuf_free(m);
      return;
    default:  // router solicitations, redirects: the host's business
      to_tap(m);
      return;
  }
}

void LcoreWorker::learned6(size_t pi, const IpAddr& ip, const Mac& mac, uint64_t now_ms, bool create, bool override,
                           bool reachable, bool tell_others_too) {
  const uint16_t port = static_cast<uint16_t>(pi);
  const bool known = neigh6_.lookup(port, ip) != nullptr;
  neigh6_.learn(port, ip, mac, now_ms, create, override, reachable, [&](void* pkt, const Mac& mm) {
    rte_mbuf* q = static_cast<rte_mbuf*>(pkt);
    uint8_t* f = rte_pktmbuf_mtod(q, uint8_t*);
    std::memcpy(f, mm.b, 6);
    std::memcpy(f + 6, sh_.ports[pi].mac.b, 6);
    tx(txq_[pi], q);
  });
  if (!known && neigh6_.lookup(port, ip)) dpc_.add(DpCounter::NdLearned);
  if (!tell_others_too || sh_.nworkers == 1) return;
  NeighUpdate u{port, UpdateKind::Nd, static_cast<uint8_t>(create), {}, static_cast<uint8_t>(override),
                 static_cast<uint8_t>(reachable), 0, {}};
  std::memcpy(u.mac, mac.b, 6);
  std::memcpy(u.addr, ip.b.data(), 16);
  share_update(&u);
}

// A router advertisement's default route (dataplane.acceptRa): lifetime 0 withdraws it.
void LcoreWorker::router_learned(size_t pi, const IpAddr& router, uint32_t lifetime_s, uint64_t now_ms) {
  ra_router_ = RaRouter{static_cast<uint16_t>(pi), router, now_ms + uint64_t{lifetime_s} * 1000};
  if (sh_.nworkers == 1) return;
  NeighUpdate u{static_cast<uint16_t>(pi), UpdateKind::Router, 0, {}, 0, 0, lifetime_s, {}};
  std::memcpy(u.addr, router.b.data(), 16);
  share_update(&u);
}

bool LcoreWorker::ra_route(NextHop6& nh, uint64_t now_ms) const {
  if (now_ms >= ra_router_.until_ms) return false;
  nh = NextHop6{ra_router_.port, false, ra_router_.addr};
  return true;
}

void LcoreWorker::transmit_ip6(rte_mbuf* m, const IpAddr& dst, uint64_t now_ms) {
  HopCacheEntry6& hc = hops6_[hop_slot6(dst)];
  if (hc.dst == dst && hc.generation == neigh6_.generation()) {
    std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), hc.macs, sizeof hc.macs);
    tx(txq_[hc.port], m);
    return;
  }
  NextHop6 nh;
  const bool configured = sh_.routes6->lookup(dst, nh);
  if (!configured && !ra_route(nh, now_ms)) [[unlikely]] {
    dpc_.add(DpCounter::NoRoute6);
    rte_pktmbuf_free(m);
    return;
  }
  const IpAddr& target = nh.on_link ? dst : nh.gateway;
  NeighTable6::Result r = neigh6_.resolve(nh.port, target, now_ms, m);
  switch (r.outcome) {
    case NeighTable6::Outcome::Ready: {
      uint8_t* f = rte_pktmbuf_mtod(m, uint8_t*);
      std::memcpy(f, r.mac->b, 6);
      std::memcpy(f + 6, sh_.ports[nh.port].mac.b, 6);
      if (r.request) [[unlikely]] {
        const Mac stale = *r.mac;  // tx may flush; the entry stays, but copy before anything moves it
        tx(txq_[nh.port], m);
        send_ns(nh.port, target, &stale);
        return;  // confirming a stale answer: not cached until it is confirmed
      }
      // A router-advertised route can lapse without the neighbour table changing: not cached.
      if (configured) {
        hc.dst = dst;
        hc.port = nh.port;
        std::memcpy(hc.macs, f, sizeof hc.macs);
        hc.generation = neigh6_.generation();
      }
      tx(txq_[nh.port], m);
      return;
    }
    case NeighTable6::Outcome::Queued:
      if (r.request) send_ns(nh.port, target, nullptr);
      return;
    case NeighTable6::Outcome::QueueFull:
      dpc_.add(DpCounter::NeighQueueFull);
      break;
    case NeighTable6::Outcome::TableFull:
      dpc_.add(DpCounter::NeighTableFull);
      break;
  }
  rte_pktmbuf_free(m);
}

// A solicitation from the port's address for a global target (its first global one), from its
// link-local address otherwise, so the answer comes back to an address the port holds.
void LcoreWorker::send_ns(size_t pi, const IpAddr& target, const Mac* unicast) {
  const Port& p = sh_.ports[pi];
  const IpAddr* src = &p.link_local;
  if (!in6_is_link_local(target))
    for (const PortAddr6& a : p.cfg.addrs6)
      if (!in6_is_link_local(a.addr)) {
        src = &a.addr;
        break;
      }
  rte_mbuf* m = rte_pktmbuf_alloc(sh_.pool);
  if (!m) {
    dpc_.add(DpCounter::NoMbuf);
    return;
  }
  uint32_t len = nd_write_ns(rte_pktmbuf_mtod(m, uint8_t*), p.mac, *src, target, unicast);
  m->data_len = static_cast<uint16_t>(len);
  m->pkt_len = len;
  dpc_.add(DpCounter::NdNsOut);
  tx(txq_[pi], m);
}

void LcoreWorker::send_unsolicited_na(size_t pi, const IpAddr& addr) {
  rte_mbuf* m = rte_pktmbuf_alloc(sh_.pool);
  if (!m) {
    dpc_.add(DpCounter::NoMbuf);
    return;
  }
  uint32_t len = nd_write_unsolicited_na(rte_pktmbuf_mtod(m, uint8_t*), sh_.ports[pi].mac, addr);
  m->data_len = static_cast<uint16_t>(len);
  m->pkt_len = len;
  dpc_.add(DpCounter::NdUnsolicitedNa);
  tx(txq_[pi], m);
}

// The IPv6 VIPs of the snapshot just taken. Walked only when an IPv6 service may have changed
// (or snapshots were skipped, or many changed at once): an IPv4 weight change costs nothing
// here. Worker 0, while owning the VIPs, announces the new ones (as gratuitous ARP for IPv4).
void LcoreWorker::refresh_vips6(const Snapshot* prev, const Snapshot* next) {
  constexpr size_t kFewChanges = 64;
  const bool follows = prev && next->lineage() == prev->lineage() && next->seq() == prev->seq() + 1;
  bool walk = !follows || next->changed_services().size() > kFewChanges;
  if (!walk) {
    auto v6 = [](const ServiceSnap* s) { return s && !s->fwmark && !s->vip.is_v4(); };
    for (SvcId id : next->changed_services())
      if (v6(next->service(id)) || v6(prev->service(id))) {
        walk = true;
        break;
      }
  }
  if (!walk) return;
  std::swap(vips6_, vips6_prev_);
  vips6_.clear();
  next->for_each_service([&](const ServiceSnap& s) {
    // Room for one VIP per service was reserved: never more (a VIP shared by services is one).
    if (!s.fwmark && !s.vip.is_v4() && vips6_.size() < vips6_.capacity()) vips6_.push_back(s.vip);
  });
  std::sort(vips6_.begin(), vips6_.end(), addr6_less);
  vips6_.erase(std::unique(vips6_.begin(), vips6_.end()), vips6_.end());
  if (id_ != 0 || !owner_) return;
  for (const IpAddr& a : vips6_)
    if (!std::binary_search(vips6_prev_.begin(), vips6_prev_.end(), a, addr6_less))
      for (size_t pi = 0; pi < sh_.ports.size(); ++pi) send_unsolicited_na(pi, a);
}

}  // namespace fulcrum::dp
