// See dataplane.h.
#include "dataplane.h"

#include <arpa/inet.h>
#include <rte_cycles.h>
#include <rte_log.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <new>
#include <stdexcept>

#include "conn_table.h"
#include "dp_limits.h"
#include "mbuf_pool.h"
#include "nd.h"
#include "seed.h"

namespace fulcrum::dp {

namespace {

constexpr const char* kPoolName = "fulcrum_mbufs";

int worker_main(void* arg) { return static_cast<LcoreWorker*>(arg)->run(); }

// The dataplane's static routes given to the kernel too, through the TAP of the port each
// leaves by, so the director's own traffic (health checks above all) to those networks leaves
// through its ports rather than the host's other routes. A default route is not: it would
// take the host's management traffic with it. What the kernel refuses is logged (DPDK's log,
// which the control side writes through its own): checks to that network are then refused.
void install_kernel_routes(const std::vector<Port>& ports, const std::vector<RouteSpec>& routes) {
  auto in = [](be32 a, be32 net, uint8_t len) {
    uint32_t m = len ? ~uint32_t{0} << (32 - len) : 0;
    return (ntohl(a) & m) == (ntohl(net) & m);
  };
  for (const RouteSpec& r : routes) {
    if (r.len == 0) continue;
    int port = r.port;
    for (size_t i = 0; port < 0 && i < ports.size(); ++i)
      if (ports[i].cfg.addr && in(r.via, ports[i].cfg.addr, ports[i].cfg.prefix_len)) port = static_cast<int>(i);
    if (port < 0 || !ports[static_cast<size_t>(port)].has_tap) continue;
    const Port& p = ports[static_cast<size_t>(port)];
    std::string error;
    if (!add_kernel_route(p.cfg.tap, r.prefix, r.len, r.via, error)) {
      char net[INET_ADDRSTRLEN] = "";
      inet_ntop(AF_INET, &r.prefix, net, sizeof net);
      RTE_LOG(WARNING, USER1, "route %s/%u: not given to the kernel through %s (%s); health checks to it are not sent\n", net,
              static_cast<unsigned>(r.len), p.cfg.tap.c_str(), error.c_str());
    }
  }
}

// The same for IPv6 static routes (the kernel's IPv6 table, through the TAP of the port each
// leaves by), so health checks to IPv6 real servers behind a gateway leave through the port.
void install_kernel_routes6(const std::vector<Port>& ports, const std::vector<RouteSpec6>& routes) {
  for (const RouteSpec6& r : routes) {
    if (r.len == 0) continue;
    int port = r.port;
    for (size_t i = 0; port < 0 && i < ports.size(); ++i)
      for (const PortAddr6& a : ports[i].cfg.addrs6)
        if (in6_in_prefix(r.via, a.addr, a.len)) port = static_cast<int>(i);
    if (port < 0 || !ports[static_cast<size_t>(port)].has_tap) continue;
    const Port& p = ports[static_cast<size_t>(port)];
    std::string error;
    if (!add_kernel_route6(p.cfg.tap, r.prefix, r.len, r.via, error))
      RTE_LOG(WARNING, USER1, "route %s/%u: not given to the kernel through %s (%s); health checks to it are not sent\n",
              in6_text(r.prefix).c_str(), static_cast<unsigned>(r.len), p.cfg.tap.c_str(), error.c_str());
  }
}

// The bytes one worker's connection table takes for `capacity` connections, as the table
// itself computes them: a table built with an allocator that records each request and refuses
// it (construction then throws std::bad_alloc having allocated nothing).
template <class Table>
size_t table_bytes_for(uint32_t capacity) {
  size_t bytes = 0;
  TableAllocator probe;
  probe.alloc = [](size_t n, size_t, void* ctx) -> void* {
    *static_cast<size_t*>(ctx) += n;
    return nullptr;
  };
  probe.free = [](void*, size_t, void*) {};
  probe.ctx = &bytes;
  typename Table::Options o;
  o.capacity = capacity;
  o.seed = 1;
  o.alloc = probe;
  try {
    Table t(o);
  } catch (const std::bad_alloc&) {
  }
  return bytes;
}

// Both tables a worker allocates: IPv4's and IPv6's (a quarter of IPv4's size by default).
size_t conn_table_bytes(uint32_t capacity, uint32_t capacity6) {
  return table_bytes_for<ConnTable>(capacity) + table_bytes_for<ConnTable6>(capacity6 ? capacity6 : std::max(1024u, capacity / 4));
}

// MemAvailable from /proc/meminfo (what the kernel can hand out without swapping), or 0 when
// it cannot be read.
uint64_t memory_available() {
  std::FILE* f = std::fopen("/proc/meminfo", "r");
  if (!f) return 0;
  char line[256];
  uint64_t kb = 0;
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "MemAvailable: %" SCNu64 " kB", &kb) == 1) break;
  std::fclose(f);
  return kb * 1024;
}

