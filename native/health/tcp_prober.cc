// The prober's thread: one loop over epoll_wait that finishes the connects the kernel reports,
// gives up on those past their deadline, then starts what was submitted and drops what was
// aborted, and hands the outcomes of the round over at once.
#include "tcp_prober.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <ctime>
#include <system_error>
#include <unordered_set>

namespace fulcrum::health {
namespace {

constexpr uint64_t kWakeKey = UINT64_MAX;
constexpr int kEvents = 256;

uint64_t now_us() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000u + uint64_t(ts.tv_nsec) / 1000u;
}

// A reset instead of a FIN: the check's connection ends at once on both hosts, with no
// TIME_WAIT here (20,000 checks a second would otherwise hold over a million of them).
void close_reset(int fd) {
  linger l{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close(fd);
}

uint64_t key(uint32_t slot, uint32_t gen) { return uint64_t(gen) << 32 | slot; }

}  // namespace

TcpProber::TcpProber(std::function<void()> notify) : notify_(std::move(notify)) {
  epoll_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_ < 0) throw std::system_error(errno, std::generic_category(), "epoll_create1");
  wake_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_ < 0) {
    int e = errno;
    close(epoll_);
    throw std::system_error(e, std::generic_category(), "eventfd");
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeKey;
  if (epoll_ctl(epoll_, EPOLL_CTL_ADD, wake_, &ev) < 0) {
    int e = errno;
    close(wake_);
    close(epoll_);
    throw std::system_error(e, std::generic_category(), "epoll_ctl");
  }
  try {
    thread_ = std::thread([this] { run(); });
  } catch (...) {
    close(wake_);
    close(epoll_);
    throw;
  }
}

TcpProber::~TcpProber() {
  {
    std::lock_guard<std::mutex> g(mu_);
    stopping_ = true;
  }
  uint64_t one = 1;
  // The eventfd counter cannot overflow with one write: it always wakes the thread.
  (void)!write(wake_, &one, sizeof one);
  thread_.join();
  for (Slot& s : slots_)
    if (s.fd >= 0) close_reset(s.fd);
  close(wake_);
  close(epoll_);
}

void TcpProber::submit(const TcpProbe* probes, size_t n) {
  if (n) hand_over([&] { incoming_.insert(incoming_.end(), probes, probes + n); });
}

void TcpProber::abort(const uint32_t* ids, size_t n) {
  if (n) hand_over([&] { aborting_.insert(aborting_.end(), ids, ids + n); });
}

// Adds (under the lock) to what the thread takes on its next round, and wakes it unless a
// wake-up is already on its way.
template <typename Add>
void TcpProber::hand_over(Add add) {
  bool ring;
  {
    std::lock_guard<std::mutex> g(mu_);
    add();
    ring = !rung_;
    rung_ = true;
  }
  uint64_t one = 1;
  if (ring) (void)!write(wake_, &one, sizeof one);
}

void TcpProber::take(std::vector<TcpOutcome>& out) {
  out.clear();
  std::lock_guard<std::mutex> g(mu_);
  out.swap(outgoing_);
  notified_ = false;
}

size_t TcpProber::open_sockets() const { return open_.load(std::memory_order_relaxed); }

void TcpProber::run() {
  epoll_event events[kEvents];
  std::vector<TcpProbe> starting;
  std::vector<uint32_t> aborts;
  for (;;) {
    int n = epoll_wait(epoll_, events, kEvents, wait_ms(now_us()));
    uint64_t now = now_us();
    for (int i = 0; i < n; ++i) {
      uint64_t k = events[i].data.u64;
      if (k == kWakeKey) {
        uint64_t v;
        (void)!read(wake_, &v, sizeof v);
        continue;
      }
      uint32_t s = uint32_t(k), gen = uint32_t(k >> 32);
      if (s >= slots_.size() || slots_[s].fd < 0 || slots_[s].gen != gen) continue;
      // The kernel's verdict on the connect, as libuv reads it: SO_ERROR 0 is connected.
      int err = 0;
      socklen_t len = sizeof err;
      if (getsockopt(slots_[s].fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
      finish(s, err);
    }
    expire(now);
    {
      std::lock_guard<std::mutex> g(mu_);
      if (stopping_) return;
      starting.swap(incoming_);
      aborts.swap(aborting_);
      rung_ = false;
    }
    // Started before the aborts are applied: an abort may name a probe submitted just before it.
    now = now_us();
    for (const TcpProbe& p : starting) start(p, now);
    starting.clear();
    if (!aborts.empty()) abort_now(aborts);
    open_.store(slots_.size() - free_.size(), std::memory_order_relaxed);
    publish();
  }
}

void TcpProber::start(const TcpProbe& p, uint64_t now) {
  int fd = socket(p.family == 6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    done_.push_back({p.id, errno});
    return;
  }
  sockaddr_storage ss{};
  socklen_t len;
  if (p.family == 6) {
    auto& sa = reinterpret_cast<sockaddr_in6&>(ss);
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons(p.port);
    std::memcpy(&sa.sin6_addr, p.addr6.data(), 16);
    len = sizeof sa;
  } else {
    auto& sa = reinterpret_cast<sockaddr_in&>(ss);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(p.port);
    sa.sin_addr.s_addr = p.addr;
    len = sizeof sa;
  }
  if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0) {
    close_reset(fd);
    done_.push_back({p.id, 0});
    return;
  }
  if (errno != EINPROGRESS) {
    int e = errno;
    close(fd);
    done_.push_back({p.id, e});
    return;
  }
  uint32_t s;
  if (!free_.empty()) {
    s = free_.back();
    free_.pop_back();
  } else {
    s = uint32_t(slots_.size());
    slots_.emplace_back();
  }
  Slot& slot = slots_[s];
  slot.fd = fd;
  slot.id = p.id;
  slot.gen++;
  slot.deadline_us = now + uint64_t(p.timeout_ms) * 1000u;
  epoll_event ev{};
  ev.events = EPOLLOUT;
  ev.data.u64 = key(s, slot.gen);
  if (epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev) < 0) {
    int e = errno;
    close(fd);
    slot.fd = -1;
    free_.push_back(s);
    done_.push_back({p.id, e});
    return;
  }
  heap_push(s);
}

