// lblc and lblcr: locality-based least connection by destination address, without and with
// replication (kernel ip_vs_lblc.c, ip_vs_lblcr.c), over the fixed-pool LocalityCache. When a
// pool is exhausted the dest is still returned uncached, as the kernel does when kmalloc fails.
// A cached dest is the server it was cached for only while its id keeps that incarnation (the
// kernel holds a reference to the dest itself; an id given to another server is not it).
#include "sched/lblc.h"

#include "sched/hash.h"
#include "sched/internal.h"

namespace fulcrum {

using sched_detail::conn_overhead;
using sched_detail::more_loaded;
using sched_detail::Order;

// time_before(a, b) on a wrapping 32-bit second clock.
static bool before(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) < 0; }

uint32_t locality_hash(const IpAddr& daddr, bool svc_v6) {
  return sched_hash::hash_32(sched_hash::fold_host(daddr, svc_v6), 10);
}

void LocalityCache::reset(const LocalityConfig& cfg, bool with_sets) {
  const uint32_t n_elems = with_sets ? cfg.max_set_elems : 0;  // lblc keeps no sets
  bucket.fill(kNil);
  entries.assign(cfg.max_entries, Entry{});
  elems.assign(n_elems, Elem{});
  free_entry = kNil;
  for (uint32_t i = cfg.max_entries; i-- > 0;) {
    entries[i].next = free_entry;
    free_entry = i;
  }
  free_elem = kNil;
  for (uint32_t i = n_elems; i-- > 0;) {
    elems[i].next = free_elem;
    free_elem = i;
  }
  live = 0;
  kernel_entries = 0;
  timer_armed = false;
  next_check = 0;
  counter = 1;
  rover = 0;
  gc_running = false;
  gc_full = false;
  gc_goal = 0;
  gc_left = 0;
}

uint32_t LocalityCache::find(const IpAddr& addr, uint32_t hash) const {
  for (uint32_t e = bucket[hash]; e != kNil; e = entries[e].next)
    if (entries[e].addr == addr) return e;
  return kNil;
}

std::shared_ptr<LocalityCache> make_locality_cache(SchedKind kind, const LocalityConfig& cfg) {
  auto c = std::make_shared<LocalityCache>();
  c->reset(cfg, kind == SchedKind::Lblcr);
  return c;
}

