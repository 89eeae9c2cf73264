// Internet checksum (RFC 1071) and its incremental update (RFC 1624), the only arithmetic the
// rewrites need. Header-only so the hot path inlines it. Convention: every 16-bit value here is
// "as stored in memory" (network order); one's-complement sums are byte-order neutral, so the
// code never swaps.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "types.h"

namespace fulcrum {

inline uint16_t load16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
inline void store16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }
inline uint32_t load32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline void store32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }

// Sum `len` bytes into a 32-bit accumulator (not yet folded or complemented). Chained calls
// must start at even offsets of the checksummed area; only the last chunk may be odd: a
// trailing byte counts as the high byte of a zero-padded word, as RFC 1071 says.
inline uint32_t csum_partial(const void* data, size_t len, uint32_t sum = 0) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  uint64_t acc = sum;
  while (len >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    acc += (v & 0xffffffffu) + (v >> 32);
    p += 8;
    len -= 8;
  }
  while (len >= 2) {
    acc += load16(p);
    p += 2;
    len -= 2;
  }
  if (len) {
    const uint8_t last[2] = {p[0], 0};
    acc += load16(last);
  }
  acc = (acc & 0xffffffffu) + (acc >> 32);
  acc = (acc & 0xffffffffu) + (acc >> 32);
  return static_cast<uint32_t>(acc);
}

// Fold a partial sum to 16 bits and complement: the value to store in a checksum field, and 0
// when verifying an area that already contains a correct checksum.
inline uint16_t csum_fold(uint32_t sum) {
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

// Full checksum of an area (field zeroed or included, caller's choice).
inline uint16_t inet_csum(const void* data, size_t len) { return csum_fold(csum_partial(data, len)); }

// Pseudo-header sums for TCP/UDP/ICMPv6 (RFC 793 / 768 / 8200 §8.1), as partial sums.
inline uint32_t pseudo_v4(be32 saddr, be32 daddr, uint8_t proto, uint32_t l4_len) {
  uint64_t acc = uint64_t(saddr & 0xffff) + (saddr >> 16) + (daddr & 0xffff) + (daddr >> 16) +
                 hton16(proto) + hton16(static_cast<uint16_t>(l4_len));
  acc = (acc & 0xffffffffu) + (acc >> 32);
  return static_cast<uint32_t>(acc);
}
inline uint32_t pseudo_v6(const uint8_t* saddr, const uint8_t* daddr, uint8_t proto, uint32_t l4_len) {
  uint32_t s = csum_partial(saddr, 16);
  s = csum_partial(daddr, 16, s);
  const uint8_t tail[8] = {uint8_t(l4_len >> 24), uint8_t(l4_len >> 16), uint8_t(l4_len >> 8),
                           uint8_t(l4_len), 0, 0, 0, proto};
  return csum_partial(tail, 8, s);
}

// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'). A CsumDelta collects (~m + m') for any number of
// changed words so one delta can be applied to several checksums (an address change touches
// both the IP header and the L4 pseudo-header). Words must sit at even offsets in the area.
struct CsumDelta {
  uint64_t acc = 0;

  void add16(uint16_t old_v, uint16_t new_v) {
    // Skipping unchanged words keeps a checksum byte-identical (no 0x0000 <-> 0xffff flip).
    if (old_v == new_v) return;
    acc += static_cast<uint16_t>(~old_v);
    acc += new_v;
  }
  void add32(uint32_t old_v, uint32_t new_v) {
    add16(static_cast<uint16_t>(old_v), static_cast<uint16_t>(new_v));
    add16(static_cast<uint16_t>(old_v >> 16), static_cast<uint16_t>(new_v >> 16));
  }
  void add128(const uint8_t* old_v, const uint8_t* new_v) {
    for (int i = 0; i < 16; i += 2) add16(load16(old_v + i), load16(new_v + i));
  }
  // Words inserted into (or, with remove, taken out of) the checksummed area.
  void insert(const uint8_t* p, size_t even_len) { acc += csum_partial(p, even_len); }
  bool empty() const { return acc == 0; }

  // New checksum for an old one.
  uint16_t apply(uint16_t hc) const {
    uint64_t s = uint64_t(static_cast<uint16_t>(~hc)) + acc;
    s = (s & 0xffffffffu) + (s >> 32);
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    return static_cast<uint16_t>(~s);
  }
  // UDP over IPv4: 0 means "no checksum" and stays 0; a computed 0 goes out as 0xffff.
  uint16_t apply_udp(uint16_t hc) const {
    if (hc == 0) return 0;
    uint16_t r = apply(hc);
    return r == 0 ? 0xffff : r;
  }
  void apply_at(uint8_t* field) const { store16(field, apply(load16(field))); }
  void apply_udp_at(uint8_t* field) const { store16(field, apply_udp(load16(field))); }
};

// Single-change conveniences.
inline uint16_t csum_update16(uint16_t hc, uint16_t old_v, uint16_t new_v) {
  CsumDelta d;
  d.add16(old_v, new_v);
  return d.apply(hc);
}
inline uint16_t csum_update32(uint16_t hc, uint32_t old_v, uint32_t new_v) {
  CsumDelta d;
  d.add32(old_v, new_v);
  return d.apply(hc);
}

// A full UDP checksum as it must go on the wire: a computed 0 is sent as 0xffff (RFC 768).
inline uint16_t udp_csum_final(uint32_t partial) {
  uint16_t c = csum_fold(partial);
  return c == 0 ? 0xffff : c;
}

}  // namespace fulcrum
