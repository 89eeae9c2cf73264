// The order in which a worker's half-open connections (SYN_RECV: the handshake never finished)
// began, so that under a SYN flood the oldest one is evicted first and a new client, or an
// established connection, always finds room (Worker::evict_half_open). A FIFO ring of 4-byte
// entries, each a record's slot index and a fingerprint of its key. Nothing is ever removed from
// the middle: a connection that completes its handshake or expires leaves its entry behind, and
// whoever pops it checks it against the slot (still half-open, same key) before acting on it.
// All memory is taken at construction; push and pop are O(1).
#pragma once

#include <cstdint>

#include "conn_table.h"

namespace fulcrum {

class HalfOpenRing {
 public:
  // Room for at least `budget` entries (a power of two), indices below `slot_count`.
  HalfOpenRing(uint32_t budget, uint32_t slot_count);
  ~HalfOpenRing();
  HalfOpenRing(const HalfOpenRing&) = delete;
  HalfOpenRing& operator=(const HalfOpenRing&) = delete;

  bool empty() const { return head_ == tail_; }
  bool full() const { return tail_ - head_ == cap_; }
  uint32_t size() const { return tail_ - head_; }
  uint32_t capacity() const { return cap_; }
  size_t memory_bytes() const { return bytes_; }

  // h: the record's table hash (ConnTable::hash_of). The caller keeps the ring from overflowing.
  void push(uint32_t idx, uint64_t h) { ring_[tail_++ & mask_] = idx | (fingerprint(h) << idx_bits_); }

  struct Entry {
    uint32_t idx;
    uint32_t fp;
  };
  Entry pop() {
    uint32_t e = ring_[head_++ & mask_];
    return {e & idx_mask_, e >> idx_bits_};
  }
  // The slot the next pop() names (the ring is not empty): to prefetch while other work runs.
  uint32_t front_idx() const { return ring_[head_ & mask_] & idx_mask_; }
  // True when the record now in the entry's slot has the key the entry was pushed for (false
  // positives one in 2^(32 - index bits): an eviction out of order, never a wrong count).
  bool same_key(const Entry& e, uint64_t h) const { return e.fp == fingerprint(h); }

 private:
  // Bits 8.. of the hash: the low byte is the slot's tag and the high half picks the bucket,
  // both shared by the records a slot may hold in turn.
  uint32_t fingerprint(uint64_t h) const { return static_cast<uint32_t>(h >> 8) & fp_mask_; }

  uint32_t* ring_ = nullptr;
  uint32_t cap_ = 0, mask_ = 0;
  uint32_t head_ = 0, tail_ = 0;  // free-running; tail_ - head_ = entries
  uint32_t idx_bits_ = 0, idx_mask_ = 0, fp_mask_ = 0;
  size_t bytes_ = 0;
  TableAllocator alloc_ = default_table_allocator();
};

}  // namespace fulcrum
