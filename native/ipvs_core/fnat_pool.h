// A worker's FullNAT source pool: its local IPv4 addresses and its share of local ports, which
// port each connection holds, and the reverse map a reply (to laddr:lport) is found by. Replies
// to a local address never use the connection table's index, so this map is the FullNAT
// "out" direction. Memory is sized and taken at construction; alloc/release/lookup are O(1).
#pragma once

#include <cstdint>
#include <vector>

#include "types.h"

namespace fulcrum {

class FnatPool {
 public:
  static constexpr uint32_t kNone = 0xffffffffu;  // == ConnTable::kNone
  static constexpr uint32_t kMaxAddrs = 256;      // a connection stores the index in a byte

  // This worker owns local ports p (host order) with port_lo <= p <= port_hi and
  // (p & port_mask) == port_value, on every address: a range split (disjoint [lo, hi] per
  // worker) or a low-bit split (mask 0x3, value = worker) so NIC flow rules or RSS can steer
  // replies back to the owning worker. Port 0 is never used. Addresses past kMaxAddrs, zeros and
  // duplicates are ignored.
  FnatPool(const std::vector<be32>& laddrs, uint16_t port_lo, uint16_t port_hi, uint16_t port_mask = 0,
           uint16_t port_value = 0);

  bool has_addrs() const { return naddrs_ != 0; }
  uint32_t addr_count() const { return naddrs_; }
  // Index of a local address, -1 when it is not one of this pool's.
  int laddr_index(be32 a) const {
    if (!naddrs_ || a == 0) return -1;  // 0 marks an empty slot below
    for (uint32_t i = addr_hash(a);; i = (i + 1) & addr_mask_) {
      if (addr_keys_[i] == a) return addr_vals_[i];
      if (addr_keys_[i] == 0) return -1;
    }
  }
  be32 laddr(uint8_t index) const { return addrs_[index]; }

  // Takes a free (laddr, lport) for connection `conn`: addresses in turn, and on each address
  // the port released longest ago (FIFO), so a port is not reused while the real server may
  // still hold the old tuple in TIME_WAIT. false when every port of every address is taken.
  bool alloc(uint32_t conn, uint8_t& laddr, be16& lport) {
    for (uint32_t n = naddrs_; n; --n) {
      uint32_t a = cursor_;
      cursor_ = cursor_ + 1 == naddrs_ ? 0 : cursor_ + 1;
      Ring& r = rings_[a];
      while (r.count) {
        uint16_t rank = free_[a * nports_ + r.head];
        r.head = r.head + 1 == nports_ ? 0 : r.head + 1;
        --r.count;
        uint32_t& o = owner_[a * nports_ + rank];
        if (o != kNone) [[unlikely]] {
          claimed_[a * nports_ + rank] = 0;  // claimed while queued (claim): its queue entry is gone now
          continue;
        }
        o = conn;
        laddr = static_cast<uint8_t>(a);
        lport = port_of_rank_[rank];
        --free_total_;
        return true;
      }
    }
    return false;
  }

  // Takes the given pair for `conn` (a connection a sync master made, installed on a backup):
  // false when the address is not a local one, the port not in this worker's share, or the
  // pair is held. The port's entry stays in its free queue, marked, and is passed over there.
  bool claim(uint32_t conn, be32 laddr_addr, be16 lport, uint8_t& laddr) {
    int a = laddr_index(laddr_addr);
    uint16_t rank = rank_of(lport);
    if (a < 0 || rank == kNoRank) return false;
    const size_t i = static_cast<size_t>(a) * nports_ + rank;
    if (owner_[i] != kNone) return false;
    owner_[i] = conn;
    claimed_[i] = 1;
    --free_total_;
    laddr = static_cast<uint8_t>(a);
    return true;
  }
  struct Lease {
    bool ok;
    uint8_t laddr;
    be16 lport;
  };
  Lease alloc(uint32_t conn) {
    Lease l{false, 0, 0};
    l.ok = alloc(conn, l.laddr, l.lport);
    return l;
  }

  // Returns a port to its address's free queue. false (and nothing changes) when the pair is
  // not held: not ours, or already released.
  bool release(uint8_t laddr, be16 lport) {
    uint16_t rank = rank_of(lport);
    if (laddr >= naddrs_ || rank == kNoRank) return false;
    uint32_t& o = owner_[laddr * nports_ + rank];
    if (o == kNone) return false;
    o = kNone;
    ++free_total_;
    if (claimed_[laddr * nports_ + rank]) [[unlikely]] {
      claimed_[laddr * nports_ + rank] = 0;  // still queued: free again where it stands
      return true;
    }
    Ring& r = rings_[laddr];
    uint32_t tail = r.head + r.count;
    if (tail >= nports_) tail -= nports_;
    free_[laddr * nports_ + tail] = rank;
    ++r.count;
    return true;
  }

  // The connection holding laddr:lport (a FullNAT reply's destination), or kNone.
  uint32_t lookup(be32 laddr, be16 lport) const {
    int a = laddr_index(laddr);
    return a < 0 ? kNone : lookup_at(static_cast<uint8_t>(a), lport);
  }
  uint32_t lookup_at(uint8_t laddr, be16 lport) const {
    uint16_t rank = rank_of(lport);
    if (laddr >= naddrs_ || rank == kNoRank) return kNone;
    return owner_[laddr * nports_ + rank];
  }

  // True when lport is in this worker's share.
  bool owns_port(be16 lport) const { return rank_of(lport) != kNoRank; }
  uint32_t ports_per_addr() const { return nports_; }
  uint32_t free_count() const { return free_total_; }
  size_t memory_bytes() const;

 private:
  static constexpr uint16_t kNoRank = 0xffff;  // at most 65535 ports (1..65535), ranks 0..65534
  struct Ring {
    uint32_t head = 0;
    uint32_t count = 0;
  };
  uint32_t addr_hash(be32 a) const { return ((a * 0x9e3779b1u) >> addr_shift_) & addr_mask_; }
  // A port's rank in this worker's share; a pool without addresses has no port maps at all.
  uint16_t rank_of(be16 lport) const { return naddrs_ ? rank_of_port_[lport] : kNoRank; }

  uint32_t naddrs_ = 0;
  uint32_t nports_ = 0;
  uint32_t cursor_ = 0;
  uint32_t free_total_ = 0;
  std::vector<be32> addrs_;
  // laddr -> index: open addressing, power-of-two size, key 0 = empty (0.0.0.0 is never local).
  std::vector<be32> addr_keys_;
  std::vector<uint8_t> addr_vals_;
  uint32_t addr_mask_ = 0;
  uint32_t addr_shift_ = 0;
  std::vector<uint16_t> rank_of_port_;  // indexed by the port as on the wire (be16): no swap; empty without addresses
  std::vector<be16> port_of_rank_;
  std::vector<uint32_t> owner_;   // [addr][rank] -> connection index or kNone
  std::vector<uint16_t> free_;    // [addr] ring of free ranks
  std::vector<uint8_t> claimed_;  // [addr][rank]: held through claim() while still in the ring
  std::vector<Ring> rings_;
};

}  // namespace fulcrum
