// The Worker's IPv6 packet path: IPv6 TCP/UDP packets take the burst's passes like IPv4 ones
// (classify6 in engine_v6_path.h hashes and prefetches in pass 1, pass 2 prefetches their record
// line) but are acted on here, out of the IPv4 loop: lookups in the IPv6 table, new connections,
// NAT, DR, TUN (IPv6-in-IPv6), FullNAT with IPv6 local addresses, NAT64 (FullNAT to IPv4 real
// servers, nat64.cc does the translation), ICMPv6 and expiry of IPv6 entries. The verdict of an
// IPv6 frame is Transmit6 with its destination in route6_ (transmit6). The kernel's semantics are
// those of its IPv4 path (reference §3) with the IPv6 differences: -M is a prefix length, no
// fragmentation on the way (packet too big instead), hashing schedulers fold the four words.
#include <algorithm>

#include "engine.h"
#include "engine_v6_path.h"
#include "icmp6.h"
#include "nat64.h"
#include "rewrite.h"

namespace fulcrum {

namespace {

constexpr uint32_t kExpireLaterTicks = secs_to_ticks(kExpireLaterSecs);

inline bool is_tcp_udp(uint8_t proto) { return proto == kProtoTcp || proto == kProtoUdp; }

// The unspecified address and multicast ones are never a source (RFC 4291 2.5.2, 2.7): nothing
// is scheduled for them and nothing answers them.
bool bad_source6(const uint8_t* a) {
  static constexpr uint8_t kZero[16] = {};
  return a[0] == 0xff || std::memcmp(a, kZero, 16) == 0;
}

SchedPacket sched_packet_v6(const uint8_t* f, const Parsed& p) {
  SchedPacket sp;
  sp.saddr = IpAddr::from_v6(f + p.v6_saddr_off());
  sp.daddr = IpAddr::from_v6(f + p.v6_daddr_off());
  sp.sport = ntoh16(p.sport);
  sp.dport = ntoh16(p.dport);
  return sp;
}

}  // namespace

int Worker::laddr6_index(const uint8_t* a) const {
  for (uint32_t i = 0; i < laddrs6_.size() && i < FnatPool::kMaxAddrs; ++i)
    if (ConnTable6::same(laddrs6_[i], a)) return static_cast<int>(i);
  return -1;
}

// A reply from a NAT real server: the entry of (client, cport) whose dest is the sender.
uint32_t Worker::find_out6(uint8_t proto, const uint8_t* caddr, be16 cport, const uint8_t* daddr, be16 dport) const {
  return table6_.find(table6_.hash(proto, caddr, cport), [&](const ConnV6& r) {
    return r.cport == cport && r.dport == dport && r.proto == proto && !(r.flags & kConnTemplate) &&
           (r.flags & kConnFwdMask) != static_cast<uint8_t>(FwdMethod::FullNat) &&
           ConnTable6::same(r.caddr, caddr) && ConnTable6::same(snap_->dest(conn_dest(r)).addr, daddr);
  });
}

// The established paths: forward_in6 is in engine_v6_path.h (the burst loop inlines it too).
[[gnu::always_inline]] inline Verdict Worker::forward_out6(PacketBuf& pkt, Parsed& p, uint32_t idx, uint32_t now) {
  ConnV6& c = table6_.record(idx);
  const DestSnap& d = snap_->dest(conn_dest(c));
  // A FullNAT reply was found by local port alone: make sure it comes from the real server.
  if (conn_fwd_method(c) == FwdMethod::FullNat &&
      (!ConnTable6::same(d.addr, pkt.data + p.v6_saddr_off()) || c.dport != p.sport || c.proto != p.proto))
    return drop(DropReason::NoConnection);
  if (!d.available || !conn_current(c)) return drop(DropReason::DestUnavailable);
  if (c.ext & kConn6SynProxy) [[unlikely]] {
    Verdict v;
    if (!synproxy_out6(pkt, p, c, now, v)) return v;
  }
  const Timeouts& to = snap_->timeouts();
  if (p.proto == kProtoTcp) {
    c.flags &= ~kConnNoOutput;
    const uint8_t next = tcp_next_state(c.state, TcpDir::Out, p.tcp_flags);
    if (next != c.state) [[unlikely]]
      set_state(c, next, now);
    c.expires = now + to.tcp[c.state];
  } else {
    c.expires = now + to.udp;
  }
  count_out(conn_dest(c), p.ip_tot_len);
  if (conn_fwd_method(c) == FwdMethod::FullNat)
    fnat_out_v6(pkt.data, p, c.vaddr.b.data(), c.vport, c.caddr.b.data(), c.cport);
  else
    nat_out_v6(pkt.data, p, c.vaddr.b.data(), c.vport);
  return transmit6(c.caddr);
}

// Pass 3 for an IPv6 TCP/UDP reply (kOut6, kFnat6Reply); in_established6 takes inbound ones.
Verdict Worker::process6(PacketBuf& pkt, Parsed& p, uint8_t kind, uint32_t now) {
  const uint8_t* f = pkt.data;
  const uint8_t* d = f + p.v6_daddr_off();
  const uint32_t idx = kind == kOut6 ? find_out6(p.proto, d, p.dport, f + p.v6_saddr_off(), p.sport)
                                     : fnat6_.lookup_at(static_cast<uint8_t>(laddr6_index(d)), p.dport);
  return process6_found(pkt, p, kind, idx, now);
}

// The rest of pass 3 once the lookup has answered (idx: the entry, or kNone).
Verdict Worker::process6_found(PacketBuf& pkt, Parsed& p, uint8_t kind, uint32_t idx, uint32_t now) {
  const uint8_t* f = pkt.data;
  const uint8_t* s = f + p.v6_saddr_off();
  const uint8_t* d = f + p.v6_daddr_off();
  if (idx != ConnTable6::kNone && table6_.is_expired(idx, now)) [[unlikely]] {
    expire6(idx, now);
    idx = ConnTable6::kNone;
  }
  if (idx == ConnTable6::kNone) {
    if (kind == kFnat6Reply) return drop(DropReason::NoConnection);
    if (kind == kOut6) {
      stats_.event(Event::ToKernel);
      return {Action::Kernel, DropReason::None, 0};
    }
    if (snap_->has_rules6()) {
      // Under a match rule every packet looks inbound: a reply is looked up second (engine.cc).
      uint32_t o = find_out6(p.proto, d, p.dport, s, p.sport);
      if (o != ConnTable6::kNone) {
        if (!table6_.is_expired(o, now)) return forward_out6(pkt, p, o, now);
        expire6(o, now);
      }
    }
    return handle_new6(pkt, p, now);
  }
  return kind == kIn6 ? forward_in6(pkt, p, idx, now) : forward_out6(pkt, p, idx, now);
}

// IPv6-in-IPv6 to the real server, from the VIP the client addressed; too big for the link:
// packet too big back to the client (IPv6 is never fragmented on the way), as the kernel's
// ensure_mtu_is_adequate does for its IPv6 tunnels.
Verdict Worker::tunnel6(PacketBuf& pkt, Parsed& p, const ConnV6& c, const DestSnap& d) {
  if (d.addr.is_v4()) [[unlikely]]
    return tunnel_6in4(pkt, p, d);
  const IpAddr& ts = snap_->tunnel_source6();
  DropReason r = tun_encap_v6(pkt, p, (ts == IpAddr{} ? c.vaddr : ts).b.data(), d.addr.b.data(), snap_->mtu());
  if (r == DropReason::None) return transmit6(d.addr);
  if (r == DropReason::TunTooBigDf) {
    const IpAddr client = IpAddr::from_v6(pkt.data + p.v6_saddr_off());
    if (icmp6_error(pkt, p, kIcmp6PacketTooBig, 0, snap_->mtu() - kIpv6HdrLen) == DropReason::None) {
      stats_.drop(r);
      stats_.event(Event::FragNeededSent);
      l2_swap_macs(pkt.data);
      return transmit6(client);
    }
  }
  return drop(r);
}

Verdict Worker::handle_new6(PacketBuf& pkt, Parsed& p, uint32_t now) {
  const uint8_t* f = pkt.data;
  if (bad_source6(f + p.v6_saddr_off())) [[unlikely]]
    return drop(DropReason::Ipv6BadSource);
  const ServiceSnap* svc = nullptr;
  if (snap_->has_rules6()) {
    if (uint32_t mark = snap_->mark_v6(p.proto, f + p.v6_daddr_off(), p.dport)) svc = snap_->find_fwmark6(mark);
  }
  if (!svc) svc = snap_->find_v6(p.proto, f + p.v6_daddr_off(), p.dport);
  if (!svc || backup_only_) [[unlikely]] {
    stats_.event(Event::ToKernel);
    return {Action::Kernel, DropReason::None, 0};
  }
  // As handle_new (engine.cc): under a SYN proxy the ACK that returns a valid cookie starts the
  // connection (engine_synproxy6.cc), otherwise only a SYN does (or any segment but a RST with
  // sloppy_tcp).
  bool proxied = false;
  if ((svc->flags & kSvcSynProxy) && p.proto == kProtoTcp) [[unlikely]] {
    Verdict v;
    if (!synproxy_accept6(pkt, p, now, v)) return v;
    proxied = true;
  } else if (p.proto == kProtoTcp && (p.tcp_flags & (kTcpSyn | kTcpRst)) != kTcpSyn) {
    if ((p.tcp_flags & kTcpRst) || !snap_->sloppy_tcp()) return drop(DropReason::NoConnection);
    stats_.event(Event::SloppyTcp);
  }
  const SchedPacket sp = sched_packet_v6(f, p);
  uint8_t plen = 0;
  DestId did = (svc->flags & kSvcPersistent) ? schedule_persistent6(*svc, sp, p.proto, p.dport, now, plen)
                                             : schedule(*svc, sp, now);
  if (did == kNoDest) return no_dest6(pkt, p);
  const DestSnap& d = snap_->dest(did);

  ConnV6 c{};
  c.proto = p.proto;
  c.caddr = sp.saddr;
  c.cport = p.sport;
  c.vaddr = sp.daddr;
  c.vport = p.dport;
  bool keep_port = d.port == 0 || ((svc->flags & kSvcPersistent) && hton16(svc->port) != p.dport);
  c.dport = keep_port ? p.dport : hton16(d.port);
  set_conn_dest(c, did);
  c.flags = static_cast<uint8_t>(d.fwd);
  if (d.fwd == FwdMethod::Route || d.fwd == FwdMethod::Tunnel) c.flags |= kConnNoOutput;
  c.tmpl_plen = plen;
  set_conn_dest_tag(c, d.incarnation);
  c.state = p.proto == kProtoTcp ? kTcpNone : kStateUdp;
  const bool limited = d.u_threshold != 0;
  if (limited) c.flags |= kConnLimited;
  if (proxied && d.fwd != FwdMethod::Masq && d.fwd != FwdMethod::FullNat) [[unlikely]] {
    // The seq shifts need both directions through the director: NAT, FullNAT and NAT64 only.
    unbind_conn(did, false, limited);
    if (plen) template_child_gone6(c, now);
    return drop(DropReason::SynProxyNotNat);
  }

  if (svc->flags & kSvcOnePacket) {
    unbind_conn(did, false, limited);
    if (d.fwd == FwdMethod::FullNat) return drop(DropReason::FnatOnePacket);
    count_conn(did);
    count_in(did, p.ip_tot_len);
    if (d.fwd == FwdMethod::Masq) nat_in_v6(pkt.data, p, d.addr.b.data(), c.dport);
    if (d.fwd == FwdMethod::Tunnel) return tunnel6(pkt, p, c, d);
    return transmit6(d.addr);
  }

  c.expires = now + secs_to_ticks(kNewConnTimeoutSecs);
  if (table6_.full()) [[unlikely]]
    half_open6_ && evict_half_open6(now, false);
  uint32_t idx = table6_.insert(c);
  if (idx == ConnTable6::kNone) {
    unbind_conn(did, false, limited);
    if (plen) template_child_gone6(c, now);
    return drop(DropReason::TableFull);
  }
  ConnV6& rc = table6_.record(idx);
  if (d.fwd == FwdMethod::FullNat) {
    // NAT64 takes an IPv4 local address (the server answers to it), IPv6 servers an IPv6 one.
    FnatPool& pool = d.addr.is_v4() ? fnat_ : fnat6_;
    const uint32_t owner = d.addr.is_v4() ? (idx | kNat64Owner) : idx;
    uint8_t laddr;
    be16 lport;
    if (!pool.alloc(owner, laddr, lport)) {
      table6_.erase(idx);
      unbind_conn(did, false, limited);
      if (plen) template_child_gone6(c, now);
      return drop(DropReason::FnatPortsExhausted);
    }
    rc.fnat.laddr = laddr;
    rc.fnat.lport = lport;
  }
  count_conn(did);
  if (proxied) return synproxy_open6(pkt, p, idx, now);
  return forward_in6(pkt, p, idx, now);
}

// No usable real server: ICMPv6 port unreachable to the client, as the kernel's
// icmpv6_send(ICMPV6_DEST_UNREACH, ICMPV6_PORT_UNREACH).
Verdict Worker::no_dest6(PacketBuf& pkt, Parsed& p) {
  stats_.drop(DropReason::NoDestination);
  const IpAddr client = IpAddr::from_v6(pkt.data + p.v6_saddr_off());
  if (icmp6_error(pkt, p, kIcmp6DestUnreach, kIcmp6PortUnreach, 0) == DropReason::None) {
    stats_.event(Event::PortUnreachSent);
    l2_swap_macs(pkt.data);
    Verdict v = transmit6(client);
    v.reason = DropReason::NoDestination;
    return v;
  }
  return {Action::Drop, DropReason::NoDestination, 0};
}

// ---- persistence -----------------------------------------------------------------------------

// A template's key: -M's prefix of the client, the VIP (fwmark services: the mark's stand-in,
// protocol 0) and port (0 for port-0, port-21 and fwmark services), as the kernel keys them.
Worker::TemplateKey6 Worker::template_key6(const ServiceSnap& svc, uint8_t proto, const IpAddr& caddr, uint32_t plen,
                                           const IpAddr& vaddr, be16 vport) {
  return {static_cast<uint8_t>(svc.fwmark ? 0 : proto), ip6_prefix(caddr, plen),
          svc.fwmark ? mark_addr6(svc.fwmark) : vaddr,
          static_cast<be16>((svc.fwmark || svc.port == 0 || svc.port == 21) ? 0 : vport)};
}

// As schedule_persistent (engine_schedule.cc) with the client prefix of -M's length, and the
// same director-wide tie (shared_affinity.h, key6): a client whose connections land on several
// workers reaches one real server, and one worker's template is the one that counts.
DestId Worker::schedule_persistent6(const ServiceSnap& svc, const SchedPacket& sp, uint8_t proto, be16 dport,
                                    uint32_t now, uint8_t& plen_out) {
  const TemplateKey6 k = template_key6(svc, proto, sp.saddr, svc.plen6, sp.daddr, dport);
  const uint64_t h = table6_.hash(k.proto, k.net, 0);
  const uint32_t t = table6_.find_template(h, k.proto, k.net, k.vaddr, k.vport);
  plen_out = static_cast<uint8_t>(svc.plen6 + 1);
  SharedAffinity& aff = shared_->affinity();
  const uint64_t akey = aff.key6(k.proto, k.net, k.vaddr, k.vport);
  if (t != ConnTable6::kNone) {
    ConnV6& tc = table6_.record(t);
    const DestSnap& d = snap_->dest(conn_dest(tc));
    uint32_t until;
    const bool valid = (!table6_.is_expired(t, now) || tie_holds(tc, now, until)) && d.available &&
                       d.svc == svc.id && conn_current(tc) && !(snap_->expire_quiescent_template() && d.weight == 0);
    if (valid) {
      ++tc.children;
      tc.expires = now + svc.persist_ticks;
      aff.refresh(akey, tc.expires + tie_margin(tc));
      const DestId did = conn_dest(tc);
      bind_to(did, false);  // a template's connection: whatever the threshold (kernel)
      return did;
    }
    tc.vport = 0xffff;  // re-keyed out of the way, left to die (kernel: dport 0xffff)
    tc.children = 0;
    if (table6_.is_expired(t, now)) expire6(t, now);
  }
  // No template here: another worker's tie, if it holds, is the client's template; otherwise
  // schedule and tie the client unless another worker tied it first (engine_schedule.cc).
  auto usable = [&](SharedAffinity::Hit a) {
    const DestSnap& d = snap_->dest(a.dest);
    return d.available && d.svc == svc.id && static_cast<uint8_t>(d.incarnation) == a.tag &&
           !(snap_->expire_quiescent_template() && d.weight == 0);
  };
  SharedAffinity::Hit tie;
  DestId did;
  bool counted = false;
  if (aff.find(akey, now, tie) && usable(tie)) {
    did = tie.dest;
    bind_to(did, false);
    aff.refresh(akey, now + svc.persist_ticks + kTieMarginTicks);
  } else {
    did = schedule(svc, sp, now);
    if (did == kNoDest) return kNoDest;
    const SharedAffinity::Hit mine{did, static_cast<uint8_t>(snap_->dest(did).incarnation)};
    tie = aff.claim(akey, mine, now, now + svc.persist_ticks, usable, counted);
    counted |= tie.dest == kNoDest;  // no room for a tie: this template is all there is
    if (tie.dest != kNoDest && tie.dest != did) {
      unbind_conn(did, false, snap_->dest(did).u_threshold != 0);
      did = tie.dest;
      bind_to(did, false);
    }
    if (tie.dest != kNoDest && !counted) aff.refresh(akey, now + svc.persist_ticks + kTieMarginTicks);
  }
  const DestSnap& d = snap_->dest(did);
  ConnV6 tc{};
  tc.proto = k.proto;
  tc.caddr = k.net;
  tc.cport = 0;
  tc.vaddr = k.vaddr;
  tc.vport = k.vport;
  tc.dport = hton16(d.port);
  set_conn_dest(tc, did);
  tc.flags = static_cast<uint8_t>(d.fwd) | kConnTemplate | (counted ? kConnCounted : 0);
  set_conn_dest_tag(tc, d.incarnation);
  tc.state = kTcpNone;
  tc.children = 1;
  tc.expires = now + svc.persist_ticks;
  if (table6_.full()) [[unlikely]]
    half_open6_ && evict_half_open6(now, false);
  if (table6_.insert(h, tc) == ConnTable6::kNone) {
    stats_.drop(DropReason::TableFull);
    plen_out = 0;
    return did;
  }
  if (counted) {
    ++load_[did].persist;
    shared_->dest(did).bind_template(d, d.u_threshold ? elsewhere(did) : 0);
  }
  stats_.event(Event::TemplateCreated);
  return did;
}

uint32_t Worker::tie_margin(const ConnV6& tc) { return (tc.flags & kConnCounted) ? 0 : kTieMarginTicks; }

uint64_t Worker::tie_key(const ConnV6& tc) const { return shared_->affinity().key6(tc.proto, tc.caddr, tc.vaddr, tc.vport); }

// Whether the client's director-wide tie still names this counted template's server, and until
// when (engine_schedule.cc's tie_holds for IPv6 templates).
bool Worker::tie_holds(const ConnV6& tc, uint32_t now, uint32_t& until) {
  if (!(tc.flags & kConnCounted)) return false;
  SharedAffinity::Hit h;
  if (!shared_->affinity().find(tie_key(tc), now, h)) return false;
  if (h.dest != conn_dest(tc) || h.tag != conn_dest_tag(tc)) return false;
  until = h.expires;
  return true;
}

uint32_t Worker::controlling_template6(const ConnV6& c, const ServiceSnap*& svc) const {
  svc = snap_->service(snap_->dest(conn_dest(c)).svc);
  if (!svc) return ConnTable6::kNone;
  const TemplateKey6 k = template_key6(*svc, c.proto, c.caddr, conn_plen(c) - 1u, c.vaddr, c.vport);
  return table6_.find_template(table6_.hash(k.proto, k.net, 0), k.proto, k.net, k.vaddr, k.vport);
}

void Worker::template_child_gone6(const ConnV6& c, uint32_t now) {
  const ServiceSnap* svc;
  const uint32_t t = controlling_template6(c, svc);
  if (t == ConnTable6::kNone) return;
  ConnV6& tc = table6_.record(t);
  if (tc.children) --tc.children;
  tc.expires = now + svc->persist_ticks;
  shared_->affinity().refresh(tie_key(tc), tc.expires + tie_margin(tc));
}

// ---- state, expiry, half-open ------------------------------------------------------------------

void Worker::set_state(ConnV6& c, uint8_t state, uint32_t now) {
  if (c.state == state) return;
  if (state == kTcpSynRecv) [[unlikely]] {
    while (half_open6_ >= half_open6_budget_)
      if (!evict_half_open6(now, false)) break;
    if (half_open6_q_.full()) evict_half_open6(now, true);
    half_open6_q_.push(table6_.index_of(c), table6_.hash_of(c));
    ++half_open6_;
  } else if (c.state == kTcpSynRecv) [[unlikely]] {
    --half_open6_;
  }
  const bool was_active = c.flags & kConnActive;
  const bool active = c.proto == kProtoTcp && tcp_state_active(state);
  c.state = state;
  if (was_active != active) count_active(c.flags, conn_dest(c), active);
}

// The oldest half-open IPv6 entry goes (engine_half_open.cc has the IPv4 table's reasons).
bool Worker::evict_half_open6(uint32_t now, bool one) {
  while (!half_open6_q_.empty()) {
    const HalfOpenRing::Entry e = half_open6_q_.pop();
    if (table6_.is_live(e.idx)) {
      const ConnV6& c = table6_.record(e.idx);
      if (c.state == kTcpSynRecv && !(c.flags & kConnTemplate) && half_open6_q_.same_key(e, table6_.hash_of(c))) {
        release6(e.idx, now, Event::HalfOpenEvicted);
        table6_.erase(e.idx);
        return true;
      }
    }
    if (one) return false;
  }
  return false;
}

void Worker::release6(uint32_t idx, uint32_t now, Event why) {
  ConnV6& c = table6_.record(idx);
  const bool tmpl = c.flags & kConnTemplate;
  if (c.state == kTcpSynRecv && !tmpl) --half_open6_;
  if (!tmpl && (c.ext & kConn6SynProxy)) [[unlikely]] {
    if (SynProxyTable::Entry* e = synproxy6_.find(idx)) drop_held(e->known);
    synproxy6_.erase(idx);
  }
  auto release_port = [&] {
    if (tmpl || conn_fwd_method(c) != FwdMethod::FullNat) return;
    const bool nat64 = snap_->dest(conn_dest(c)).addr.is_v4();
    (nat64 ? fnat_ : fnat6_).release(c.fnat.laddr, c.fnat.lport);
  };
  if (!conn_current(c)) [[unlikely]] {
    release_port();
    stats_.event(why);
    return;
  }
  if (tmpl) {
    if (c.flags & kConnCounted) {
      --load_[conn_dest(c)].persist;
      const DestSnap& d = snap_->dest(conn_dest(c));
      shared_->dest(conn_dest(c)).unbind_template(d, d.u_threshold ? elsewhere(conn_dest(c)) : 0);
    }
  } else {
    unbind_conn(conn_dest(c), c.flags & kConnActive, c.flags & kConnLimited);
    release_port();
    if (conn_plen(c)) template_child_gone6(c, now);
  }
  stats_.event(why);
}

bool Worker::expire6(uint32_t idx, uint32_t now) {
  ConnV6& c = table6_.record(idx);
  if ((c.flags & kConnTemplate) && c.children > 0 && snap_->dest(conn_dest(c)).available && conn_current(c)) {
    c.expires = now + kExpireLaterTicks;  // still controls live connections
    shared_->affinity().refresh(tie_key(c), c.expires + tie_margin(c));
    return false;
  }
  uint32_t until;
  if ((c.flags & kConnTemplate) && snap_->dest(conn_dest(c)).available && conn_current(c) && tie_holds(c, now, until)) {
    c.expires = until;  // the client's one template: as long as its tie, wherever that is kept
    return false;
  }
  release6(idx, now);
  table6_.erase(idx);
  return true;
}

// ---- everything else ---------------------------------------------------------------------------

Verdict Worker::handle_slow6(PacketBuf& pkt, Parsed& p, uint32_t now) {
  if (p.proto == kProtoIcmpv6) return handle_icmp6(pkt, p, now);
  stats_.event(Event::ToKernel);
  return {Action::Kernel, DropReason::None, 0};
}

// Echo requests to a VIP are answered; errors quoting a connection's packet are rewritten for
// the other side (icmp.cc's cases, IPv6 addresses); neighbour discovery and the rest are the
// dataplane's (Kernel).
Verdict Worker::handle_icmp6(PacketBuf& pkt, Parsed& p, uint32_t now) {
  uint8_t* f = pkt.data;
  if (bad_source6(f + p.v6_saddr_off())) {  // not ours to answer or relate: the kernel's
    stats_.event(Event::ToKernel);
    return {Action::Kernel, DropReason::None, 0};
  }
  if (p.icmp_type == kIcmp6EchoRequest) {
    if (!snap_->is_virtual_v6(f + p.v6_daddr_off())) {
      stats_.event(Event::ToKernel);
      return {Action::Kernel, DropReason::None, 0};
    }
    const IpAddr client = IpAddr::from_v6(f + p.v6_saddr_off());
    DropReason r = icmp6_echo_reply(pkt, p);
    if (r != DropReason::None) return drop(r);
    l2_swap_macs(pkt.data);
    stats_.event(Event::EchoReplied);
    return transmit6(client);
  }
  const InnerTuple& in = p.inner;
  if (!p.icmp_error || in.family != 6 || !is_tcp_udp(in.proto) || !in.has_ports) {
    stats_.event(Event::ToKernel);
    return {Action::Kernel, DropReason::None, 0};
  }
  const uint8_t* is = f + in.l3_off + 8;
  const uint8_t* id = f + in.l3_off + 24;
  // From the real-server side: the quoted packet is one we sent to the server.
  uint32_t idx = ConnTable6::kNone;
  const int la = laddrs6_.empty() ? -1 : laddr6_index(is);
  if (la >= 0) {
    idx = fnat6_.lookup_at(static_cast<uint8_t>(la), in.sport);
    if (idx != ConnTable6::kNone) {
      const ConnV6& c = table6_.record(idx);
      if (!ConnTable6::same(snap_->dest(conn_dest(c)).addr, id) || c.dport != in.dport || table6_.is_expired(idx, now))
        idx = ConnTable6::kNone;
    }
  } else {
    idx = find_out6(in.proto, is, in.sport, id, in.dport);
    if (idx != ConnTable6::kNone && table6_.is_expired(idx, now)) idx = ConnTable6::kNone;
  }
  if (idx != ConnTable6::kNone) {
    const ConnV6& c = table6_.record(idx);
    const uint8_t* cip = c.caddr.b.data();
    const uint8_t* vip = c.vaddr.b.data();
    DropReason r = conn_fwd_method(c) == FwdMethod::FullNat
                       ? icmp6_error_rewrite(f, p, {vip, cip, cip, vip, c.cport, c.vport})
                       : icmp6_error_rewrite(f, p, {vip, f + p.v6_daddr_off(), is, vip, in.sport, c.vport});
    if (r != DropReason::None) return drop(r);
    stats_.event(Event::IcmpRelated);
    count_out(conn_dest(c), p.ip_tot_len);
    return transmit6(c.caddr);
  }
  // From the client side: the quoted packet is a reply we sent to the client.
  idx = table6_.find_in(table6_.hash(in.proto, id, in.dport), in.proto, id, in.dport, is, in.sport);
  if (idx == ConnTable6::kNone || table6_.is_expired(idx, now)) {
    stats_.event(Event::ToKernel);
    return {Action::Kernel, DropReason::None, 0};
  }
  const ConnV6& c = table6_.record(idx);
  const DestSnap& d = snap_->dest(conn_dest(c));
  if (!d.available || !conn_current(c)) return drop(DropReason::DestUnavailable);
  const uint8_t* rip = d.addr.b.data();
  DropReason r = DropReason::None;
  switch (conn_fwd_method(c)) {
    case FwdMethod::Masq:
      r = icmp6_error_rewrite(f, p, {f + p.v6_saddr_off(), rip, rip, id, c.dport, in.dport});
      break;
    case FwdMethod::FullNat: {
      if (d.addr.is_v4()) return nat64_icmp(pkt, p, idx, now);
      const uint8_t* lip = laddrs6_[c.fnat.laddr].b.data();
      r = icmp6_error_rewrite(f, p, {lip, rip, rip, lip, c.dport, c.fnat.lport});
      break;
    }
    case FwdMethod::Tunnel:
      stats_.event(Event::IcmpRelated);
      return tunnel6(pkt, p, c, d);
    default:
      break;  // DR: the server gets the error as it is
  }
  if (r != DropReason::None) return drop(r);
  stats_.event(Event::IcmpRelated);
  count_in(conn_dest(c), p.ip_tot_len);
  return transmit6(d.addr);
}

// ---- listings ----------------------------------------------------------------------------------

size_t Worker::list_conns6(size_t cursor, size_t max, std::vector<ConnInfo>& out, uint32_t now, size_t base) const {
  const size_t next = table6_.scan(cursor, max, [&](uint32_t idx) {
    const ConnV6& c = table6_.record(idx);
    const DestSnap& d = snap_->dest(conn_dest(c));
    ConnInfo i{};
    i.family = 6;
    i.proto = c.proto;
    i.is_template = c.flags & kConnTemplate;
    i.state = c.state;
    i.fwd = conn_fwd_method(c);
    i.caddr_ip = c.caddr;
    i.vaddr_ip = c.vaddr;
    i.daddr_ip = d.addr;
    i.cport = c.cport;
    i.vport = c.vport;
    i.dport = c.dport;
    if (d.addr.is_v4()) i.daddr = d.addr.v4();
    if (i.fwd == FwdMethod::FullNat && !i.is_template) {
      if (d.addr.is_v4()) {
        i.laddr = fnat_.laddr(c.fnat.laddr);
        i.laddr_ip = IpAddr::from_v4(i.laddr);
      } else {
        i.laddr_ip = laddrs6_[c.fnat.laddr];
      }
      i.lport = c.fnat.lport;
    }
    int32_t left = static_cast<int32_t>(c.expires - now);
    i.expires_in_ticks = left > 0 ? static_cast<uint32_t>(left) : 0;
    i.dest = conn_dest(c);
    i.synced = conn_synced(c);
    out.push_back(i);
  });
  return next == 0 ? 0 : base + next;
}

}  // namespace fulcrum
