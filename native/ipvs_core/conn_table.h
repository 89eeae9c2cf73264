// The per-worker connection table: every IPv4 connection and persistence template of one
// worker, found from either direction through ONE index keyed by (proto, client addr, client
// port), as the kernel's ip_vs_conn_tab is. The bucket machinery is BasicConnTable, shared with
// the IPv6 table (conn_table6.h), which differs only in its record and key. Bucketed open addressing (F14-style): 16-byte bucket
// headers hold an 8-bit tag per slot and an overflow count, records sit inline in a separate
// slot array and never move, so a record index is stable for the record's life. A lookup is
// one header line plus one record line; all memory is taken once, at construction.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "conn.h"
#include "timeouts.h"

namespace fulcrum {

// Where the table's two arrays come from: the DPDK layer passes hugepage memory
// (rte_malloc_socket), tests and tools use default_table_allocator() (mmap with a transparent
// hugepage hint for big arrays, aligned_alloc for small ones). Plain function pointers: the table
// calls them only at construction and destruction.
struct TableAllocator {
  void* (*alloc)(size_t bytes, size_t align, void* ctx) = nullptr;  // nullptr on failure
  void (*free)(void* p, size_t bytes, void* ctx) = nullptr;
  void* ctx = nullptr;
};
TableAllocator default_table_allocator();

struct ConnTableOptions {
  uint32_t capacity = 1u << 20;  // max live records (connections + templates); more inserts fail
  uint64_t seed = 0;             // hash seed; 0 = draw a random one (production should)
  TableAllocator alloc = default_table_allocator();
  // Max average live records per 14-slot bucket at full capacity. Measured at 1M: 10 (71 %)
  // costs 46 B/conn and a miss 11 ns; F14's 12 (86 %) 39 B/conn but 20 ns per miss (a third
  // of the buckets overflow, so the stop test mispredicts) -- misses are every SYN of a flood.
  uint32_t max_per_bucket = 10;
};

// Rec is the stored record; Derived (CRTP) supplies hash_of(const Rec&), the hash a stored
// record lives under, and the keyed lookups.
template <class Rec, class Derived>
class BasicConnTable {
 public:
  static constexpr uint32_t kNone = 0xffffffffu;
  static constexpr uint32_t kSlotsPerBucket = 14;  // 14 tags + overflow + spare = 16 bytes
  static constexpr uint8_t kOverflowSaturated = 255;
  using Options = ConnTableOptions;

  // Throws std::bad_alloc if the allocator fails (construction is the one place that may).
  explicit BasicConnTable(const Options& opts);
  ~BasicConnTable();
  BasicConnTable(const BasicConnTable&) = delete;
  BasicConnTable& operator=(const BasicConnTable&) = delete;

  // ---- burst pipeline ------------------------------------------------------------------------
  // An opaque prefetch: GCC treats __builtin_prefetch as free of side effects and deletes a
  // loop that only prefetches (measured: the stage-2 loop vanished, lookups ran 4x slower).
  static void prefetch_line(const void* p) {
#if defined(__x86_64__)
    asm volatile("prefetcht0 %0" : : "m"(*static_cast<const char*>(p)));
#else
    __builtin_prefetch(p);
#endif
  }
  // Stage 1: prefetch the home bucket's header line.
  void prefetch(uint64_t h) const { prefetch_line(&buckets_[home(h)]); }
  // Stage 2 (header now cached): prefetch the record line of the first tag match, so stage 3's
  // find_* compares keys against a line already on its way, and of the second when there is
  // one: a bucket holds about 10 records under 8-bit tags, so ~4% of lookups meet another
  // record's tag first, and stage 3 then stalled on the second line (at 1M connections 6-8% of
  // the core's samples sat on that compare). No match here while records homed here overflowed
  // into the next bucket: the key can only be there, so its first tag match (its header shares
  // the line three times in four); looking there on every overflowed bucket cost 7-9% at 10k.
  // No match: nothing to fetch.
  // Returns the first match's slot (kNone: no match), a hint for stage 3's find_*: usually the entry.
  uint32_t prefetch_match(uint64_t h) const {
    const uint32_t b = home(h);
    const uint8_t t = tag_of(h);
    const Bucket& bk = buckets_[b];
    uint32_t m = match_tag(bk, t);
    uint32_t idx = kNone;
    if (m) [[likely]] {
      idx = b * kSlotsPerBucket + static_cast<uint32_t>(__builtin_ctz(m));
      prefetch_line(&slots_[idx]);
      m &= m - 1;
      if (m) [[unlikely]]
        prefetch_line(&slots_[b * kSlotsPerBucket + static_cast<uint32_t>(__builtin_ctz(m))]);
    }
    if (idx == kNone && bk.overflow) [[unlikely]]
      return prefetch_next(b, t);
    return idx;
  }
  void prefetch_record(uint32_t idx) const { prefetch_line(&slots_[idx]); }
  // Both lines a check of slot idx reads (is_live, record).
  void prefetch_slot(uint32_t idx) const {
    prefetch_line(&buckets_[idx / kSlotsPerBucket]);
    prefetch_line(&slots_[idx]);
  }

