// The Worker's NAT64 connections: FullNAT from an IPv6 client to an IPv4 real server. The entry
// lives in the IPv6 table (the client's side) and holds an IPv4 local address and port from the
// IPv4 pool, whose owner word marks it (kNat64Owner) so the server's IPv4 reply, found by that
// pool as every FullNAT reply is, is handed here. The header translation is nat64.cc's.
#include "engine.h"
#include "nat64.h"
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

// ICMP errors about a NAT64 connection would need ICMP <-> ICMPv6 translation of the error and
// its quote (RFC 7915 §4.2, §5.2); not done: counted and dropped.
Verdict Worker::nat64_icmp(PacketBuf&, Parsed&, uint32_t, uint32_t) { return drop(DropReason::Nat64Icmp); }

}  // namespace fulcrum
