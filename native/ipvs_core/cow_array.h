// A fixed-size array in chunks that snapshots share copy-on-write: a new snapshot copies the
// chunk table of its predecessor (pointer copies) and duplicates only the chunks it writes, so
// a change costs what it touches, not the size of the array. Readers index through a flat
// table of raw chunk pointers: one extra L1-resident load per access.
//
// Only the control thread copies, writes and frees these (workers only read published
// snapshots), so use_count() tells reliably whether a chunk is shared.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

namespace fulcrum {

template <class T, unsigned kBits>
class CowArray {
 public:
  static constexpr size_t kChunk = size_t{1} << kBits;
  static constexpr size_t kMask = kChunk - 1;

  CowArray() = default;
  // n elements equal to `fill`; every chunk starts as the same shared one, so this allocates
  // one chunk whatever n is.
  CowArray(size_t n, const T& fill) : size_(n) {
    auto chunk = std::make_shared<Chunk>();
    for (T& v : chunk->v) v = fill;
    const size_t chunks = (n + kMask) >> kBits;
    owned_.assign(chunks, chunk);
    raw_.assign(chunks, chunk->v);
  }

  size_t size() const { return size_; }
  const T& operator[](size_t i) const { return raw_[i >> kBits][i & kMask]; }
  // The chunk pointers readers index through (chunk i holds elements i << kBits onwards).
  const T* const* chunks() const { return raw_.data(); }

  // The element for writing: its chunk is duplicated first if another array shares it.
  T& edit(size_t i) {
    std::shared_ptr<Chunk>& c = owned_[i >> kBits];
    if (c.use_count() > 1) {
      c = std::make_shared<Chunk>(*c);
      raw_[i >> kBits] = c->v;
    }
    return c->v[i & kMask];
  }

 private:
  struct Chunk {
    T v[kChunk];
  };
  std::vector<std::shared_ptr<Chunk>> owned_;
  std::vector<const T*> raw_;
  size_t size_ = 0;
};

}  // namespace fulcrum
