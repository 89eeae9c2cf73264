// See sync_daemon.h. The sockets follow the kernel's make_send_sock/make_receive_sock: bound to
// the interface, multicast out of it with loopback off and the given TTL; a backup joins the
// group there. Nothing here touches the packet path: the workers only see rings.
#include "sync_daemon.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

#include "steer.h"
#include "sync_record.h"

namespace fulcrum::dp {

namespace {

using Clock = std::chrono::steady_clock;

// The kernel flushes a partly filled message after 2 s (IPVS_SYNC_FLUSH_TIME); its master
// thread wakes every 20 ms (IPVS_SYNC_SEND_DELAY) when nothing is queued.
constexpr auto kFlushAfter = std::chrono::seconds(2);
constexpr auto kIdleSleep = std::chrono::milliseconds(20);
constexpr unsigned kDrainBurst = 256;

[[noreturn]] void fail(const std::string& what, int fd) {
  std::string m = what + ": " + std::strerror(errno);
  if (fd >= 0) ::close(fd);
  throw std::runtime_error(m);
}

int open_socket(const SyncDaemonOptions& o) {
  const std::string at = "port: '" + o.port + "' (kernel interface " + o.ifname + ")";
  unsigned ifindex = if_nametoindex(o.ifname.c_str());
  if (!ifindex) fail(at + ": no kernel interface " + o.ifname, -1);
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail(at + ": socket", -1);
  // Only through the port's kernel interface, never the host's own routes.
  if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, o.ifname.c_str(), static_cast<socklen_t>(o.ifname.size())) != 0)
    fail(at + ": SO_BINDTODEVICE", fd);
  ip_mreqn mreq{};
  mreq.imr_ifindex = static_cast<int>(ifindex);
  if (o.master) {
    if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &mreq, sizeof mreq) != 0) fail(at + ": IP_MULTICAST_IF", fd);
    unsigned char loop = 0, ttl = o.ttl;
    if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof loop) != 0) fail(at + ": IP_MULTICAST_LOOP", fd);
    if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl) != 0) fail(at + ": IP_MULTICAST_TTL", fd);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = o.group;
    to.sin_port = htons(o.mcast_port);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) fail(at + ": connect to the group", fd);
  } else {
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in any{};
    any.sin_family = AF_INET;
    any.sin_addr.s_addr = o.group;
    any.sin_port = htons(o.mcast_port);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&any), sizeof any) != 0) fail(at + ": bind to the group's port", fd);
    mreq.imr_multiaddr.s_addr = o.group;
    if (setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq, sizeof mreq) != 0) fail(at + ": joining the group", fd);
    // Room for bursts while the thread routes (the kernel's sync_sock_size; best effort).
    int rcvbuf = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    // Reads wake at least this often to see a stop.
    timeval tv{0, 200 * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  return fd;
}

}  // namespace

SyncDaemon::SyncDaemon(Shared& shared, const SyncDaemonOptions& o) : sh_(shared), opts_(o) {
  fd_ = open_socket(o);
  thread_ = std::thread([this] { opts_.master ? run_master() : run_backup(); });
}

SyncDaemon::~SyncDaemon() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) ::close(fd_);
}

void SyncDaemon::send(const sync::MessageWriter& w) {
  if (::send(fd_, w.data(), w.size(), 0) == static_cast<ssize_t>(w.size())) {
    sent_messages_.fetch_add(1, std::memory_order_relaxed);
    sent_conns_.fetch_add(w.count(), std::memory_order_relaxed);
  } else {
    send_errors_.fetch_add(1, std::memory_order_relaxed);
  }
}

