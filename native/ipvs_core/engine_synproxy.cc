// The Worker's SYN proxy (synproxy.h says what it is): a service's SYN answered with a cookie and
// no entry; the ACK that returns a valid cookie scheduled like a SYN elsewhere, and sent to the
// real server as the SYN, with the client's ISN and MSS; the server's SYN-ACK turned into the ACK
// that completes its handshake; every later segment shifted by the difference of the two ISNs.
// A proxied connection's side entry (SynProxyTable) holds the cookie and, until the server
// answers, the client's ISN in place of the delta; its bits: 1 = delta known, 2-3 = the cookie's
// MSS index, 4-11 = a held frame's place + 1, 16-31 = the client's window.
#include <cstring>

#include "engine.h"
#include "rewrite.h"

namespace fulcrum {

using namespace synproxy_bits;

namespace {

// The client as its real server sees it: itself under NAT, the local address and port under FullNAT.
struct Side {
  be32 addr;
  be16 port;
};
Side client_side(const ConnV4& c, const FnatPool& fnat) {
  if (conn_fwd_method(c) == FwdMethod::FullNat) return {fnat.laddr(c.fnat.laddr), c.fnat.lport};
  return {c.caddr, c.cport};
}

}  // namespace

// A frame held for the server's answer is this process's memory: it does not travel, the client
// sends it again.
namespace {
// Both families' saved entries carry the side entry in the same four words.
template <class Saved>
bool export_proxy(SynProxyTable& t, uint32_t idx, Saved& s) {  // find() is not const
  const SynProxyTable::Entry* e = t.find(idx);
  if (!e) return false;
  s.proxied = 1;
  s.proxy_cookie = e->cookie;
  s.proxy_delta = e->delta;
  s.proxy_bits = e->known & ~kHeldBits;
  return true;
}
template <class Saved>
bool import_proxy(SynProxyTable& t, uint32_t idx, const Saved& s) {
  SynProxyTable::Entry* e = t.insert(idx, s.proxy_cookie);
  if (!e) return false;
  e->delta = s.proxy_delta;
  e->known = s.proxy_bits & ~kHeldBits;
  return true;
}
}  // namespace

bool Worker::synproxy_export(uint32_t idx, restart::SavedConn& s) { return export_proxy(synproxy_, idx, s); }
bool Worker::synproxy6_export(uint32_t idx, restart::SavedConn6& s) { return export_proxy(synproxy6_, idx, s); }

bool Worker::synproxy_import(uint32_t idx, const restart::SavedConn& s) {
  if (!import_proxy(synproxy_, idx, s)) return false;
  table_.record(idx).tmpl_plen |= kConnSynProxy;
  return true;
}
bool Worker::synproxy6_import(uint32_t idx, const restart::SavedConn6& s) {
  if (!import_proxy(synproxy6_, idx, s)) return false;
  table6_.record(idx).ext |= kConn6SynProxy;
  return true;
}

// Keeps a client's first data frame (one per connection) for when the server has answered, in
// one of the places both families share; false when none is free or it is too big.
bool Worker::synproxy_hold(const PacketBuf& pkt, SynProxyTable::Entry& e) {
  if (held_of(e.known) || !nfree_held_ || pkt.len > kHeldFrameBytes) return false;
  const uint8_t place = free_held_[--nfree_held_];
  std::memcpy(held_.get() + size_t{place} * kHeldFrameBytes, pkt.data, pkt.len);
  held_len_[place] = pkt.len;
  e.known |= uint32_t{place + 1u} << 3;
  stats_.event(Event::SynProxyHeld);
  return true;
}

bool Worker::synproxy_accept(PacketBuf& pkt, Parsed& p, uint32_t now, Verdict& v) {
  const uint8_t fl = p.tcp_flags & (kTcpSyn | kTcpAck | kTcpRst | kTcpFin);
  const uint32_t seq = seq_of(pkt.data, p);
  if (fl == kTcpSyn) {
    const uint16_t mss = tcp_mss_option(pkt.data, p);
    uint32_t mi = 0;
    for (uint32_t i = 3; i > 0 && !mi; --i)
      if (mss >= kSynProxyMss[i]) mi = i;
    const uint32_t cookie = syn_cookie(synproxy_secret_, p.saddr, p.daddr, p.sport, p.dport, seq, mi, now);
    const be32 client = p.saddr;
    const uint32_t our_mss = snap_->mtu() > 1500 ? 1460 : snap_->mtu() - 40;
    if (tcp_rebuild_v4(pkt, p, p.daddr, p.dport, p.saddr, p.sport, cookie, seq + 1, kTcpSyn | kTcpAck,
                       static_cast<uint16_t>(our_mss), 65535) != DropReason::None) {
      v = drop(DropReason::SynProxyNoRoom);
      return false;
    }
    l2_swap_macs(pkt.data);
    stats_.event(Event::SynProxySynAck);
    v = {Action::Transmit, DropReason::None, client};
    return false;
  }
  if (fl != kTcpAck) {
    v = drop(DropReason::NoConnection);
    return false;
  }
  if (check_syn_cookie(synproxy_secret_, p.saddr, p.daddr, p.sport, p.dport, seq - 1, ack_of(pkt.data, p) - 1, now) <
      0) {
    v = drop(DropReason::SynProxyBadCookie);
    return false;
  }
  return true;
}

Verdict Worker::synproxy_open(PacketBuf& pkt, Parsed& p, uint32_t idx, uint32_t now) {
  ConnV4& c = table_.record(idx);
  const uint32_t seq = seq_of(pkt.data, p), ack = ack_of(pkt.data, p);
  const int mi = check_syn_cookie(synproxy_secret_, p.saddr, p.daddr, p.sport, p.dport, seq - 1, ack - 1, now);
  SynProxyTable::Entry* e = synproxy_.insert(idx, ack - 1);
  if (!e) {
    release(idx, now);
    table_.erase(idx);
    return drop(DropReason::SynProxyTableFull);
  }
  e->delta = seq - 1;  // the client's ISN, until the server's is known
  e->known = static_cast<uint32_t>(mi < 0 ? 0 : mi) << 1 | uint32_t{ntoh16(load16(pkt.data + p.l4_off + 14))} << 16;
  c.tmpl_plen |= kConnSynProxy;
  set_state(c, kTcpSynRecv, now);  // half-open until the server answers
  c.expires = now + snap_->timeouts().tcp[kTcpSynRecv];
  count_in(conn_dest(c), p.ip_tot_len);
  stats_.event(Event::SynProxyOpened);
  return synproxy_syn(pkt, p, c, *e);
}

// The SYN to the real server, with the client's ISN and MSS, made of whatever segment of the
// client's is at hand (the cookie ACK, or a later one when the first SYN may have been lost).
Verdict Worker::synproxy_syn(PacketBuf& pkt, Parsed& p, const ConnV4& c, const SynProxyTable::Entry& e) {
  const Side from = client_side(c, fnat_);
  if (tcp_rebuild_v4(pkt, p, from.addr, from.port, c.daddr, c.dport, e.delta, 0, kTcpSyn, kSynProxyMss[mss_index(e.known)],
                     client_window(e.known)) != DropReason::None)
    return drop(DropReason::SynProxyNoRoom);  // the client's next segment sends the SYN again
  return {Action::Transmit, DropReason::None, c.daddr};
}

bool Worker::synproxy_in(PacketBuf& pkt, Parsed& p, ConnV4& c, uint32_t now, Verdict& v) {
  (void)now;
  SynProxyTable::Entry* e = synproxy_.find(table_.index_of(c));
  if (!e || p.proto != kProtoTcp) [[unlikely]]
    return true;
  if (e->known & kKnown) [[likely]] {
    synproxy_shift_in(pkt.data, p, e->delta);
    return true;
  }
  if (p.tcp_flags & kTcpRst) return true;  // the client gives up: the server may hear it as it is
  // Its first data is kept for when the server has answered, as DPVS keeps it.
  if (p.payload_len && synproxy_hold(pkt, *e)) {
    v = {Action::Drop, DropReason::None, 0};  // kept, not lost
    return false;
  }
  // The server has not answered yet: our SYN may have been lost. Whatever the client sends
  // (its ACK again, or data the client will send again once acknowledged) goes as the SYN again.
  if (p.payload_len) stats_.drop(DropReason::SynProxyEarly);
  v = synproxy_syn(pkt, p, c, *e);
  return false;
}

bool Worker::synproxy_out(PacketBuf& pkt, Parsed& p, ConnV4& c, uint32_t now, Verdict& v) {
  SynProxyTable::Entry* e = synproxy_.find(table_.index_of(c));
  if (!e || p.proto != kProtoTcp) [[unlikely]]
    return true;
  if (e->known & kKnown) [[likely]] {
    synproxy_shift_out(pkt.data, p, e->delta);
    return true;
  }
  const Timeouts& to = snap_->timeouts();
  const uint32_t sseq = seq_of(pkt.data, p), sack = ack_of(pkt.data, p);
  if ((p.tcp_flags & (kTcpSyn | kTcpAck | kTcpRst)) == (kTcpSyn | kTcpAck) && sack == e->delta + 1) {
    // The server's SYN-ACK: it becomes the ACK that completes the server's handshake, and the
    // client's half is joined to it.
    const uint32_t client_isn = e->delta;
    const be32 server = p.saddr;
    if (tcp_rebuild_v4(pkt, p, client_side(c, fnat_).addr, client_side(c, fnat_).port, p.saddr, p.sport, client_isn + 1,
                       sseq + 1, kTcpAck, 0, client_window(e->known)) != DropReason::None) {
      v = drop(DropReason::SynProxyNoRoom);
      return false;
    }
    if (conn_fwd_method(c) == FwdMethod::FullNat && !(c.flags & kConnToaSent)) {
      // The toa module reads the client's address from the ACK that completes the handshake.
      c.flags |= kConnToaSent;
      DropReason r = toa_insert_v4(pkt, p, c.caddr, c.cport, snap_->mtu());
      stats_.event(r == DropReason::None ? Event::ToaInserted : Event::ToaSkipped);
      if (r != DropReason::None) stats_.drop(r);
    }
    e->delta = sseq - e->cookie;
    e->known |= kKnown;
    // What the client sent meanwhile follows the ACK (the verdict's caller sends it on).
    v.release = static_cast<uint16_t>(held_of(e->known));
    e->known &= ~kHeldBits;
    c.flags &= ~kConnNoOutput;
    set_state(c, kTcpEstablished, now);
    c.expires = now + to.tcp[kTcpEstablished];
    stats_.event(Event::SynProxyJoined);
    v = {Action::Transmit, DropReason::None, server, v.release};
    return false;
  }
  if (p.tcp_flags & kTcpRst) {
    // Refused by the server: the client hears a reset in its own sequence space.
    const be32 client = c.caddr;
    if (tcp_rebuild_v4(pkt, p, c.vaddr, c.vport, c.caddr, c.cport, e->cookie + 1, 0, kTcpRst, 0, 0) !=
        DropReason::None) {
      v = drop(DropReason::SynProxyNoRoom);
      return false;
    }
    set_state(c, kTcpClose, now);
    c.expires = now + to.tcp[kTcpClose];
    v = {Action::Transmit, DropReason::None, client};
    return false;
  }
  v = drop(DropReason::NoConnection);
  return false;
}

void Worker::drop_held(uint32_t bits) {
  if (const uint32_t h = held_of(bits)) {
    held_len_[h - 1] = 0;
    free_held_[nfree_held_++] = static_cast<uint8_t>(h - 1);
  }
}

bool Worker::take_held(uint16_t release, PacketBuf& out) {
  if (release == 0 || release > kHeldFrames || !held_len_[release - 1]) return false;
  const uint32_t place = release - 1u;
  std::memcpy(out.data, held_.get() + size_t{place} * kHeldFrameBytes, held_len_[place]);
  out.len = held_len_[place];
  held_len_[place] = 0;
  free_held_[nfree_held_++] = static_cast<uint8_t>(place);
  return true;
}

}  // namespace fulcrum
