// The kernel's hsiphash as compiled on 64-bit kernels (x86_64): SipHash-1-3 truncated to 32 bits.
// The mh scheduler hashes with it, so Maglev tables only match the kernel's if this is bit-exact.
// Header-only so the scheduler and the tests' independent re-implementation can both reach it.
#pragma once

#include <cstdint>

namespace fulcrum::siphash {

// hsiphash_key_t on 64-bit kernels: two unsigned longs.
struct Key {
  uint64_t k0;
  uint64_t k1;
};

inline constexpr uint64_t rotl64(uint64_t v, int s) { return (v << s) | (v >> (64 - s)); }

struct State {
  uint64_t v0, v1, v2, v3;
  constexpr void round() {
    v0 += v1; v1 = rotl64(v1, 13); v1 ^= v0; v0 = rotl64(v0, 32);
    v2 += v3; v3 = rotl64(v3, 16); v3 ^= v2;
    v0 += v3; v3 = rotl64(v3, 21); v3 ^= v0;
    v2 += v1; v1 = rotl64(v1, 17); v1 ^= v2; v2 = rotl64(v2, 32);
  }
};

// hsiphash_1u32() on BITS_PER_LONG == 64: one 4-byte message, which only enters through the
// final block b = len << 56 | value; one compression round, three finalisation rounds.
inline constexpr uint32_t hsiphash_1u32(uint32_t first, const Key& key) {
  State s{0x736f6d6570736575ULL ^ key.k0, 0x646f72616e646f6dULL ^ key.k1,
          0x6c7967656e657261ULL ^ key.k0, 0x7465646279746573ULL ^ key.k1};
  const uint64_t b = (uint64_t{4} << 56) | first;
  s.v3 ^= b;
  s.round();
  s.v0 ^= b;
  s.v2 ^= 0xff;
  s.round();
  s.round();
  s.round();
  return static_cast<uint32_t>((s.v0 ^ s.v1) ^ (s.v2 ^ s.v3));
}

}  // namespace fulcrum::siphash
