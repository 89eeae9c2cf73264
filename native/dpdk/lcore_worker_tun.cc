// The worker's part in tunnels across families (the core's engine_tun_mixed.cc): a frame whose
// outer source the core left 0 (Action::TransmitSrc, Transmit6Src unless tunnelSource6 is set)
// gets the egress port's address of the outer family there, the source the kernel's route lookup would have given it,
// and then leaves as any IPv4 or IPv6 frame does. The port is the route's (the hop cache's when
// it knows the destination): one lookup more than a same-family frame, for these frames alone.
#include <rte_mbuf.h>

#include <cstring>

#include "checksum.h"
#include "lcore_worker.h"

namespace fulcrum::dp {

void LcoreWorker::transmit_src(rte_mbuf* m, be32 dst, uint64_t now_ms) {
  uint8_t* f = rte_pktmbuf_mtod(m, uint8_t*);
  uint16_t et = 0;
  const uint32_t l2 = frame_l2(f, m->data_len, et);
  int port = -1;
  const HopCacheEntry& hc = hops_[hop_slot(dst)];
  NextHop nh;
  if (hc.dst == dst && hc.generation == neigh_.generation())
    port = hc.port;
  else if (sh_.routes->lookup(dst, nh))
    port = nh.port;
  if (port < 0 || !l2 || et != 0x0800 || m->data_len < l2 + 20) {
    dpc_.add(DpCounter::NoRoute);
    rte_pktmbuf_free(m);
    return;
  }
  const be32 src = sh_.ports[port].cfg.addr;
  if (!src) {  // the port has no IPv4 address to send from
    dpc_.add(DpCounter::TunNoSource);
    rte_pktmbuf_free(m);
    return;
  }
  uint8_t* ip = f + l2;
  std::memcpy(ip + 12, &src, 4);
  store16(ip + 10, 0);
  store16(ip + 10, inet_csum(ip, 20));
  transmit_ip(m, dst, now_ms);
}

void LcoreWorker::transmit_src6(rte_mbuf* m, uint64_t now_ms) {
  uint8_t* f = rte_pktmbuf_mtod(m, uint8_t*);
  uint16_t et = 0;
  const uint32_t l2 = frame_l2(f, m->data_len, et);
  if (!l2 || et != 0x86dd || m->data_len < l2 + 40) {
    dpc_.add(DpCounter::NoRoute6);
    rte_pktmbuf_free(m);
    return;
  }
  uint8_t* ip = f + l2;
  const IpAddr dst = IpAddr::from_v6(ip + 24);
  if (IpAddr::from_v6(ip + 8) != IpAddr{}) {  // tunnelSource6 is there already
    transmit_ip6(m, dst, now_ms);
    return;
  }
  int port = -1;
  const HopCacheEntry6& hc = hops6_[hop_slot6(dst)];
  NextHop6 nh;
  if (hc.dst == dst && hc.generation == neigh6_.generation())
    port = hc.port;
  else if (sh_.routes6->lookup(dst, nh) || ra_route(nh, now_ms))
    port = nh.port;
  if (port < 0) {
    dpc_.add(DpCounter::NoRoute6);
    rte_pktmbuf_free(m);
    return;
  }
  // The port's first global address (a link-local one cannot source a routed tunnel).
  const IpAddr* src = nullptr;
  for (const PortAddr6& a : sh_.ports[port].cfg.addrs6)
    if (!in6_is_link_local(a.addr)) {
      src = &a.addr;
      break;
    }
  if (!src) {
    dpc_.add(DpCounter::TunNoSource);
    rte_pktmbuf_free(m);
    return;
  }
  std::memcpy(ip + 8, src->b.data(), 16);
  transmit_ip6(m, dst, now_ms);
}

}  // namespace fulcrum::dp