void SyncDaemon::add(sync::MessageWriter& w, const sync::SyncConn& c, Clock::time_point& first) {
  if (!w.add(c)) {
    if (w.count()) send(w);
    w.reset();
    if (!w.add(c)) {  // larger than maxlen on its own: the kernel cannot send it either
      send_errors_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
  }
  if (w.count() == 1) first = Clock::now();
}

// IPv4 and IPv6 records share messages, as the kernel's do (each record says its family).
void SyncDaemon::run_master() {
  std::vector<uint8_t> buf(opts_.maxlen);
  sync::MessageWriter w(buf.data(), buf.size(), opts_.syncid);
  std::vector<sync::SyncRecord> recs(kDrainBurst);
  std::vector<sync::SyncRecord6> recs6(kDrainBurst);
  Clock::time_point first{};
  while (!stop_.load(std::memory_order_relaxed)) {
    bool any = false;
    for (uint32_t wk = 0; wk < sh_.nworkers; ++wk) {
      unsigned n = rte_ring_sc_dequeue_burst_elem(sh_.sync[wk].out, recs.data(), sizeof(sync::SyncRecord), kDrainBurst,
                                                 nullptr);
      any |= n != 0;
      for (unsigned i = 0; i < n; ++i) add(w, sync::to_wire(recs[i]), first);
      n = rte_ring_sc_dequeue_burst_elem(sh_.sync[wk].out6, recs6.data(), sizeof(sync::SyncRecord6), kDrainBurst, nullptr);
      any |= n != 0;
      for (unsigned i = 0; i < n; ++i) add(w, sync::to_wire(recs6[i]), first);
    }
    if (w.count() && Clock::now() - first >= kFlushAfter) {
      send(w);
      w.reset();
    }
    if (!any) std::this_thread::sleep_for(kIdleSleep);
  }
  if (w.count()) send(w);
}

// The owner of a record's connection: the worker its client address and port steer to (a
// template's: its client net with port 0, any worker can hold it). A FullNAT connection must
// also hold its local port in that worker's range: the worker refuses it otherwise.
void SyncDaemon::route(const sync::SyncConn& c) {
  if (c.v6()) return route6(c);
  sync::SyncRecord r;
  if (!sync::from_wire(c, r)) {  // a state number beyond the ring form's byte
    skipped_records_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const uint32_t w = owner_of_client(r.caddr, r.cport, sh_.nworkers);
  if (rte_ring_sp_enqueue_elem(sh_.sync[w].in, &r, sizeof r) != 0) ring_full_.fetch_add(1, std::memory_order_relaxed);
}

// IPv6: the client's worker as steering folds its address (steer.h's fold_v6); a template to
// every worker, since IPv6 templates are each worker's (engine_sync6.cc).
void SyncDaemon::route6(const sync::SyncConn& c) {
  sync::SyncRecord6 r;
  if (!sync::from_wire(c, r)) {
    skipped_records_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (r.flags & sync::kFlagTemplate) {
    for (uint32_t w = 0; w < sh_.nworkers; ++w)
      if (rte_ring_sp_enqueue_elem(sh_.sync[w].in6, &r, sizeof r) != 0) ring_full_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const uint32_t w = owner_of_client(fold_v6(r.caddr), r.cport, sh_.nworkers);
  if (rte_ring_sp_enqueue_elem(sh_.sync[w].in6, &r, sizeof r) != 0) ring_full_.fetch_add(1, std::memory_order_relaxed);
}

void SyncDaemon::run_backup() {
  std::vector<uint8_t> buf(65536);
  std::vector<sync::SyncConn> conns(sync::kMaxConns);
  while (!stop_.load(std::memory_order_relaxed)) {
    ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
    if (n < 0) continue;  // timeout (a look at stop_) or a signal
    recv_messages_.fetch_add(1, std::memory_order_relaxed);
    sync::ReadResult rr = sync::read_message(buf.data(), static_cast<size_t>(n), opts_.syncid, conns.data());
    switch (rr.error) {
      case sync::MessageError::kNone: break;
      case sync::MessageError::kOtherSyncId: recv_other_syncid_.fetch_add(1, std::memory_order_relaxed); break;
      case sync::MessageError::kTruncated: recv_truncated_.fetch_add(1, std::memory_order_relaxed); break;
      default: recv_bad_.fetch_add(1, std::memory_order_relaxed); break;
    }
    uint64_t skipped = 0;
    for (uint32_t s : rr.skipped) skipped += s;
    if (skipped) skipped_records_.fetch_add(skipped, std::memory_order_relaxed);
    recv_conns_.fetch_add(rr.conns, std::memory_order_relaxed);
    for (size_t i = 0; i < rr.conns; ++i) route(conns[i]);
  }
}

std::vector<SyncDaemonStat> SyncDaemon::stats() const {
  auto v = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  uint64_t w[11] = {};
  for (uint32_t i = 0; i < sh_.nworkers; ++i) {
    const SyncWorkerCounters& c = sh_.sync[i].counters;
    w[0] += v(c.queued);
    w[1] += v(c.dropped);
    w[2] += v(c.installed);
    w[3] += v(c.updated);
    w[4] += v(c.replaced);
    w[5] += v(c.stale);
    w[6] += v(c.no_service);
    w[7] += v(c.no_dest);
    w[8] += v(c.table_full);
    w[9] += v(c.fnat_refused);
    w[10] += v(c.bad_record);
  }
  if (opts_.master)
    return {{"messages_sent", v(sent_messages_)}, {"conns_sent", v(sent_conns_)}, {"send_errors", v(send_errors_)},
            {"conns_queued", w[0]}, {"sync_dropped", w[1]}};
  return {{"messages_received", v(recv_messages_)},
          {"conns_received", v(recv_conns_)},
          {"bad_messages", v(recv_bad_)},
          {"other_syncid", v(recv_other_syncid_)},
          {"truncated_messages", v(recv_truncated_)},
          {"skipped_records", v(skipped_records_)},
          {"dropped_ring_full", v(ring_full_)},
          {"installed", w[2]},
          {"updated", w[3]},
          {"replaced", w[4]},
          {"stale", w[5]},
          {"skipped_no_service", w[6]},
          {"skipped_no_dest", w[7]},
          {"skipped_table_full", w[8]},
          {"skipped_fnat", w[9]},
          {"skipped_bad_record", w[10]}};
}

}  // namespace fulcrum::dp
