// Persistence across workers: which real server each persistent client (template key: masked
// client address, VIP or fwmark, port; IPv4 and IPv6 clients alike) is tied to, director-wide. Each worker keeps its own
// templates as before (they count PersistConn, their children and expire); this index lets a
// worker that has none for a client find the one another worker made, so a client's
// connections reach the same real server whichever worker owns them, as with the kernel's one
// template table.
//
// Touched only when a persistent service gets a new connection, or a template gains or loses
// a child or is kept alive: never by an established packet. Entries are 16 bytes, changed
// whole by a 16-byte compare-and-swap (cmpxchg16b, in x86-64-v2), four to a cache line; a key
// lives in the line its hash names. An entry is live until `expires` (the tick clock every
// worker shares); a full line leaves a new client without a shared entry (its worker's own
// template still holds it there), counted by the caller. Its memory is mapped at construction
// and backed on use (default_table_allocator: zero pages until written), so a director without
// persistent services pays nothing per connection for it.
#pragma once

#include <cstdint>
#include <cstring>
#include <new>

#include "conn_table.h"
#include "types.h"

namespace fulcrum {

class SharedAffinity {
 public:
  struct Hit {
    DestId dest = kNoDest;
    uint8_t tag = 0;       // low 8 bits of the dest's incarnation when the entry was made
    uint32_t expires = 0;  // find(): when the tie lapses unless kept alive
  };

  // `slots` is rounded up to a power of two, at least one line. `seed` keys the hash: with a
  // secret one (the dataplane's, drawn at start) nobody can craft clients that fill one line
  // or share another client's key.
  explicit SharedAffinity(uint32_t slots, uint64_t seed = 0x5eed) : seed_(seed) {
    uint32_t n = kWays;
    while (n < slots && n < (1u << 30)) n <<= 1;
    mask_ = n / kWays - 1;
    bytes_ = size_t{n / kWays} * sizeof(Line);
    // Lines are aggregates of zeros (C++20: objects of implicit-lifetime type): zeroed memory
    // holds them without a constructor touching every page.
    lines_ = static_cast<Line*>(alloc_.alloc(bytes_, alignof(Line), alloc_.ctx));
    if (!lines_) throw std::bad_alloc();
    if (bytes_ < (size_t{1} << 20)) std::memset(static_cast<void*>(lines_), 0, bytes_);  // mmap'd ones are zero
  }
  ~SharedAffinity() { alloc_.free(lines_, bytes_, alloc_.ctx); }
  SharedAffinity(const SharedAffinity&) = delete;
  SharedAffinity& operator=(const SharedAffinity&) = delete;

  // The template key as one 64-bit hash (never 0: 0 marks an empty entry).
  uint64_t key(uint8_t proto, be32 net, be32 vaddr, be16 vport) const {
    uint64_t a = (uint64_t{net} << 32 | vaddr) ^ seed_;
    uint64_t b = (uint64_t{proto} << 16 | vport) ^ 0xc2b2ae3d27d4eb4full;
    a = (a ^ (a >> 30)) * 0xbf58476d1ce4e5b9ull;
    a ^= b * 0x94d049bb133111ebull;
    a = (a ^ (a >> 27)) * 0x94d049bb133111ebull;
    a ^= a >> 31;
    return a ? a : 1;
  }

  // An IPv6 client's key (prefix of -M's length, VIP or the mark's stand-in address): each
  // address's halves folded through the same seeded mix, then the IPv4 form's last step with a
  // constant of its own, so an IPv6 key is as unpredictable as an IPv4 one and the two families
  // never meet except by a 64-bit accident.
  uint64_t key6(uint8_t proto, const IpAddr& net, const IpAddr& vaddr, be16 vport) const {
    uint64_t w[4];
    std::memcpy(w, net.b.data(), 16);
    std::memcpy(w + 2, vaddr.b.data(), 16);
    uint64_t a = seed_ ^ 0x6a09e667f3bcc908ull;
    for (uint64_t x : w) {
      a ^= x;
      a = (a ^ (a >> 30)) * 0xbf58476d1ce4e5b9ull;
      a = (a ^ (a >> 27)) * 0x94d049bb133111ebull;
    }
    a ^= ((uint64_t{proto} << 16 | vport) ^ 0x510e527fade682d1ull) * 0x94d049bb133111ebull;
    a = (a ^ (a >> 27)) * 0x94d049bb133111ebull;
    a ^= a >> 31;
    return a ? a : 1;
  }

