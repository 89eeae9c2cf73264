// Requests from the control thread (Node's) to the workers, and what the workers send back.
// A request travels by pointer over each worker's command ring; the worker fills its own slot
// of the request (buffers sized by the control thread, so the worker never allocates) and
// puts the pointer on the shared reply ring, then wakes the event loop.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "arp.h"
#include "dp_counters.h"
#include "engine.h"

namespace fulcrum::dp {

enum class CmdType : uint8_t {
  Sync,        // answered once the worker runs on the current snapshot
  Stats,
  ListConns,
  FlushAll,
  FlushDest,
  Neighbours,
  SyncConfig,  // connection sync settings (and a master's side arrays) for every worker
};

struct WorkerReport {
  WorkerStats stats;
  std::vector<DestLoad> load;  // by DestId
  DpCounters dp;
  uint64_t conns = 0, conn_capacity = 0, table_bytes = 0;  // both families' tables
  uint64_t conns6 = 0, conn6_capacity = 0;                 // the IPv6 table's share
  uint64_t half_open = 0, half_open_budget = 0;
  uint64_t half_open6 = 0, half_open6_budget = 0;
  uint64_t polls = 0, busy_polls = 0;
  uint64_t rx_packets = 0, tx_packets = 0;
};

// Which connections a listing wants; zero fields match anything.
// Addresses of either family, IPv4 ones IPv4-mapped (as ConnInfo's *_ip).
struct ConnFilter {
  uint8_t proto = 0;
  bool has_vaddr = false, has_daddr = false, has_caddr = false;
  IpAddr vaddr, daddr, caddr;
  be16 vport = 0;
  be16 dport = 0;
  bool templates = true;
  bool matches(const ConnInfo& c) const {
    return (!proto || c.proto == proto) && (!has_vaddr || c.vaddr_ip == vaddr) && (!vport || c.vport == vport) &&
           (!has_daddr || c.daddr_ip == daddr) && (!dport || c.dport == dport) && (!has_caddr || c.caddr_ip == caddr) &&
           (templates || !c.is_template);
  }
};

struct NeighInfo {
  uint16_t port;
  IpAddr ip;  // IPv4 held IPv4-mapped (ARP's), otherwise IPv6 (neighbour discovery's)
  Mac mac;
  uint8_t state;  // NeighState
  uint64_t age_ms;
  uint8_t queued;
};

struct Request {
  CmdType type = CmdType::Sync;
  uint32_t remaining = 0;  // workers yet to answer; touched by the control thread only
  // Stats: one report per worker, presized by the control thread.
  std::vector<WorkerReport> reports;
  // ListConns (one worker): scan from cursor, keep what matches, up to max records scanned.
  size_t cursor = 0, max = 0, next_cursor = 0;
  ConnFilter filter;
  std::vector<ConnInfo> scratch, conns;
  // FlushDest
  DestId dest = kNoDest;
  // Neighbours (worker 0): up to neigh.capacity() entries, presized by the control thread;
  // neigh_truncated when the table held more.
  std::vector<NeighInfo> neigh;
  bool neigh_truncated = false;
  // SyncConfig: settings every worker takes; with sync_set_master, worker w takes
  // sync_sides[w] (nullptr: master off) and puts the array it had in sync_old_sides[w] (both
  // presized by the control thread, which frees the old arrays once all have answered).
  bool sync_set_master = false;
  std::vector<SyncSide*> sync_sides, sync_old_sides;
  sync::SyncSysctls sync_sysctls;
  bool sync_backup_only = false;
  // Runs on the control thread once every addressed worker has answered; `error` is set when
  // the dataplane stopped first.
  std::function<void(Request&, const char* error)> done;
};

}  // namespace fulcrum::dp