  // Generic probe: the first live record under hash h for which match(const Rec&) is true.
  template <class Match>
  uint32_t find(uint64_t h, Match&& match) const {
    uint32_t b = home(h);
    const uint8_t tag = tag_of(h);
    for (uint32_t n = nbuckets_; n; --n) {
      const Bucket& bk = buckets_[b];
      for (uint32_t m = match_tag(bk, tag); m; m &= m - 1) {
        uint32_t idx = b * kSlotsPerBucket + static_cast<uint32_t>(__builtin_ctz(m));
        if (match(slots_[idx])) return idx;
      }
      // Nothing whose home is here or earlier went further on: the key is not in the table.
      if (bk.overflow == 0) [[likely]]
        return kNone;
      b = next(b);
    }
    return kNone;
  }

  // ---- updates -------------------------------------------------------------------------------
  // Stores a copy of rec under h (which must be hash_of(rec): erase recomputes it) and returns
  // its index, or kNone when the table holds capacity() records. The caller has looked the key
  // up first; duplicates are not detected here.
  uint32_t insert(uint64_t h, const Rec& rec) {
    if (size_ >= capacity_) [[unlikely]]
      return kNone;
    uint32_t b = home(h);
    // size_ < capacity_ <= slot count, so a free slot exists and this terminates.
    for (;;) {
      Bucket& bk = buckets_[b];
      if (uint32_t e = match_tag(bk, 0)) {
        uint32_t i = static_cast<uint32_t>(__builtin_ctz(e));
        bk.tag[i] = tag_of(h);
        uint32_t idx = b * kSlotsPerBucket + i;
        slots_[idx] = rec;
        ++size_;
        return idx;
      }
      if (bk.overflow != kOverflowSaturated) ++bk.overflow;
      b = next(b);
    }
  }
  uint32_t insert(const Rec& rec) { return insert(derived().hash_of(rec), rec); }

  // Frees a live record's slot. Other indices stay valid (nothing moves), so erasing during
  // for_each / expire_step / scan is safe. proto, caddr and cport must be as inserted.
  void erase(uint32_t idx) {
    uint32_t b = idx / kSlotsPerBucket;
    buckets_[b].tag[idx % kSlotsPerBucket] = 0;
    --size_;
    // Undo the overflow counts the insert left on the buckets it passed.
    for (uint32_t hb = home(derived().hash_of(slots_[idx])); hb != b; hb = next(hb))
      if (buckets_[hb].overflow != kOverflowSaturated) --buckets_[hb].overflow;
  }

  Rec& record(uint32_t idx) { return slots_[idx]; }
  uint32_t index_of(const Rec& r) const { return static_cast<uint32_t>(&r - slots_); }
  const Rec& record(uint32_t idx) const { return slots_[idx]; }
  bool is_live(uint32_t idx) const {
    return idx < nslots_ && buckets_[idx / kSlotsPerBucket].tag[idx % kSlotsPerBucket] != 0;
  }

