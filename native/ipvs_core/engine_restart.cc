// A graceful restart in the Worker: what it holds goes out as sync records with the time each
// has left (save_conns), and a new start puts them back through the backup's install path
// (restore_conn), so a restored entry is bound to its real server by identity, counted in its
// active/inactive/persist numbers and owned exactly as a synced one would be. The file is
// restart_file.h's; which worker gets which entry is the dataplane's (the steering owner).
#include "engine.h"

namespace fulcrum {

namespace {
// Why the install path refused a saved entry, as the restore counts it.
restart::Restored refused(SyncInstall x) {
  switch (x) {
    case SyncInstall::NoService: return restart::Restored::NoService;
    case SyncInstall::NoDest: return restart::Restored::NoDest;
    case SyncInstall::TableFull: return restart::Restored::TableFull;
    case SyncInstall::FnatRefused: return restart::Restored::FnatMoved;
    default: return restart::Restored::BadRecord;  // stale, or a bad record
  }
}
}  // namespace

void Worker::save_conns(uint32_t now, std::vector<restart::SavedConn>& out, std::vector<restart::SavedConn6>& out6,
                        restart::SaveCounts& n) {
  table6_.scan(0, SIZE_MAX, [&](uint32_t idx) {
    const ConnV6& c = table6_.record(idx);
    const bool tmpl = c.flags & kConnTemplate;
    // An entry made for an earlier incarnation of its dest id: its server (the dest's address,
    // conn6.h) is no longer known. The packet path would drop it; so does the save.
    if (!conn_current(c)) return;
    int32_t left = static_cast<int32_t>(c.expires - now);
    if (tmpl && c.children) {
      const ServiceSnap* svc = snap_->service(snap_->dest(conn_dest(c)).svc);
      if (svc) left = std::max<int32_t>(left, static_cast<int32_t>(svc->persist_ticks));
    }
    if (left <= 0) return;
    // To an IPv4 tunnel server: a record names its server in the client's family only.
    if (conn_fwd_method(c) == FwdMethod::Tunnel && snap_->dest(conn_dest(c)).addr.is_v4()) {
      ++n.skipped_mixed;
      return;
    }
    restart::SavedConn6& s = out6.emplace_back();
    sync_fill6(c, 0, s.rec);
    s.left_ticks = static_cast<uint32_t>(left);
    if (!tmpl && (c.ext & kConn6SynProxy) && synproxy6_export(idx, s)) ++n.synproxy;
    ++n.v6;
    ++n.saved;
  });
  table_.scan(0, SIZE_MAX, [&](uint32_t idx) {
    const ConnV4& c = table_.record(idx);
    const bool tmpl = c.flags & kConnTemplate;
    int32_t left = static_cast<int32_t>(c.expires - now);
    // A template that controls live connections outlives its own timeout (the sweep re-arms it
    // with the persistence timeout); it must outlive them after the restart too.
    if (tmpl && c.children) {
      const ServiceSnap* svc = snap_->service(snap_->dest(conn_dest(c)).svc);
      if (svc) left = std::max<int32_t>(left, static_cast<int32_t>(svc->persist_ticks));
    }
    if (left <= 0) return;  // due: the sweep would have removed it
    if (!snap_->dest(conn_dest(c)).addr.is_v4()) {  // to an IPv6 tunnel server: no IPv4 record
      ++n.skipped_mixed;
      return;
    }
    restart::SavedConn& s = out.emplace_back();
    sync_fill(c, 0, s.rec);
    s.left_ticks = static_cast<uint32_t>(left);
    // A proxied connection's seq shift lives in the SynProxyTable, not in the record.
    if (!tmpl && (c.tmpl_plen & kConnSynProxy) && synproxy_export(idx, s)) ++n.synproxy;
    ++n.saved;
  });
}

restart::Restored Worker::restore_conn(const restart::SavedConn& s, uint32_t down_ticks, uint32_t now) {
  if (s.left_ticks <= down_ticks) return restart::Restored::Expired;
  sync::SyncRecord r = s.rec;
  const uint32_t left = s.left_ticks - down_ticks;
  r.timeout_s = (left + kTicksPerSec - 1) / kTicksPerSec;  // whole seconds, as sync carries them
  const SyncCounters kept = sync_counters_;
  const SyncInstall x = sync_install(r, now);
  sync_counters_ = kept;
  if (x != SyncInstall::Installed && x != SyncInstall::Updated && x != SyncInstall::Replaced) return refused(x);
  // Made here before the stop: listings must not call it synced. (A connection keeps no link
  // to its template: the template's own timeout, re-armed at the save, keeps the client's tie.)
  if (r.flags & sync::kFlagTemplate) {
    const uint32_t t = table_.find_template(table_.hash(r.protocol, r.caddr, 0), r.protocol, r.caddr, r.vaddr, r.vport);
    if (t != ConnTable::kNone) table_.record(t).flags &= ~kTmplSynced;
  } else {
    const uint32_t i = table_.find_in(table_.hash(r.protocol, r.caddr, r.cport), r.protocol, r.caddr, r.cport, r.vaddr, r.vport);
    if (i != ConnTable::kNone) {
      table_.record(i).tmpl_plen &= ~kConnSynced;
      // Without its seq shift a proxied connection would carry wrong sequence numbers: it goes.
      if (s.proxied && !(table_.record(i).tmpl_plen & kConnSynProxy) && !synproxy_import(i, s)) {
        release(i, now);
        table_.erase(i);
        return restart::Restored::TableFull;
      }
    }
  }
  return restart::Restored::Restored;
}

// The IPv6 form (restore_conn's reasons): installed as a synced one would be, then unmarked.
restart::Restored Worker::restore_conn6(const restart::SavedConn6& s, uint32_t down_ticks, uint32_t now) {
  if (s.left_ticks <= down_ticks) return restart::Restored::Expired;
  sync::SyncRecord6 r = s.rec;
  const uint32_t left = s.left_ticks - down_ticks;
  r.timeout_s = (left + kTicksPerSec - 1) / kTicksPerSec;
  const SyncCounters kept = sync_counters_;
  const SyncInstall x = sync_install6(r, now);
  sync_counters_ = kept;
  if (x != SyncInstall::Installed && x != SyncInstall::Updated && x != SyncInstall::Replaced) return refused(x);
  if (r.flags & sync::kFlagTemplate) {
    // A fwmark template's vaddr came in the kernel's form (sync_fill6): ours has the mark last.
    const IpAddr v = r.protocol == 0 ? mark_addr6(r.fwmark) : r.vaddr;
    const uint32_t t = table6_.find_template(table6_.hash(r.protocol, r.caddr, 0), r.protocol, r.caddr, v, r.vport);
    if (t != ConnTable6::kNone) table6_.record(t).sync_flags &= ~kConn6Synced;
  } else {
    const uint32_t i = table6_.find_in(table6_.hash(r.protocol, r.caddr, r.cport), r.protocol, r.caddr.b.data(), r.cport,
                                       r.vaddr.b.data(), r.vport);
    if (i != ConnTable6::kNone) {
      table6_.record(i).sync_flags &= ~kConn6Synced;
      if (s.proxied && !(table6_.record(i).ext & kConn6SynProxy) && !synproxy6_import(i, s)) {
        release6(i, now);
        table6_.erase(i);
        return restart::Restored::TableFull;
      }
    }
  }
  return restart::Restored::Restored;
}

}  // namespace fulcrum
