// A sync master's bookkeeping per table slot, kept beside the table and only while a master
// runs (connections other than FullNAT keep their count and state in the record's FullNAT
// fields instead, conn.h; templates and FullNAT connections here): how many incoming packets until the kernel's threshold test
// (pkts % sync_period == sync_threshold) next holds and the TCP state last synced (4 bytes,
// read by every incoming packet), then in a second half the kernel's sync_endtime (4 bytes,
// read only when the policy is asked). One array of 8 bytes a slot from the table's allocator
// (THP backed, zeroed and faulted in when made, off the packet path); the hot half is what a
// packet's cache line carries, 16 slots a line.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>

#include "conn_table.h"

namespace fulcrum {

struct SyncSide {
  // (packets until the threshold test holds, this one included; 0: not counted yet) << 4 |
  // the state the fast path compares with (TCP: last synced; UDP: kStateUdp).
  uint32_t word = 0;
};
static_assert(sizeof(SyncSide) == 4);
// The second half: sync_endtime per slot, in ticks; the two low bits count retries.
inline uint32_t* sync_endtimes(SyncSide* side, size_t slots) { return reinterpret_cast<uint32_t*>(side + slots); }
constexpr uint32_t kSyncLeftMax = (1u << 28) - 1;

class SyncSideArray {
 public:
  // For a table of n slots.
  explicit SyncSideArray(size_t n, TableAllocator a = default_table_allocator()) : a_(a), bytes_(n * 2 * sizeof(uint32_t)) {
    p_ = static_cast<SyncSide*>(a_.alloc(bytes_ ? bytes_ : sizeof(SyncSide), 64, a_.ctx));
    if (!p_) throw std::bad_alloc();
    std::memset(static_cast<void*>(p_), 0, bytes_);
  }
  ~SyncSideArray() { a_.free(p_, bytes_ ? bytes_ : sizeof(SyncSide), a_.ctx); }
  SyncSideArray(const SyncSideArray&) = delete;
  SyncSideArray& operator=(const SyncSideArray&) = delete;
  SyncSide* get() const { return p_; }
  size_t bytes() const { return bytes_; }

 private:
  TableAllocator a_;
  size_t bytes_;
  SyncSide* p_ = nullptr;
};

}  // namespace fulcrum
