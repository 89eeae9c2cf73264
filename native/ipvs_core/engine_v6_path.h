// The IPv6 packet's pieces of the burst loop, inline: its pass-1 classification (classify6)
// and its established inbound path, which the burst loop (engine.cc) takes without a call for
// the common packet (in_established6), and engine_v6.cc for the rest (a call per IPv6 packet
// was a fifth of the IPv6 core at 10,000 connections). Everything rarer stays out of line in
// engine_v6.cc.
#pragma once

#include "engine.h"
#include "rewrite.h"

namespace fulcrum {

// Pass 1 for an IPv6 TCP/UDP packet: which way it goes, and its table hash (client side),
// prefetched (a call was 10% of the IPv6 core).
[[gnu::always_inline]] inline void Worker::classify6(const uint8_t* f, const Parsed& p, uint8_t& kind, uint64_t& hash) {
  const uint8_t* s = f + p.v6_saddr_off();
  const uint8_t* d = f + p.v6_daddr_off();
  if (!laddrs6_.empty() && laddr6_index(d) >= 0) {
    kind = kFnat6Reply;
    return;
  }
  if (snap_->may_be_virtual_v6(d)) {
    kind = kIn6;
    hash = table6_.hash(p.proto, s, p.sport);
  } else {
    kind = kOut6;
    hash = table6_.hash(p.proto, d, p.dport);
  }
  table6_.prefetch(hash);
}

// A client packet of an established IPv6 connection (slot idx): the checks, its TCP state and
// timer, the counters, then the rewrite of its forwarding method.
[[gnu::always_inline]] inline Verdict Worker::forward_in6(PacketBuf& pkt, Parsed& p, uint32_t idx, uint32_t now) {
  ConnV6& c = table6_.record(idx);
  const DestSnap& d = snap_->dest(conn_dest(c));
  if (!d.available || !conn_current(c)) return drop(DropReason::DestUnavailable);
  if (c.ext & kConn6SynProxy) [[unlikely]] {
    Verdict v;
    if (!synproxy_in6(pkt, p, c, now, v)) return v;
  }
  const Timeouts& to = snap_->timeouts();
  if (p.proto == kProtoTcp) {
    // conn_reuse_mode 1: a new SYN on a connection in TIME_WAIT starts a new connection.
    if ((p.tcp_flags & (kTcpSyn | kTcpAck | kTcpRst)) == kTcpSyn && c.state == kTcpTimeWait && !conn_plen(c)) {
      expire6(idx, now);
      return handle_new6(pkt, p, now);
    }
    const uint8_t next = tcp_next_state(c.state, (c.flags & kConnNoOutput) ? TcpDir::InOnly : TcpDir::In, p.tcp_flags);
    if (next != c.state) [[unlikely]]
      set_state(c, next, now);
    c.expires = now + to.tcp[c.state];
  } else {
    c.expires = now + to.udp;
  }
  if (sync_side_) [[unlikely]]
    sync_count6(c, now);
  count_in(conn_dest(c), p.ip_tot_len);
  switch (conn_fwd_method(c)) {
    case FwdMethod::Masq:
      nat_in_v6(pkt.data, p, d.addr.b.data(), c.dport);
      return transmit6(d.addr);
    case FwdMethod::FullNat: {
      if (d.addr.is_v4()) return nat64_in(pkt, p, c, d);
      fnat_in_v6(pkt.data, p, laddrs6_[c.fnat.laddr].b.data(), c.fnat.lport, d.addr.b.data(), c.dport);
      // TOA (DPVS's IPv6 form) on the first client segment after the SYN, as IPv4's.
      if (p.proto == kProtoTcp && !(c.flags & kConnToaSent) && !(p.tcp_flags & kTcpSyn) && (p.tcp_flags & kTcpAck)) {
        c.flags |= kConnToaSent;
        DropReason r = toa_insert_v6(pkt, p, c.caddr.b.data(), c.cport, snap_->mtu());
        if (r == DropReason::None) {
          stats_.event(Event::ToaInserted);
        } else {
          stats_.event(Event::ToaSkipped);
          stats_.drop(r);
        }
      }
      return transmit6(d.addr);
    }
    case FwdMethod::Tunnel:
      return tunnel6(pkt, p, c, d);
    case FwdMethod::Route:
    case FwdMethod::Local:
      break;
  }
  return transmit6(d.addr);  // DR: only the MACs change
}

// An inbound IPv6 packet: its entry found live (the common case) is forwarded here; anything
// else goes on out of line (process6_found: expiry, a new connection, a reply under a rule).
[[gnu::always_inline]] inline Verdict Worker::in_established6(PacketBuf& pkt, Parsed& p, uint64_t hash, uint32_t hint,
                                                              uint32_t now) {
  const uint8_t* f = pkt.data;
  const uint32_t idx =
      table6_.find_in(hash, hint, p.proto, f + p.v6_saddr_off(), p.sport, f + p.v6_daddr_off(), p.dport);
  if (idx != ConnTable6::kNone && !table6_.is_expired(idx, now)) [[likely]]
    return forward_in6(pkt, p, idx, now);
  return process6_found(pkt, p, kIn6, idx, now);
}

}  // namespace fulcrum
