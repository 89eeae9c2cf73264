// The Worker's NAT64 connections: FullNAT from an IPv6 client to an IPv4 real server. The entry
// lives in the IPv6 table (the client's side) and holds an IPv4 local address and port from the
// IPv4 pool, whose owner word marks it (kNat64Owner) so the server's IPv4 reply, found by that
// pool as every FullNAT reply is, is handed here. The header translation is nat64.cc's, that of
// ICMP errors about the connection nat64_icmp.cc's.
#include "engine.h"
#include "nat64.h"
#include "nat64_icmp.h"
#include "rewrite.h"

namespace fulcrum {

Verdict Worker::nat64_in(PacketBuf& pkt, Parsed& p, ConnV6& c, const DestSnap& d) {
  const be32 rip = d.addr.v4();
  DropReason r = nat64_6to4(pkt, p, fnat_.laddr(c.fnat.laddr), c.fnat.lport, rip, c.dport, ++ip_id_);
  if (r != DropReason::None) return drop(r);
  // The server learns its IPv6 client from TOA's IPv6 form (DPVS's toa reads it for NAT64).
  if (p.proto == kProtoTcp && !(c.flags & kConnToaSent) && !(p.tcp_flags & kTcpSyn) && (p.tcp_flags & kTcpAck)) {
    c.flags |= kConnToaSent;
    r = toa_insert_v6(pkt, p, c.caddr.b.data(), c.cport, snap_->mtu());
    if (r == DropReason::None) {
      stats_.event(Event::ToaInserted);
    } else {
      stats_.event(Event::ToaSkipped);
      stats_.drop(r);
    }
  }
  return {Action::Transmit, DropReason::None, rip};
}

Verdict Worker::nat64_out(PacketBuf& pkt, Parsed& p, uint32_t idx, uint32_t now) {
  ConnV6& c = table6_.record(idx);
  const DestSnap& d = snap_->dest(conn_dest(c));
  if (!d.addr.is_v4() || d.addr.v4() != p.saddr || c.dport != p.sport || c.proto != p.proto)
    return drop(DropReason::NoConnection);
  if (table6_.is_expired(idx, now)) {
    expire6(idx, now);
    return drop(DropReason::NoConnection);
  }
  if (!d.available || !conn_current(c)) return drop(DropReason::DestUnavailable);
  if (c.ext & kConn6SynProxy) [[unlikely]] {
    Verdict v;
    if (!synproxy_out6(pkt, p, c, now, v)) return v;
  }
  const Timeouts& to = snap_->timeouts();
  if (p.proto == kProtoTcp) {
    set_state(c, tcp_next_state(c.state, TcpDir::Out, p.tcp_flags), now);
    c.expires = now + to.tcp[c.state];
  } else {
    c.expires = now + to.udp;
  }
  count_out(conn_dest(c), p.ip_tot_len);
  DropReason r = nat64_4to6(pkt, p, c.vaddr.b.data(), c.vport, c.caddr.b.data(), c.cport);
  if (r != DropReason::None) return drop(r);
  return transmit6(c.caddr);
}

// An ICMP error about a NAT64 connection, translated for the other side (nat64_icmp.h). From
// the IPv4 side (handle_icmp found the connection by the quote's local address and port): to
// the client as ICMPv6 from the VIP, quoting the client's own packet. From the client
// (handle_icmp6 found it by the quoted reply): to the server as ICMPv4 from the local address,
// quoting the server's reply as it sent it, as IPv4 FullNAT relays such errors. What RFC 7915
// does not translate is dropped as nat64_icmp.
Verdict Worker::nat64_icmp(PacketBuf& pkt, Parsed& p, uint32_t idx, uint32_t now) {
  const ConnV6& c = table6_.record(idx);
  const DestSnap& d = snap_->dest(conn_dest(c));
  const uint32_t info = ntoh32(load32(pkt.data + p.l4_off + 4));
  if (p.family == 4) {
    const InnerTuple& in = p.inner;
    if (!d.addr.is_v4() || in.daddr != d.addr.v4() || in.dport != c.dport || in.proto != c.proto ||
        table6_.is_expired(idx, now)) {
      stats_.event(Event::ToKernel);  // quotes no connection of ours: the host's
      return {Action::Kernel, DropReason::None, 0};
    }
    if (!d.available || !conn_current(c)) return drop(DropReason::DestUnavailable);
    const IcmpXlat x =
        icmp4_to_icmp6(p.icmp_type, p.icmp_code, info, ntoh16(load16(pkt.data + in.l3_off + 2)), snap_->mtu());
    if (!x.ok) return drop(DropReason::Nat64Icmp);
    const uint8_t* vip = c.vaddr.b.data();
    const uint8_t* cip = c.caddr.b.data();
    const DropReason r = nat64_icmp_4to6(pkt, p, x, {vip, cip, cip, vip, c.cport, c.vport});
    if (r != DropReason::None) return drop(r);
    stats_.event(Event::IcmpRelated);
    count_out(conn_dest(c), p.ip_tot_len);
    return transmit6(c.caddr);
  }
  const IcmpXlat x = icmp6_to_icmp4(p.icmp_type, p.icmp_code, info, snap_->mtu());
  if (!x.ok) return drop(DropReason::Nat64Icmp);
  const be32 lip = fnat_.laddr(c.fnat.laddr), rip = d.addr.v4();
  const DropReason r = nat64_icmp_6to4(pkt, p, x, {lip, rip, rip, lip, c.dport, c.fnat.lport, ++ip_id_});
  if (r != DropReason::None) return drop(r);
  stats_.event(Event::IcmpRelated);
  count_in(conn_dest(c), p.ip_tot_len);
  return {Action::Transmit, DropReason::None, rip};
}

}  // namespace fulcrum