std::string conn_table_problem(uint32_t capacity, uint32_t workers, size_t per_worker, const std::string& what) {
  return "dataplane.connTableSize: " + std::to_string(capacity) + " connections need " + std::to_string(per_worker) +
         " bytes per worker (" + std::to_string(uint64_t{per_worker} * workers) + " for " + std::to_string(workers) +
         (workers == 1 ? " worker); " : " workers); ") + what + "; lower dataplane.connTableSize (or connTable6Size)";
}

std::string join_problems(const std::vector<std::string>& p) {
  std::string s = "config refused:";
  for (const std::string& x : p) s += "\n  " + x;
  return s;
}

}  // namespace

Dataplane& Dataplane::instance() {
  static Dataplane dp;
  return dp;
}

StartInfo Dataplane::start(const DataplaneConfig& cfg, const CoreConfig& core, void (*wake)(void*), void* wake_arg) {
  if (running_) throw std::runtime_error("the dataplane is already running in this process");
  if (cfg.ports.empty()) throw std::runtime_error("dataplane.ports: at least one port is needed");
  const uint32_t nw = static_cast<uint32_t>(cfg.worker_cpus.size());
  if (nw == 0 || nw > kMaxWorkers)
    throw std::runtime_error("dataplane.workers: between 1 and " + std::to_string(kMaxWorkers) + " workers");
  if (cfg.local_addrs.size() > FnatPool::kMaxAddrs || cfg.local_addrs6.size() > FnatPool::kMaxAddrs)
    throw std::runtime_error("localAddresses: at most " + std::to_string(FnatPool::kMaxAddrs) + " addresses of each family");

  // The config is checked before anything starts, the connection tables' memory included
  // (each worker's table is allocated and touched whole at start).
  const size_t table_bytes = conn_table_bytes(cfg.conn_capacity, cfg.conn6_capacity);
  if (uint64_t avail = memory_available(); avail && uint64_t{table_bytes} * nw > avail)
    throw std::runtime_error(conn_table_problem(cfg.conn_capacity, nw, table_bytes,
                                                "only " + std::to_string(avail) + " bytes are available"));
  std::vector<std::string> problems;
  std::unique_ptr<Snapshot> first = build_snapshot(core, cfg.limits, nullptr, problems);
  if (!first) throw std::runtime_error(join_problems(problems));

  EalRequest er;
  er.user_args = cfg.eal;
  er.worker_cpus = cfg.worker_cpus;
  for (const PortConfig& p : cfg.ports)
    if (is_pci_address(p.device)) er.pci.push_back(p.device);
  cfg_ = cfg;
  info_ = StartInfo{};
  info_.eal = eal_start(er);

  try {
    uint32_t taps = static_cast<uint32_t>(std::count_if(cfg.ports.begin(), cfg.ports.end(),
                                                        [](const PortConfig& p) { return !p.tap.empty(); }));
    uint32_t need = cfg.mbufs ? cfg.mbufs
                              : static_cast<uint32_t>(cfg.ports.size() + taps) * nw * kMbufsPerQueue + nw * kMbufsPerWorker +
                                    kMbufsSpare;
    rte_mempool* pool = rte_mempool_lookup(kPoolName);
    // An earlier start's pool that is too small is replaced once all its mbufs are back.
    if (pool && pool->size < need && rte_mempool_full(pool)) {
      rte_mempool_free(pool);
      pool = nullptr;
    }
    if (pool && pool->size < need)
      throw std::runtime_error("the mbuf pool of an earlier start in this process is too small (" +
                               std::to_string(pool->size) + " < " + std::to_string(need) + "); restart the process");
    if (!pool) pool = create_mbuf_pool(kPoolName, need, kMbufCache);
    if (!pool)
      throw std::runtime_error("cannot allocate " + std::to_string(need) + " mbufs: " + rte_strerror(rte_errno) +
                               " (give EAL more memory with -m, or use hugepages)");
    info_.mbufs = pool->size;

    std::vector<PortAddr> addrs;
    for (const PortConfig& p : cfg.ports) addrs.push_back(PortAddr{p.addr, p.prefix_len});
    routes_ = std::make_unique<RouteTable>("fulcrum_routes", addrs, cfg.routes);
    std::vector<std::vector<PortAddr6>> addrs6;
    for (const PortConfig& p : cfg.ports) addrs6.push_back(p.addrs6);
    routes6_ = std::make_unique<RouteTable6>("fulcrum_routes6", addrs6, cfg.routes6);

    ports_.open(cfg.ports, static_cast<uint16_t>(nw), pool);
    install_kernel_routes(ports_.ports(), cfg.routes);
    install_kernel_routes6(ports_.ports(), cfg.routes6);

    shared_ = std::make_unique<Shared>();
    Shared& sh = *shared_;
    sh.ports = ports_.ports();
    for (size_t i = 0; i < sh.ports.size(); ++i) {
      if (sh.ports[i].id >= kPortIdBound)
        throw std::runtime_error("DPDK port id " + std::to_string(sh.ports[i].id) + " beyond " +
                                 std::to_string(kPortIdBound - 1));
      sh.port_index[sh.ports[i].id] = static_cast<uint16_t>(i);
      if (sh.ports[i].has_tap && sh.ports[i].tap_id < kPortIdBound) sh.port_index[sh.ports[i].tap_id] = static_cast<uint16_t>(i);
    }
    sh.routes = routes_.get();
    sh.routes6 = routes6_.get();
    sh.accept_ra = cfg.accept_ra;
    sh.local_addrs6 = cfg.local_addrs6;
    std::sort(sh.local_addrs6.begin(), sh.local_addrs6.end(),
              [](const IpAddr& a, const IpAddr& b) { return a.b < b.b; });
    sh.pool = pool;
    sh.nworkers = nw;
    sh.wake = wake;
    sh.wake_arg = wake_arg;
    sh.backoff = cfg.backoff;
    sh.tsc_hz = rte_get_tsc_hz();
    sh.local_addrs = cfg.local_addrs;
    std::sort(sh.local_addrs.begin(), sh.local_addrs.end());
    sh.steer = SteerPlan{nw, sh.local_addrs.data(), static_cast<uint32_t>(sh.local_addrs.size()), sh.local_addrs6.data(),
                         static_cast<uint32_t>(sh.local_addrs6.size())};
    if (!cfg.vip_owner) sh.ownership.set(false);  // before the workers: they read it as they are made

    size_t qsz = rte_rcu_qsbr_get_memsize(nw);
    qsbr_mem_ = rte_zmalloc("fulcrum_qsbr", qsz, RTE_CACHE_LINE_SIZE);
    if (!qsbr_mem_) throw std::runtime_error("cannot allocate the RCU state");
    sh.qsbr = static_cast<rte_rcu_qsbr*>(qsbr_mem_);
    rte_rcu_qsbr_init(sh.qsbr, nw);

    auto ring = [&](const std::string& name, unsigned size, unsigned flags, unsigned esize = 0) {
      rte_ring* r = esize ? rte_ring_create_elem(name.c_str(), esize, size, SOCKET_ID_ANY, flags)
                          : rte_ring_create(name.c_str(), size, SOCKET_ID_ANY, flags);
      if (!r) throw std::runtime_error("cannot create ring " + name + ": " + rte_strerror(rte_errno));
      rings_.push_back(r);
      return r;
    };
    sh.handover.assign(nw * nw, nullptr);
    for (uint32_t a = 0; a < nw; ++a) {
      for (uint32_t b = 0; b < nw; ++b)
        if (a != b)
          sh.handover[a * nw + b] = ring("fk_h" + std::to_string(a) + "_" + std::to_string(b), kHandoverRing,
                                         RING_F_SP_ENQ | RING_F_SC_DEQ);
      sh.neigh_updates.push_back(ring("fk_n" + std::to_string(a), kNeighUpdateRing, RING_F_SC_DEQ, kNeighUpdateBytes));
      sh.commands.push_back(ring("fk_c" + std::to_string(a), kCommandRing, RING_F_SP_ENQ | RING_F_SC_DEQ));
    }
    sh.replies = ring("fk_r", kReplyRing, RING_F_SC_DEQ);
    sh.sync = std::make_unique<SyncChannels[]>(nw);
    for (uint32_t a = 0; a < nw; ++a) {
      sh.sync[a].out = ring("fk_so" + std::to_string(a), kSyncRing, RING_F_SP_ENQ | RING_F_SC_DEQ, sizeof(sync::SyncRecord));
      sh.sync[a].in = ring("fk_si" + std::to_string(a), kSyncRing, RING_F_SP_ENQ | RING_F_SC_DEQ, sizeof(sync::SyncRecord));
      sh.sync[a].out6 = ring("fk_so6_" + std::to_string(a), kSyncRing6, RING_F_SP_ENQ | RING_F_SC_DEQ, sizeof(sync::SyncRecord6));
      sh.sync[a].in6 = ring("fk_si6_" + std::to_string(a), kSyncRing6, RING_F_SP_ENQ | RING_F_SC_DEQ, sizeof(sync::SyncRecord6));
    }

    current_ = std::move(first);
    sh.snapshot.store(current_.get(), std::memory_order_release);
    const uint64_t secret = cfg.seed ? cfg.seed : draw_secret();
    load_ = std::make_unique<SharedLoad>(cfg.limits.max_dests, cfg.limits.max_services, nw,
                                         affinity_slots(cfg.conn_capacity, nw), worker_seed(secret, nw));
    for (uint32_t w = 0; w < nw; ++w) {
      WorkerOptions wo;
      wo.conn_capacity = cfg.conn_capacity;
      wo.conn6_capacity = cfg.conn6_capacity;
      wo.half_open_budget = cfg.half_open_budget;
      wo.limits = cfg.limits;
      wo.local_addrs = cfg.local_addrs;
      wo.local_addrs6 = cfg.local_addrs6;  // FullNAT v6->v6 (NAT64 takes local_addrs)
      PortRange ports = fnat_port_range(w, nw);  // steering sends their replies here
      wo.port_lo = ports.lo;
      wo.port_hi = ports.hi;
      wo.seed = worker_seed(secret, w);
      wo.synproxy_secret = worker_seed(secret, nw + 1);  // one for the director: a client's ACK may reach another worker
      wo.worker_id = static_cast<uint16_t>(w);
      wo.shared = load_.get();
      try {
        workers_.push_back(std::make_unique<LcoreWorker>(sh, static_cast<uint16_t>(w), wo));
      } catch (const std::bad_alloc&) {
        throw std::runtime_error(conn_table_problem(cfg.conn_capacity, nw, table_bytes,
                                                    "allocating worker " + std::to_string(w) + "'s table failed"));
      }
      rte_rcu_qsbr_thread_register(sh.qsbr, w);
    }

    // The connections a graceful stop saved, in place before any lcore polls a port.
    info_.restore = restore_connections();

    for (uint32_t w = 0; w < nw; ++w) {
      unsigned lcore = info_.eal.worker_lcores[w];
      if (rte_eal_get_lcore_state(lcore) != WAIT)
        throw std::runtime_error("lcore " + std::to_string(lcore) + " is busy");
      int rc = rte_eal_remote_launch(worker_main, workers_[w].get(), lcore);
      if (rc != 0) throw std::runtime_error("cannot launch worker on lcore " + std::to_string(lcore) + ": " + rte_strerror(-rc));
    }
  } catch (...) {
    teardown();
    throw;
  }
  running_ = true;
  if (sync_backup_only_ || !(sync_sysctls_.threshold == 3 && sync_sysctls_.period == 50 &&
                             sync_sysctls_.refresh_period_s == 0 && sync_sysctls_.retries == 0 &&
                             !sync_sysctls_.persist_mode))
    sync_configure(nullptr);  // tunables set before this start
  return info_;
}

