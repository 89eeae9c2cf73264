// The dataplane as the control thread sees it: start (EAL, mempool, routes, ports, rings, RCU,
// workers), publish snapshots, send requests to workers and collect their answers, read port
// state, stop. One per process (EAL is process-wide). Every method runs on the control
// thread; workers are reached only through rings and the published snapshot pointer.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "config.h"
#include "control.h"
#include "eal.h"
#include "lcore_worker.h"
#include "port.h"
#include "route.h"
#include "route6.h"
#include "snapshot.h"
#include "snapshot_rcu.h"
#include "sync_daemon.h"

namespace fulcrum::dp {

struct DataplaneConfig {
  std::vector<std::string> eal;
  std::vector<unsigned> worker_cpus;
  uint32_t conn_capacity = 1 << 20;
  uint32_t conn6_capacity = 0;    // the IPv6 table's; 0: a quarter of conn_capacity
  uint32_t half_open_budget = 0;  // SYN_RECV entries per worker; 0: a quarter of the table
  WorkerLimits limits;
  IdleBackoff backoff;
  std::vector<PortConfig> ports;
  std::vector<RouteSpec> routes;
  std::vector<RouteSpec6> routes6;
  std::vector<be32> local_addrs;
  std::vector<IpAddr> local_addrs6;  // FullNAT's IPv6 local addresses: answered in ND
  // Whether a router advertisement's default route is taken (off: RAs are ignored, counted).
  bool accept_ra = false;
  uint32_t mbufs = 0;  // 0: sized from ports and queues
  // The secret the workers' connection-table hashes and random schedulers are derived from.
  // 0 (production): drawn from the kernel's random pool at every start, so nobody can craft
  // flows that collide in a running director's table; tests may fix one to repeat a run.
  uint64_t seed = 0;
  // Whether the director starts owning its VIPs (vip_owner.h): false with ha.vrrp, where
  // keepalived's MASTER hands them over (set_vip_owner).
  bool vip_owner = true;
  // Where a graceful stop saves the connections and the next start restores them from
  // (dataplane_restart.cc); empty: neither.
  std::string connections_file;
};

// A sync daemon in that state already runs (the addon's EEXIST).
struct SyncDaemonExists : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// What a start made of the connections file (dataplane_restart.cc).
struct RestoreReport {
  std::string file;       // empty: no restore asked for
  bool found = false;     // a file was there
  std::string refused;    // why it was not used (then the director starts empty)
  uint64_t saved_unix_ms = 0;
  uint64_t down_ms = 0;   // from the save to this restore
  uint32_t saved_workers = 0;
  uint64_t entries = 0;   // in the file
  restart::RestoreCounts counts;
  double ms = 0;          // reading and installing
};

// What the last stop saved.
struct SaveReport {
  std::string file;
  std::string error;  // the file could not be written (the old one, if any, stays)
  restart::SaveCounts counts;
  double ms = 0;      // collecting and writing
};

struct StartInfo {
  EalInfo eal;
  uint32_t mbufs = 0;
  RestoreReport restore;
};

class Dataplane {
 public:
  static Dataplane& instance();

  // Starts everything or nothing: on failure what was started is undone and the error
  // (std::runtime_error, or ConfigError listing the core's problems) says why.
  StartInfo start(const DataplaneConfig& cfg, const CoreConfig& core, void (*wake)(void*), void* wake_arg);
  void stop();
  bool running() const { return running_; }

  // What apply made of a change. Refused: the core found problems (listed); Busy: a worker's
  // command ring is full, so the Sync that confirms the change could not be sent and the change
  // was not published (problems holds the message). Either way nothing changed.
  enum class ApplyResult : uint8_t { Applied, Refused, Busy };

  // Builds the snapshot, publishes it, and sends a Sync so `done` runs once every worker uses
  // it; the previous snapshot is freed once kSnapshotGracePeriods RCU grace periods are over
  // (snapshot_rcu.h; reclaim() runs whenever replies are collected).
  ApplyResult apply(const CoreConfig& core, std::vector<std::string>& problems,
                    std::function<void(Request&, const char*)> done);
  // The same for a change to the current snapshot (services upserted/removed by id): the new
  // snapshot shares what the delta does not touch, and workers re-sync only what it changed.
  ApplyResult apply_delta(const CoreDelta& delta, std::vector<std::string>& problems,
                          std::function<void(Request&, const char*)> done);
  // Publishes a snapshot built elsewhere (off this thread) from `base`; refused when the
  // running snapshot is no longer `base` (another change came first: nothing applied).
  ApplyResult publish_built(std::unique_ptr<Snapshot> next, const Snapshot* base, std::vector<std::string>& problems,
                            std::function<void(Request&, const char*)> done);

