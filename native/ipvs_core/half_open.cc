// Sizing and the one allocation of the half-open ring; push and pop are inline in half_open.h.
#include "half_open.h"

#include <new>

namespace fulcrum {

HalfOpenRing::HalfOpenRing(uint32_t budget, uint32_t slot_count) {
  cap_ = 1;
  while (cap_ < budget && cap_ < (1u << 31)) cap_ <<= 1;
  mask_ = cap_ - 1;
  // Index bits for every slot (at most 31: the table keeps slot counts below 2^31), the rest
  // of the word for the fingerprint.
  idx_bits_ = 1;
  while (idx_bits_ < 31 && (uint64_t{1} << idx_bits_) < slot_count) ++idx_bits_;
  idx_mask_ = (1u << idx_bits_) - 1;
  fp_mask_ = (1u << (32 - idx_bits_)) - 1;
  bytes_ = size_t{cap_} * sizeof(uint32_t);
  ring_ = static_cast<uint32_t*>(alloc_.alloc(bytes_, 64, alloc_.ctx));
  if (!ring_) throw std::bad_alloc();
}

HalfOpenRing::~HalfOpenRing() { alloc_.free(ring_, bytes_, alloc_.ctx); }

}  // namespace fulcrum
