// The Worker's packet path. process_burst runs in three passes so table memory is fetched
// for the whole burst before any packet needs it (parse+hash+prefetch header lines, prefetch
// the matching record lines of the whole burst, then probe and act); everything that is not an
// established TCP/UDP flow (IPv4, or an inbound IPv6 one: engine_v6_path.h) leaves the fast
// loop for handle_slow or engine_v6.cc, so rare cases cost nothing on the common path.
#include "engine.h"

#include <algorithm>

#include "engine_v6_path.h"
#include "icmp.h"
#include "packet_fast.h"
#include "rewrite.h"

namespace fulcrum {

namespace {

constexpr uint32_t kMaxBurst = 64;
constexpr uint32_t kExpireLaterTicks = secs_to_ticks(kExpireLaterSecs);

inline FwdMethod conn_fwd(const ConnV4& c) { return conn_fwd_method(c); }

inline bool is_tcp_udp(uint8_t proto) { return proto == kProtoTcp || proto == kProtoUdp; }

// Stand-in keys 1..n for the IPv6 local addresses' FnatPool (it keys addresses by 32 bits).
std::vector<be32> fnat6_keys(const std::vector<IpAddr>& a) {
  std::vector<be32> k;
  for (uint32_t i = 0; i < a.size() && i < FnatPool::kMaxAddrs; ++i) k.push_back(i + 1);
  return k;
}

}  // namespace

enum : uint8_t { kSlow = 0, kInbound = 1, kReply = 2, kFnatReply = 3 };

// Per-packet scratch for one burst (parse_frame initialises p).
struct Worker::Pending {
  Parsed p;
  uint64_t hash;
  uint32_t idx;
  uint8_t kind;  // what the fast passes found
};


Worker::Worker(const WorkerOptions& opts)
    : opts_(opts),
      table_(ConnTable::Options{opts.conn_capacity, opts.seed}),
      table6_(ConnTable::Options{opts.conn6_capacity ? opts.conn6_capacity : std::max(1024u, opts.conn_capacity / 4),
                                 opts.seed ^ 0x6a09e667f3bcc908ull}),
      half_open_budget_(std::min(table_.capacity(), opts.half_open_budget ? opts.half_open_budget
                                                                          : default_half_open_budget(table_.capacity()))),
      half_open_q_(half_open_budget_, table_.slot_count()),
      half_open6_budget_(std::max(1u, table6_.capacity() / 4)),
      half_open6_q_(half_open6_budget_, table6_.slot_count()),
      synproxy_secret_(opts.synproxy_secret ? opts.synproxy_secret : opts.seed * 0x9e3779b97f4a7c15ull + 1),
      synproxy_(table_.capacity() / 2),
      synproxy6_(table6_.capacity() / 2),
      held_(new uint8_t[size_t{kHeldFrames} * kHeldFrameBytes]),
      fnat_(opts.local_addrs, opts.port_lo, opts.port_hi, opts.port_mask, opts.port_value),
      laddrs6_(opts.local_addrs6),
      fnat6_(fnat6_keys(opts.local_addrs6), opts.port_lo, opts.port_hi, opts.port_mask, opts.port_value),
      own_shared_(opts.shared ? nullptr
                              : std::make_unique<SharedLoad>(opts.limits.max_dests, opts.limits.max_services, 1,
                                                             affinity_slots(opts.conn_capacity, 1), opts.seed)),
      shared_(opts.shared ? opts.shared : own_shared_.get()),
      shard_(shared_->shards().row(opts.shared ? opts.worker_id : 0)),
      sums_(shared_->shards(), opts.shared ? opts.worker_id : 0, opts.limits.max_dests),
      load_(opts.limits.max_dests),
      sched_(opts.limits.max_services),
      svc_inc_(opts.limits.max_services, 0),
      dest_inc_(opts.limits.max_dests, 0),
      pending_(new Pending[kMaxBurst]) {
  stats_.svc.resize(opts.limits.max_services);
  stats_.dest.resize(opts.limits.max_dests);
  for (uint32_t i = kHeldFrames; i > 0; --i) free_held_[nfree_held_++] = static_cast<uint8_t>(i - 1);
}

Worker::~Worker() = default;

void Worker::set_snapshot(const Snapshot* snap) {
  sums_.next_burst();
  const bool follows = snap_ && snap->lineage() == lineage_ && snap->seq() == seq_ + 1;
  snap_ = snap;
  seq_ = snap->seq();
  lineage_ = snap->lineage();
  auto take = [&](const ServiceSnap& svc) {
    take_service(svc);
    for (DestId d : svc.order) take_dest(snap->dest(d));
  };
  if (follows) {
    for (SvcId id : snap->changed_services())
      if (const ServiceSnap* svc = snap->service(id)) take(*svc);
  } else {
    snap->for_each_service(take);
  }
}

// A service new to this worker, or an id now naming another service, starts with fresh
// scheduler state and counters. Scheduler state is allocated here, between bursts, so
// sched_pick never allocates on the packet path.
void Worker::take_service(const ServiceSnap& svc) {
  bool fresh = false;
  if (!sched_[svc.id] || svc_inc_[svc.id] != svc.incarnation) {
    sched_[svc.id] = std::make_unique<SchedState>(opts_.seed ^ (uint64_t{svc.id} << 32));
    stats_.svc[svc.id] = {};
    svc_inc_[svc.id] = svc.incarnation;
    fresh = true;
  }
  SchedState& st = *sched_[svc.id];
  attach_locality(svc, st);
  if (!st.initialized || st.generation != svc.generation || st.kind != svc.sched) sync_sched(svc, st, fresh);
}

// lblc/lblcr pick through the service's one cache, shared by the workers (ServiceSnap::locality).
void Worker::attach_locality(const ServiceSnap& svc, SchedState& st) {
  if (st.cache == svc.locality) return;
  st.cache = svc.locality;
  st.cache_shared = svc.locality != nullptr;
}

// A dest id given to another server starts at zero here (its old entries are told apart by
// their tag and never touch these counts) and in the shared counts (this worker's leftovers
// taken out); a threshold raised or removed leaves overload at once (DestCounter::take).
void Worker::take_dest(const DestSnap& d) {
  // What this worker counted in the shared word: its share less its shard.
  DestLoad mine = load_[d.id];
  const uint64_t own = shard_[d.id].load(std::memory_order_relaxed);
  mine.active -= static_cast<uint32_t>(own >> 32);
  mine.inactive -= static_cast<uint32_t>(own);
  shared_->dest(d.id).take(d, dest_inc_[d.id], mine, d.u_threshold ? elsewhere(d.id) : 0);
  if (dest_inc_[d.id] != d.incarnation) {
    shard_[d.id].store(0, std::memory_order_relaxed);
    load_[d.id] = {};
    stats_.dest[d.id] = {};
    dest_inc_[d.id] = d.incarnation;
  }
}

// rr and wrr walk one director-wide cycle through the service's cursor; wrr's current weight
// must fit the cursor's 28 bits (larger weights, Debian's up to INT_MAX, keep per-worker cursors).
bool Worker::shares_cursor(const ServiceSnap& svc) const {
  return (svc.sched == SchedKind::Rr || (svc.sched == SchedKind::Wrr && svc.tables.wrr_mw <= SvcCursor::kMaxCw)) &&
         svc.order.size() < SvcCursor::kHead;
}

// Applies the kernel's on-change rules to the scheduler state, and to the shared cursor once
// per change: the first worker to take a new generation moves the cursor on from where the
// workers left it (an index means nothing in another order); the others find it moved. A new
// service's cursor is set by the first worker to see that incarnation of it.
void Worker::sync_sched(const ServiceSnap& svc, SchedState& st, bool fresh) {
  attach_locality(svc, st);
  SvcCursor* cur = shares_cursor(svc) ? &shared_->cursor(svc.id) : nullptr;
  uint64_t w = cur ? cur->load() : 0;
  if (cur && !fresh && st.initialized && st.kind == svc.sched &&
      SvcCursor::decode(w).tag == SvcCursor::tag_of(st.generation)) {
    const SvcCursor::Pos p = SvcCursor::decode(w);
    st.pos = p.pos;
    st.cw = p.cw;
  }
  sched_state_sync(st, svc.sched, svc.tables, snap_->dests(), svc.order);
  if (!cur) return;
  const uint16_t tag = SvcCursor::tag_of(svc.generation);
  const uint64_t next = SvcCursor::encode(tag, st.pos, st.cw);
  uint32_t inc = cur->incarnation().load(std::memory_order_relaxed);
  if (static_cast<int32_t>(inc - svc.incarnation) > 0) return;  // a newer service runs on this id
  while (inc != svc.incarnation) {
    if (cur->incarnation().compare_exchange_weak(inc, svc.incarnation, std::memory_order_relaxed)) {
      cur->set(next);
      return;
    }
    if (static_cast<int32_t>(inc - svc.incarnation) > 0) return;
  }
  // A worker that picked under the old generation meanwhile makes the swap fail: moved on from
  // one pick earlier then, a deviation only at the moment of a change.
  while (SvcCursor::decode(w).tag != tag && static_cast<int16_t>(SvcCursor::decode(w).tag - tag) < 0 &&
         !cur->swap(w, next)) {
  }
}

// ---- established connections ------------------------------------------------------------------

// The common established packet, inlined into the burst loop so its verdict is written in place:
// a NAT connection to a usable server, not proxied, whose segment does not restart it. The rest
// (DR, tunnels, FullNAT and its TOA, SYN proxy, TIME_WAIT reuse, unusable servers) takes the
// general functions below, which handle every case alike.
[[gnu::always_inline]] inline Verdict Worker::forward_in(PacketBuf& pkt, Parsed& p, uint32_t idx, uint32_t now) {
  ConnV4& c = table_.record(idx);
  const DestSnap& d = snap_->dest(conn_dest(c));
  const bool tcp = p.proto == kProtoTcp;
  const bool reuse = tcp && (p.tcp_flags & (kTcpSyn | kTcpAck | kTcpRst)) == kTcpSyn && c.state == kTcpTimeWait;
  if (conn_fwd(c) != FwdMethod::Masq || !d.available || d.addr.v4() != c.daddr ||
      conn_dest_tag(c) != static_cast<uint8_t>(d.incarnation) || (c.tmpl_plen & kConnSynProxy) || reuse) [[unlikely]]
    return forward_in_general(pkt, p, idx, now);
  const Timeouts& to = snap_->timeouts();
  if (tcp) {
    const uint8_t next =
        tcp_next_state(c.state, (c.flags & kConnNoOutput) ? TcpDir::InOnly : TcpDir::In, p.tcp_flags);
    if (next != c.state) [[unlikely]]
      set_state(c, next, now);
    c.expires = now + to.tcp[c.state];
  } else {
    c.expires = now + to.udp;
  }
  if (sync_side_) [[unlikely]]
    sync_count(c, idx, now);
  count_in(conn_dest(c), p.ip_tot_len);
  nat_in_v4(pkt.data, p, c.daddr, c.dport);
  return {Action::Transmit, DropReason::None, c.daddr};
}

// The NAT reply's common case, as forward_in's.
[[gnu::always_inline]] inline Verdict Worker::forward_out(PacketBuf& pkt, Parsed& p, uint32_t idx, uint32_t now) {
  ConnV4& c = table_.record(idx);
  const DestSnap& d = snap_->dest(conn_dest(c));
  if (conn_fwd(c) != FwdMethod::Masq || !d.available || d.addr.v4() != c.daddr ||
      conn_dest_tag(c) != static_cast<uint8_t>(d.incarnation) || (c.tmpl_plen & kConnSynProxy)) [[unlikely]]
    return forward_out_general(pkt, p, idx, now);
  const Timeouts& to = snap_->timeouts();
  if (p.proto == kProtoTcp) {
    const uint8_t next = tcp_next_state(c.state, TcpDir::Out, p.tcp_flags);
    if (next != c.state) [[unlikely]]
      set_state(c, next, now);
    c.expires = now + to.tcp[c.state];
  } else {
    c.expires = now + to.udp;
  }
  count_out(conn_dest(c), p.ip_tot_len);
  nat_out_v4(pkt.data, p, c.vaddr, c.vport);
  return {Action::Transmit, DropReason::None, c.caddr};
}

// ---- the burst ------------------------------------------------------------------------------

void Worker::process_burst(PacketBuf* pkts, uint32_t n, Verdict* out, uint32_t now) {
  uint32_t base = 0;
  for (; n - base > kMaxBurst; base += kMaxBurst) process_chunk(pkts + base, kMaxBurst, out + base, now, base);
  process_chunk(pkts + base, n - base, out + base, now, base);
}

void Worker::process_chunk(PacketBuf* pkts, uint32_t n, Verdict* out, uint32_t now, uint32_t base) {
  sums_.next_burst();  // other workers' shards are read again, once, if this burst schedules
  Pending* pend = pending_.get();  // reused scratch: no per-burst initialisation

  // Pass 1: parse, classify, hash, prefetch the table header line.
  for (uint32_t i = 0; i < n; ++i) {
    Pending& q = pend[i];
    q.kind = kSlow;
    out[i].reason = parse_frame_fast(pkts[i].data, pkts[i].len, q.p);
    if (out[i].reason != DropReason::None || q.p.family != 4 || !is_tcp_udp(q.p.proto)) {
      if (q.p.family == 6 && out[i].reason == DropReason::None && is_tcp_udp(q.p.proto)) [[unlikely]]
        classify6(pkts[i].data, q.p, q.kind, q.hash);
      continue;
    }
    if (q.p.ip_options) [[unlikely]]
      stats_.event(Event::IpOptions);
    if (fnat_.has_addrs() && fnat_.laddr_index(q.p.daddr) >= 0) {
      q.kind = kFnatReply;
      continue;
    }
    // A packet to a VIP is looked up by its source (client side); anything else may be a
    // reply, looked up by its destination (the client). The kernel hashes both by the client.
    if (snap_->may_be_virtual_v4(q.p.daddr)) {
      q.kind = kInbound;
      q.hash = table_.hash(q.p.proto, q.p.saddr, q.p.sport);
    } else {
      q.kind = kReply;
      q.hash = table_.hash(q.p.proto, q.p.daddr, q.p.dport);
    }
    table_.prefetch(q.hash);
  }

  // Pass 2: with the header lines on their way or cached, prefetch the record line of each
  // packet's first tag match, all of them before any is needed: the burst's record misses
  // overlap (measured at 1M connections: 20.3-21.7 -> 23.7-25.7 Mpps against prefetching 16
  // packets ahead of the one being acted on).
  // Its slot is kept as a hint for pass 3 (inbound packets).
  for (uint32_t j = 0; j < n; ++j) {
    if (pend[j].kind == kInbound || pend[j].kind == kReply)
      pend[j].idx = table_.prefetch_match(pend[j].hash);
    else if (pend[j].kind == kIn6 || pend[j].kind == kOut6) [[unlikely]]
      pend[j].idx = table6_.prefetch_match(pend[j].hash);
  }

  // Pass 3: probe (header and record now cached) and act.
  for (uint32_t i = 0; i < n; ++i) {
    Pending& q = pend[i];
    if (q.kind == kInbound)
      q.idx = table_.find_in(q.hash, q.idx, q.p.proto, q.p.saddr, q.p.sport, q.p.daddr, q.p.dport);
    else if (q.kind == kReply)
      q.idx = table_.find_out(q.hash, q.p.proto, q.p.daddr, q.p.dport, q.p.saddr, q.p.sport);
    else if (q.kind == kFnatReply)
      q.idx = fnat_.lookup(q.p.daddr, q.p.dport);
    if (out[i].reason != DropReason::None) {
      stats_.drop(out[i].reason);
      out[i] = {Action::Drop, out[i].reason, 0};
      continue;
    }
    if (q.kind == kSlow) {
      pos_ = base + i;
      out[i] = handle_slow(pkts[i], q.p, now);
      continue;
    }
    if (q.kind >= kIn6) [[unlikely]] {
      pos_ = base + i;
      out[i] = q.kind == kIn6 ? in_established6(pkts[i], q.p, q.hash, q.idx, now) : process6(pkts[i], q.p, q.kind, now);
      continue;
    }
    if (q.idx != ConnTable::kNone && (q.idx & kNat64Owner) && q.kind == kFnatReply) [[unlikely]] {
      pos_ = base + i;
      out[i] = nat64_out(pkts[i], q.p, q.idx & ~kNat64Owner, now);
      continue;
    }
    // A stale entry (past its time, not yet swept) is expired on the spot and the packet
    // treated as if it had found nothing.
    if (q.idx != ConnTable::kNone && table_.is_expired(q.idx, now)) [[unlikely]] {
      expire_one(q.idx, now);
      q.idx = ConnTable::kNone;
    }
    if (q.idx == ConnTable::kNone) [[unlikely]]
      out[i] = handle_miss(pkts[i], q.p, q.kind, now);
    else
      out[i] = q.kind == kInbound ? forward_in(pkts[i], q.p, q.idx, now) : forward_out(pkts[i], q.p, q.idx, now);
  }
}

// No entry for an IPv4 TCP/UDP packet: a new connection to a service, a reply under a match
// rule (every packet looks "virtual" then, so the reply lookup comes second), or not ours.
Verdict Worker::handle_miss(PacketBuf& pkt, Parsed& p, uint8_t kind, uint32_t now) {
  if (kind == kFnatReply) return drop(DropReason::NoConnection);
  if (kind == kReply) {
    stats_.event(Event::ToKernel);
    return {Action::Kernel, DropReason::None, 0};
  }
  if (snap_->has_rules()) {
    uint32_t idx = table_.find_out(table_.hash(p.proto, p.daddr, p.dport), p.proto, p.daddr, p.dport, p.saddr, p.sport);
    if (idx != ConnTable::kNone) {
      if (!table_.is_expired(idx, now)) return forward_out(pkt, p, idx, now);
      expire_one(idx, now);
    }
  }
  return handle_new(pkt, p, now);
}

// The general paths of established packets.

bool Worker::dest_usable(const ConnV4& c) const {
  // expire_nodest_conn = 0: packets of a connection whose real server was deleted are dropped
  // while the entry lives, so a re-added server resumes it. The incarnation tag (and, should
  // it wrap, the address) guards a dest id the control side has since given to another server.
  const DestSnap& d = snap_->dest(conn_dest(c));
  return d.available && d.addr.v4() == c.daddr && conn_current(c);
}

// ipvsadm's counters: every packet counts for its real server, that server's service and the
// totals alike (a service's counters outlive the servers that made them).
void Worker::count_conn(DestId d) {
  ++stats_.dest[d].conns;
  ++stats_.svc[snap_->dest(d).svc].conns;
  ++stats_.total.conns;
}

void Worker::set_state(ConnV4& c, uint8_t state, uint32_t now) {
  if (c.state == state) return;
  // A handshake starts (or starts again) or ends: the half-open count and order follow.
  if (state == kTcpSynRecv) [[unlikely]]
    half_open_enter(c, now);
  else if (c.state == kTcpSynRecv) [[unlikely]]
    --half_open_;
  bool was_active = c.flags & kConnActive;
  // Since Linux 4.8 the pre-established states count as active too (tcp_state_active).
  bool active = c.proto == kProtoTcp && tcp_state_active(state);
  c.state = state;
  if (was_active == active) return;
  count_active(c, active);
}

// A connection (flags: its kConn* byte) moves between its dest's active and inactive counts.
void Worker::count_active(uint8_t& flags, DestId d, bool active) {
  DestLoad& l = load_[d];
  if (flags & kConnLimited)
    shared_->dest(d).set_active(active);
  else
    DestShards::add(shard_[d], active ? DestShards::kActive - DestShards::kInactive
                                      : DestShards::kInactive - DestShards::kActive);
  if (active) {
    flags |= kConnActive;
    --l.inactive;
    ++l.active;
  } else {
    flags &= ~kConnActive;
    --l.active;
    ++l.inactive;
  }
}

Verdict Worker::forward_in_general(PacketBuf& pkt, Parsed& p, uint32_t idx, uint32_t now) {
  ConnV4& c = table_.record(idx);
  if (!dest_usable(c)) return drop(DropReason::DestUnavailable);
  if (c.tmpl_plen & kConnSynProxy) [[unlikely]] {
    Verdict v;
    if (!synproxy_in(pkt, p, c, now, v)) return v;
  }
  const Timeouts& to = snap_->timeouts();
  if (p.proto == kProtoTcp) {
    // conn_reuse_mode 1: a new SYN on a connection in TIME_WAIT starts a new connection.
    if ((p.tcp_flags & (kTcpSyn | kTcpAck | kTcpRst)) == kTcpSyn && c.state == kTcpTimeWait && !conn_plen(c)) {
      expire_one(idx, now);
      return handle_new(pkt, p, now);
    }
    set_state(c, tcp_next_state(c.state, (c.flags & kConnNoOutput) ? TcpDir::InOnly : TcpDir::In, p.tcp_flags), now);
    c.expires = now + to.tcp[c.state];
  } else {
    c.expires = now + to.udp;
  }
  if (sync_side_) [[unlikely]]
    sync_count(c, idx, now);
  count_in(conn_dest(c), p.ip_tot_len);

  switch (conn_fwd(c)) {
    case FwdMethod::Masq:
      nat_in_v4(pkt.data, p, c.daddr, c.dport);
      return {Action::Transmit, DropReason::None, c.daddr};
    case FwdMethod::FullNat: {
      fnat_in_v4(pkt.data, p, fnat_.laddr(c.fnat.laddr), c.fnat.lport, c.daddr, c.dport);
      // TOA rides on the first client segment after the SYN (the real server's toa module
      // reads it from the ACK that completes the handshake).
      if (p.proto == kProtoTcp && !(c.flags & kConnToaSent) && !(p.tcp_flags & kTcpSyn) && (p.tcp_flags & kTcpAck)) {
        c.flags |= kConnToaSent;
        DropReason r = toa_insert_v4(pkt, p, c.caddr, c.cport, snap_->mtu());
        if (r == DropReason::None) {
          stats_.event(Event::ToaInserted);
        } else {
          stats_.event(Event::ToaSkipped);
          stats_.drop(r);  // counted by reason; the segment still goes out without TOA
        }
      }
      return {Action::Transmit, DropReason::None, c.daddr};
    }
    case FwdMethod::Tunnel:
      return tunnel(pkt, p, c);
    case FwdMethod::Route:
    case FwdMethod::Local:
      break;
  }
  return {Action::Transmit, DropReason::None, c.daddr};  // DR: only the MACs change
}

Verdict Worker::tunnel(PacketBuf& pkt, Parsed& p, const ConnV4& c) {
  const DestSnap& d = snap_->dest(conn_dest(c));
  if (!d.addr.is_v4()) [[unlikely]]
    return tunnel_4in6(pkt, p, d);
  be32 src = snap_->tunnel_source() ? snap_->tunnel_source() : c.vaddr;
  DropReason r = tun_encap_v4(pkt, p, src, c.daddr, ++ip_id_, snap_->mtu());
  if (r == DropReason::None) return {Action::Transmit, DropReason::None, c.daddr};
  if (r == DropReason::TunTooBigDf) {
    be32 client = p.saddr;
    if (icmp_frag_needed_v4(pkt, p, static_cast<uint16_t>(snap_->mtu() - kIpv4HdrLen), ++ip_id_) == DropReason::None) {
      stats_.drop(r);
      stats_.event(Event::FragNeededSent);
      l2_swap_macs(pkt.data);
      return {Action::Transmit, DropReason::None, client};
    }
  }
  return drop(r);
}

Verdict Worker::forward_out_general(PacketBuf& pkt, Parsed& p, uint32_t idx, uint32_t now) {
  ConnV4& c = table_.record(idx);
  // A FullNAT reply was found by local port alone: make sure it comes from the real server.
  if (conn_fwd(c) == FwdMethod::FullNat && (c.daddr != p.saddr || c.dport != p.sport || c.proto != p.proto))
    return drop(DropReason::NoConnection);
  if (!dest_usable(c)) return drop(DropReason::DestUnavailable);
  if (c.tmpl_plen & kConnSynProxy) [[unlikely]] {
    Verdict v;
    if (!synproxy_out(pkt, p, c, now, v)) return v;
  }
  const Timeouts& to = snap_->timeouts();
  if (p.proto == kProtoTcp) {
    c.flags &= ~kConnNoOutput;  // a reply was seen: the INPUT/OUTPUT tables apply from now on
    set_state(c, tcp_next_state(c.state, TcpDir::Out, p.tcp_flags), now);
    c.expires = now + to.tcp[c.state];
  } else {
    c.expires = now + to.udp;
  }
  count_out(conn_dest(c), p.ip_tot_len);
  if (conn_fwd(c) == FwdMethod::FullNat)
    fnat_out_v4(pkt.data, p, c.vaddr, c.vport, c.caddr, c.cport);
  else
    nat_out_v4(pkt.data, p, c.vaddr, c.vport);
  return {Action::Transmit, DropReason::None, c.caddr};
}

// ---- everything else ---------------------------------------------------------------------------

Verdict Worker::handle_slow(PacketBuf& pkt, Parsed& p, uint32_t now) {
  if (p.cls != L3Class::Ipv4 && p.cls != L3Class::Ipv6) {
    stats_.event(Event::ToKernel);
    return {Action::Kernel, DropReason::None, 0};  // ARP and friends: the dataplane's
  }
  if (p.ip_options) stats_.event(Event::IpOptions);
  if (p.family == 4 && p.proto == kProtoIcmp) return handle_icmp(pkt, p, now);
  if (p.family == 6) return handle_slow6(pkt, p, now);
  stats_.event(Event::ToKernel);
  return {Action::Kernel, DropReason::None, 0};
}

Verdict Worker::handle_new(PacketBuf& pkt, Parsed& p, uint32_t now) {
  const ServiceSnap* svc = nullptr;
  if (snap_->has_rules()) {
    if (uint32_t mark = snap_->mark_v4(p.proto, p.daddr, p.dport)) svc = snap_->find_fwmark(mark);
  }
  if (!svc) svc = snap_->find_v4(p.proto, p.daddr, p.dport);
  if (!svc || backup_only_) [[unlikely]] {
    // Not a service: the host's own traffic. Or a backup with backup_only: it does not balance
    // (the kernel's IPVS lets the packet through to the host), only follows its master.
    stats_.event(Event::ToKernel);
    return {Action::Kernel, DropReason::None, 0};
  }
  // Only a SYN starts a TCP connection; other segments without an entry are dropped, as the
  // kernel does for a VIP it does not terminate. With sloppy_tcp any segment but a RST starts
  // one (the kernel's state from NONE on it: an ACK makes it ESTABLISHED). Under a SYN proxy,
  // the ACK that returns a valid cookie starts it instead. This is the no-entry path only:
  // established traffic never reads the setting.
  bool proxied = false;
  if ((svc->flags & kSvcSynProxy) && p.proto == kProtoTcp) [[unlikely]] {
    Verdict v;
    if (!synproxy_accept(pkt, p, now, v)) return v;
    proxied = true;
  } else if (p.proto == kProtoTcp && (p.tcp_flags & (kTcpSyn | kTcpRst)) != kTcpSyn) {
    if ((p.tcp_flags & kTcpRst) || !snap_->sloppy_tcp()) return drop(DropReason::NoConnection);
    stats_.event(Event::SloppyTcp);
  }

  uint8_t plen = 0;
  DestId did = (svc->flags & kSvcPersistent) ? schedule_persistent(*svc, p, now, plen) : schedule(*svc, sched_packet_v4(p), now);
  if (did == kNoDest) return no_dest(pkt, p, p.daddr);
  const DestSnap& d = snap_->dest(did);

  ConnV4 c{};
  c.proto = p.proto;
  c.caddr = p.saddr;
  c.cport = p.sport;
  c.vaddr = p.daddr;
  c.vport = p.dport;
  c.daddr = d.addr.v4();
  // The real server's port, unless it has none (then the packet's); persistent all-port and
  // fwmark services keep the packet's port unless it hit the service port itself (kernel).
  bool keep_port = d.port == 0 || ((svc->flags & kSvcPersistent) && hton16(svc->port) != p.dport);
  c.dport = keep_port ? p.dport : hton16(d.port);
  set_conn_dest(c, did);
  c.flags = static_cast<uint8_t>(d.fwd);
  if (d.fwd == FwdMethod::Route || d.fwd == FwdMethod::Tunnel) c.flags |= kConnNoOutput;
  c.tmpl_plen = plen;
  set_conn_dest_tag(c, d.incarnation);
  c.state = p.proto == kProtoTcp ? kTcpNone : kStateUdp;
  const bool limited = d.u_threshold != 0;  // where it was counted (bind_to)
  if (limited) c.flags |= kConnLimited;
  if (proxied && d.fwd != FwdMethod::Masq && d.fwd != FwdMethod::FullNat) [[unlikely]] {
    // The seq shifts need both directions through the director: NAT and FullNAT only.
    unbind_conn(did, false, limited);
    if (plen) template_child_gone(c, now);
    return drop(DropReason::SynProxyNotNat);
  }

  if (svc->flags & kSvcOnePacket) {
    // -o: schedule and forward this one datagram; no entry is ever made (the kernel's expires
    // at once: bound, then unbound).
    unbind_conn(did, false, limited);
    if (d.fwd == FwdMethod::FullNat) return drop(DropReason::FnatOnePacket);
    count_conn(did);
    count_in(did, p.ip_tot_len);
    if (d.fwd == FwdMethod::Masq) nat_in_v4(pkt.data, p, c.daddr, c.dport);
    if (d.fwd == FwdMethod::Tunnel) return tunnel(pkt, p, c);
    return {Action::Transmit, DropReason::None, c.daddr};
  }

  c.expires = now + secs_to_ticks(kNewConnTimeoutSecs);
  if (table_.full()) [[unlikely]]
    make_room(now);
  uint64_t h = table_.hash(c.proto, c.caddr, c.cport);
  uint32_t idx = table_.insert(h, c);
  if (idx == ConnTable::kNone) {
    unbind_conn(did, false, limited);
    if (plen) template_child_gone(c, now);
    return drop(DropReason::TableFull);
  }
  ConnV4& rc = table_.record(idx);
  sync_reset(idx);
  if (d.fwd == FwdMethod::FullNat) {
    uint8_t laddr;
    be16 lport;
    if (!fnat_.alloc(idx, laddr, lport)) {
      table_.erase(idx);
      unbind_conn(did, false, limited);
      if (plen) template_child_gone(c, now);
      return drop(DropReason::FnatPortsExhausted);
    }
    rc.fnat.laddr = laddr;
    rc.fnat.lport = lport;
  }
  count_conn(did);
  if (proxied) return synproxy_open(pkt, p, idx, now);
  return forward_in(pkt, p, idx, now);
}

Verdict Worker::no_dest(PacketBuf& pkt, Parsed& p, be32 vip) {
  (void)vip;
  stats_.drop(DropReason::NoDestination);
  be32 client = p.saddr;
  if (icmp_port_unreach_v4(pkt, p, ++ip_id_) == DropReason::None) {
    stats_.event(Event::PortUnreachSent);
    l2_swap_macs(pkt.data);
    return {Action::Transmit, DropReason::NoDestination, client};
  }
  return {Action::Drop, DropReason::NoDestination, 0};
}

// ---- ICMP --------------------------------------------------------------------------------------

Verdict Worker::handle_icmp(PacketBuf& pkt, Parsed& p, uint32_t now) {
  if (p.icmp_type == 8 && !snap_->is_virtual_v4(p.daddr)) {
    stats_.event(Event::ToKernel);
    return {Action::Kernel, DropReason::None, 0};
  }
  if (p.icmp_type == 8) {  // echo request to a VIP: answered here
    be32 client = p.saddr;
    DropReason r = icmp_echo_reply_v4(pkt, p);
    if (r != DropReason::None) return drop(r);
    l2_swap_macs(pkt.data);
    stats_.event(Event::EchoReplied);
    return {Action::Transmit, DropReason::None, client};
  }
  if (!p.icmp_error || p.inner.family != 4 || !is_tcp_udp(p.inner.proto) || !p.inner.has_ports) {
    stats_.event(Event::ToKernel);
    return {Action::Kernel, DropReason::None, 0};
  }
  const InnerTuple& in = p.inner;
  // From the real-server side: the quoted packet is one we sent to the server.
  uint32_t idx = ConnTable::kNone;
  if (fnat_.has_addrs() && fnat_.laddr_index(in.saddr) >= 0) {
    idx = fnat_.lookup(in.saddr, in.sport);
    if (idx != ConnTable::kNone && (idx & kNat64Owner)) [[unlikely]]
      return nat64_icmp(pkt, p, idx & ~kNat64Owner, now);
    if (idx != ConnTable::kNone) {
      const ConnV4& c = table_.record(idx);
      if (c.daddr != in.daddr || c.dport != in.dport || table_.is_expired(idx, now)) idx = ConnTable::kNone;
    }
  } else {
    idx = table_.find_out(table_.hash(in.proto, in.saddr, in.sport), in.proto, in.saddr, in.sport, in.daddr, in.dport);
    if (idx != ConnTable::kNone && table_.is_expired(idx, now)) idx = ConnTable::kNone;
  }
  if (idx != ConnTable::kNone) {
    const ConnV4& c = table_.record(idx);
    DropReason r = conn_fwd(c) == FwdMethod::FullNat
                       ? icmp_fnat_to_client_v4(pkt.data, p, c.vaddr, c.vport, c.caddr, c.cport)
                       : icmp_nat_to_client_v4(pkt.data, p, c.vaddr, c.vport);
    if (r != DropReason::None) return drop(r);
    stats_.event(Event::IcmpRelated);
    count_out(conn_dest(c), p.ip_tot_len);
    return {Action::Transmit, DropReason::None, c.caddr};
  }
  // From the client side: the quoted packet is a reply we sent to the client.
  idx = table_.find_in(table_.hash(in.proto, in.daddr, in.dport), in.proto, in.daddr, in.dport, in.saddr, in.sport);
  if (idx == ConnTable::kNone || table_.is_expired(idx, now)) {
    stats_.event(Event::ToKernel);
    return {Action::Kernel, DropReason::None, 0};
  }
  const ConnV4& c = table_.record(idx);
  if (!dest_usable(c)) return drop(DropReason::DestUnavailable);
  DropReason r = DropReason::None;
  switch (conn_fwd(c)) {
    case FwdMethod::Masq:
      r = icmp_nat_to_server_v4(pkt.data, p, c.daddr, c.dport);
      break;
    case FwdMethod::FullNat:
      r = icmp_fnat_to_server_v4(pkt.data, p, fnat_.laddr(c.fnat.laddr), c.fnat.lport, c.daddr, c.dport);
      break;
    case FwdMethod::Tunnel:
      stats_.event(Event::IcmpRelated);
      return tunnel(pkt, p, c);
    default:
      break;  // DR: the server gets the error as it is
  }
  if (r != DropReason::None) return drop(r);
  stats_.event(Event::IcmpRelated);
  count_in(conn_dest(c), p.ip_tot_len);
  return {Action::Transmit, DropReason::None, c.daddr};
}

// ---- expiry ------------------------------------------------------------------------------------

void Worker::release(uint32_t idx, uint32_t now, Event why) {
  ConnV4& c = table_.record(idx);
  if (c.state == kTcpSynRecv && !(c.flags & kConnTemplate)) --half_open_;
  if (!(c.flags & kConnTemplate) && (c.tmpl_plen & kConnSynProxy)) [[unlikely]] {
    if (SynProxyTable::Entry* e = synproxy_.find(idx)) drop_held(e->known);
    synproxy_.erase(idx);
  }
  if (!conn_current(c)) [[unlikely]] {
    // Made for an earlier server under this dest id: its counts were dropped with it, and its
    // template (if any) is of that server too and expires on its own.
    if (!(c.flags & kConnTemplate) && conn_fwd(c) == FwdMethod::FullNat) fnat_.release(c.fnat.laddr, c.fnat.lport);
    stats_.event(why);
    return;
  }
  if (c.flags & kConnTemplate) {
    if (c.flags & kConnCounted) {
      --load_[conn_dest(c)].persist;
      const DestSnap& d = snap_->dest(conn_dest(c));
      shared_->dest(conn_dest(c)).unbind_template(d, d.u_threshold ? elsewhere(conn_dest(c)) : 0);
    }
  } else {
    unbind_conn(conn_dest(c), c.flags & kConnActive, c.flags & kConnLimited);
    if (conn_fwd(c) == FwdMethod::FullNat) fnat_.release(c.fnat.laddr, c.fnat.lport);
    if (conn_plen(c)) template_child_gone(c, now);
  }
  stats_.event(why);
}

bool Worker::expire_one(uint32_t idx, uint32_t now) {
  ConnV4& c = table_.record(idx);
  if ((c.flags & kConnTemplate) && c.children > 0 && snap_->dest(conn_dest(c)).available &&
      snap_->dest(conn_dest(c)).addr.v4() == c.daddr && conn_current(c)) {
    c.expires = now + kExpireLaterTicks;  // still controls live connections
    shared_->affinity().refresh(shared_->affinity().key(c.proto, c.caddr, c.vaddr, c.vport), c.expires + tie_margin(c));
    return false;
  }
  uint32_t until;
  if ((c.flags & kConnTemplate) && snap_->dest(conn_dest(c)).available && conn_current(c) &&
      tie_holds(c, now, until)) {
    c.expires = until;  // the client's one template: as long as its tie, wherever that is kept
    return false;
  }
  release(idx, now);
  table_.erase(idx);
  return true;
}

void Worker::housekeeping(uint32_t now, uint32_t budget) {
  sums_.next_burst();  // expiries judge -x on the other workers' shards as they are now
  table_.expire_step(now, budget, [&](uint32_t idx) { return expire_one(idx, now); });
  // The IPv6 table in proportion to its size: both go round in the same time.
  const uint64_t b6 = uint64_t{budget} * table6_.slot_count() / table_.slot_count();
  table6_.expire_step(now, static_cast<uint32_t>(std::max<uint64_t>(b6, 1)), [&](uint32_t idx) { return expire6(idx, now); });
  for (SvcId id : snap_->locality_services()) sched_housekeeping(*sched_[id], ticks_to_secs(now));
}

void Worker::flush_all(uint32_t now) {
  sums_.next_burst();
  table_.for_each([&](uint32_t idx) {
    ConnV4& c = table_.record(idx);
    c.children = (c.flags & kConnTemplate) ? 0 : c.children;
    release(idx, now);
    table_.erase(idx);
  });
  table6_.for_each([&](uint32_t idx) {
    release6(idx, now);
    table6_.erase(idx);
  });
}

void Worker::flush_dest(DestId dest, uint32_t now) {
  sums_.next_burst();
  table_.for_each([&](uint32_t idx) {
    ConnV4& c = table_.record(idx);
    if (conn_dest(c) != dest || (c.flags & kConnTemplate)) return;
    release(idx, now);
    table_.erase(idx);
  });
  table6_.for_each([&](uint32_t idx) {
    const ConnV6& c = table6_.record(idx);
    if (conn_dest(c) != dest || (c.flags & kConnTemplate)) return;
    release6(idx, now);
    table6_.erase(idx);
  });
}

size_t Worker::list_conns(size_t cursor, size_t max, std::vector<ConnInfo>& out, uint32_t now) const {
  const size_t n4 = table_.slot_count();
  if (cursor >= n4) return list_conns6(cursor - n4, max, out, now, n4);
  const size_t before = out.size();
  const size_t next = table_.scan(cursor, max, [&](uint32_t idx) {
    const ConnV4& c = table_.record(idx);
    ConnInfo i{};
    i.proto = c.proto;
    i.is_template = c.flags & kConnTemplate;
    i.state = c.state;
    i.fwd = conn_fwd(c);
    i.caddr = c.caddr;
    i.vaddr = c.vaddr;
    i.daddr = c.daddr;
    i.cport = c.cport;
    i.vport = c.vport;
    i.dport = c.dport;
    if (i.fwd == FwdMethod::FullNat && !i.is_template) {
      i.laddr = fnat_.laddr(c.fnat.laddr);
      i.lport = c.fnat.lport;
    }
    int32_t left = static_cast<int32_t>(c.expires - now);
    i.expires_in_ticks = left > 0 ? static_cast<uint32_t>(left) : 0;
    i.dest = conn_dest(c);
    i.synced = conn_synced(c);
    i.family = 4;
    i.caddr_ip = IpAddr::from_v4(i.caddr);
    i.vaddr_ip = IpAddr::from_v4(i.vaddr);
    // A tunnel server of the other family: its IPv6 address (the record keeps its low word).
    const IpAddr& da = snap_->dest(i.dest).addr;
    i.daddr_ip = !da.is_v4() && da.v4() == c.daddr ? da : IpAddr::from_v4(i.daddr);
    i.laddr_ip = IpAddr::from_v4(i.laddr);
    out.push_back(i);
  });
  if (next != 0) return next;
  const size_t listed = out.size() - before;
  return max > listed ? list_conns6(0, max - listed, out, now, n4) : n4;
}

}  // namespace fulcrum