void TcpProber::finish(uint32_t s, int32_t status) {
  Slot& slot = slots_[s];
  // Closing takes the socket out of the epoll set too.
  if (status == 0)
    close_reset(slot.fd);
  else
    close(slot.fd);
  slot.fd = -1;
  heap_remove(s);
  free_.push_back(s);
  done_.push_back({slot.id, status});
}

void TcpProber::expire(uint64_t now) {
  while (!heap_.empty() && slots_[heap_[0]].deadline_us <= now) finish(heap_[0], kTimedOut);
}

void TcpProber::abort_now(std::vector<uint32_t>& ids) {
  std::unordered_set<uint32_t> gone(ids.begin(), ids.end());
  ids.clear();
  for (uint32_t s = 0; s < slots_.size(); ++s) {
    Slot& slot = slots_[s];
    if (slot.fd < 0 || !gone.count(slot.id)) continue;
    close(slot.fd);
    slot.fd = -1;
    heap_remove(s);
    free_.push_back(s);
  }
}

// Until the earliest deadline, rounded up so a wake-up never comes just before it.
int TcpProber::wait_ms(uint64_t now) const {
  if (heap_.empty()) return -1;
  uint64_t d = slots_[heap_[0]].deadline_us;
  if (d <= now) return 0;
  return int(std::min<uint64_t>((d - now + 999) / 1000, INT_MAX));
}

void TcpProber::publish() {
  if (done_.empty()) return;
  bool first;
  {
    std::lock_guard<std::mutex> g(mu_);
    if (outgoing_.empty()) {
      outgoing_.swap(done_);
    } else {
      outgoing_.insert(outgoing_.end(), done_.begin(), done_.end());
      done_.clear();
    }
    first = !notified_;
    notified_ = true;
  }
  if (first) notify_();
}

void TcpProber::heap_set(size_t i, uint32_t s) {
  heap_[i] = s;
  slots_[s].heap = int32_t(i);
}

void TcpProber::heap_push(uint32_t s) {
  heap_.push_back(s);
  slots_[s].heap = int32_t(heap_.size() - 1);
  heap_up(heap_.size() - 1);
}

void TcpProber::heap_remove(uint32_t s) {
  int32_t i = slots_[s].heap;
  if (i < 0) return;
  slots_[s].heap = -1;
  uint32_t last = heap_.back();
  heap_.pop_back();
  if (size_t(i) == heap_.size()) return;
  heap_set(size_t(i), last);
  heap_down(size_t(i));
  heap_up(size_t(slots_[last].heap));
}

void TcpProber::heap_up(size_t i) {
  uint32_t s = heap_[i];
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (slots_[heap_[p]].deadline_us <= slots_[s].deadline_us) break;
    heap_set(i, heap_[p]);
    i = p;
  }
  heap_set(i, s);
}

void TcpProber::heap_down(size_t i) {
  uint32_t s = heap_[i];
  size_t n = heap_.size();
  for (;;) {
    size_t l = 2 * i + 1;
    if (l >= n) break;
    size_t c = l + 1 < n && slots_[heap_[l + 1]].deadline_us < slots_[heap_[l]].deadline_us ? l + 1 : l;
    if (slots_[heap_[c]].deadline_us >= slots_[s].deadline_us) break;
    heap_set(i, heap_[c]);
    i = c;
  }
  heap_set(i, s);
}

}  // namespace fulcrum::health