void Dataplane::teardown() {
  last_save_ = SaveReport{};
  sync_teardown();  // the daemons' threads read the rings torn down below
  if (shared_) {
    shared_->stop.store(true);
    for (size_t w = 0; w < workers_.size(); ++w) rte_eal_wait_lcore(info_.eal.worker_lcores[w]);
    // Every lcore has finished its last burst: the tables are final.
    if (running_ && !cfg_.connections_file.empty()) save_connections();
  }
  // Answer what the workers answered, fail the rest.
  if (shared_ && shared_->replies) poll_replies();
  for (Request* r : outstanding_) {
    if (r->done) r->done(*r, "the dataplane stopped");
    delete r;
  }
  outstanding_.clear();
  workers_.clear();
  sync_sides_.clear();  // the workers that used them are gone
  load_.reset();
  ports_.close();
  for (rte_ring* r : rings_) rte_ring_free(r);
  rings_.clear();
  shared_.reset();
  rte_free(qsbr_mem_);
  qsbr_mem_ = nullptr;
  routes_.reset();
  routes6_.reset();
  retired_.clear();
  current_.reset();
  running_ = false;
}

void Dataplane::stop() {
  if (running_ || shared_) teardown();
}

Dataplane::ApplyResult Dataplane::apply(const CoreConfig& core, std::vector<std::string>& problems,
                                        std::function<void(Request&, const char*)> done) {
  if (ApplyResult r = can_publish(problems); r != ApplyResult::Applied) return r;
  std::unique_ptr<Snapshot> next = build_snapshot(core, cfg_.limits, current_.get(), problems);
  if (!next) return ApplyResult::Refused;
  return publish(std::move(next), std::move(done));
}

