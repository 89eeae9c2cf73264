// Connection sync of the IPv6 table (engine_sync.cc has IPv4's and the reasons): a master's
// decision per incoming packet of an IPv6 or NAT64 connection, its templates' with it, and a
// backup's install of IPv6 records. The kernel sends its IPv6 connections as version 1 IPv6
// records (struct ip_vs_sync_v6) under the same rules as IPv4 ones; so does this. The count and
// state the decision needs are in the record's line (conn6.h), so no side array is involved.
#include <algorithm>

#include "engine.h"

namespace fulcrum {

namespace {

// A fwmark template's vaddr: ours keeps the mark in the last word (mark_addr6, conn6.h); the
// kernel's (ip_vs_sched_persist: `union nf_inet_addr fwmark = { .ip = htonl(svc->fwmark) }`)
// in the first, and that is what travels.
IpAddr mark_vaddr_wire(uint32_t mark) {
  IpAddr a;
  const be32 m = hton32(mark);
  std::memcpy(&a.b[0], &m, 4);
  return a;
}
uint32_t mark_of_local(const IpAddr& a) {
  be32 m;
  std::memcpy(&m, &a.b[12], 4);
  return ntoh32(m);
}

constexpr uint32_t kV0TemplateSecs = 180;
constexpr uint32_t kMaxSyncTimeoutSecs = 31 * 24 * 3600;

bool fwd_ok(const sync::SyncRecord6& r) {
  // A NAT64 entry (IPv4 daddr) is FullNAT with an IPv4 local address; any other has an IPv6
  // server, and a FullNAT one an IPv6 local address.
  if (r.daddr.is_v4()) return r.has_fullnat && r.laddr.is_v4();
  return !r.has_fullnat || !r.laddr.is_v4();
}

}  // namespace

// ---- master --------------------------------------------------------------------------------

void Worker::sync_decide6(ConnV6& c, uint32_t now) {
  // Not sent, as IPv4's: a proxied connection carries a seq shift the records do not (a backup
  // could not follow it), and one to an IPv4 tunnel server a server of the other family, which
  // a record cannot name. Counted out of the way so their packets do not call here again soon.
  if ((c.ext & kConn6SynProxy) || (conn_fwd_method(c) == FwdMethod::Tunnel && snap_->dest(conn_dest(c)).addr.is_v4()))
      [[unlikely]] {
    c.sync_left = 0xffff;
    c.sync_state = c.state;
    return;
  }
  uint32_t left = c.sync_left;
  uint8_t old_state = c.sync_state;
  const uint32_t pkts = sync_step(left, 0xffff);
  const Timeouts& to = snap_->timeouts();
  const uint32_t timeout = c.proto == kProtoTcp ? to.tcp[c.state] : to.udp;
  sync::SyncMark m{old_state, c.sync_end};
  sync::SyncInput in{};
  in.protocol = c.proto;
  in.state = c.state;
  in.under_template = conn_plen(c) != 0;
  in.pkts = pkts;
  in.now = now;
  in.timeout = timeout;
  in.ticks_per_s = kTicksPerSec;
  const bool send = sync::sync_needed(sync_sysctls_, in, m);
  if (send) {
    old_state = static_cast<uint8_t>(m.old_state);
    c.sync_end = static_cast<uint32_t>(m.sync_endtime);
  }
  if (c.proto != kProtoTcp) old_state = c.state;  // UDP's one state: only the count matters
  c.sync_left = static_cast<uint16_t>(left);
  c.sync_state = old_state;
  if (send) sync_emit6(c, timeout);
  if (conn_plen(c) && (send || sync_sysctls_.persist_mode)) sync_template_of6(c, now);
}

void Worker::sync_template_of6(const ConnV6& c, uint32_t now) {
  const ServiceSnap* svc;
  const uint32_t t = controlling_template6(c, svc);
  if (t == ConnTable6::kNone) return;
  ConnV6& tc = table6_.record(t);
  uint32_t left = tc.sync_left;
  const uint32_t pkts = sync_step(left, 0xffff);
  tc.sync_left = static_cast<uint16_t>(left);
  sync::SyncMark m{tc.sync_state, tc.sync_end};
  sync::SyncInput in{};
  in.protocol = tc.proto;
  in.is_template = true;
  in.pkts = pkts;
  in.now = now;
  in.timeout = svc->persist_ticks;
  in.ticks_per_s = kTicksPerSec;
  if (!sync::sync_needed(sync_sysctls_, in, m)) return;
  tc.sync_end = static_cast<uint32_t>(m.sync_endtime);
  sync_emit6(tc, svc->persist_ticks);
}

void Worker::sync_emit6(const ConnV6& c, uint32_t timeout) {
  if (sync_out6_n_ == kSyncOutMax) [[unlikely]] {
    ++sync_counters_.dropped;
    return;
  }
  sync_fill6(c, timeout, sync_out6_[sync_out6_n_++]);
  ++sync_counters_.queued;
}

void Worker::sync_fill6(const ConnV6& c, uint32_t timeout, sync::SyncRecord6& r) const {
  r = sync::SyncRecord6{};
  const bool tmpl = c.flags & kConnTemplate;
  const DestSnap& d = snap_->dest(conn_dest(c));
  r.caddr = c.caddr;
  r.vaddr = c.vaddr;
  r.daddr = d.addr;  // the record keeps none: its dest's (conn6.h); NAT64: IPv4-mapped
  r.cport = c.cport;
  r.vport = c.vport;
  r.dport = c.dport;
  r.protocol = c.proto;
  r.state = (tmpl || c.proto == kProtoUdp) ? 0 : c.state;
  r.timeout_s = ticks_to_secs(timeout);
  const FwdMethod fwd = conn_fwd_method(c);
  r.flags = fwd == FwdMethod::FullNat ? sync::kFwdMasq : static_cast<uint32_t>(fwd);
  if (tmpl) {
    r.flags |= sync::kFlagTemplate;
    if (c.proto == 0) {  // a fwmark template: the kernel's form of its vaddr, and the mark
      r.fwmark = mark_of_local(c.vaddr);
      r.vaddr = mark_vaddr_wire(r.fwmark);
    }
    return;
  }
  if (c.flags & kConnNoOutput) r.flags |= sync::kFlagNoOutput;
  if (!(c.flags & kConnActive)) r.flags |= sync::kFlagInactive;
  if (snap_->has_rules6())
    if (const ServiceSnap* svc = snap_->service(d.svc)) r.fwmark = svc->fwmark;
  if (fwd == FwdMethod::FullNat) {
    r.has_fullnat = 1;
    r.laddr = d.addr.is_v4() ? IpAddr::from_v4(fnat_.laddr(c.fnat.laddr)) : laddrs6_[c.fnat.laddr];
    r.lport = c.fnat.lport;
  }
}

// ---- backup --------------------------------------------------------------------------------

SyncInstall Worker::sync_install6(const sync::SyncRecord6& r, uint32_t now) {
  const bool tmpl = r.flags & sync::kFlagTemplate;
  const bool nat64 = r.daddr.is_v4();
  if (r.caddr.is_v4() || r.vaddr.is_v4() ||
      (tmpl ? (r.protocol != 0 && r.protocol != kProtoTcp && r.protocol != kProtoUdp) || (r.protocol == 0 && !r.fwmark)
            : (r.protocol != kProtoTcp && r.protocol != kProtoUdp) || (r.protocol == kProtoTcp && r.state >= kTcpStateCount) ||
                  (r.protocol == kProtoUdp && r.state != 0) || !fwd_ok(r) ||
                  (r.has_fullnat && (nat64 ? !fnat_.has_addrs() : laddrs6_.empty()))))
    return sync_count_install(SyncInstall::BadRecord);

  // The dest by <proto or fwmark, vaddr, vport, daddr, dport> (ip_vs_find_dest), as IPv4's.
  const ServiceSnap* svc = r.fwmark ? snap_->find_fwmark6(r.fwmark) : snap_->find_v6(r.protocol, r.vaddr.b.data(), r.vport);
  if (!svc) return sync_count_install(SyncInstall::NoService);
  DestId did = kNoDest;
  for (int pass = 0; pass < 2 && did == kNoDest; ++pass)
    for (DestId id : svc->order) {
      const DestSnap& d = snap_->dest(id);
      if (d.available && d.addr == r.daddr && (pass == 1 || hton16(d.port) == r.dport)) {
        did = id;
        break;
      }
    }
  if (did == kNoDest) return sync_count_install(SyncInstall::NoDest);

  uint32_t secs = r.timeout_s;
  if (secs == 0)
    secs = tmpl ? kV0TemplateSecs
                : ticks_to_secs(r.protocol == kProtoTcp ? snap_->timeouts().tcp[r.state] : snap_->timeouts().udp);
  const uint32_t timeout = secs_to_ticks(std::min(secs, kMaxSyncTimeoutSecs));
  if (tmpl) return sync_count_install(sync_install_template6(r, did, timeout, now));

  const uint64_t h = table6_.hash(r.protocol, r.caddr, r.cport);
  uint32_t idx = table6_.find_in(h, r.protocol, r.caddr.b.data(), r.cport, r.vaddr.b.data(), r.vport);
  bool replaced = false;
  if (idx != ConnTable6::kNone) {
    ConnV6& c = table6_.record(idx);
    if (conn_dest(c) == did && conn_current(c) && c.dport == r.dport) {
      // The sent state (the dest's active/inactive counts follow it), timeout and NO_OUTPUT.
      if (c.proto == kProtoTcp) set_state(c, r.state, now);
      if (r.flags & sync::kFlagNoOutput) c.flags |= kConnNoOutput;
      else c.flags &= ~kConnNoOutput;
      c.expires = now + timeout;
      sync_mark_received6(c);
      return sync_count_install(SyncInstall::Updated);
    }
    if (r.flags & sync::kFlagInactive) return sync_count_install(SyncInstall::Stale);
    release6(idx, now);
    table6_.erase(idx);
    replaced = true;
  }

  const DestSnap& d = snap_->dest(did);
  const FwdMethod fwd = sync::fwd_of(r);
  ConnV6 c{};
  c.proto = r.protocol;
  c.caddr = r.caddr;
  c.cport = r.cport;
  c.vaddr = r.vaddr;
  c.vport = r.vport;
  c.dport = r.dport;
  set_conn_dest(c, did);
  c.flags = static_cast<uint8_t>(fwd);
  if (r.flags & sync::kFlagNoOutput) c.flags |= kConnNoOutput;
  c.tmpl_plen = 0;  // no template link: a synced connection is never scheduled again
  c.sync_flags = kConn6Synced;
  set_conn_dest_tag(c, d.incarnation);
  c.state = r.protocol == kProtoTcp ? kTcpNone : kStateUdp;
  if (d.u_threshold) c.flags |= kConnLimited;
  c.expires = now + timeout;
  if (table6_.full()) [[unlikely]]
    half_open6_ && evict_half_open6(now, false);
  idx = table6_.insert(h, c);
  if (idx == ConnTable6::kNone) return sync_count_install(SyncInstall::TableFull);
  ConnV6& rc = table6_.record(idx);
  if (fwd == FwdMethod::FullNat) {
    // The pair must be this worker's: NAT64 in the IPv4 pool (its replies arrive as IPv4),
    // IPv6 FullNAT in the IPv6 one (keyed by the address's index + 1, engine.cc).
    uint8_t li;
    bool ok;
    if (nat64) {
      ok = fnat_.claim(idx | kNat64Owner, r.laddr.v4(), r.lport, li);
    } else {
      const int a = laddr6_index(r.laddr.b.data());
      ok = a >= 0 && fnat6_.claim(idx, static_cast<be32>(a + 1), r.lport, li);
    }
    if (!ok) {
      table6_.erase(idx);
      return sync_count_install(SyncInstall::FnatRefused);
    }
    rc.fnat.laddr = li;
    rc.fnat.lport = r.lport;
  }
  bind_to(did, false);  // counted inactive, as every new entry; the state moves it
  if (r.protocol == kProtoTcp) set_state(rc, r.state, now);
  rc.expires = now + timeout;
  sync_mark_received6(rc);
  return sync_count_install(replaced ? SyncInstall::Replaced : SyncInstall::Installed);
}

// As the kernel's backup does (engine_sync.cc's sync_mark_received): the next send a period
// away, the state received counted as sent.
void Worker::sync_mark_received6(ConnV6& c) {
  const uint32_t period = sync_sysctls_.period ? sync_sysctls_.period : 0xffff;
  c.sync_left = static_cast<uint16_t>(std::min<uint32_t>(period, 0xffff));
  c.sync_state = c.state;
  c.sync_end = 0;
}

// A persistence template. IPv6 templates are each worker's (no director-wide tie for IPv6
// clients, engine_v6.cc), so the dataplane hands a synced one to every worker: the client's
// next connection keeps to the sent server whichever worker it reaches.
SyncInstall Worker::sync_install_template6(const sync::SyncRecord6& r, DestId did, uint32_t timeout, uint32_t now) {
  const IpAddr vaddr = r.protocol == 0 ? mark_addr6(r.fwmark) : r.vaddr;
  const uint64_t h = table6_.hash(r.protocol, r.caddr, 0);
  const uint32_t t = table6_.find_template(h, r.protocol, r.caddr, vaddr, r.vport);
  if (t != ConnTable6::kNone) {
    ConnV6& tc = table6_.record(t);
    if (conn_dest(tc) == did && conn_current(tc)) {
      if (static_cast<int32_t>(now + timeout - tc.expires) > 0) tc.expires = now + timeout;
      return SyncInstall::Updated;
    }
    // Another server: re-keyed out of the way, as an invalid template (schedule_persistent6).
    tc.vport = 0xffff;
    tc.children = 0;
  }
  const DestSnap& d = snap_->dest(did);
  ConnV6 tc{};
  tc.proto = r.protocol;
  tc.caddr = r.caddr;
  tc.vaddr = vaddr;
  tc.vport = r.vport;
  tc.dport = r.dport;
  set_conn_dest(tc, did);
  tc.flags = static_cast<uint8_t>(d.fwd) | kConnTemplate | kConnCounted;
  set_conn_dest_tag(tc, d.incarnation);
  tc.state = kTcpNone;
  tc.children = 0;
  tc.sync_flags = kConn6Synced;
  tc.expires = now + timeout;
  if (table6_.full()) [[unlikely]]
    half_open6_ && evict_half_open6(now, false);
  if (table6_.insert(h, tc) == ConnTable6::kNone) return SyncInstall::TableFull;
  ++load_[did].persist;
  shared_->dest(did).bind_template(d, d.u_threshold ? elsewhere(did) : 0);
  return t != ConnTable6::kNone ? SyncInstall::Replaced : SyncInstall::Installed;
}

}  // namespace fulcrum
