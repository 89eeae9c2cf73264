// The Worker's scheduling: a new connection's real server (the service's scheduler over the
// director-wide load, shared_load.h), binding it under the thresholds, and persistence
// templates, found director-wide (shared_affinity.h). Called from handle_new only; the
// established path never comes here.
#include "engine.h"

namespace fulcrum {

SchedState& Worker::sched_state(const ServiceSnap& svc) {
  SchedState& st = *sched_[svc.id];
  if (st.generation != svc.generation || st.kind != svc.sched) [[unlikely]]
    sync_sched(svc, st, false);
  return st;
}

// Picks a real server and binds the new connection to it (every new connection starts
// inactive, kernel IP_VS_CONN_F_INACTIVE). -x is a hard limit director-wide: a server other
// workers filled between the pick and the bind refuses it and is flagged overloaded, so the
// next pick passes it by. lblc/lblcr may return their cached server again whatever its flag
// (the kernel's cache hit); after a refusal they fall back to what they do on a miss, wlc.
DestId Worker::schedule(const ServiceSnap& svc, const SchedPacket& p, uint32_t now) {
  SchedKind kind = svc.sched;
  for (size_t tries = 0; tries <= svc.order.size(); ++tries) {
    const DestId did = pick(svc, kind, p, now);
    if (did == kNoDest) return kNoDest;
    if (bind_to(did, true)) [[likely]]
      return did;
    if (kind == SchedKind::Lblc || kind == SchedKind::Lblcr) kind = SchedKind::Wlc;
  }
  return kNoDest;
}

// One pick on the director-wide load. rr/wrr take their position from the shared cursor and
// swap the new one in, again if another worker picked meanwhile. A worker whose snapshot is
// not yet (or no longer) the cursor's generation picks with its own copy: only for the
// moment a change takes to reach every worker.
// lblc/lblcr stamp their locality entries with the time in seconds, the clock their garbage
// collector (housekeeping) reads too.
DestId Worker::pick(const ServiceSnap& svc, SchedKind kind, const SchedPacket& sp, uint32_t now) {
  SchedState& st = sched_state(svc);
  auto run = [&] {
    return sched_pick(kind, svc.flags, svc.tables, snap_->dests(), svc.order,
                      LoadView{shared_->slots(), shard_, &sums_}, st, sp, ticks_to_secs(now));
  };
  if (kind != svc.sched || !shares_cursor(svc)) return run();
  SvcCursor& cur = shared_->cursor(svc.id);
  const uint16_t tag = SvcCursor::tag_of(svc.generation);
  uint64_t w = cur.load();
  for (;;) {
    const SvcCursor::Pos c = SvcCursor::decode(w);
    if (c.tag != tag) [[unlikely]]
      return run();
    st.pos = c.pos;
    st.cw = c.cw;
    const DestId d = run();
    if (cur.swap(w, SvcCursor::encode(tag, st.pos, st.cw))) return d;
  }
}

// A new connection counted where its server's threshold wants it: with -x in the shared word
// (`hard`: refused at -x), without in this worker's shard.
bool Worker::bind_to(DestId d, bool hard) {
  const DestSnap& ds = snap_->dest(d);
  if (ds.u_threshold == 0) {
    DestShards::add(shard_[d], DestShards::kInactive);
  } else if (hard) {
    if (!shared_->dest(d).try_bind(ds, elsewhere(d))) return false;
  } else {
    shared_->dest(d).bind(ds, elsewhere(d));
  }
  ++load_[d].inactive;
  return true;
}

void Worker::unbind_conn(DestId d, bool active, bool limited) {
  DestLoad& l = load_[d];
  if (active)
    --l.active;
  else
    --l.inactive;
  const DestSnap& ds = snap_->dest(d);
  if (limited) {
    shared_->dest(d).unbind(ds, active, elsewhere(d));
  } else {
    DestShards::add(shard_[d], 0 - (active ? DestShards::kActive : DestShards::kInactive));
    if (ds.u_threshold) [[unlikely]]  // -x given since it was bound: it may clear the flag
      shared_->dest(d).unbound_elsewhere(ds, elsewhere(d));
  }
}

// A server's connections counted in the shards (this worker's exactly, the others' as of this
// burst), active and inactive together as -x counts them.
uint32_t Worker::elsewhere(DestId d) {
  const uint64_t s = shard_[d].load(std::memory_order_relaxed) + sums_.others(d);
  return static_cast<uint32_t>(s >> 32) + static_cast<uint32_t>(s);
}

// Persistence (reference §3.5): a template keyed by the masked client address sends every
// new connection of that client to the same real server while it lives.
DestId Worker::schedule_persistent(const ServiceSnap& svc, const Parsed& p, uint32_t now, uint8_t& plen_out) {
  be32 snet = p.saddr & svc.netmask;
  uint8_t tproto = svc.fwmark ? 0 : p.proto;
  be32 tvaddr = svc.fwmark ? hton32(svc.fwmark) : p.daddr;
  be16 tvport = (svc.fwmark || svc.port == 0 || svc.port == 21) ? 0 : p.dport;
  uint64_t h = table_.hash(tproto, snet, 0);
  uint32_t t = table_.find_template(h, tproto, snet, tvaddr, tvport);
  plen_out = static_cast<uint8_t>(__builtin_popcount(svc.netmask) + 1);
  const uint64_t akey = shared_->affinity().key(tproto, snet, tvaddr, tvport);
  if (t != ConnTable::kNone) {
    ConnV4& tc = table_.record(t);
    const DestSnap& d = snap_->dest(conn_dest(tc));
    uint32_t until;
    bool valid = (!table_.is_expired(t, now) || tie_holds(tc, now, until)) && d.available && d.svc == svc.id &&
                 d.addr.v4() == tc.daddr &&
                 conn_current(tc) && !(snap_->expire_quiescent_template() && d.weight == 0);
    if (valid) {
      ++tc.children;
      tc.expires = now + svc.persist_ticks;
      shared_->affinity().refresh(akey, tc.expires + tie_margin(tc));
      // The kernel binds a template's connection whatever the server's threshold.
      const DestId did = conn_dest(tc);
      bind_to(did, false);
      return did;
    }
    // An invalid template is re-keyed out of the way and left to die (kernel: dport 0xffff).
    // Its children can no longer find it under the new key, so it stops counting them.
    tc.vport = 0xffff;
    tc.children = 0;
    if (table_.is_expired(t, now)) expire_one(t, now);
  }
  // No template here: the client's tie made by another worker, if it still holds, is the
  // template (the kernel has one per client); otherwise schedule, and tie the client unless
  // another worker tied it first (then that tie wins and the connection moves to it).
  auto usable = [&](SharedAffinity::Hit a) {
    const DestSnap& d = snap_->dest(a.dest);
    return d.available && d.svc == svc.id && static_cast<uint8_t>(d.incarnation) == a.tag &&
           !(snap_->expire_quiescent_template() && d.weight == 0);
  };
  auto bind_tied = [&](DestId id) { bind_to(id, false); };  // a template's connection: no threshold, as above
  SharedAffinity::Hit tie;
  DestId did;
  bool counted = false;  // this worker's template is the client's one (kConnCounted)
  if (shared_->affinity().find(akey, now, tie) && usable(tie)) {
    did = tie.dest;
    bind_tied(did);
    shared_->affinity().refresh(akey, now + svc.persist_ticks + kTieMarginTicks);  // this template won't count
  } else {
    did = schedule(svc, sched_packet_v4(p), now);
    if (did == kNoDest) return kNoDest;
    const SharedAffinity::Hit mine{did, static_cast<uint8_t>(snap_->dest(did).incarnation)};
    tie = shared_->affinity().claim(akey, mine, now, now + svc.persist_ticks, usable, counted);
    counted |= tie.dest == kNoDest;  // no room for a tie: this template is all there is
    if (tie.dest != kNoDest && tie.dest != did) {
      unbind_conn(did, false, snap_->dest(did).u_threshold != 0);
      did = tie.dest;
      bind_tied(did);
    }
    if (tie.dest != kNoDest && !counted) shared_->affinity().refresh(akey, now + svc.persist_ticks + kTieMarginTicks);
  }
  const DestSnap& d = snap_->dest(did);
  ConnV4 tc{};
  tc.proto = tproto;
  tc.caddr = snet;
  tc.cport = 0;
  tc.vaddr = tvaddr;
  tc.vport = tvport;
  tc.daddr = d.addr.v4();
  tc.dport = hton16(d.port);
  set_conn_dest(tc, did);
  tc.flags = static_cast<uint8_t>(d.fwd) | kConnTemplate | (counted ? kConnCounted : 0);
  set_conn_dest_tag(tc, d.incarnation);
  tc.state = kTcpNone;
  tc.children = 1;
  tc.expires = now + svc.persist_ticks;
  if (table_.full()) [[unlikely]]
    make_room(now);
  const uint32_t tidx = table_.insert(h, tc);
  if (tidx == ConnTable::kNone) {
    // No room for the template: the connection itself may still fit; it just has no affinity.
    stats_.drop(DropReason::TableFull);
    plen_out = 0;
    return did;
  }
  sync_reset(tidx);
  if (counted) {
    ++load_[did].persist;
    shared_->dest(did).bind_template(d, d.u_threshold ? elsewhere(did) : 0);
  }
  stats_.event(Event::TemplateCreated);
  return did;
}

// A template that does not count keeps the client's tie a margin past its own expiry, so the
// counted one (which lives while the tie does) never lapses while another worker's template
// still holds connections of the client, whichever worker's timer runs first.
uint32_t Worker::tie_margin(const ConnV4& tc) { return (tc.flags & kConnCounted) ? 0 : kTieMarginTicks; }

// Whether the client's director-wide tie still names this counted template's server (other
// workers' connections may keep it alive past the template's own expiry), and until when.
bool Worker::tie_holds(const ConnV4& tc, uint32_t now, uint32_t& until) {
  if (!(tc.flags & kConnCounted)) return false;
  SharedAffinity& a = shared_->affinity();
  SharedAffinity::Hit h;
  if (!a.find(a.key(tc.proto, tc.caddr, tc.vaddr, tc.vport), now, h)) return false;
  if (h.dest != conn_dest(tc) || h.tag != conn_dest_tag(tc)) return false;
  until = h.expires;
  return true;
}

// A connection under a template went away (or never got in): the template loses a child and
// its affinity lasts the persistence timeout from now.
void Worker::template_child_gone(const ConnV4& c, uint32_t now) {
  const DestSnap& d = snap_->dest(conn_dest(c));
  const ServiceSnap* svc = snap_->service(d.svc);
  if (!svc) return;  // service deleted; its templates are reaped on expiry
  uint32_t plen = conn_plen(c) - 1u;
  be32 mask = plen == 0 ? 0 : hton32(~0u << (32 - plen));
  be32 snet = c.caddr & mask;
  uint8_t tproto = svc->fwmark ? 0 : c.proto;
  be32 tvaddr = svc->fwmark ? hton32(svc->fwmark) : c.vaddr;
  be16 tvport = (svc->fwmark || svc->port == 0 || svc->port == 21) ? 0 : c.vport;
  uint32_t t = table_.find_template(table_.hash(tproto, snet, 0), tproto, snet, tvaddr, tvport);
  if (t == ConnTable::kNone) return;
  ConnV4& tc = table_.record(t);
  if (tc.children) --tc.children;
  tc.expires = now + svc->persist_ticks;
  shared_->affinity().refresh(shared_->affinity().key(tproto, snet, tvaddr, tvport), tc.expires + tie_margin(tc));
}

}  // namespace fulcrum