Dataplane::ApplyResult Dataplane::apply_delta(const CoreDelta& delta, std::vector<std::string>& problems,
                                              std::function<void(Request&, const char*)> done) {
  if (ApplyResult r = can_publish(problems); r != ApplyResult::Applied) return r;
  std::unique_ptr<Snapshot> next = fulcrum::apply_delta(*current_, delta, problems);
  if (!next) return ApplyResult::Refused;
  return publish(std::move(next), std::move(done));
}

Dataplane::ApplyResult Dataplane::publish_built(std::unique_ptr<Snapshot> next, const Snapshot* base,
                                                std::vector<std::string>& problems,
                                                std::function<void(Request&, const char*)> done) {
  if (ApplyResult r = can_publish(problems); r != ApplyResult::Applied) return r;
  if (current_.get() != base) {
    problems.push_back("not applied: the running config changed while this change was being built; try again");
    return ApplyResult::Busy;
  }
  return publish(std::move(next), std::move(done));
}

// Checked before anything is built: a change the workers could not be asked to confirm is
// not made at all, so the caller's error means "absent", never "live but unconfirmed".
Dataplane::ApplyResult Dataplane::can_publish(std::vector<std::string>& problems) const {
  if (!running_) {
    problems.push_back("the dataplane is not running");
    return ApplyResult::Refused;
  }
  if (!commands_have_room()) {
    problems.push_back("not applied: a worker's command ring is full (too many requests at once), try again");
    return ApplyResult::Busy;
  }
  return ApplyResult::Applied;
}

