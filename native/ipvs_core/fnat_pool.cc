// Construction of the FullNAT pool: the worker's port share and the reverse maps, all sized
// here so the packet path never allocates.
#include "fnat_pool.h"

namespace fulcrum {

FnatPool::FnatPool(const std::vector<be32>& laddrs, uint16_t port_lo, uint16_t port_hi, uint16_t port_mask,
                   uint16_t port_value) {
  for (be32 a : laddrs) {
    if (a == 0 || addrs_.size() >= kMaxAddrs) continue;
    bool dup = false;
    for (be32 b : addrs_) dup |= a == b;
    if (!dup) addrs_.push_back(a);
  }
  naddrs_ = static_cast<uint32_t>(addrs_.size());

  uint32_t size = 8;
  while (size < 2 * naddrs_) size *= 2;
  addr_mask_ = size - 1;
  addr_shift_ = 32 - static_cast<uint32_t>(__builtin_ctz(size));
  addr_keys_.assign(size, 0);
  addr_vals_.assign(size, 0);
  for (uint32_t i = 0; i < naddrs_; ++i) {
    uint32_t s = addr_hash(addrs_[i]);
    while (addr_keys_[s] != 0) s = (s + 1) & addr_mask_;
    addr_keys_[s] = addrs_[i];
    addr_vals_[s] = static_cast<uint8_t>(i);
  }

  // A worker without local addresses (no FullNAT) keeps no port maps: they are 0.5 MiB per
  // pool, a pool for each family, in every worker.
  if (!naddrs_) return;
  rank_of_port_.assign(65536, kNoRank);
  uint32_t lo = port_lo ? port_lo : 1;
  port_of_rank_.reserve(port_hi >= lo ? port_hi - lo + 1 : 0);
  for (uint32_t p = lo; p <= port_hi; ++p) {
    if ((p & port_mask) != port_value) continue;
    be16 wire = hton16(static_cast<uint16_t>(p));
    rank_of_port_[wire] = static_cast<uint16_t>(port_of_rank_.size());
    port_of_rank_.push_back(wire);
  }
  nports_ = static_cast<uint32_t>(port_of_rank_.size());

  owner_.assign(size_t{naddrs_} * nports_, kNone);
  free_.resize(size_t{naddrs_} * nports_);
  claimed_.assign(size_t{naddrs_} * nports_, 0);
  rings_.resize(naddrs_);
  for (uint32_t a = 0; a < naddrs_; ++a) {
    for (uint32_t r = 0; r < nports_; ++r) free_[size_t{a} * nports_ + r] = static_cast<uint16_t>(r);
    rings_[a].count = nports_;
  }
  free_total_ = naddrs_ * nports_;
}

size_t FnatPool::memory_bytes() const {
  return addrs_.size() * 4 + addr_keys_.size() * 5 + rank_of_port_.size() * 2 + port_of_rank_.size() * 2 +
         owner_.size() * 4 + free_.size() * 2 + claimed_.size() + rings_.size() * sizeof(Ring);
}

}  // namespace fulcrum