  // The live entry for k, if any.
  bool find(uint64_t k, uint32_t now, Hit& out) {
    Line& l = lines_[k & mask_];
    for (Entry& e : l.e) {
      const Value v = read(e);
      if (v.key == k && live(v, now)) {
        out = Hit{v.dest, v.tag, v.expires};
        return true;
      }
    }
    return false;
  }

  // Ties k to `want` until `expires` unless a live entry another worker made first ties it
  // elsewhere (`valid` says whether that one's dest may still be used; an unusable one is
  // replaced). Returns the tie in force; dest kNoDest when the line had no room. `made` says
  // whether this call wrote it (the caller's template is then the client's one, and counts).
  template <class Valid>
  Hit claim(uint64_t k, Hit want, uint32_t now, uint32_t expires, Valid&& valid, bool& made) {
    made = false;
    Line& l = lines_[k & mask_];
    for (int round = 0; round < 4; ++round) {
      Entry* free = nullptr;
      Value free_v;
      for (Entry& e : l.e) {
        const Value v = read(e);
        if (v.key == k && live(v, now)) {
          if (valid(Hit{v.dest, v.tag})) return Hit{v.dest, v.tag};
          free = &e;  // the same client's stale tie: replaced
          free_v = v;
          break;
        }
        if (!free && (v.key == 0 || !live(v, now))) {
          free = &e;
          free_v = v;
        }
      }
      if (!free) return Hit{};
      if (cas(*free, free_v, Value{k, expires, want.dest, want.tag})) {
        made = true;
        return want;
      }
    }
    return Hit{};
  }

  // Keeps k's entry alive at least until `expires` (a template used, left by a child, or kept
  // for its children).
  void refresh(uint64_t k, uint32_t expires) {
    Line& l = lines_[k & mask_];
    for (Entry& e : l.e) {
      Value v = read(e);
      while (v.key == k && static_cast<int32_t>(expires - v.expires) > 0) {
        Value n = v;
        n.expires = expires;
        if (cas(e, v, n)) return;
        v = read(e);
      }
      if (v.key == k) return;
    }
  }

 private:
  static constexpr int kWays = 4;
  struct alignas(16) Entry {
    unsigned __int128 bits = 0;
  };
  struct alignas(64) Line {
    Entry e[kWays];
  };
  struct Value {
    uint64_t key = 0;
    uint32_t expires = 0;
    DestId dest = kNoDest;
    uint8_t tag = 0;
  };
  static unsigned __int128 pack(const Value& v) {
    const uint64_t lo = uint64_t{v.expires} | uint64_t{v.dest & 0xfffffu} << 32 | uint64_t{v.tag} << 52;
    return static_cast<unsigned __int128>(v.key) << 64 | lo;
  }
  static Value unpack(unsigned __int128 b) {
    const uint64_t lo = static_cast<uint64_t>(b);
    return Value{static_cast<uint64_t>(b >> 64), static_cast<uint32_t>(lo), static_cast<DestId>((lo >> 32) & 0xfffff),
                 static_cast<uint8_t>(lo >> 52)};
  }
  // A 16-byte read that is never torn: a compare-and-swap of 0 for 0 (it writes nothing
  // unless the entry is empty, and then writes the same).
  static Value read(Entry& e) { return unpack(__sync_val_compare_and_swap(&e.bits, 0, 0)); }
  static bool cas(Entry& e, const Value& was, const Value& now) {
    return __sync_bool_compare_and_swap(&e.bits, pack(was), pack(now));
  }
  static bool live(const Value& v, uint32_t now) { return v.key && static_cast<int32_t>(v.expires - now) > 0; }

  TableAllocator alloc_ = default_table_allocator();
  Line* lines_ = nullptr;
  size_t bytes_ = 0;
  uint32_t mask_ = 0;
  uint64_t seed_;
};

}  // namespace fulcrum
