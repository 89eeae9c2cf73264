// Tunnels across families: a TUN real server of the other family than its service, as the
// kernel allows since 3.18 (ip_vs_ctl.c lets only tunnel dests differ; ip_vs_xmit.c's
// ip_vs_tunnel_xmit takes an IPv6 connection to an IPv4 server, ip_vs_tunnel_xmit_v6 an IPv4
// one to an IPv6 server). The connection lives in its client's table as any other; only the
// encapsulation and the verdict's family differ, so the same-family paths pay one predictable
// test of the dest's family (already read) and nothing else.
//
// The outer source: the configured tunnel source of the outer family (tunnelSource,
// tunnelSource6) when there is one, else 0 (::) for the dataplane to put the egress port's
// address of that family there (the kernel's route source; a *Src verdict). The VIP, which
// same-family tunnels use, is of the wrong family here.
#include "engine.h"
#include "icmp.h"
#include "icmp6.h"
#include "rewrite.h"

namespace fulcrum {

// IPv6 in IPv4 (sit). Too big for the link less the outer header: packet too big to the client
// with that MTU, as the kernel's ensure_mtu_is_adequate (IPv6 is never fragmented on the way).
Verdict Worker::tunnel_6in4(PacketBuf& pkt, Parsed& p, const DestSnap& d) {
  const be32 src = snap_->tunnel_source();
  const be32 dst = d.addr.v4();
  const DropReason r = tun_encap_6in4(pkt, p, src, dst, ++ip_id_, snap_->mtu());
  if (r == DropReason::None) return {src ? Action::Transmit : Action::TransmitSrc, DropReason::None, dst};
  if (r == DropReason::TunTooBigDf) {
    const IpAddr client = IpAddr::from_v6(pkt.data + p.v6_saddr_off());
    if (icmp6_error(pkt, p, kIcmp6PacketTooBig, 0, snap_->mtu() - kIpv4HdrLen) == DropReason::None) {
      stats_.drop(r);
      stats_.event(Event::FragNeededSent);
      l2_swap_macs(pkt.data);
      return transmit6(client);
    }
  }
  return drop(r);
}

// IPv4 in IPv6 (ip6tnl ipip6). Too big with DF: fragmentation needed to the client with the
// link's MTU less the outer header. Too big without DF: the kernel fragments the outer IPv6
// packet; one frame in is one frame out here, so it is dropped and counted (TunTooBigNoDf), as
// IPIP's is.
Verdict Worker::tunnel_4in6(PacketBuf& pkt, Parsed& p, const DestSnap& d) {
  // tunnelSource6, or :: for the dataplane to fill.
  const DropReason r = tun_encap_4in6(pkt, p, snap_->tunnel_source6().b.data(), d.addr.b.data(), snap_->mtu());
  if (r == DropReason::None) return {Action::Transmit6Src, DropReason::None, 0};
  if (r == DropReason::TunTooBigDf) {
    const be32 client = p.saddr;
    const uint16_t mtu = static_cast<uint16_t>(snap_->mtu() - kIpv6HdrLen);
    if (icmp_frag_needed_v4(pkt, p, mtu, ++ip_id_) == DropReason::None) {
      stats_.drop(r);
      stats_.event(Event::FragNeededSent);
      l2_swap_macs(pkt.data);
      return {Action::Transmit, DropReason::None, client};
    }
  }
  return drop(r);
}

}  // namespace fulcrum
