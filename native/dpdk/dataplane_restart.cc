// Restarts that keep connections: a graceful stop writes every worker's table to the
// connections file once the lcores have left their loops (so the last bursts are in it), and
// the next start puts each entry into the worker that owns it before any lcore polls a port.
// The owner is the steering one (steer.h: the client's address and port), so a start with
// another worker count still puts an entry where its packets arrive; a FullNAT entry must
// also find its local port in that worker's range (the worker refuses it otherwise: counted).
// SYN-proxied connections keep their seq shift (restart_file.h's entry carries it). IPv6 and
// NAT64 entries go to the worker their client steers to (steer.h's fold_v6), IPv6 templates to
// every worker (they are each worker's: engine_sync6.cc).
// The file is consumed by the start that reads it: a director killed later (kill -9) leaves
// no file behind, so nothing stale is ever revived; a refused file is kept aside as
// FILE.refused for a look, and the director starts empty.
#include <rte_cycles.h>
#include <rte_ring.h>

#include <chrono>
#include <cstdio>

#include "dataplane.h"
#include "dp_limits.h"
#include "steer.h"

namespace fulcrum::dp {

namespace {

uint64_t unix_ms() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

// The tick the workers' clocks read now (lcore_worker.cc's now_ms / kMsPerTick).
uint32_t Dataplane::stopped_tick() const {
  const uint64_t tsc_per_ms = std::max<uint64_t>(1, shared_->tsc_hz / 1000);
  return static_cast<uint32_t>(rte_rdtsc() / tsc_per_ms / kMsPerTick);
}

RestoreReport Dataplane::restore_connections() {
  RestoreReport rep;
  rep.file = cfg_.connections_file;
  if (rep.file.empty()) return rep;
  const auto t0 = std::chrono::steady_clock::now();
  restart::Dump d;
  std::string why;
  const restart::ReadResult rr = restart::read_dump(rep.file, d, why);
  if (rr == restart::ReadResult::Missing) return rep;
  rep.found = true;
  if (rr == restart::ReadResult::Refused) {
    rep.refused = why;
    std::rename(rep.file.c_str(), (rep.file + ".refused").c_str());
    rep.ms = ms_since(t0);
    return rep;
  }
  std::remove(rep.file.c_str());
  rep.saved_unix_ms = d.saved_unix_ms;
  rep.saved_workers = d.nworkers;
  rep.entries = d.conns.size() + d.conns6.size();
  const uint64_t now_ms = unix_ms();
  // A clock stepped back since the save counts as no time down, not as negative time.
  rep.down_ms = now_ms > d.saved_unix_ms ? now_ms - d.saved_unix_ms : 0;
  const uint64_t down64 = rep.down_ms / kMsPerTick;
  const uint32_t down = down64 > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(down64);
  const uint32_t tick = stopped_tick();
  const uint32_t nw = static_cast<uint32_t>(workers_.size());
  for (const restart::SavedConn& s : d.conns) {
    // Templates have cport 0: any worker may hold one; the client's steering owner does.
    const uint32_t w = owner_of_client(s.rec.caddr, s.rec.cport, nw);
    rep.counts.add(workers_[w]->core().restore_conn(s, down, tick));
  }
  for (const restart::SavedConn6& s : d.conns6) {
    if (s.rec.flags & sync::kFlagTemplate) {
      // One outcome per entry: the first worker's (the others' are the same install).
      restart::Restored first = restart::Restored::BadRecord;
      for (uint32_t w = 0; w < nw; ++w) {
        const restart::Restored x = workers_[w]->core().restore_conn6(s, down, tick);
        if (w == 0) first = x;
      }
      rep.counts.add(first);
      continue;
    }
    const uint32_t w = owner_of_client(fold_v6(s.rec.caddr), s.rec.cport, nw);
    rep.counts.add(workers_[w]->core().restore_conn6(s, down, tick));
  }
  rep.ms = ms_since(t0);
  return rep;
}

void Dataplane::save_connections() {
  last_save_ = SaveReport{};
  last_save_.file = cfg_.connections_file;
  const auto t0 = std::chrono::steady_clock::now();
  const uint32_t tick = stopped_tick();
  restart::Dump d;
  d.nworkers = static_cast<uint32_t>(workers_.size());
  size_t total = 0;
  for (auto& w : workers_) total += w->core().conn_count();
  d.conns.reserve(total);
  for (uint32_t i = 0; i < workers_.size(); ++i) {
    Worker& core = workers_[i]->core();
    // Records a backup thread routed here but the worker had not installed yet: they are the
    // master's latest word on these connections.
    sync::SyncRecord r;
    while (shared_->sync && rte_ring_sc_dequeue_elem(shared_->sync[i].in, &r, sizeof r) == 0) core.sync_install(r, tick);
    sync::SyncRecord6 r6;
    while (shared_->sync && rte_ring_sc_dequeue_elem(shared_->sync[i].in6, &r6, sizeof r6) == 0) core.sync_install6(r6, tick);
    core.save_conns(tick, d.conns, d.conns6, last_save_.counts);
  }
  d.saved_unix_ms = unix_ms();
  last_save_.error = restart::write_dump(last_save_.file, d);
  last_save_.ms = ms_since(t0);
}

}  // namespace fulcrum::dp
