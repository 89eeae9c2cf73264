// The workers' hash and scheduler seeds. The connection table's hash is only as safe as its
// seed is secret: with a seed known from the source, flows crafted to share one bucket cost a
// worker ~20 times more each (core_bench's "hash flood"). So a director draws a secret at every
// start and gives each worker its own seed derived from it.
#pragma once

#include <sys/random.h>

#include <cstdint>
#include <random>

#include "mix.h"

namespace fulcrum::dp {

// 64 bits from the kernel's random pool (getrandom blocks only until the pool is first seeded,
// at boot); std::random_device where the call is refused (an old kernel, a seccomp filter).
// Never 0.
inline uint64_t draw_secret() {
  uint64_t v = 0;
  if (getrandom(&v, sizeof v, 0) == static_cast<ssize_t>(sizeof v) && v) return v;
  std::random_device rd;
  v = (uint64_t{rd()} << 32) ^ rd();
  return v ? v : 1;
}

// Worker w's seed from the start's secret: splitmix64 stepped from secret + w·φ, so workers'
// tables differ from each other; never 0 (which asks the core to draw one of its own).
inline uint64_t worker_seed(uint64_t secret, uint32_t w) {
  uint64_t x = secret + uint64_t{w} * 0x9e3779b97f4a7c15ull;
  uint64_t z = splitmix64(x);
  return z ? z : 1;
}

}  // namespace fulcrum::dp
