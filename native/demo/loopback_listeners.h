// TCP listeners on 127.0.0.1 that stand in for real servers in `fulcrum bench health`: one
// epoll thread accepts on all of them and closes each connection at once, so 20,000 checks a
// second cost the simulated servers a few microseconds each (Node's net servers spend tens of
// microseconds per connection and would be what the bench measured). Test and bench support,
// never part of the director.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace fulcrum::demo {

class LoopbackListeners {
 public:
  // Listens on `count` ephemeral ports of 127.0.0.1 (backlog 4096 each) and starts accepting;
  // throws std::system_error naming the call that failed.
  explicit LoopbackListeners(uint32_t count);
  ~LoopbackListeners();  // stops accepting and closes every socket
  LoopbackListeners(const LoopbackListeners&) = delete;
  LoopbackListeners& operator=(const LoopbackListeners&) = delete;

  const std::vector<uint16_t>& ports() const { return ports_; }
  uint64_t accepted() const { return accepted_.load(std::memory_order_relaxed); }

 private:
  void run();
  void release();

  std::vector<int> fds_;
  std::vector<uint16_t> ports_;
  int epoll_ = -1;
  int wake_ = -1;
  std::atomic<uint64_t> accepted_{0};
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace fulcrum::demo
