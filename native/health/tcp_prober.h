// TCP connect checks for the health monitor, at tens of thousands a second (issue 10): one
// thread owns every socket on one epoll set; a check is a nonblocking connect with its own
// deadline, and a connection made is reset at once (SO_LINGER 0), so checking a real server
// every few seconds leaves no TIME_WAIT on the director and sends it nothing but a handshake.
// Requests come in batches and outcomes leave in batches: the owner is told once that outcomes
// are waiting (notify) and takes all of them, never one call per check.
// Plain POSIX, no Node: native/addon/tcp_prober_api.cc is its N-API face, and it is tested
// alone (test/), under the sanitizers too.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace fulcrum::health {

struct TcpProbe {
  uint32_t id;          // the caller's; comes back with the outcome
  uint32_t addr;        // IPv4, network byte order (family 4)
  uint16_t port;        // host byte order
  uint32_t timeout_ms;  // from the start of connect() to giving up
  uint8_t family = 4;   // 4 or 6
  std::array<uint8_t, 16> addr6{};  // IPv6, network byte order (family 6)
};

// An outcome's status besides 0 (connected) and an errno (> 0) from socket() or connect().
inline constexpr int32_t kTimedOut = -1;

struct TcpOutcome {
  uint32_t id;
  int32_t status;
};

class TcpProber {
 public:
  // notify runs on the prober's thread when outcomes wait and none did before; the owner then
  // calls take(). Throws std::system_error when the epoll set or the thread cannot be had.
  explicit TcpProber(std::function<void()> notify);
  // Stops the thread and closes every socket still open; their probes have no outcome.
  ~TcpProber();
  TcpProber(const TcpProber&) = delete;
  TcpProber& operator=(const TcpProber&) = delete;

  // Starts these probes (on the prober's thread, soon). Each ends with exactly one outcome
  // unless aborted; one that cannot even start (no socket: EMFILE) ends with that errno.
  void submit(const TcpProbe* probes, size_t n);
  // Ends these probes without an outcome, closing their sockets; unknown ids are ignored. An
  // outcome already waiting for take() stays.
  void abort(const uint32_t* ids, size_t n);
  // Moves the waiting outcomes into out (whose old contents go); the next outcome notifies again.
  void take(std::vector<TcpOutcome>& out);
  // Sockets open now.
  size_t open_sockets() const;

 private:
  struct Slot {
    int fd = -1;
    uint32_t id = 0;
    uint32_t gen = 0;  // told apart from the slot's earlier probes in epoll's events
    int32_t heap = -1;
    uint64_t deadline_us = 0;
  };

  template <typename Add>
  void hand_over(Add add);
  void run();
  void start(const TcpProbe& p, uint64_t now);
  void finish(uint32_t slot, int32_t status);
  void expire(uint64_t now);
  void abort_now(std::vector<uint32_t>& ids);
  int wait_ms(uint64_t now) const;
  void publish();

  // The deadlines: a min-heap of slot indices; each slot knows its place, so a probe that ends
  // early leaves in O(log n).
  void heap_push(uint32_t s);
  void heap_remove(uint32_t s);
  void heap_up(size_t i);
  void heap_down(size_t i);
  void heap_set(size_t i, uint32_t s);

  std::function<void()> notify_;
  int epoll_ = -1;
  int wake_ = -1;  // an eventfd: submit(), abort() and the destructor ring it

  // Shared with the caller's thread, under mu_.
  mutable std::mutex mu_;
  std::vector<TcpProbe> incoming_;
  std::vector<uint32_t> aborting_;
  std::vector<TcpOutcome> outgoing_;
  bool rung_ = false;      // the eventfd was written since the thread last looked
  bool notified_ = false;  // notify() ran since the owner last took
  bool stopping_ = false;
  std::atomic<size_t> open_{0};

  // The prober thread's own.
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_;
  std::vector<uint32_t> heap_;
  std::vector<TcpOutcome> done_;

  std::thread thread_;
};

}  // namespace fulcrum::health
