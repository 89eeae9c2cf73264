// The Dataplane's connection sync controls, on the control thread: which port a daemon uses
// and why one cannot start, the master's per-worker side arrays (made here, handed to the
// workers by a SyncConfig request, freed once the workers have let go of them), tunables.
#include <algorithm>
#include <stdexcept>

#include "dataplane.h"

namespace fulcrum::dp {

void Dataplane::sync_start(SyncDaemonOptions o) {
  if (!running_) throw std::runtime_error("the dataplane is not running");
  const char* state = o.master ? "master" : "backup";
  if (sync_daemon(o.master))
    throw SyncDaemonExists(std::string("a sync daemon runs as ") + state + " already (stop it first)");
  const Port* port = nullptr;
  for (const Port& p : shared_->ports)
    if (p.cfg.name == o.port) port = &p;
  if (!port) throw std::runtime_error("port: no port named '" + o.port + "'");
  if (!port->has_tap)
    throw std::runtime_error("port: '" + o.port +
                             "' has no kernel interface (tap: false); sync datagrams travel through it, give the port one");
  o.ifname = port->cfg.tap;
  if (!o.master) {
    sync_backup_ = std::make_unique<SyncDaemon>(*shared_, o);
    if (sync_backup_only_) sync_configure(nullptr);
    return;
  }
  // Side arrays first (a worker may start counting as soon as it has its array), zeroed: every
  // connection asks the policy at its next packet.
  std::vector<std::unique_ptr<SyncSideArray>> sides;
  for (const auto& w : workers_) sides.push_back(std::make_unique<SyncSideArray>(w->core().slot_count()));
  sync_master_ = std::make_unique<SyncDaemon>(*shared_, o);
  sync_configure(&sides);
}

bool Dataplane::sync_stop(bool master) {
  std::unique_ptr<SyncDaemon>& d = master ? sync_master_ : sync_backup_;
  if (!d) return false;
  d.reset();  // joins its thread
  if (running_) {
    std::vector<std::unique_ptr<SyncSideArray>> none;
    if (master) {
      none.resize(workers_.size());
      sync_configure(&none);
    } else {
      sync_configure(nullptr);
    }
  }
  return true;
}

void Dataplane::sync_tunables(const sync::SyncSysctls& s, bool backup_only) {
  sync_sysctls_ = s;
  sync_backup_only_ = backup_only;
  if (running_) sync_configure(nullptr);
}

// Sends the settings to every worker; with `sides`, each worker swaps in its array and the
// arrays it had are freed once every worker has answered (or the dataplane stopped: the
// workers are gone then too).
void Dataplane::sync_configure(std::vector<std::unique_ptr<SyncSideArray>>* sides) {
  auto r = std::make_unique<Request>();
  r->type = CmdType::SyncConfig;
  r->sync_sysctls = sync_sysctls_;
  r->sync_backup_only = sync_backup_only_ && sync_backup_ != nullptr;
  std::shared_ptr<std::vector<std::unique_ptr<SyncSideArray>>> retired;
  if (sides) {
    r->sync_set_master = true;
    for (auto& s : *sides) r->sync_sides.push_back(s ? s->get() : nullptr);
    r->sync_old_sides.assign(workers_.size(), nullptr);
    retired = std::make_shared<std::vector<std::unique_ptr<SyncSideArray>>>(std::move(sync_sides_));
    sync_sides_ = std::move(*sides);
    if (std::all_of(sync_sides_.begin(), sync_sides_.end(), [](const auto& p) { return !p; })) sync_sides_.clear();
  }
  r->done = [retired](Request&, const char*) mutable { retired.reset(); };
  // A full command ring: the workers are far behind; the settings wait for the next change
  // (a master's side arrays cannot: they are what the workers would count in, so retry).
  while (!submit(std::move(r))) {
    if (!sides) return;
    poll_replies();
    r = std::make_unique<Request>();
    r->type = CmdType::SyncConfig;
    r->sync_sysctls = sync_sysctls_;
    r->sync_backup_only = sync_backup_only_ && sync_backup_ != nullptr;
    r->sync_set_master = true;
    r->sync_sides.clear();
    for (auto& s : sync_sides_) r->sync_sides.push_back(s ? s->get() : nullptr);
    r->sync_sides.resize(workers_.size(), nullptr);
    r->sync_old_sides.assign(workers_.size(), nullptr);
    r->done = [retired](Request&, const char*) mutable { retired.reset(); };
  }
}

void Dataplane::sync_teardown() {
  sync_master_.reset();
  sync_backup_.reset();
}

}  // namespace fulcrum::dp
