// Connection sync in the Worker, both ends of the kernel's sync daemon that touch the table:
// a master's decision per incoming packet (ip_vs_sync_conn: sync_policy.h decides, a record
// goes to the out buffer the dataplane drains after each burst) and a backup's install of
// what arrived (ip_vs_proc_conn). The sockets and the wire are the dataplane's sync thread's.
#include <algorithm>

#include "engine.h"

namespace fulcrum {

namespace {

// The kernel numbers a UDP connection's one state 0; the core keeps kStateUdp.
uint8_t wire_state(const ConnV4& c) {
  if (c.flags & kConnTemplate) return 0;
  return c.proto == kProtoUdp ? 0 : c.state;
}

// Per-state timeouts the backup applies to a version 0 record (no timeout on the wire).
constexpr uint32_t kV0TemplateSecs = 180;
// Longer than this is cut (ticks must stay below 2^31 apart: timeouts.h).
constexpr uint32_t kMaxSyncTimeoutSecs = 31 * 24 * 3600;

}  // namespace

SyncSide* Worker::set_sync_master(SyncSide* side) {
  SyncSide* old = sync_side_;
  sync_side_ = side;
  sync_end_ = side ? sync_endtimes(side, table_.slot_count()) : nullptr;
  sync_out_n_ = 0;
  return old;
}

// ---- master --------------------------------------------------------------------------------

// One packet of a connection (or, for a template, one of its connections' sends): advances
// `left` (packets until the threshold packet, this one included; 0: not counted yet) and
// returns a packet count the policy's threshold test judges as the kernel's would judge the
// real one (this packet is, or is not, the one).
uint32_t Worker::sync_step(uint32_t& left, uint32_t max_left) {
  const sync::SyncSysctls& t = sync_sysctls_;
  bool hit;
  if (left == 0) {
    // Not counted yet (new, or older than the master): this is its first packet.
    hit = t.period ? 1 % t.period == t.threshold : t.threshold == 1;
    if (t.period) {
      uint32_t k = 1 - 1 % t.period + t.threshold;
      left = (k <= 1 ? k + t.period : k) - 1;
    } else {
      left = t.threshold > 1 ? t.threshold - 1 : max_left;
    }
  } else if (left == 1) {
    hit = true;
    left = t.period ? t.period : max_left;
  } else {
    hit = false;
    --left;
  }
  if (left > max_left) left = max_left;
  return hit ? t.threshold : t.threshold + 1;
}

void Worker::sync_count_side(ConnV4& c, uint32_t idx, uint32_t now) {
  const uint32_t w = sync_side_[idx].word;
  if ((w < 32) | ((w & 15) != c.state) | sync_always_) [[unlikely]] {
    sync_decide(c, idx, now);
    return;
  }
  sync_side_[idx].word = w - 16;
}

void Worker::sync_decide(ConnV4& c, uint32_t idx, uint32_t now) {
  // Where the count and state live: in the record, or for FullNAT in the side array.
  const bool side = conn_fwd_method(c) == FwdMethod::FullNat;
  uint32_t left = side ? sync_side_[idx].word >> 4 : c.sync.left;
  uint8_t old_state = side ? static_cast<uint8_t>(sync_side_[idx].word & 15) : c.sync.state;
  const uint32_t pkts = sync_step(left, side ? kSyncLeftMax : 0xffff);
  bool send = false;
  const Timeouts& to = snap_->timeouts();
  const uint32_t timeout = c.proto == kProtoTcp ? to.tcp[c.state] : to.udp;
  // Proxied connections carry a seq shift the records do not: a backup could not follow them.
  if (!(c.tmpl_plen & kConnSynProxy)) [[likely]] {
    // sync_endtime matters to refresh (sync_refresh_period) alone: without it, its cold line
    // is left alone (an endtime missed meanwhile only makes the first refresh decision send).
    sync::SyncMark m{old_state, sync_always_ ? sync_end_[idx] : 0};
    sync::SyncInput in{};
    in.protocol = c.proto;
    in.state = c.state;
    in.under_template = conn_plen(c) != 0;
    in.pkts = pkts;
    in.now = now;
    in.timeout = timeout;
    in.ticks_per_s = kTicksPerSec;
    send = sync::sync_needed(sync_sysctls_, in, m);
    if (send) {
      old_state = static_cast<uint8_t>(m.old_state);
      if (sync_always_) sync_end_[idx] = static_cast<uint32_t>(m.sync_endtime);
    }
  }
  if (c.proto != kProtoTcp) old_state = c.state;  // UDP's one state: only the count matters
  if (side) {
    sync_side_[idx].word = left << 4 | (old_state & 15);
  } else {
    c.sync.left = static_cast<uint16_t>(left);
    c.sync.state = old_state;
  }
  if (send) sync_emit(c, timeout);
  // Its template goes with it (the kernel walks cp->control after the connection), and under
  // sync_persist_mode in its place: templates are what that mode syncs.
  if (conn_plen(c) && (send || sync_sysctls_.persist_mode)) sync_template_of(c, now);
}

void Worker::sync_template_of(const ConnV4& c, uint32_t now) {
  const DestSnap& d = snap_->dest(conn_dest(c));
  const ServiceSnap* svc = snap_->service(d.svc);
  if (!svc) return;
  uint32_t plen = conn_plen(c) - 1u;
  be32 mask = plen == 0 ? 0 : hton32(~0u << (32 - plen));
  uint8_t tproto = svc->fwmark ? 0 : c.proto;
  be32 tvaddr = svc->fwmark ? hton32(svc->fwmark) : c.vaddr;
  be16 tvport = (svc->fwmark || svc->port == 0 || svc->port == 21) ? 0 : c.vport;
  uint32_t t = table_.find_template(table_.hash(tproto, c.caddr & mask, 0), tproto, c.caddr & mask, tvaddr, tvport);
  if (t == ConnTable::kNone) return;
  const ConnV4& tc = table_.record(t);
  SyncSide& s = sync_side_[t];
  uint32_t left = s.word >> 4;
  const uint32_t pkts = sync_step(left, kSyncLeftMax);
  s.word = left << 4 | (s.word & 15);
  sync::SyncMark m{static_cast<uint16_t>(s.word & 15), sync_always_ ? sync_end_[t] : 0};
  sync::SyncInput in{};
  in.protocol = tc.proto;
  in.is_template = true;
  in.pkts = pkts;
  in.now = now;
  in.timeout = svc->persist_ticks;
  in.ticks_per_s = kTicksPerSec;
  if (!sync::sync_needed(sync_sysctls_, in, m)) return;
  if (sync_always_) sync_end_[t] = static_cast<uint32_t>(m.sync_endtime);
  sync_emit(tc, svc->persist_ticks);
}

void Worker::sync_emit(const ConnV4& c, uint32_t timeout) {
  // An IPv4 connection to an IPv6 tunnel server has no IPv4 record (the kernel's sync does not
  // carry such entries either: "no heterogeneous pools with synchronization").
  if (!snap_->dest(conn_dest(c)).addr.is_v4()) [[unlikely]]
    return;
  if (sync_out_n_ == kSyncOutMax) [[unlikely]] {
    ++sync_counters_.dropped;
    return;
  }
  sync_fill(c, timeout, sync_out_[sync_out_n_++]);
  ++sync_counters_.queued;
}

void Worker::sync_fill(const ConnV4& c, uint32_t timeout, sync::SyncRecord& r) const {
  r = sync::SyncRecord{};
  const bool tmpl = c.flags & kConnTemplate;
  r.caddr = c.caddr;
  r.vaddr = c.vaddr;
  r.daddr = c.daddr;
  r.cport = c.cport;
  r.vport = c.vport;
  r.dport = c.dport;
  r.protocol = c.proto;
  r.state = wire_state(c);
  r.timeout_s = ticks_to_secs(timeout);
  const FwdMethod fwd = conn_fwd_method(c);
  // FullNAT travels as masquerading plus Fulcrum's FullNAT parameter (the kernel skips it).
  r.flags = fwd == FwdMethod::FullNat ? sync::kFwdMasq : static_cast<uint32_t>(fwd);
  if (tmpl) {
    r.flags |= sync::kFlagTemplate;
    if (c.proto == 0) r.fwmark = ntoh32(c.vaddr);  // a fwmark template: vaddr is the mark
  } else {
    if (c.flags & kConnNoOutput) r.flags |= sync::kFlagNoOutput;
    if (!(c.flags & kConnActive)) r.flags |= sync::kFlagInactive;
    // Only rules (fwmark) reach fwmark services: without any, the service lookup is skipped.
    if (snap_->has_rules())
      if (const ServiceSnap* svc = snap_->service(snap_->dest(conn_dest(c)).svc)) r.fwmark = svc->fwmark;
    if (fwd == FwdMethod::FullNat) {
      r.has_fullnat = 1;
      r.laddr = fnat_.laddr(c.fnat.laddr);
      r.lport = c.fnat.lport;
    }
  }
}

// ---- backup --------------------------------------------------------------------------------

// Counts what an install did (both families' installs, engine_sync6.cc too).
SyncInstall Worker::sync_count_install(SyncInstall x) {
  switch (x) {
    case SyncInstall::Installed: ++sync_counters_.installed; break;
    case SyncInstall::Updated: ++sync_counters_.updated; break;
    case SyncInstall::Replaced: ++sync_counters_.replaced; break;
    case SyncInstall::Stale: ++sync_counters_.stale; break;
    case SyncInstall::NoService: ++sync_counters_.no_service; break;
    case SyncInstall::NoDest: ++sync_counters_.no_dest; break;
    case SyncInstall::TableFull: ++sync_counters_.table_full; break;
    case SyncInstall::FnatRefused: ++sync_counters_.fnat_refused; break;
    case SyncInstall::BadRecord: ++sync_counters_.bad_record; break;
  }
  return x;
}


SyncInstall Worker::sync_install(const sync::SyncRecord& r, uint32_t now) {
  const bool tmpl = r.flags & sync::kFlagTemplate;
  auto count = [&](SyncInstall x) { return sync_count_install(x); };
  if (tmpl ? (r.protocol != 0 && r.protocol != kProtoTcp && r.protocol != kProtoUdp)
           : (r.protocol != kProtoTcp && r.protocol != kProtoUdp) || (r.protocol == kProtoTcp && r.state >= kTcpStateCount) ||
                 (r.protocol == kProtoUdp && r.state != 0) || (r.has_fullnat && !fnat_.has_addrs()))
    return count(SyncInstall::BadRecord);
  if (tmpl && r.protocol == 0 && !r.fwmark) return count(SyncInstall::BadRecord);

  // The dest by <proto or fwmark, vaddr, vport, daddr, dport> in the running snapshot
  // (ip_vs_find_dest): the port first, then the address alone (all-port and fwmark services
  // keep the client's port in dport).
  const ServiceSnap* svc = r.fwmark ? snap_->find_fwmark(r.fwmark) : snap_->find_v4(r.protocol, r.vaddr, r.vport);
  if (!svc) return count(SyncInstall::NoService);
  DestId did = kNoDest;
  for (int pass = 0; pass < 2 && did == kNoDest; ++pass)
    for (DestId id : svc->order) {
      const DestSnap& d = snap_->dest(id);
      if (d.available && d.addr.is_v4() && d.addr.v4() == r.daddr && (pass == 1 || hton16(d.port) == r.dport)) {
        did = id;
        break;
      }
    }
  if (did == kNoDest) return count(SyncInstall::NoDest);

  uint32_t secs = r.timeout_s;
  if (secs == 0)  // version 0: the backup's own timeouts
    secs = tmpl ? kV0TemplateSecs
                : ticks_to_secs(r.protocol == kProtoTcp ? snap_->timeouts().tcp[r.state] : snap_->timeouts().udp);
  const uint32_t timeout = secs_to_ticks(std::min(secs, kMaxSyncTimeoutSecs));
  if (tmpl) return count(sync_install_template(r, *svc, did, timeout, now));

  const uint64_t h = table_.hash(r.protocol, r.caddr, r.cport);
  uint32_t idx = table_.find_in(h, r.protocol, r.caddr, r.cport, r.vaddr, r.vport);
  bool replaced = false;
  if (idx != ConnTable::kNone) {
    const ConnV4& c = table_.record(idx);
    if (c.daddr == r.daddr && c.dport == r.dport) return count(sync_update(idx, r, timeout, now));
    // Another real server: the kernel expires the old entry for the new one, unless this is the
    // old one's last word (inactive), which it ignores.
    if (r.flags & sync::kFlagInactive) return count(SyncInstall::Stale);
    release(idx, now);
    table_.erase(idx);
    replaced = true;
  }

  const DestSnap& d = snap_->dest(did);
  ConnV4 c{};
  c.proto = r.protocol;
  c.caddr = r.caddr;
  c.cport = r.cport;
  c.vaddr = r.vaddr;
  c.vport = r.vport;
  c.daddr = r.daddr;
  c.dport = r.dport;
  set_conn_dest(c, did);
  c.flags = static_cast<uint8_t>(sync::fwd_of(r));
  if (r.flags & sync::kFlagNoOutput) c.flags |= kConnNoOutput;
  c.tmpl_plen = kConnSynced;  // no template link: a synced connection is never scheduled again
  set_conn_dest_tag(c, d.incarnation);
  c.state = r.protocol == kProtoTcp ? kTcpNone : kStateUdp;
  if (d.u_threshold) c.flags |= kConnLimited;
  c.expires = now + timeout;
  if (table_.full()) [[unlikely]]
    make_room(now);
  idx = table_.insert(h, c);
  if (idx == ConnTable::kNone) return count(SyncInstall::TableFull);
  ConnV4& rc = table_.record(idx);
  if (sync::fwd_of(r) == FwdMethod::FullNat) {
    uint8_t li;
    if (!fnat_.claim(idx, r.laddr, r.lport, li)) {
      table_.erase(idx);
      return count(SyncInstall::FnatRefused);
    }
    rc.fnat.laddr = li;
    rc.fnat.lport = r.lport;
  }
  bind_to(did, false);  // counted inactive, as every new entry; the state moves it
  sync_reset(idx);
  if (r.protocol == kProtoTcp) set_state(rc, r.state, now);
  rc.expires = now + timeout;
  sync_mark_received(rc, idx);
  return count(replaced ? SyncInstall::Replaced : SyncInstall::Installed);
}

// As the kernel's backup sets in_pkts to sync_threshold and old_state to the state received:
// should this director also be (or become) a master, the entry's next send is a period away
// and its state counts as sent.
void Worker::sync_mark_received(ConnV4& c, uint32_t idx) {
  const uint32_t period = sync_sysctls_.period ? sync_sysctls_.period : kSyncLeftMax;
  const uint8_t st = c.state;
  if (conn_fwd_method(c) != FwdMethod::FullNat) {
    c.sync.left = static_cast<uint16_t>(period > 0xffff ? 0xffff : period);
    c.sync.state = st;
  } else if (sync_side_) {
    sync_side_[idx].word = (period > kSyncLeftMax ? kSyncLeftMax : period) << 4 | (st & 15);
  }
}

// An entry this backup has: the sent state (the dest's active/inactive counts follow it), the
// sent timeout, and NO_OUTPUT as the master last saw it.
SyncInstall Worker::sync_update(uint32_t idx, const sync::SyncRecord& r, uint32_t timeout, uint32_t now) {
  ConnV4& c = table_.record(idx);
  if (c.proto == kProtoTcp && conn_current(c)) set_state(c, r.state, now);
  else if (c.proto == kProtoTcp) c.state = r.state;
  if (r.flags & sync::kFlagNoOutput) c.flags |= kConnNoOutput;
  else c.flags &= ~kConnNoOutput;
  c.expires = now + timeout;
  sync_mark_received(c, idx);
  return SyncInstall::Updated;
}

// A persistence template: the client's director-wide tie is claimed for the sent server, so
// whichever worker the client's next connection reaches sends it there.
SyncInstall Worker::sync_install_template(const sync::SyncRecord& r, const ServiceSnap& svc, DestId did,
                                          uint32_t timeout, uint32_t now) {
  const uint64_t h = table_.hash(r.protocol, r.caddr, 0);
  const uint32_t t = table_.find_template(h, r.protocol, r.caddr, r.vaddr, r.vport);
  const uint64_t akey = shared_->affinity().key(r.protocol, r.caddr, r.vaddr, r.vport);
  if (t != ConnTable::kNone) {
    ConnV4& tc = table_.record(t);
    if (tc.daddr == r.daddr && conn_dest(tc) == did) {
      if (static_cast<int32_t>(now + timeout - tc.expires) > 0) tc.expires = now + timeout;
      shared_->affinity().refresh(akey, tc.expires + tie_margin(tc));
      return SyncInstall::Updated;
    }
    // Another server: re-keyed out of the way, as an invalid template (schedule_persistent).
    tc.vport = 0xffff;
    tc.children = 0;
  }
  const DestSnap& d = snap_->dest(did);
  auto usable = [&](SharedAffinity::Hit a) {
    const DestSnap& x = snap_->dest(a.dest);
    return x.available && x.svc == svc.id && static_cast<uint8_t>(x.incarnation) == a.tag;
  };
  bool counted = false;
  const SharedAffinity::Hit mine{did, static_cast<uint8_t>(d.incarnation)};
  SharedAffinity::Hit tie = shared_->affinity().claim(akey, mine, now, now + timeout, usable, counted);
  counted |= tie.dest == kNoDest;
  ConnV4 tc{};
  tc.proto = r.protocol;
  tc.caddr = r.caddr;
  tc.vaddr = r.vaddr;
  tc.vport = r.vport;
  tc.daddr = r.daddr;
  tc.dport = r.dport;
  set_conn_dest(tc, did);
  tc.flags = static_cast<uint8_t>(d.fwd) | kConnTemplate | kTmplSynced | (counted ? kConnCounted : 0);
  set_conn_dest_tag(tc, d.incarnation);
  tc.state = kTcpNone;
  tc.children = 0;
  tc.expires = now + timeout;
  if (table_.full()) [[unlikely]]
    make_room(now);
  const uint32_t idx = table_.insert(h, tc);
  if (idx == ConnTable::kNone) return SyncInstall::TableFull;
  sync_reset(idx);
  if (counted) {
    ++load_[did].persist;
    shared_->dest(did).bind_template(d, d.u_threshold ? elsewhere(did) : 0);
  }
  return t != ConnTable::kNone ? SyncInstall::Replaced : SyncInstall::Installed;
}

}  // namespace fulcrum
