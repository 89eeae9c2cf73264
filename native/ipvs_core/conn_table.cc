// Construction-time work of the connection table: sizing, the one allocation of its two arrays,
// seeding. Everything per packet is inline in conn_table.h.
#include "conn_table.h"
#include "conn_table6.h"

#include <sys/mman.h>

#include <cstdlib>
#include <new>
#include <random>

#include "mix.h"

namespace fulcrum {

namespace {

constexpr size_t kMmapThreshold = size_t{1} << 20;

void* default_alloc(size_t bytes, size_t align, void*) {
  if (bytes >= kMmapThreshold) {
    // Page-aligned, zero-filled and lazily backed; ask for transparent huge pages (fewer TLB
    // misses on a table much larger than the TLB's reach). The hint may be refused.
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return nullptr;
#ifdef MADV_HUGEPAGE
    madvise(p, bytes, MADV_HUGEPAGE);
#endif
    return p;
  }
  size_t rounded = (bytes + align - 1) / align * align;
  return std::aligned_alloc(align, rounded);
}

void default_free(void* p, size_t bytes, void*) {
  if (!p) return;
  if (bytes >= kMmapThreshold)
    munmap(p, bytes);
  else
    std::free(p);
}

}  // namespace

TableAllocator default_table_allocator() { return TableAllocator{default_alloc, default_free, nullptr}; }

template <class Rec, class Derived>
BasicConnTable<Rec, Derived>::BasicConnTable(const Options& opts) : alloc_(opts.alloc) {
  if (!alloc_.alloc || !alloc_.free) alloc_ = default_table_allocator();
  uint32_t per_bucket = opts.max_per_bucket;
  if (per_bucket < 1) per_bucket = 1;
  if (per_bucket > kSlotsPerBucket) per_bucket = kSlotsPerBucket;
  // Indices must stay below kNone: cap the slot count at 2^31.
  constexpr uint64_t kMaxSlots = uint64_t{1} << 31;
  uint64_t cap = opts.capacity ? opts.capacity : 1;
  uint64_t nb = (cap + per_bucket - 1) / per_bucket;
  if (nb * kSlotsPerBucket > kMaxSlots) nb = kMaxSlots / kSlotsPerBucket;
  if (cap > nb * kSlotsPerBucket) cap = nb * kSlotsPerBucket;
  nbuckets_ = static_cast<uint32_t>(nb);
  nslots_ = nbuckets_ * kSlotsPerBucket;
  capacity_ = static_cast<uint32_t>(cap);

  bucket_bytes_ = size_t{nbuckets_} * sizeof(Bucket);
  slot_bytes_ = size_t{nslots_} * sizeof(Rec);
  buckets_ = static_cast<Bucket*>(alloc_.alloc(bucket_bytes_, 64, alloc_.ctx));
  slots_ = static_cast<Rec*>(alloc_.alloc(slot_bytes_, 64, alloc_.ctx));
  if (!buckets_ || !slots_) {
    if (buckets_) alloc_.free(buckets_, bucket_bytes_, alloc_.ctx);
    if (slots_) alloc_.free(slots_, slot_bytes_, alloc_.ctx);
    throw std::bad_alloc();
  }
  // Headers must start empty whatever the allocator gives. Records are zeroed too, so every
  // page is faulted in here and never on the packet path.
  std::memset(static_cast<void*>(buckets_), 0, bucket_bytes_);
  std::memset(static_cast<void*>(slots_), 0, slot_bytes_);

  uint64_t s = opts.seed;
  if (s == 0) s = (uint64_t{std::random_device{}()} << 32) ^ std::random_device{}();
  seed0_ = splitmix64(s);
  seed1_ = splitmix64(s) | 1;  // odd: the multiply is a bijection on the low half
}

template <class Rec, class Derived>
BasicConnTable<Rec, Derived>::~BasicConnTable() {
  alloc_.free(buckets_, bucket_bytes_, alloc_.ctx);
  alloc_.free(slots_, slot_bytes_, alloc_.ctx);
}

template class BasicConnTable<ConnV4, ConnTable>;
template class BasicConnTable<ConnV6, ConnTable6>;

}  // namespace fulcrum
