#include "eal_log.h"

#include <cstdio>

#include <rte_log.h>

namespace fulcrum::dp {

void EalLogQueue::write(const char* data, size_t n, uint32_t level) {
  std::lock_guard<std::mutex> g(mu_);
  for (size_t i = 0; i < n; ++i) {
    if (data[i] != '\n') {
      partial_.push_back(data[i]);
      continue;
    }
    if (lines_.size() >= kMaxLines) {
      ++dropped_;
    } else {
      bool harmless = eal_log_harmless(partial_);
      lines_.push_back({level, std::move(partial_), harmless});
    }
    partial_.clear();
  }
}

std::vector<EalLogLine> EalLogQueue::take(uint64_t& dropped) {
  std::lock_guard<std::mutex> g(mu_);
  std::vector<EalLogLine> out;
  out.swap(lines_);
  dropped = dropped_;
  dropped_ = 0;
  return out;
}

bool eal_log_harmless(const std::string& line) {
  static const char* const kNotices[] = {
      // net_tap without the kernel's multiq qdisc: it gives up rte_flow on the TAP, which
      // Fulcrum does not use (the TAP carries the host's own traffic only).
      "Could not add multiq qdisc",
      "failed to create multiq qdisc",
      "Specified qdisc kind is unknown",
      "Disabling rte flow support",
      "Failed to send start req to secondary",  // net_tap: there is no secondary process
      "No legacy callbacks, legacy socket not created",  // telemetry
      "Cannot access DPDK runtime directory",             // telemetry without a runtime dir
  };
  for (const char* k : kNotices)
    if (line.find(k) != std::string::npos) return true;
  return false;
}

namespace {

EalLogQueue& queue() {
  static EalLogQueue q;
  return q;
}

ssize_t cookie_write(void*, const char* buf, size_t n) {
  queue().write(buf, n, static_cast<uint32_t>(rte_log_cur_msg_loglevel()));
  return static_cast<ssize_t>(n);
}

}  // namespace

void capture_eal_log() {
  static FILE* stream = [] {
    cookie_io_functions_t io{};
    io.write = cookie_write;
    FILE* f = fopencookie(nullptr, "w", io);
    if (f) setvbuf(f, nullptr, _IONBF, 0);  // each write reaches the queue at once
    return f;
  }();
  if (stream) rte_openlog_stream(stream);
}

std::vector<EalLogLine> take_eal_log(uint64_t& dropped) { return queue().take(dropped); }

}  // namespace fulcrum::dp
