// Whether this director owns its VIPs now, and how a new owner announces them. With ha.vrrp,
// keepalived decides (MASTER owns; BACKUP and FAULT do not) and the control thread publishes
// the decision here; without it the director always owns them. Owning means: answering ARP for
// the VIPs, the FullNAT local addresses and the ports' floating addresses, and taking traffic
// to the VIPs and match-rule prefixes. A worker reads the word once per loop, between bursts
// (as it picks up snapshots, snapshot_rcu.h), never per packet and never under a lock.
// Pure code with no DPDK in it, unit-tested in test/vip_owner_test.cc.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "arp.h"
#include "types.h"

namespace fulcrum::dp {

// The published word: bit 0 says "owner", the bits above count changes, so a worker that
// missed a back-and-forth (BACKUP and MASTER again between two of its loops) still sees a
// change and announces again: the neighbours may have moved to the other director meanwhile.
class VipOwnership {
 public:
  explicit VipOwnership(bool owner = true) : word_(owner ? 1 : 0) {}
  // The control thread's side (the only writer).
  void set(bool owner) {
    uint64_t w = word_.load(std::memory_order_relaxed);
    word_.store((((w >> 1) + 1) << 1) | (owner ? 1 : 0), std::memory_order_release);
  }
  // The workers' side: load once per loop, compare with the last word seen.
  uint64_t load() const { return word_.load(std::memory_order_acquire); }
  static bool owns(uint64_t word) { return word & 1; }

 private:
  std::atomic<uint64_t> word_;
};

// Gratuitous ARP after a takeover, in rounds: one at once, a repeat for what a busy switch
// dropped, and one 5 s on (keepalived's garp_master_delay: the second burst after a takeover).
// Each round walks every address to announce a slice per worker loop (kGarpPerPass), so
// 10,000 VIPs never hold the burst loop or overrun a TX queue.
constexpr uint32_t kGarpRoundsMs[] = {0, 1000, 5000};
constexpr size_t kGarpRounds = sizeof kGarpRoundsMs / sizeof kGarpRoundsMs[0];
constexpr size_t kGarpPerPass = 32;

class GarpSchedule {
 public:
  // A takeover at now_ms: the rounds start again (a round in progress is abandoned).
  void start(uint64_t now_ms) {
    start_ms_ = now_ms;
    round_ = 0;
    cursor_ = 0;
    active_ = true;
  }
  // Ownership lost: nothing more is announced.
  void stop() { active_ = false; }
  bool active() const { return active_; }
  // A round is due (or under way) at now_ms.
  bool due(uint64_t now_ms) const { return active_ && now_ms >= start_ms_ + kGarpRoundsMs[round_]; }
  // The slice of the `total` addresses to announce now: [first, first + count).
  size_t first() const { return cursor_; }
  size_t count(size_t total) const {
    if (cursor_ >= total) return 0;
    return total - cursor_ < kGarpPerPass ? total - cursor_ : kGarpPerPass;
  }
  // After announcing count(total) addresses: the round ends when the walk reached `total`
  // (which may have changed since the round began: a snapshot's VIPs, re-read every pass).
  void advance(size_t total) {
    cursor_ += count(total);
    if (cursor_ < total) return;
    cursor_ = 0;
    if (++round_ == kGarpRounds) active_ = false;
  }
  size_t round() const { return round_; }

 private:
  uint64_t start_ms_ = 0;
  size_t round_ = 0;
  size_t cursor_ = 0;
  bool active_ = false;
};

// The IPv4 destination of an Ethernet frame (untagged or with one VLAN tag); false for any
// other frame (ARP, IPv6, truncated). What a director that does not own its VIPs looks at to
// drop their traffic.
inline bool frame_ipv4_dst(const uint8_t* f, uint32_t len, be32& dst) {
  uint16_t et = 0;
  const uint32_t l2 = frame_l2(f, len, et);
  if (!l2 || et != 0x0800 || len < l2 + 20) return false;
  std::memcpy(&dst, f + l2 + 16, 4);
  return true;
}

// The same for an IPv6 destination.
inline bool frame_ipv6_dst(const uint8_t* f, uint32_t len, IpAddr& dst) {
  uint16_t et = 0;
  const uint32_t l2 = frame_l2(f, len, et);
  if (!l2 || et != 0x86dd || len < l2 + 40) return false;
  std::memcpy(dst.b.data(), f + l2 + 24, 16);
  return true;
}

}  // namespace fulcrum::dp