bool Dataplane::commands_have_room() const {
  for (rte_ring* r : shared_->commands)
    if (rte_ring_free_count(r) == 0) return false;
  return true;
}

Dataplane::ApplyResult Dataplane::publish(std::unique_ptr<Snapshot> next,
                                          std::function<void(Request&, const char*)> done) {
  publish_snapshot(shared_->qsbr, shared_->snapshot, current_, std::move(next), retired_);
  auto r = std::make_unique<Request>();
  r->type = CmdType::Sync;
  r->done = std::move(done);
  // Cannot fail: every ring had room (commands_have_room) and only this thread enqueues.
  bool sent = submit(std::move(r));
  (void)sent;
  return ApplyResult::Applied;
}

Dataplane::ApplyResult Dataplane::set_vip_owner(bool owner, std::vector<std::string>& problems,
                                                std::function<void(Request&, const char*)> done) {
  if (ApplyResult r = can_publish(problems); r != ApplyResult::Applied) return r;
  shared_->ownership.set(owner);
  auto r = std::make_unique<Request>();
  r->type = CmdType::Sync;
  r->done = std::move(done);
  bool sent = submit(std::move(r));  // cannot fail: can_publish saw room on every ring
  (void)sent;
  return ApplyResult::Applied;
}

std::unique_ptr<Request> Dataplane::stats_request() {
  auto r = std::make_unique<Request>();
  r->type = CmdType::Stats;
  r->reports = std::move(spare_reports_);
  spare_reports_.clear();
  r->reports.resize(workers_.size());
  for (WorkerReport& w : r->reports) {
    w.stats.svc.resize(cfg_.limits.max_services);
    w.stats.dest.resize(cfg_.limits.max_dests);
    w.load.resize(cfg_.limits.max_dests);
  }
  return r;
}