namespace sched_detail {

// A state of its own gets a fresh cache; one the engine attached (the service's, shared by the
// workers) was made fresh by the control side for this scheduler and is not this worker's to reset.
void locality_init(SchedState& s) {
  if (s.cache_shared) return;
  s.cache = make_locality_cache(s.kind, s.locality);
}

static uint8_t tag_of(const DestSnap& d) { return static_cast<uint8_t>(d.incarnation); }

namespace {
struct Held {
  explicit Held(LocalityCache& c) : c(c) { c.lock(); }
  ~Held() { c.unlock(); }
  LocalityCache& c;
};
}  // namespace

// Entry at the head of its bucket (hlist_add_head), or kNil when the pool is empty.
static uint32_t entry_new(LocalityCache& c, const IpAddr& addr, uint32_t hash, uint32_t now) {
  const uint32_t e = c.free_entry;
  if (e == LocalityCache::kNil) return e;
  c.free_entry = c.entries[e].next;
  LocalityCache::Entry& en = c.entries[e];
  en = LocalityCache::Entry{};
  en.addr = addr;
  en.lastuse = now;
  en.next = c.bucket[hash];
  c.bucket[hash] = e;
  ++c.live;
  ++c.kernel_entries;
  return e;
}

static void set_free_all(LocalityCache& c, LocalityCache::Entry& en) {
  while (en.set_head != LocalityCache::kNil) {
    const uint32_t x = en.set_head;
    en.set_head = c.elems[x].next;
    c.elems[x].next = c.free_elem;
    c.free_elem = x;
  }
  en.set_size = 0;
}

// lblcr: add at the head of the set unless present; lastmod moves only when the set changes.
static void set_insert(LocalityCache& c, LocalityCache::Entry& en, DestId d, uint8_t tag, uint32_t now) {
  for (uint32_t x = en.set_head; x != LocalityCache::kNil; x = c.elems[x].next)
    if (c.elems[x].dest == d) {
      if (c.elems[x].tag != tag) {  // the id's old server, gone: this one takes its place
        c.elems[x].tag = tag;
        en.set_lastmod = now;
      }
      return;
    }
  const uint32_t x = c.free_elem;
  if (x == LocalityCache::kNil) return;
  c.free_elem = c.elems[x].next;
  c.elems[x].dest = d;
  c.elems[x].tag = tag;
  c.elems[x].next = en.set_head;
  en.set_head = x;
  ++en.set_size;
  en.set_lastmod = now;
}

static void set_erase(LocalityCache& c, LocalityCache::Entry& en, DestId d, uint32_t now) {
  for (uint32_t* link = &en.set_head; *link != LocalityCache::kNil; link = &c.elems[*link].next) {
    const uint32_t x = *link;
    if (c.elems[x].dest != d) continue;
    *link = c.elems[x].next;
    c.elems[x].next = c.free_elem;
    c.free_elem = x;
    --en.set_size;
    en.set_lastmod = now;
    return;
  }
}

// "lblc-overloaded": busier than its weight while some dest of the service is under half of its.
static bool locality_overloaded(DestId d, DestTable dests, Order order,
                                LoadView load) {
  if (!(static_cast<int32_t>(load[d].active) > dests[d].weight)) return false;
  for (DestId id : order)
    if (static_cast<int32_t>(load[id].active * 2) < dests[id].weight) return true;
  return false;
}

// One bounded slice of the kernel's ip_vs_lblc(r)_check_expire timer.
static void gc_slice(LocalityCache& c, uint32_t now, uint32_t expiration, uint32_t budget) {
  if (!c.timer_armed) {  // the kernel arms the timer when the service is created
    c.timer_armed = true;
    c.next_check = now + LocalityCache::kCheckInterval;
    return;
  }
  if (!c.gc_running) {
    if (before(now, c.next_check)) return;
    c.next_check = now + LocalityCache::kCheckInterval;
    if (c.counter % LocalityCache::kFullEvery == 0) {
      c.gc_running = true;
      c.gc_full = true;  // every ~30 min: drop entries idle longer than the expiration sysctl
      c.counter = 1;
    } else if (c.kernel_entries <= LocalityCache::kMaxSize) {
      ++c.counter;
      return;
    } else {
      c.gc_running = true;
      c.gc_full = false;  // over the limit: drop entries idle >= 6 min, 4/3 of the excess
      c.gc_goal = (c.kernel_entries - LocalityCache::kMaxSize) * 4 / 3;
      if (c.gc_goal > LocalityCache::kMaxSize / 2) c.gc_goal = LocalityCache::kMaxSize / 2;
    }
    c.gc_left = LocalityCache::kBuckets;
  }
  const uint32_t idle = c.gc_full ? expiration : LocalityCache::kEntryTimeout;
  for (; budget > 0 && c.gc_left > 0; --budget) {
    const uint32_t j = (c.rover + 1) & (LocalityCache::kBuckets - 1);
    c.rover = j;
    --c.gc_left;
    for (uint32_t* link = &c.bucket[j]; *link != LocalityCache::kNil;) {
      LocalityCache::Entry& en = c.entries[*link];
      if (before(now, en.lastuse + idle)) {
        link = &en.next;
        continue;
      }
      const uint32_t e = *link;
      *link = en.next;
      set_free_all(c, en);
      en.next = c.free_entry;
      c.free_entry = e;
      --c.live;
      --c.kernel_entries;
      --c.gc_goal;
    }
    if (!c.gc_full && c.gc_goal <= 0) c.gc_left = 0;
  }
  if (c.gc_left == 0) c.gc_running = false;
}

// Another worker collecting (or picking) meanwhile does this slice's work soon enough.
void locality_gc(SchedState& s, uint32_t now_s) {
  if (!s.cache || !s.cache->try_lock()) return;
  gc_slice(*s.cache, now_s, s.locality.expiration_s, s.locality.gc_buckets_per_call);
  s.cache->unlock();
}

DestId lblc_pick(const SchedTables& t, DestTable dests, Order order, LoadView load,
                 SchedState& s, const SchedPacket& pkt, uint32_t now) {
  if (!s.cache) return wlc_pick(dests, order, load);  // not synced: schedule without a cache
  LocalityCache& c = *s.cache;
  Held held(c);
  gc_slice(c, now, s.locality.expiration_s, s.locality.gc_buckets_per_call);

  const uint32_t h = locality_hash(pkt.daddr, t.svc_v6);
  const uint32_t e = c.find(pkt.daddr, h);
  if (e != LocalityCache::kNil) {
    LocalityCache::Entry& en = c.entries[e];
    en.lastuse = now;
    const DestId d = en.dest;
    if (dests[d].available && tag_of(dests[d]) == en.tag && dests[d].weight > 0 &&
        !locality_overloaded(d, dests, order, load))
      return d;
  }
  const DestId d = wlc_pick(dests, order, load);
  if (d == kNoDest) return kNoDest;
  if (e != LocalityCache::kNil) {
    // Kernel ip_vs_lblc_new: a different dest replaces the entry (fresh lastuse, which the lookup
    // already set); its delete path forgets to decrement tbl->entries.
    LocalityCache::Entry& en = c.entries[e];
    if (en.dest != d || en.tag != tag_of(dests[d])) {
      en.dest = d;
      en.tag = tag_of(dests[d]);
      ++c.kernel_entries;
    }
  } else {
    const uint32_t n = entry_new(c, pkt.daddr, h, now);
    if (n != LocalityCache::kNil) {
      c.entries[n].dest = d;
      c.entries[n].tag = tag_of(dests[d]);
    }
  }
  return d;
}

// ip_vs_dest_set_min: weighted least loaded usable member, ties to the newer member.
static DestId set_min(const LocalityCache& c, const LocalityCache::Entry& en,
                      DestTable dests, LoadView load) {
  uint32_t x = en.set_head;
  DestId least = kNoDest;
  for (; x != LocalityCache::kNil; x = c.elems[x].next) {
    const DestId d = c.elems[x].dest;
    if (load[d].overload || c.elems[x].tag != tag_of(dests[d])) continue;
    if (dests[d].weight > 0 && dests[d].available) {
      least = d;
      break;
    }
  }
  if (least == kNoDest) return kNoDest;
  int32_t loh = conn_overhead(load[least]);
  for (x = c.elems[x].next; x != LocalityCache::kNil; x = c.elems[x].next) {
    const DestId d = c.elems[x].dest;
    if (load[d].overload || c.elems[x].tag != tag_of(dests[d])) continue;
    const int32_t doh = conn_overhead(load[d]);
    if (more_loaded(loh, dests[d].weight, doh, dests[least].weight) && dests[d].available) {
      least = d;
      loh = doh;
    }
  }
  return least;
}

// ip_vs_dest_set_max: weighted most loaded member with weight > 0 (availability not checked).
static DestId set_max(const LocalityCache& c, const LocalityCache::Entry& en,
                      DestTable dests, LoadView load) {
  uint32_t x = en.set_head;
  DestId most = kNoDest;
  for (; x != LocalityCache::kNil; x = c.elems[x].next) {
    if (dests[c.elems[x].dest].weight > 0 && c.elems[x].tag == tag_of(dests[c.elems[x].dest])) {
      most = c.elems[x].dest;
      break;
    }
  }
  if (most == kNoDest) return kNoDest;
  int32_t moh = conn_overhead(load[most]);
  for (x = c.elems[x].next; x != LocalityCache::kNil; x = c.elems[x].next) {
    const DestId d = c.elems[x].dest;
    if (c.elems[x].tag != tag_of(dests[d])) continue;
    const int32_t doh = conn_overhead(load[d]);
    // moh/mw < doh/dw
    if (int64_t{moh} * dests[d].weight < int64_t{doh} * dests[most].weight &&
        dests[d].weight > 0) {
      most = d;
      moh = doh;
    }
  }
  return most;
}

DestId lblcr_pick(const SchedTables& t, DestTable dests, Order order, LoadView load,
                  SchedState& s, const SchedPacket& pkt, uint32_t now) {
  if (!s.cache) return wlc_pick(dests, order, load);
  LocalityCache& c = *s.cache;
  Held held(c);
  gc_slice(c, now, s.locality.expiration_s, s.locality.gc_buckets_per_call);

  const uint32_t h = locality_hash(pkt.daddr, t.svc_v6);
  const uint32_t e = c.find(pkt.daddr, h);
  if (e != LocalityCache::kNil) {
    LocalityCache::Entry& en = c.entries[e];
    en.lastuse = now;
    DestId d = set_min(c, en, dests, load);
    // A set that has not changed for the expiration time sheds its most loaded member.
    if (en.set_size > 1 && before(en.set_lastmod + s.locality.expiration_s, now)) {
      const DestId m = set_max(c, en, dests, load);
      if (m != kNoDest) set_erase(c, en, m, now);
    }
    if (d != kNoDest && !locality_overloaded(d, dests, order, load)) return d;
    d = wlc_pick(dests, order, load);
    if (d == kNoDest) return kNoDest;
    set_insert(c, en, d, tag_of(dests[d]), now);
    return d;
  }
  const DestId d = wlc_pick(dests, order, load);
  if (d == kNoDest) return kNoDest;
  const uint32_t n = entry_new(c, pkt.daddr, h, now);
  if (n != LocalityCache::kNil) set_insert(c, c.entries[n], d, tag_of(dests[d]), now);
  return d;
}

}  // namespace sched_detail
}  // namespace fulcrum