  // ---- time ----------------------------------------------------------------------------------
  // Due at or after its expiry tick. Lookups that find such a record treat it as gone (the
  // engine expires it on the spot) even before the sweep reaches it.
  static bool is_expired(const Rec& r, uint32_t now) { return tick_reached(now, r.expires); }
  bool is_expired(uint32_t idx, uint32_t now) const { return is_expired(slots_[idx], now); }

  // Incremental sweep: visits at most `budget` slots from a clock hand that wraps around the
  // table, calling fn(idx) for each live record that is due. fn decides: erase it (after its
  // own accounting) or re-arm it (e.g. a template with live children, 60 s later). Returns the
  // number of fn calls (<= budget). A full round takes slot_count() / budget calls; one call
  // never goes round more than once (budget is capped at slot_count()).
  template <class Fn>
  uint32_t expire_step(uint32_t now, uint32_t budget, Fn&& fn) {
    uint32_t calls = 0;
    if (budget > nslots_) budget = nslots_;
    while (budget) {
      uint32_t b = hand_ / kSlotsPerBucket, i = hand_ % kSlotsPerBucket;
      uint32_t n = kSlotsPerBucket - i < budget ? kSlotsPerBucket - i : budget;
      const Bucket& bk = buckets_[b];
      uint32_t live = live_mask(bk) & (((1u << n) - 1) << i);
      for (; live; live &= live - 1) {
        uint32_t j = static_cast<uint32_t>(__builtin_ctz(live));
        uint32_t idx = b * kSlotsPerBucket + j;
        // Re-check the tag: an earlier fn call may have erased this one.
        if (bk.tag[j] && is_expired(slots_[idx], now)) {
          (void)fn(idx);
          ++calls;
        }
      }
      budget -= n;
      hand_ += n;
      if (hand_ == nslots_) hand_ = 0;
    }
    return calls;
  }

  // fn(idx) for every live record (explicit flush, per-dest flush). Work is the whole table;
  // use scan() to spread it over calls.
  template <class Fn>
  void for_each(Fn&& fn) {
    for (uint32_t b = 0; b < nbuckets_; ++b) {
      const Bucket& bk = buckets_[b];
      for (uint32_t live = live_mask(bk); live; live &= live - 1) {
        uint32_t j = static_cast<uint32_t>(__builtin_ctz(live));
        if (bk.tag[j]) fn(b * kSlotsPerBucket + j);
      }
    }
  }

  // Bounded iteration for listings and incremental flushes: fn(idx) for up to `max_records`
  // live records, looking at no more than `max_slots` slots, starting at slot `cursor` (0 to
  // begin). Returns where to continue, or 0 once the end of the table has been reached.
  template <class Fn>
  size_t scan(size_t cursor, size_t max_records, Fn&& fn, size_t max_slots = SIZE_MAX) const {
    size_t s = cursor;
    size_t calls = 0;
    for (; s < nslots_ && calls < max_records && max_slots; ++s, --max_slots) {
      if (buckets_[s / kSlotsPerBucket].tag[s % kSlotsPerBucket]) {
        fn(static_cast<uint32_t>(s));
        ++calls;
      }
    }
    return s >= nslots_ ? 0 : s;
  }

  // ---- sizes ---------------------------------------------------------------------------------
  uint32_t size() const { return size_; }
  uint32_t capacity() const { return capacity_; }
  bool full() const { return size_ >= capacity_; }
  uint32_t slot_count() const { return nslots_; }
  uint32_t bucket_count() const { return nbuckets_; }
  size_t memory_bytes() const { return bucket_bytes_ + slot_bytes_; }

  // Introspection for tests and diagnostics.
  uint32_t home_bucket(uint64_t h) const { return home(h); }
  uint8_t overflow_count(uint32_t bucket) const { return buckets_[bucket].overflow; }

