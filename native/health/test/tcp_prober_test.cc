// The TCP prober as a specification: a listening port is connected and the connection reset at
// once, a closed one is refused with the kernel's errno, silence ends at the deadline, an abort
// ends a probe without an outcome, thousands run at once, the owner is told once per batch, and
// nothing it opened outlives it. Everything is on 127.0.0.1; the silent server is a listener
// whose accept queue is full (the kernel drops further SYNs).
#include "tcp_prober.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

namespace fulcrum::health {
namespace {

using namespace std::chrono_literals;

const uint32_t kLocal = htonl(INADDR_LOOPBACK);

int open_fds() {
  int n = 0;
  DIR* d = opendir("/proc/self/fd");
  while (readdir(d)) ++n;
  closedir(d);
  return n;
}

// A TCP listener on 127.0.0.1 with this backlog; close() makes its port a closed one.
struct Listener {
  int fd = -1;
  uint16_t port = 0;
  explicit Listener(int backlog) {
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = kLocal;
    EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    EXPECT_EQ(listen(fd, backlog), 0);
    socklen_t len = sizeof sa;
    getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
    port = ntohs(sa.sin_port);
  }
  ~Listener() { close(); }
  void close() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  int accept_one() { return ::accept(fd, nullptr, nullptr); }
};

// A port of 127.0.0.1 that nothing listens on (it did a moment ago).
uint16_t closed_port() {
  Listener l(16);
  return l.port;
}

// A listener that takes no connection: one fills its queue (backlog 0), the rest go unanswered.
struct Silent {
  Listener l{0};
  int filler = -1;
  Silent() {
    filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(l.port);
    sa.sin_addr.s_addr = kLocal;
    EXPECT_EQ(connect(filler, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    std::this_thread::sleep_for(20ms);  // the handshake's last ACK puts it in the queue
  }
  ~Silent() { close(filler); }
};

// The owner's side: counts notifications and gathers outcomes by id.
struct Owner {
  std::mutex mu;
  std::condition_variable cv;
  int notified = 0;
  std::map<uint32_t, TcpOutcome> got;
  TcpProber prober{[this] {
    std::lock_guard<std::mutex> g(mu);
    ++notified;
    cv.notify_all();
  }};

  // Takes outcomes as they are announced until `n` have come, or `limit` passes.
  bool wait_for(size_t n, std::chrono::milliseconds limit = 5000ms) {
    auto until = std::chrono::steady_clock::now() + limit;
    std::vector<TcpOutcome> batch;
    for (;;) {
      prober.take(batch);
      for (const TcpOutcome& o : batch) got[o.id] = o;
      if (got.size() >= n) return true;
      std::unique_lock<std::mutex> g(mu);
      if (cv.wait_until(g, until) == std::cv_status::timeout) {
        g.unlock();
        prober.take(batch);
        for (const TcpOutcome& o : batch) got[o.id] = o;
        return got.size() >= n;
      }
    }
  }
  void submit(uint32_t id, uint16_t port, uint32_t timeout_ms = 2000, uint32_t addr = kLocal) {
    TcpProbe p{id, addr, port, timeout_ms};
    prober.submit(&p, 1);
  }
};

TEST(TcpProber, ListeningPortIsConnectedAndTheConnectionResetAtOnce) {
  Listener l(16);
  Owner o;
  o.submit(7, l.port);
  ASSERT_TRUE(o.wait_for(1));
  EXPECT_EQ(o.got[7].status, 0);
  int c = l.accept_one();
  ASSERT_GE(c, 0);
  char b;
  pollfd pfd{c, POLLIN, 0};
  ASSERT_EQ(poll(&pfd, 1, 1000), 1);
  EXPECT_EQ(recv(c, &b, 1, 0), -1);
  EXPECT_EQ(errno, ECONNRESET) << "a reset, not a FIN: no TIME_WAIT on the checking side";
  close(c);
}

// An IPv6 listener on ::1 (IPV6_V6ONLY: an IPv4 probe cannot reach it by accident).
struct Listener6 {
  int fd = -1;
  uint16_t port = 0;
  Listener6() {
    fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    sa.sin6_addr = in6addr_loopback;
    EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    EXPECT_EQ(listen(fd, 16), 0);
    socklen_t len = sizeof sa;
    getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
    port = ntohs(sa.sin6_port);
  }
  ~Listener6() { close(fd); }
};

TcpProbe probe6(uint32_t id, uint16_t port) {
  TcpProbe p{id, 0, port, 2000};
  p.family = 6;
  std::memcpy(p.addr6.data(), &in6addr_loopback, 16);
  return p;
}

TEST(TcpProber, IPv6ListeningPortIsConnectedAndClosedOneRefused) {
  Listener6 l;
  Owner o;
  TcpProbe ps[2] = {probe6(1, l.port), probe6(2, closed_port())};
  o.prober.submit(ps, 2);
  ASSERT_TRUE(o.wait_for(2));
  EXPECT_EQ(o.got[1].status, 0);
  EXPECT_EQ(o.got[2].status, ECONNREFUSED);
  // The same port over IPv4 finds nothing: the probe went to ::1, not 127.0.0.1.
  o.submit(3, l.port);
  ASSERT_TRUE(o.wait_for(3));
  EXPECT_EQ(o.got[3].status, ECONNREFUSED);
}

TEST(TcpProber, ClosedPortIsRefused) {
  Owner o;
  o.submit(1, closed_port());
  ASSERT_TRUE(o.wait_for(1));
  EXPECT_EQ(o.got[1].status, ECONNREFUSED);
}

TEST(TcpProber, SilenceEndsAtTheDeadlineNotBefore) {
  Silent s;
  Owner o;
  auto t0 = std::chrono::steady_clock::now();
  o.submit(3, s.l.port, 300);
  ASSERT_TRUE(o.wait_for(1));
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(o.got[3].status, kTimedOut);
  EXPECT_GE(took, 300ms);
  EXPECT_LT(took, 1000ms);
  EXPECT_EQ(o.prober.open_sockets(), 0u);
}

TEST(TcpProber, EachProbeKeepsItsOwnDeadline) {
  Silent s;
  Owner o;
  o.submit(1, s.l.port, 600);
  o.submit(2, s.l.port, 100);
  o.submit(3, s.l.port, 300);
  // Taken one at a time as they come: the shortest deadline first.
  std::vector<uint32_t> order;
  while (order.size() < 3 && o.wait_for(order.size() + 1))
    for (const auto& [id, out] : o.got)
      if (std::find(order.begin(), order.end(), id) == order.end()) order.push_back(id);
  EXPECT_EQ(order, (std::vector<uint32_t>{2, 3, 1}));
}

TEST(TcpProber, AbortEndsAProbeWithoutAnOutcome) {
  Silent s;
  Owner o;
  o.submit(1, s.l.port, 10000);
  o.submit(2, s.l.port, 200);
  uint32_t gone[] = {1, 99};  // 99 was never submitted: ignored
  o.prober.abort(gone, 2);
  ASSERT_TRUE(o.wait_for(1));
  EXPECT_FALSE(o.wait_for(2, 300ms));
  EXPECT_EQ(o.got.count(1), 0u);
  EXPECT_EQ(o.got[2].status, kTimedOut);
  EXPECT_EQ(o.prober.open_sockets(), 0u);
}

TEST(TcpProber, ThousandsAtOnceAllComeBack) {
  Listener l(4096);
  uint16_t closed = closed_port();
  std::atomic<bool> stop{false};
  // Accepting as they come, so the listener's queue never fills.
  std::thread acceptor([&] {
    pollfd pfd{l.fd, POLLIN, 0};
    while (!stop) {
      if (poll(&pfd, 1, 10) > 0) {
        int c = accept(l.fd, nullptr, nullptr);
        if (c >= 0) close(c);
      }
    }
  });
  Owner o;
  std::vector<TcpProbe> batch;
  for (uint32_t i = 0; i < 3000; ++i) batch.push_back({i, kLocal, i % 3 ? l.port : closed, 5000});
  o.prober.submit(batch.data(), batch.size());
  bool all = o.wait_for(batch.size(), 20s);
  stop = true;
  acceptor.join();
  ASSERT_TRUE(all) << o.got.size() << " of " << batch.size();
  for (uint32_t i = 0; i < 3000; ++i) EXPECT_EQ(o.got[i].status, i % 3 ? 0 : ECONNREFUSED) << i;
  EXPECT_LT(o.notified, 3000) << "outcomes come in batches";
}

TEST(TcpProber, OneNotificationUntilTheOwnerTakes) {
  uint16_t closed = closed_port();
  Owner o;
  o.submit(1, closed);
  ASSERT_TRUE(o.wait_for(1));
  std::this_thread::sleep_for(20ms);
  int before = o.notified;
  std::vector<TcpOutcome> taken;
  o.prober.take(taken);  // nothing more yet: the owner has taken, so the next one notifies
  o.submit(2, closed);
  o.submit(3, closed);
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(o.notified, before + 1) << "two outcomes waiting, one notification";
  ASSERT_TRUE(o.wait_for(3));
}

TEST(TcpProber, NothingItOpenedOutlivesIt) {
  int before = open_fds();
  {
    Silent s;
    Listener l(64);
    Owner o;
    for (uint32_t i = 0; i < 20; ++i) o.submit(i, s.l.port, i < 10 ? 100 : 60000);  // 10 time out, 10 in flight
    for (uint32_t i = 20; i < 40; ++i) o.submit(i, l.port);
    ASSERT_TRUE(o.wait_for(30));
    EXPECT_EQ(o.prober.open_sockets(), 10u);
  }  // the prober goes with 10 probes in flight
  EXPECT_EQ(open_fds(), before);
}

}  // namespace
}  // namespace fulcrum::health
