// The Worker's SYN proxy for IPv6 clients: engine_synproxy.cc's handshake and seq shifts (its
// header says what each step does and why) over the IPv6 table, with cookies over the 128-bit
// addresses (syn_cookie6) and a side table of its own (synproxy6_, by table6_ slot; the held
// frames' places are shared with IPv4). The client's half is always IPv6; the server's is IPv6
// (NAT, FullNAT with IPv6 local addresses) or IPv4 (NAT64: the SYN and the ACK that completes
// the server's handshake are IPv4 segments from the connection's IPv4 local address and port).
#include <cstring>

#include "engine.h"
#include "nat64.h"
#include "rewrite.h"

namespace fulcrum {

using namespace synproxy_bits;

namespace {

// The MSS the director offers an IPv6 client: the link's less 60 bytes of headers.
uint16_t our_mss6(uint32_t mtu) { return static_cast<uint16_t>(mtu > 1500 ? 1440 : mtu - 60); }

}  // namespace

bool Worker::synproxy_accept6(PacketBuf& pkt, Parsed& p, uint32_t now, Verdict& v) {
  const uint8_t fl = p.tcp_flags & (kTcpSyn | kTcpAck | kTcpRst | kTcpFin);
  const uint8_t* f = pkt.data;
  const uint32_t seq = seq_of(f, p);
  if (fl == kTcpSyn) {
    const uint16_t mss = tcp_mss_option(f, p);
    uint32_t mi = 0;
    for (uint32_t i = 3; i > 0 && !mi; --i)
      if (mss >= kSynProxyMss[i]) mi = i;
    const uint8_t* s = f + p.v6_saddr_off();
    const uint8_t* d = f + p.v6_daddr_off();
    const uint32_t cookie = syn_cookie6(synproxy_secret_, s, d, p.sport, p.dport, seq, mi, now);
    const IpAddr client = IpAddr::from_v6(s);
    if (tcp_rebuild_v6(pkt, p, d, p.dport, s, p.sport, cookie, seq + 1, kTcpSyn | kTcpAck, our_mss6(snap_->mtu()),
                       65535) != DropReason::None) {
      v = drop(DropReason::SynProxyNoRoom);
      return false;
    }
    l2_swap_macs(pkt.data);
    stats_.event(Event::SynProxySynAck);
    v = transmit6(client);
    return false;
  }
  if (fl != kTcpAck) {
    v = drop(DropReason::NoConnection);
    return false;
  }
  if (check_syn_cookie6(synproxy_secret_, f + p.v6_saddr_off(), f + p.v6_daddr_off(), p.sport, p.dport, seq - 1,
                        ack_of(f, p) - 1, now) < 0) {
    v = drop(DropReason::SynProxyBadCookie);
    return false;
  }
  return true;
}

Verdict Worker::synproxy_open6(PacketBuf& pkt, Parsed& p, uint32_t idx, uint32_t now) {
  ConnV6& c = table6_.record(idx);
  const uint8_t* f = pkt.data;
  const uint32_t seq = seq_of(f, p), ack = ack_of(f, p);
  const int mi = check_syn_cookie6(synproxy_secret_, f + p.v6_saddr_off(), f + p.v6_daddr_off(), p.sport, p.dport,
                                   seq - 1, ack - 1, now);
  SynProxyTable::Entry* e = synproxy6_.insert(idx, ack - 1);
  if (!e) {
    release6(idx, now);
    table6_.erase(idx);
    return drop(DropReason::SynProxyTableFull);
  }
  e->delta = seq - 1;  // the client's ISN, until the server's is known
  e->known = static_cast<uint32_t>(mi < 0 ? 0 : mi) << 1 | uint32_t{ntoh16(load16(f + p.l4_off + 14))} << 16;
  c.ext |= kConn6SynProxy;
  set_state(c, kTcpSynRecv, now);
  c.expires = now + snap_->timeouts().tcp[kTcpSynRecv];
  count_in(conn_dest(c), p.ip_tot_len);
  stats_.event(Event::SynProxyOpened);
  return synproxy_syn6(pkt, p, c, *e);
}

// The SYN to the real server with the client's ISN and MSS, from the client as the server sees
// it: itself (NAT), an IPv6 local address and port (FullNAT), or an IPv4 one (NAT64: built as
// IPv6 first, then translated).
Verdict Worker::synproxy_syn6(PacketBuf& pkt, Parsed& p, const ConnV6& c, const SynProxyTable::Entry& e) {
  const DestSnap& d = snap_->dest(conn_dest(c));
  const bool fnat = conn_fwd_method(c) == FwdMethod::FullNat;
  const uint8_t* from = fnat && !d.addr.is_v4() ? laddrs6_[c.fnat.laddr].b.data() : c.caddr.b.data();
  const be16 from_port = fnat ? c.fnat.lport : c.cport;
  if (tcp_rebuild_v6(pkt, p, from, from_port, d.addr.b.data(), c.dport, e.delta, 0, kTcpSyn,
                     kSynProxyMss[mss_index(e.known)], client_window(e.known)) != DropReason::None)
    return drop(DropReason::SynProxyNoRoom);  // the client's next segment sends the SYN again
  if (!d.addr.is_v4()) return transmit6(d.addr);
  const DropReason r = nat64_6to4(pkt, p, fnat_.laddr(c.fnat.laddr), c.fnat.lport, d.addr.v4(), c.dport, ++ip_id_);
  if (r != DropReason::None) return drop(r);
  return {Action::Transmit, DropReason::None, d.addr.v4()};
}

bool Worker::synproxy_in6(PacketBuf& pkt, Parsed& p, ConnV6& c, uint32_t now, Verdict& v) {
  (void)now;
  SynProxyTable::Entry* e = synproxy6_.find(table6_.index_of(c));
  if (!e || p.proto != kProtoTcp) [[unlikely]]
    return true;
  if (e->known & kKnown) [[likely]] {
    synproxy_shift_in(pkt.data, p, e->delta);
    return true;
  }
  if (p.tcp_flags & kTcpRst) return true;
  if (p.payload_len && synproxy_hold(pkt, *e)) {
    v = {Action::Drop, DropReason::None, 0};
    return false;
  }
  if (p.payload_len) stats_.drop(DropReason::SynProxyEarly);
  v = synproxy_syn6(pkt, p, c, *e);
  return false;
}

// The server's segments: IPv6 ones, or IPv4 ones of a NAT64 connection (nat64_out).
bool Worker::synproxy_out6(PacketBuf& pkt, Parsed& p, ConnV6& c, uint32_t now, Verdict& v) {
  SynProxyTable::Entry* e = synproxy6_.find(table6_.index_of(c));
  if (!e || p.proto != kProtoTcp) [[unlikely]]
    return true;
  if (e->known & kKnown) [[likely]] {
    synproxy_shift_out(pkt.data, p, e->delta);
    return true;
  }
  const Timeouts& to = snap_->timeouts();
  const DestSnap& d = snap_->dest(conn_dest(c));
  const bool fnat = conn_fwd_method(c) == FwdMethod::FullNat;
  const uint32_t sseq = seq_of(pkt.data, p), sack = ack_of(pkt.data, p);
  if ((p.tcp_flags & (kTcpSyn | kTcpAck | kTcpRst)) == (kTcpSyn | kTcpAck) && sack == e->delta + 1) {
    // The server's SYN-ACK becomes the ACK that completes its handshake.
    const uint32_t client_isn = e->delta;
    DropReason r;
    if (p.family == 4) {
      r = tcp_rebuild_v4(pkt, p, fnat_.laddr(c.fnat.laddr), c.fnat.lport, p.saddr, p.sport, client_isn + 1, sseq + 1,
                         kTcpAck, 0, client_window(e->known));
    } else {
      const uint8_t* from = fnat ? laddrs6_[c.fnat.laddr].b.data() : c.caddr.b.data();
      r = tcp_rebuild_v6(pkt, p, from, fnat ? c.fnat.lport : c.cport, pkt.data + p.v6_saddr_off(), p.sport,
                         client_isn + 1, sseq + 1, kTcpAck, 0, client_window(e->known));
    }
    if (r != DropReason::None) {
      v = drop(DropReason::SynProxyNoRoom);
      return false;
    }
    if (fnat && !(c.flags & kConnToaSent)) {
      // The server's toa module reads the client's address from this ACK (IPv6 form: NAT64 too).
      c.flags |= kConnToaSent;
      r = toa_insert_v6(pkt, p, c.caddr.b.data(), c.cport, snap_->mtu());
      stats_.event(r == DropReason::None ? Event::ToaInserted : Event::ToaSkipped);
      if (r != DropReason::None) stats_.drop(r);
    }
    e->delta = sseq - e->cookie;
    e->known |= kKnown;
    const uint16_t release = static_cast<uint16_t>(held_of(e->known));
    e->known &= ~kHeldBits;
    c.flags &= ~kConnNoOutput;
    set_state(c, kTcpEstablished, now);
    c.expires = now + to.tcp[kTcpEstablished];
    stats_.event(Event::SynProxyJoined);
    if (p.family == 4) {
      v = {Action::Transmit, DropReason::None, d.addr.v4(), release};
    } else {
      v = transmit6(d.addr);
      v.release = release;
    }
    return false;
  }
  if (p.tcp_flags & kTcpRst) {
    // Refused by the server: the client hears a reset in its own sequence space (an IPv4 one
    // is given its IPv6 header first).
    if (p.family == 4 &&
        nat64_4to6(pkt, p, c.vaddr.b.data(), c.vport, c.caddr.b.data(), c.cport) != DropReason::None) {
      v = drop(DropReason::SynProxyNoRoom);
      return false;
    }
    if (tcp_rebuild_v6(pkt, p, c.vaddr.b.data(), c.vport, c.caddr.b.data(), c.cport, e->cookie + 1, 0, kTcpRst, 0, 0) !=
        DropReason::None) {
      v = drop(DropReason::SynProxyNoRoom);
      return false;
    }
    set_state(c, kTcpClose, now);
    c.expires = now + to.tcp[kTcpClose];
    v = transmit6(c.caddr);
    return false;
  }
  v = drop(DropReason::NoConnection);
  return false;
}

}  // namespace fulcrum