 protected:
  // The seeded one-multiply mix the derived tables build their key hashes from.
  uint64_t mix(uint64_t k) const {
    unsigned __int128 p = static_cast<unsigned __int128>(k ^ seed0_) * seed1_;
    return static_cast<uint64_t>(p) ^ static_cast<uint64_t>(p >> 64);
  }
  struct alignas(16) Bucket {
    uint8_t tag[kSlotsPerBucket];  // 0 = empty slot
    uint8_t overflow;              // entries homed here or earlier that live further on
    uint8_t spare;
  };
  static_assert(sizeof(Bucket) == 16);

  uint32_t home(uint64_t h) const {
    return static_cast<uint32_t>(((h >> 32) * uint64_t{nbuckets_}) >> 32);
  }
  static uint8_t tag_of(uint64_t h) {
    uint8_t t = static_cast<uint8_t>(h);
    return t | static_cast<uint8_t>(t == 0);  // never 0, which marks empty
  }
  uint32_t next(uint32_t b) const { return b + 1 == nbuckets_ ? 0 : b + 1; }
  // prefetch_match's rare half, out of line so the common one stays small: the next bucket's
  // first match for tag t (kNone: none), prefetched.
  [[gnu::noinline]] uint32_t prefetch_next(uint32_t b, uint8_t t) const {
    const uint32_t n = next(b);
    const uint32_t m = match_tag(buckets_[n], t);
    if (!m) return kNone;
    const uint32_t at = n * kSlotsPerBucket + static_cast<uint32_t>(__builtin_ctz(m));
    prefetch_line(&slots_[at]);
    return at;
  }
  const Derived& derived() const { return static_cast<const Derived&>(*this); }

  // Bit i set when slot i's tag equals t.
  static uint32_t match_tag(const Bucket& bk, uint8_t t) {
#if defined(__SSE2__)
    __m128i v = _mm_load_si128(reinterpret_cast<const __m128i*>(&bk));
    __m128i eq = _mm_cmpeq_epi8(v, _mm_set1_epi8(static_cast<char>(t)));
    return static_cast<uint32_t>(_mm_movemask_epi8(eq)) & ((1u << kSlotsPerBucket) - 1);
#else
    uint32_t m = 0;
    for (uint32_t i = 0; i < kSlotsPerBucket; ++i) m |= uint32_t{bk.tag[i] == t} << i;
    return m;
#endif
  }
  static uint32_t live_mask(const Bucket& bk) { return ~match_tag(bk, 0) & ((1u << kSlotsPerBucket) - 1); }

  Bucket* buckets_ = nullptr;
  Rec* slots_ = nullptr;
  uint32_t nbuckets_ = 0;
  uint32_t nslots_ = 0;
  uint32_t capacity_ = 0;
  uint32_t size_ = 0;
  uint32_t hand_ = 0;  // expire_step's next slot
  uint64_t seed0_ = 0;
  uint64_t seed1_ = 1;
  size_t bucket_bytes_ = 0;
  size_t slot_bytes_ = 0;
  TableAllocator alloc_;
};

// The IPv4 table: ConnV4 records keyed by (proto, client address, client port).
class ConnTable : public BasicConnTable<ConnV4, ConnTable> {
 public:
  explicit ConnTable(const Options& opts) : BasicConnTable(opts) {}

  // ---- hashing -------------------------------------------------------------------------------
  // Seeded one-multiply mix (128-bit product of key^s0 and odd s1, halves xored): ~1 ns, and
  // unlike CRC32C it is not linear, so colliding keys depend on the secret seed. The high half
  // picks the bucket (multiply-shift range reduction, any bucket count), the low byte the tag.
  uint64_t hash(uint8_t proto, be32 addr, be16 port) const {
    return mix(uint64_t{addr} | (uint64_t{port} << 32) | (uint64_t{proto} << 48));
  }
  // The hash a stored record lives under: connections (proto, caddr, cport); templates have
  // cport 0 and caddr = the client net, so this is (proto, net, 0) for them.
  uint64_t hash_of(const ConnV4& r) const { return hash(r.proto, r.caddr, r.cport); }

