// One connection sync daemon, master or backup, as the kernel's (ip_vs_sync.c): an ordinary
// thread (not an lcore) with a UDP socket on a Fulcrum port's kernel interface (its TAP, whose
// frames the workers carry to and from the wire). A master drains the workers' rings into
// version 1 messages of up to maxlen bytes, sent when full and at most 2 s after their first
// record; a backup reads messages (version 1 or 0, SyncID filter) and routes each record to
// the worker that owns its connection. IPv4 and IPv6 records alike, each family through its
// own rings (sync_channels.h); an IPv6 template goes to every worker, so its install counts
// once per worker. Started and stopped by the control thread; counters are atomics the
// control thread reads (skipped_records: what read_message skipped, and a record no ring form
// holds).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "lcore_worker.h"
#include "sync_wire.h"

namespace fulcrum::dp {

struct SyncDaemonOptions {
  bool master = true;
  std::string port;    // the Fulcrum port's name
  std::string ifname;  // its kernel interface (TAP)
  uint8_t syncid = 0;
  uint16_t maxlen = 1472;
  be32 group = 0;      // network order
  uint16_t mcast_port = sync::kDefaultPort;
  uint8_t ttl = 1;
};

// Counter names and values, in a fixed order (listings print them as they come).
struct SyncDaemonStat {
  const char* name;
  uint64_t value;
};

class SyncDaemon {
 public:
  // Opens the socket and starts the thread; throws std::runtime_error naming the cause.
  SyncDaemon(Shared& shared, const SyncDaemonOptions& o);
  ~SyncDaemon();  // stops and joins
  SyncDaemon(const SyncDaemon&) = delete;
  SyncDaemon& operator=(const SyncDaemon&) = delete;

  const SyncDaemonOptions& options() const { return opts_; }
  std::vector<SyncDaemonStat> stats() const;

 private:
  void run_master();
  void run_backup();
  void send(const sync::MessageWriter& w);
  void route(const sync::SyncConn& c);
  void route6(const sync::SyncConn& c);
  // Appends a record to the message being built, sending the message first when it is full.
  void add(sync::MessageWriter& w, const sync::SyncConn& c, std::chrono::steady_clock::time_point& first);

  Shared& sh_;
  SyncDaemonOptions opts_;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  // master
  std::atomic<uint64_t> sent_messages_{0}, sent_conns_{0}, send_errors_{0};
  // backup
  std::atomic<uint64_t> recv_messages_{0}, recv_conns_{0}, recv_bad_{0}, recv_other_syncid_{0}, recv_truncated_{0},
      skipped_records_{0}, ring_full_{0};
};

}  // namespace fulcrum::dp
