// The listeners' accept loop (see loopback_listeners.h).
#include "loopback_listeners.h"

#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace fulcrum::demo {
namespace {

[[noreturn]] void fail(const char* what) { throw std::system_error(errno, std::generic_category(), what); }

}  // namespace

LoopbackListeners::LoopbackListeners(uint32_t count) {
  try {
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_ < 0) fail("epoll_create1");
    wake_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_ < 0) fail("eventfd");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = wake_;
    if (epoll_ctl(epoll_, EPOLL_CTL_ADD, wake_, &ev) < 0) fail("epoll_ctl");
    for (uint32_t i = 0; i < count; ++i) {
      int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) fail("socket");
      fds_.push_back(fd);
      sockaddr_in sa{};
      sa.sin_family = AF_INET;
      sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      socklen_t len = sizeof sa;
      if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) fail("bind");
      if (listen(fd, 4096) < 0) fail("listen");
      if (getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) < 0) fail("getsockname");
      ports_.push_back(ntohs(sa.sin_port));
      ev.data.fd = fd;
      if (epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev) < 0) fail("epoll_ctl");
    }
    thread_ = std::thread([this] { run(); });
  } catch (...) {
    release();
    throw;
  }
}

LoopbackListeners::~LoopbackListeners() {
  stopping_ = true;
  uint64_t one = 1;
  (void)!write(wake_, &one, sizeof one);
  thread_.join();
  release();
}

void LoopbackListeners::release() {
  for (int fd : fds_) close(fd);
  fds_.clear();
  if (wake_ >= 0) close(wake_);
  if (epoll_ >= 0) close(epoll_);
  wake_ = epoll_ = -1;
}

void LoopbackListeners::run() {
  epoll_event events[64];
  while (!stopping_) {
    int n = epoll_wait(epoll_, events, 64, -1);
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd == wake_) continue;
      // Everything waiting on this port, closed at once. With a FIN, as a server that has
      // nothing to say does: a reset could reach the checker before it has read its connect's
      // outcome, which then reads ECONNRESET. The checker's own reset ends the connection on
      // both sides, so nothing waits in TIME_WAIT.
      for (;;) {
        int c = accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) break;
        close(c);
        accepted_.fetch_add(1, std::memory_order_relaxed);
      }
    }
  }
}

}  // namespace fulcrum::demo