  // ---- lookups (h = hash of the client side) --------------------------------------------------
  // Client -> VIP: h = hash(proto, saddr, sport).
  uint32_t find_in(uint64_t h, uint8_t proto, be32 caddr, be16 cport, be32 vaddr, be16 vport) const {
    uint64_t a = uint64_t{caddr} | (uint64_t{vaddr} << 32);
    uint32_t p = uint32_t{cport} | (uint32_t{vport} << 16);
    return find(h, [&](const ConnV4& r) {
      return load64(&r, offsetof(ConnV4, caddr)) == a && load32(&r, offsetof(ConnV4, cport)) == p &&
             r.proto == proto && !(r.flags & kConnTemplate);
    });
  }
  // Real server -> client (NAT replies): h = hash(proto, daddr, dport) of the reply. FullNAT
  // connections never match: their replies go to a local address, found through FnatPool.
  uint32_t find_out(uint64_t h, uint8_t proto, be32 caddr, be16 cport, be32 daddr, be16 dport) const {
    return find(h, [&](const ConnV4& r) {
      return r.caddr == caddr && r.daddr == daddr && r.cport == cport && r.dport == dport && r.proto == proto &&
             !(r.flags & kConnTemplate) && (r.flags & kConnFwdMask) != static_cast<uint8_t>(FwdMethod::FullNat);
    });
  }
  // Persistence template <proto, cnet, 0, vaddr, vport>: h = hash(proto, cnet, 0).
  uint32_t find_template(uint64_t h, uint8_t proto, be32 cnet, be32 vaddr, be16 vport) const {
    uint64_t a = uint64_t{cnet} | (uint64_t{vaddr} << 32);
    uint32_t p = uint32_t{vport} << 16;  // cport 0
    return find(h, [&](const ConnV4& r) {
      return load64(&r, offsetof(ConnV4, caddr)) == a && load32(&r, offsetof(ConnV4, cport)) == p &&
             r.proto == proto && (r.flags & kConnTemplate);
    });
  }
  // The same with stage 2's hint: the hinted slot when it is live and holds the key (keys are
  // unique among live records, so it is the entry even if the table changed since the hint),
  // else the full probe. Saves the second header read and tag compare of a hit.
  uint32_t find_in(uint64_t h, uint32_t hint, uint8_t proto, be32 caddr, be16 cport, be32 vaddr, be16 vport) const {
    if (hint != kNone && buckets_[hint / kSlotsPerBucket].tag[hint % kSlotsPerBucket] &&
        load64(&slots_[hint], offsetof(ConnV4, caddr)) == (uint64_t{caddr} | (uint64_t{vaddr} << 32)) &&
        load32(&slots_[hint], offsetof(ConnV4, cport)) == (uint32_t{cport} | (uint32_t{vport} << 16)) &&
        slots_[hint].proto == proto && !(slots_[hint].flags & kConnTemplate)) [[likely]]
      return hint;
    return find_in(h, proto, caddr, cport, vaddr, vport);
  }
 private:
  // Adjacent key fields compared as one wide word (caddr+vaddr, cport+vport).
  static_assert(offsetof(ConnV4, vaddr) == offsetof(ConnV4, caddr) + 4);
  static_assert(offsetof(ConnV4, vport) == offsetof(ConnV4, cport) + 2);
  static uint64_t load64(const ConnV4* r, size_t off) {
    uint64_t v;
    std::memcpy(&v, reinterpret_cast<const char*>(r) + off, 8);
    return v;
  }
  static uint32_t load32(const ConnV4* r, size_t off) {
    uint32_t v;
    std::memcpy(&v, reinterpret_cast<const char*>(r) + off, 4);
    return v;
  }

};

}  // namespace fulcrum
