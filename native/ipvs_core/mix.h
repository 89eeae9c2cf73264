// splitmix64: the 64-bit mixer that turns a seed into well-spread values (one step per call,
// advancing x). The connection table derives its hash keys with it, the dataplane its workers'
// seeds.
#pragma once

#include <cstdint>

namespace fulcrum {

inline uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace fulcrum
