// The small hash functions the kernel's hashing schedulers use (dh, sh, lblc, lblcr, mh), in one
// place so table building (control side) and lookup (workers) cannot drift apart.
#pragma once

#include <cstdint>
#include <cstring>

#include "types.h"

namespace fulcrum::sched_hash {

// include/linux/hash.h since 4.7: multiply by GOLDEN_RATIO_32 and keep the HIGH bits. dh, sh,
// lblc and lblcr all hash this way in current kernels (older ones masked the low bits of
// addr * 2654435761; reference §2 still describes that form).
inline constexpr uint32_t kGoldenRatio32 = 0x61C88647u;
inline constexpr uint32_t hash_32(uint32_t val, unsigned bits) {
  return (val * kGoldenRatio32) >> (32 - bits);
}

// The kernel's addr_fold in host order: an IPv4 service hashes addr->ip; an IPv6 service XORs the
// four 32-bit words. In an IPv6 service a dest may be IPv4 (mixed-family tunnel dests): the kernel
// stores it as ip,0,0,0, so its fold is the IPv4 address itself — `dest_v4_in_v6` selects that
// for dest addresses, never for packet addresses (a v4-mapped IPv6 client folds as IPv6).
inline uint32_t fold_host(const IpAddr& a, bool v6, bool dest_v4_in_v6 = false) {
  if (!v6 || (dest_v4_in_v6 && a.is_v4())) return ntoh32(a.v4());
  uint32_t w[4];
  std::memcpy(w, a.b.data(), 16);
  return ntoh32(w[0] ^ w[1] ^ w[2] ^ w[3]);
}

}  // namespace fulcrum::sched_hash
