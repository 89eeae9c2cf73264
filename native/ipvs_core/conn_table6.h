// The per-worker IPv6 connection table: ConnV6 records (conn6.h) in the same bucketed table as
// IPv4's (BasicConnTable, conn_table.h), keyed by (proto, 128-bit client address, client port).
// A second instance rather than a wider IPv4 table, so IPv4 records stay 32 bytes and the IPv4
// path's code is what it was.
#pragma once

#include <cstring>

#include "conn6.h"
#include "conn_table.h"

namespace fulcrum {

class ConnTable6 : public BasicConnTable<ConnV6, ConnTable6> {
 public:
  explicit ConnTable6(const Options& opts) : BasicConnTable(opts) {}

  // The seeded mix of each half of the address (the two multiplies run side by side), then of
  // their combination with the port and protocol: which keys collide depends on the secret
  // seed at every step (the port is never folded into raw address bits, where colliding pairs
  // would be obvious: a spoofed source can be any address).
  uint64_t hash(uint8_t proto, const uint8_t* addr, be16 port) const {
    uint64_t lo, hi;
    std::memcpy(&lo, addr, 8);
    std::memcpy(&hi, addr + 8, 8);
    const uint64_t a = mix(lo);
    const uint64_t b = mix(hi);
    return mix(a ^ ((b << 23) | (b >> 41)) ^ (uint64_t{port} << 32) ^ (uint64_t{proto} << 48));
  }
  uint64_t hash(uint8_t proto, const IpAddr& addr, be16 port) const { return hash(proto, addr.b.data(), port); }
  uint64_t hash_of(const ConnV6& r) const { return hash(r.proto, r.caddr, r.cport); }

  // Client -> VIP: h = hash(proto, saddr, sport). Addresses are 16-byte pointers (the frame's).
  uint32_t find_in(uint64_t h, uint8_t proto, const uint8_t* caddr, be16 cport, const uint8_t* vaddr,
                   be16 vport) const {
    const uint32_t p = uint32_t{cport} | (uint32_t{vport} << 16);
    return find(h, [&](const ConnV6& r) {
      return load32(&r.cport) == p && r.proto == proto && !(r.flags & kConnTemplate) && same(r.caddr, caddr) &&
             same(r.vaddr, vaddr);
    });
  }
  // The same with pass 2's hint (prefetch_match): the hinted slot when it is live and holds the
  // key, else the full probe (ConnTable::find_in's reasons).
  uint32_t find_in(uint64_t h, uint32_t hint, uint8_t proto, const uint8_t* caddr, be16 cport, const uint8_t* vaddr,
                   be16 vport) const {
    if (hint != kNone && buckets_[hint / kSlotsPerBucket].tag[hint % kSlotsPerBucket]) [[likely]] {
      const ConnV6& r = slots_[hint];
      if (load32(&r.cport) == (uint32_t{cport} | (uint32_t{vport} << 16)) && r.proto == proto &&
          !(r.flags & kConnTemplate) && same(r.caddr, caddr) && same(r.vaddr, vaddr)) [[likely]]
        return hint;
    }
    return find_in(h, proto, caddr, cport, vaddr, vport);
  }
  // Persistence template <proto, cnet, 0, vaddr, vport>: h = hash(proto, cnet, 0).
  uint32_t find_template(uint64_t h, uint8_t proto, const IpAddr& cnet, const IpAddr& vaddr, be16 vport) const {
    const uint32_t p = uint32_t{vport} << 16;
    return find(h, [&](const ConnV6& r) {
      return load32(&r.cport) == p && r.proto == proto && (r.flags & kConnTemplate) && r.caddr == cnet &&
             r.vaddr == vaddr;
    });
  }
  // Real server -> client lookups need the dest's address (the record has none, conn6.h): the
  // engine matches through find() with its snapshot at hand.

  static bool same(const IpAddr& a, const uint8_t* b) { return IpAddr::eq16(a.b.data(), b); }

 private:
  static_assert(offsetof(ConnV6, vport) == offsetof(ConnV6, cport) + 2);
  static uint32_t load32(const be16* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
  }
};

}  // namespace fulcrum