  // Publishes VIP ownership (vip_owner.h) and sends a Sync so `done` runs once every worker
  // acts on it; Busy (nothing published) when a worker's command ring is full.
  ApplyResult set_vip_owner(bool owner, std::vector<std::string>& problems,
                            std::function<void(Request&, const char*)> done);
  bool vip_owner() const { return shared_ && VipOwnership::owns(shared_->ownership.load()); }

  // Sends r to the given workers (all when `worker` < 0); false when a command ring is full.
  bool submit(std::unique_ptr<Request> r, int worker = -1);
  // Presizes a Stats request, with the buffers of the last one when they were given back.
  std::unique_ptr<Request> stats_request();
  // Gives a completed Stats request's buffers back: at 100,000 real servers each read would
  // otherwise map, zero and fault in ~7 MB on the event loop's thread every 2 s.
  void recycle_reports(std::vector<WorkerReport>&& reports) { spare_reports_ = std::move(reports); }
  // Collects answers (from the event loop when a worker wakes it) and completes requests.
  void poll_replies();

  const Snapshot* snapshot() const { return current_.get(); }
  uint32_t workers() const { return static_cast<uint32_t>(workers_.size()); }
  const std::vector<unsigned>& worker_cpus() const { return cfg_.worker_cpus; }
  const std::vector<unsigned>& worker_lcores() const { return info_.eal.worker_lcores; }
  size_t port_count() const { return ports_.ports().size(); }
  PortStatus port_status(size_t i) const { return ports_.status(i); }
  const WorkerLimits& limits() const { return cfg_.limits; }

  // What the last stop saved to the connections file (file empty: nothing was asked).
  const SaveReport& last_save() const { return last_save_; }

  // ---- connection sync (dataplane_sync.cc) ---------------------------------------------------
  // Starts a master or backup daemon on a port's kernel interface; throws std::runtime_error
  // (SyncDaemonExists when one runs in that state already). A master's workers get their side
  // arrays through a SyncConfig request.
  void sync_start(SyncDaemonOptions o);
  // false: no daemon in that state ran.
  bool sync_stop(bool master);
  const SyncDaemon* sync_daemon(bool master) const { return master ? sync_master_.get() : sync_backup_.get(); }
  // The kernel's sync sysctls and backup_only; kept across starts, sent to running workers.
  void sync_tunables(const sync::SyncSysctls& s, bool backup_only);

 private:
  Dataplane() = default;
  void teardown();
  void reclaim();
  // True when every worker's command ring can take one more request. Only the control thread
  // enqueues (single producer), so the room cannot vanish before the enqueue that follows.
  bool commands_have_room() const;
  // Applied when a change may be published now; otherwise why not (problems says it).
  ApplyResult can_publish(std::vector<std::string>& problems) const;
  ApplyResult publish(std::unique_ptr<Snapshot> next, std::function<void(Request&, const char*)> done);

  void sync_configure(std::vector<std::unique_ptr<SyncSideArray>>* sides);
  void sync_teardown();
  // Restarts (dataplane_restart.cc): before the lcores launch, and after they stopped.
  RestoreReport restore_connections();
  void save_connections();
  uint32_t stopped_tick() const;
  SaveReport last_save_;

  bool running_ = false;
  std::unique_ptr<SyncDaemon> sync_master_, sync_backup_;
  std::vector<std::unique_ptr<SyncSideArray>> sync_sides_;  // the running master's, one per worker
  sync::SyncSysctls sync_sysctls_;
  bool sync_backup_only_ = false;
  DataplaneConfig cfg_;
  StartInfo info_;
  std::unique_ptr<Shared> shared_;
  // The director-wide load (real servers' counts and overload, rr/wrr cursors) the workers
  // share; made before them, freed after them.
  std::unique_ptr<SharedLoad> load_;
  std::unique_ptr<RouteTable> routes_;
  std::unique_ptr<RouteTable6> routes6_;
  PortSet ports_;
  std::vector<std::unique_ptr<LcoreWorker>> workers_;
  std::vector<rte_ring*> rings_;
  void* qsbr_mem_ = nullptr;
  std::unique_ptr<Snapshot> current_;
  using Retired = RetiredSnapshot<Snapshot>;  // freed by reclaim(), see snapshot_rcu.h
  std::deque<Retired> retired_;
  std::vector<Request*> outstanding_;
  std::vector<WorkerReport> spare_reports_;
};

}  // namespace fulcrum::dp