bool Dataplane::submit(std::unique_ptr<Request> r, int worker) {
  if (!running_) return false;
  std::vector<uint32_t> to;
  if (worker >= 0)
    to.push_back(static_cast<uint32_t>(worker));
  else
    for (uint32_t w = 0; w < workers_.size(); ++w) to.push_back(w);
  for (uint32_t w : to)
    if (rte_ring_free_count(shared_->commands[w]) == 0) return false;
  r->remaining = static_cast<uint32_t>(to.size());
  Request* raw = r.release();
  outstanding_.push_back(raw);
  for (uint32_t w : to) rte_ring_sp_enqueue(shared_->commands[w], raw);
  return true;
}

void Dataplane::poll_replies() {
  if (!shared_) return;
  void* got[kCommandRing];
  unsigned n;
  while ((n = rte_ring_sc_dequeue_burst(shared_->replies, got, kCommandRing, nullptr)) > 0) {
    for (unsigned i = 0; i < n; ++i) {
      Request* r = static_cast<Request*>(got[i]);
      if (--r->remaining) continue;
      outstanding_.erase(std::find(outstanding_.begin(), outstanding_.end(), r));
      if (r->done) r->done(*r, nullptr);
      delete r;
    }
  }
  reclaim();
}

void Dataplane::reclaim() { reclaim_snapshots(shared_->qsbr, retired_); }

}  // namespace fulcrum::dp
