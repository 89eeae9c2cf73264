// DPDK's own log, taken from its stream (rte_openlog_stream) and handed to the control side,
// which writes it through its logger at the matching level: one log for the whole director,
// and driver notices that look like failures without being one are marked so they can be
// shown for what they are. Not on any packet path (DPDK logs at start, on link events and on
// errors); a mutex guards the queue because any thread may log.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace fulcrum::dp {

struct EalLogLine {
  uint32_t level;  // RTE_LOG_EMERG (1) .. RTE_LOG_DEBUG (8)
  std::string text;  // one line, without its newline
  bool harmless;     // a known notice that reads like a failure and is not one
};

// Lines as DPDK writes them (a message may come in several writes; one write may hold several
// lines), each line tagged with the level of the message it belongs to. Bounded: past
// kMaxLines queued, lines are counted as dropped.
class EalLogQueue {
 public:
  static constexpr size_t kMaxLines = 2000;
  void write(const char* data, size_t n, uint32_t level);
  std::vector<EalLogLine> take(uint64_t& dropped);

 private:
  std::mutex mu_;
  std::string partial_;
  std::vector<EalLogLine> lines_;
  uint64_t dropped_ = 0;
};

// True for the DPDK messages that are noise in Fulcrum's setup (the TAP driver's multiq qdisc
// and secondary-process requests, telemetry's legacy socket): shown at debug level.
bool eal_log_harmless(const std::string& line);

// Sends DPDK's log to the queue from now on (idempotent). Call before the EAL starts.
void capture_eal_log();
// The lines logged since the last call, and how many were dropped since.
std::vector<EalLogLine> take_eal_log(uint64_t& dropped);

}  // namespace fulcrum::dp
