// Builds Snapshots, one from the other: a change (a whole config, or a delta of services
// upserted and removed) is validated against the previous snapshot as a whole config would be
// (every problem reported, cross-service rules included, nothing half-built), then the new
// snapshot copies the previous one's chunk tables and pointers and rewrites only what the
// change touches: the services it names, their dests, their entries in the service hash by
// (proto, VIP, port), and the VIP set, fwmark list and match rules when those change. A
// whole-config apply goes through the same path; services it repeats unchanged are kept.
#include "snapshot.h"

#include <algorithm>
#include <atomic>
#include <iterator>
#include <set>
#include <string>
#include <unordered_map>

namespace fulcrum {

namespace {

constexpr uint32_t kMaxPersistTimeout = 2678400;  // 31 days, as ipvsadm

bool valid_mh_size(uint32_t n) {
  static constexpr uint32_t primes[] = {251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071};
  return std::find(std::begin(primes), std::end(primes), n) != std::end(primes);
}

std::string addr_str(const IpAddr& a) {
  if (a.is_v4()) {
    uint32_t h = ntoh32(a.v4());
    return std::to_string(h >> 24) + "." + std::to_string((h >> 16) & 255) + "." + std::to_string((h >> 8) & 255) +
           "." + std::to_string(h & 255);
  }
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < 16; i += 2) {
    if (i) s += ':';
    for (int j = i; j < i + 2; ++j) {
      s += hex[a.b[j] >> 4];
      s += hex[a.b[j] & 15];
    }
  }
  return s;
}

uint64_t mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return x;
}

bool prefix_match_v4(be32 addr, be32 prefix, uint8_t len) {
  if (len == 0) return true;
  uint32_t mask = len >= 32 ? 0xffffffffu : ~((1u << (32 - len)) - 1);
  return (ntoh32(addr) & mask) == (ntoh32(prefix) & mask);
}

// Everything the scheduler depends on; a change bumps the service generation.
bool same_sched_inputs(const ServiceSnap& old, const ServiceSnap& now, const Snapshot& prev_snap, DestTable dests) {
  if (old.sched != now.sched || old.flags != now.flags || old.order != now.order) return false;
  for (DestId d : now.order) {
    const DestSnap& a = prev_snap.dest(d);
    const DestSnap& b = dests[d];
    if (a.addr != b.addr || a.port != b.port || a.weight != b.weight || a.u_threshold != b.u_threshold ||
        a.l_threshold != b.l_threshold)
      return false;
  }
  return true;
}

// True when the config describes exactly the service the snapshot holds under its id (a
// whole-config apply repeats every unchanged service: those are kept as they are).
bool same_service(const ServiceSnap& old, const ServiceConfig& c, const Snapshot& prev) {
  if (old.proto != c.proto || old.vip != c.vip || old.port != c.port || old.fwmark != c.fwmark ||
      old.v6 != (c.fwmark ? c.fwmark_v6 : !c.vip.is_v4()) ||
      old.sched != c.sched || old.flags != c.flags || old.persist_ticks != c.persist_timeout_s * kTicksPerSec ||
      old.netmask != c.netmask || old.plen6 != c.netmask6 || old.mh_table_size != c.mh_table_size ||
      old.order.size() != c.dests.size())
    return false;
  for (size_t j = 0; j < c.dests.size(); ++j) {
    const DestConfig& d = c.dests[j];
    if (d.id != old.order[j]) return false;
    const DestSnap& o = prev.dest(d.id);
    if (o.addr != d.addr || o.port != d.port || o.fwd != d.fwd || o.weight != d.weight ||
        o.u_threshold != d.u_threshold || o.l_threshold != d.l_threshold)
      return false;
  }
  return true;
}

bool is_locality(SchedKind k) { return k == SchedKind::Lblc || k == SchedKind::Lblcr; }

// Per-id marks for one build without clearing arrays between builds: an entry belongs to the
// current build when its epoch matches. Sized once per thread (the control thread).
struct Marks {
  std::vector<uint64_t> v;
  uint64_t epoch = 0;
  void start(size_t n) {
    if (v.size() < n) v.resize(n, 0);
    ++epoch;
  }
  bool has(size_t i) const { return (v[i] >> 32) == (epoch & 0xffffffffu); }
  uint32_t get(size_t i) const { return static_cast<uint32_t>(v[i]); }
  void set(size_t i, uint32_t value) { v[i] = ((epoch & 0xffffffffu) << 32) | value; }
};

}  // namespace

// What one build changes and replaces; references into the caller's config or delta.
struct SnapshotChange {
  const std::vector<ServiceConfig>& upsert;
  const std::vector<SvcId>* remove = nullptr;  // nullptr: every service not upserted goes
  const char* upsert_name = "upsert";
  const std::vector<MatchRule>* rules = nullptr;
  const TimeoutConfig* timeouts = nullptr;
  const be32* tunnel_source = nullptr;
  const IpAddr* tunnel_source6 = nullptr;
  const uint16_t* mtu = nullptr;
  const bool* expire_quiescent_template = nullptr;
  const bool* sloppy_tcp = nullptr;
};

class SnapshotBuilder {
 public:
  static std::unique_ptr<Snapshot> empty(const WorkerLimits& limits, const Snapshot* replaced);
  static std::unique_ptr<Snapshot> build(const Snapshot& prev, const SnapshotChange& ch, std::vector<std::string>& errors);

 private:
  static void v4_insert(Snapshot& s, uint64_t key, const ServiceSnap* svc);
  static void v4_erase(Snapshot& s, uint64_t key);
  static void v4_rebuild(Snapshot& s, size_t count);
  static void v6_update(Snapshot& s, const std::vector<SvcId>& gone, const std::vector<const ServiceSnap*>& added);
};

const char* sched_name(SchedKind k) {
  switch (k) {
    case SchedKind::Rr: return "rr";
    case SchedKind::Wrr: return "wrr";
    case SchedKind::Lc: return "lc";
    case SchedKind::Wlc: return "wlc";
    case SchedKind::Sed: return "sed";
    case SchedKind::Nq: return "nq";
    case SchedKind::Lblc: return "lblc";
    case SchedKind::Lblcr: return "lblcr";
    case SchedKind::Dh: return "dh";
    case SchedKind::Sh: return "sh";
    case SchedKind::Mh: return "mh";
    case SchedKind::Fo: return "fo";
    case SchedKind::Ovf: return "ovf";
    case SchedKind::Twos: return "twos";
  }
  return "?";
}

bool sched_from_name(const std::string& name, SchedKind& out) {
  for (int k = 0; k <= static_cast<int>(SchedKind::Twos); ++k) {
    if (name == sched_name(static_cast<SchedKind>(k))) {
      out = static_cast<SchedKind>(k);
      return true;
    }
  }
  return false;
}

const ServiceSnap* Snapshot::lookup_v4(uint64_t key) const {
  for (size_t i = mix64(key) & v4_mask_;; i = (i + 1) & v4_mask_) {
    const V4Slot& e = v4_index_[i];
    if (e.key == key) return e.svc;
    if (e.key == 0) return nullptr;
  }
}

const ServiceSnap* Snapshot::find_v4(uint8_t proto, be32 vip, be16 vport) const {
  if (const ServiceSnap* s = lookup_v4((uint64_t{proto} << 48) | (uint64_t{ntoh16(vport)} << 32) | vip)) return s;
  return lookup_v4((uint64_t{proto} << 48) | vip);
}

namespace {
bool v6_less(const IpAddr& va, uint8_t pa, uint16_t qa, const IpAddr& vb, uint8_t pb, uint16_t qb) {
  const int c = std::memcmp(va.b.data(), vb.b.data(), 16);
  if (c != 0) return c < 0;
  return pa != pb ? pa < pb : qa < qb;
}
}  // namespace

const ServiceSnap* Snapshot::find_v6(uint8_t proto, const uint8_t* vip, be16 vport) const {
  const IpAddr a = IpAddr::from_v6(vip);
  const std::vector<V6Entry>& v = *v6_index_;
  auto at = [&](uint16_t port) -> const ServiceSnap* {
    auto it = std::lower_bound(v.begin(), v.end(), port, [&](const V6Entry& e, uint16_t q) {
      return v6_less(e.vip, e.proto, e.port, a, proto, q);
    });
    return it != v.end() && it->vip == a && it->proto == proto && it->port == port ? it->svc : nullptr;
  };
  if (const ServiceSnap* s = at(ntoh16(vport))) return s;
  return at(0);
}

const ServiceSnap* Snapshot::find_v6_exact(uint8_t proto, const IpAddr& vip, uint16_t port) const {
  for (const V6Entry& e : *v6_index_)
    if (e.vip == vip && e.proto == proto && e.port == port) return e.svc;
  return nullptr;
}

const ServiceSnap* Snapshot::find_fwmark(uint32_t mark) const {
  auto it = std::lower_bound(marks_->begin(), marks_->end(), mark,
                             [](const std::pair<uint32_t, const ServiceSnap*>& e, uint32_t m) { return e.first < m; });
  return it != marks_->end() && it->first == mark ? it->second : nullptr;
}

namespace {
bool prefix_match_v6(const uint8_t* addr, const IpAddr& prefix, uint8_t len) {
  const IpAddr a = IpAddr::from_v6(addr);
  return ip6_prefix(a, len) == ip6_prefix(prefix, len);
}
const ServiceSnap* find_mark(const std::vector<std::pair<uint32_t, const ServiceSnap*>>& v, uint32_t mark) {
  auto it = std::lower_bound(v.begin(), v.end(), mark,
                             [](const std::pair<uint32_t, const ServiceSnap*>& e, uint32_t m) { return e.first < m; });
  return it != v.end() && it->first == mark ? it->second : nullptr;
}
}  // namespace

const ServiceSnap* Snapshot::find_fwmark6(uint32_t mark) const { return find_mark(*marks6_, mark); }

uint32_t Snapshot::mark_v6(uint8_t proto, const uint8_t* daddr, be16 dport) const {
  const uint16_t port = ntoh16(dport);
  for (const MatchRule& r : *rules_) {
    if (r.dst_prefix.is_v4()) continue;
    if (r.proto && r.proto != proto) continue;
    if (port < r.port_lo || port > r.port_hi) continue;
    if (prefix_match_v6(daddr, r.dst_prefix, r.prefix_len)) return r.mark;
  }
  return 0;
}

bool Snapshot::is_virtual_v6(const uint8_t* daddr) const {
  if (has_vip_v6(daddr)) return true;
  for (const MatchRule& r : *rules_)
    if (!r.dst_prefix.is_v4() && prefix_match_v6(daddr, r.dst_prefix, r.prefix_len)) return true;
  return false;
}

uint32_t Snapshot::mark_v4(uint8_t proto, be32 daddr, be16 dport) const {
  uint16_t port = ntoh16(dport);
  for (const MatchRule& r : *rules_) {
    if (!r.dst_prefix.is_v4()) continue;
    if (r.proto && r.proto != proto) continue;
    if (port < r.port_lo || port > r.port_hi) continue;
    if (prefix_match_v4(daddr, r.dst_prefix.v4(), r.prefix_len)) return r.mark;
  }
  return 0;
}

bool Snapshot::is_virtual_v4(be32 daddr) const {
  if (has_vip_v4(daddr)) return true;
  for (const MatchRule& r : *rules_)
    if (r.dst_prefix.is_v4() && prefix_match_v4(daddr, r.dst_prefix.v4(), r.prefix_len)) return true;
  return false;
}

// ---- the service index: linear probing in copy-on-write chunks --------------------------------

void SnapshotBuilder::v4_insert(Snapshot& s, uint64_t key, const ServiceSnap* svc) {
  for (size_t i = mix64(key) & s.v4_mask_;; i = (i + 1) & s.v4_mask_) {
    const Snapshot::V4Slot& e = s.v4_index_[i];
    if (e.key == 0 || e.key == key) {
      s.v4_index_.edit(i) = {key, svc};
      return;
    }
  }
}

// Backward-shift deletion: the entries after the hole that would no longer be reachable from
// their home slot move into it, so lookups never need tombstones.
void SnapshotBuilder::v4_erase(Snapshot& s, uint64_t key) {
  const size_t mask = s.v4_mask_;
  size_t i = mix64(key) & mask;
  for (;; i = (i + 1) & mask) {
    if (s.v4_index_[i].key == key) break;
    if (s.v4_index_[i].key == 0) return;
  }
  for (size_t j = (i + 1) & mask;; j = (j + 1) & mask) {
    const Snapshot::V4Slot e = s.v4_index_[j];
    if (e.key == 0) break;
    const size_t home = mix64(e.key) & mask;
    // e may fill the hole at i unless its home lies cyclically in (i, j].
    const bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
    if (stays) continue;
    s.v4_index_.edit(i) = e;
    i = j;
  }
  s.v4_index_.edit(i) = {};
}

void SnapshotBuilder::v4_rebuild(Snapshot& s, size_t count) {
  size_t n = 16;
  while (n < count * 2) n <<= 1;
  s.v4_index_ = CowArray<Snapshot::V4Slot, 8>(n, {});
  s.v4_mask_ = n - 1;
  s.for_each_service([&](const ServiceSnap& svc) {
    if (!svc.fwmark && !svc.v6) v4_insert(s, svc.key, &svc);
  });
}

// The IPv6 index and VIP set, from the predecessor's: what left out, what came in, sorted.
// Costs the number of IPv6 services, which a change of IPv4 services never pays.
void SnapshotBuilder::v6_update(Snapshot& s, const std::vector<SvcId>& gone, const std::vector<const ServiceSnap*>& added) {
  // The kept entries stay in order; only what came in is sorted, then merged in: one pass over
  // the index, never a sort of it (a change to one of 10,000 IPv6 services re-sorted them all).
  const auto less = [](const Snapshot::V6Entry& a, const Snapshot::V6Entry& b) {
    return v6_less(a.vip, a.proto, a.port, b.vip, b.proto, b.port);
  };
  std::vector<SvcId> gone_sorted(gone);
  std::sort(gone_sorted.begin(), gone_sorted.end());
  std::vector<Snapshot::V6Entry> kept, in;
  kept.reserve(s.v6_index_->size());
  for (const Snapshot::V6Entry& e : *s.v6_index_)
    if (!std::binary_search(gone_sorted.begin(), gone_sorted.end(), e.svc->id)) kept.push_back(e);
  in.reserve(added.size());
  for (const ServiceSnap* svc : added) in.push_back({svc->vip, svc->port, svc->proto, svc});
  std::sort(in.begin(), in.end(), less);
  auto index = std::make_shared<std::vector<Snapshot::V6Entry>>();
  index->reserve(kept.size() + in.size());
  std::merge(kept.begin(), kept.end(), in.begin(), in.end(), std::back_inserter(*index), less);
  auto vips = std::make_shared<std::vector<IpAddr>>();
  for (const Snapshot::V6Entry& e : *index)
    if (vips->empty() || vips->back() != e.vip) vips->push_back(e.vip);
  s.v6_index_ = std::move(index);
  s.set_vips6(std::move(vips));
}

std::unique_ptr<Snapshot> SnapshotBuilder::empty(const WorkerLimits& limits, const Snapshot* replaced) {
  auto snap = std::make_unique<Snapshot>();
  Snapshot& s = *snap;
  s.limits_ = limits;
  s.svcs_ = CowArray<std::shared_ptr<const ServiceSnap>, 6>(limits.max_services, nullptr);
  DestSnap unused;
  unused.available = false;
  s.dests_ = CowArray<DestSnap, kDestChunkBits>(limits.max_dests, unused);
  s.v4_index_ = CowArray<Snapshot::V4Slot, 8>(16, {});
  s.v4_mask_ = 15;
  s.set_vips(std::make_shared<const std::vector<be32>>());
  s.v6_index_ = std::make_shared<const std::vector<Snapshot::V6Entry>>();
  s.set_vips6(std::make_shared<const std::vector<IpAddr>>());
  s.vip_refs_ = std::make_shared<const std::vector<std::pair<be32, uint32_t>>>();
  s.marks_ = std::make_shared<const std::vector<std::pair<uint32_t, const ServiceSnap*>>>();
  s.marks6_ = std::make_shared<const std::vector<std::pair<uint32_t, const ServiceSnap*>>>();
  s.rules_ = std::make_shared<const std::vector<MatchRule>>();
  s.locality_ = std::make_shared<const std::vector<SvcId>>();
  s.timeouts_ = make_timeouts(s.timeout_config_);
  static std::atomic<uint64_t> lineages{0};
  s.lineage_ = ++lineages;
  // Incarnations go on from a replaced snapshot's, so no worker mistakes a new one for one it
  // has seen.
  if (replaced) s.next_incarnation_ = replaced->next_incarnation_;
  return snap;
}

// Validates the change against `prev` as a whole config is validated (every problem listed,
// cross-service rules included), then copies `prev` (chunk tables and pointers) and rewrites
// only what the change touches.
std::unique_ptr<Snapshot> SnapshotBuilder::build(const Snapshot& prev, const SnapshotChange& ch,
                                                 std::vector<std::string>& errors) {
  const WorkerLimits& limits = prev.limits_;
  const std::vector<ServiceConfig>& ups = ch.upsert;
  const size_t errors_before = errors.size();
  static thread_local Marks svc_marks, dest_marks;  // svc: kGone/kUpserted/kKept; dest: claimed
  svc_marks.start(limits.max_services);
  dest_marks.start(limits.max_dests);
  enum : uint32_t { kGone = 1, kUpserted = 2, kKept = 4 };
  std::vector<SvcId> gone_ids;  // services whose previous version leaves
  auto mark_gone = [&](SvcId id) {
    uint32_t m = svc_marks.has(id) ? svc_marks.get(id) : 0;
    if (!(m & kGone) && prev.service(id)) gone_ids.push_back(id);
    svc_marks.set(id, m | kGone);
  };
  auto is_gone = [&](SvcId id) { return svc_marks.has(id) && (svc_marks.get(id) & kGone); };

  // Which upserts change anything; the ids that leave.
  std::vector<char> changed(ups.size(), 1);
  for (size_t i = 0; i < ups.size(); ++i) {
    const ServiceConfig& c = ups[i];
    const std::string at = std::string(ch.upsert_name) + "[" + std::to_string(i) + "]";
    if (c.id >= limits.max_services) {
      errors.push_back(at + ".id: must be < " + std::to_string(limits.max_services));
      changed[i] = 0;
      continue;
    }
    uint32_t m = svc_marks.has(c.id) ? svc_marks.get(c.id) : 0;
    if (m & kUpserted) {
      errors.push_back(at + ".id: duplicate service id " + std::to_string(c.id));
      changed[i] = 0;
      continue;
    }
    const ServiceSnap* old = prev.service(c.id);
    if (old && same_service(*old, c, prev)) {
      changed[i] = 0;
      m |= kKept;
    }
    svc_marks.set(c.id, m | kUpserted);
  }
  // An upsert identical to what prev holds: kept as it is (shared), even if also removed.
  auto kept_upsert = [&](SvcId id) { return svc_marks.has(id) && (svc_marks.get(id) & kKept); };
  if (ch.remove) {
    for (size_t i = 0; i < ch.remove->size(); ++i) {
      const SvcId id = (*ch.remove)[i];
      const std::string at = "remove[" + std::to_string(i) + "]";
      if (id >= limits.max_services || !prev.service(id))
        errors.push_back(at + ": no service with id " + std::to_string(id));
      else if (is_gone(id))
        errors.push_back(at + ": service id " + std::to_string(id) + " listed twice");
      else
        mark_gone(id);
    }
  } else {
    prev.for_each_service([&](const ServiceSnap& svc) {
      if (!svc_marks.has(svc.id) || !(svc_marks.get(svc.id) & kUpserted)) mark_gone(svc.id);
    });
  }
  for (size_t i = 0; i < ups.size(); ++i)
    if (changed[i]) mark_gone(ups[i].id);
  // What prev holds under the id leaves (removed or replaced) unless an identical upsert keeps it.
  auto leaves = [&](SvcId id) { return is_gone(id) && !kept_upsert(id); };

  // Keys: among the upserts, and against the services that stay.
  std::unordered_map<uint64_t, size_t> up_keys;
  up_keys.reserve(ups.size());
  for (size_t i = 0; i < ups.size(); ++i) {
    const ServiceConfig& c = ups[i];
    if (c.id >= limits.max_services) continue;
    const std::string at = std::string(ch.upsert_name) + "[" + std::to_string(i) + "]";
    auto err = [&](const std::string& field, const std::string& msg) { errors.push_back(at + field + ": " + msg); };
    const uint64_t key = service_key(c.proto, c.vip, c.port, c.fwmark, c.fwmark_v6);
    const bool fresh_key = up_keys.emplace(key, i).second;
    if (c.fwmark) {
      const ServiceSnap* other = !fresh_key || !changed[i] ? nullptr
                                 : c.fwmark_v6        ? prev.find_fwmark6(c.fwmark)
                                                      : prev.find_fwmark(c.fwmark);
      if (!fresh_key || (other && !leaves(other->id)))
        err(".fwmark", "service for fwmark " + std::to_string(c.fwmark) + " already exists");
    } else {
      const ServiceSnap* other = !fresh_key || !changed[i] ? nullptr
                                 : c.vip.is_v4()      ? prev.lookup_v4(key)
                                                      : prev.find_v6_exact(c.proto, c.vip, c.port);
      if (!fresh_key || (other && !leaves(other->id)))
        err("", "service " + addr_str(c.vip) + ":" + std::to_string(c.port) + " already exists");
    }
    if (!changed[i]) continue;
    if (!c.fwmark) {
      if (c.proto != kProtoTcp && c.proto != kProtoUdp && c.proto != kProtoSctp) err(".protocol", "must be tcp, udp or sctp");
      if (!c.vip.is_v4() && (c.vip.b[0] == 0xff || c.vip == IpAddr{})) err(".address", "must be a unicast address");
      if (c.port == 0 && !(c.flags & kSvcPersistent)) err(".port", "zero port specified for non-persistent service");
    }
    if ((c.flags & kSvcOnePacket) && !c.fwmark && c.proto != kProtoUdp)
      err(".ops", "one-packet scheduling is only for UDP virtual services");
    if ((c.flags & kSvcPersistent) && (c.persist_timeout_s < 1 || c.persist_timeout_s > kMaxPersistTimeout))
      err(".persistence.timeout", "must be in 1.." + std::to_string(kMaxPersistTimeout));
    if (c.fwmark ? c.fwmark_v6 : !c.vip.is_v4()) {
      if (c.netmask6 < 1 || c.netmask6 > 128) err(".persistence.netmask", "must be a prefix length in 1..128");
    } else {
      uint32_t m = ntoh32(c.netmask);
      if (m != 0 && (~m & (~m + 1)) != 0) err(".persistence.netmask", "must be a contiguous netmask");
      if (m == 0) err(".persistence.netmask", "must not be 0.0.0.0");
    }
    if (c.sched == SchedKind::Mh && !valid_mh_size(c.mh_table_size))
      err(".mhTableSize", "must be one of the kernel's primes 251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071");
    std::set<std::pair<IpAddr::Bytes, uint16_t>> seen_dests;
    for (size_t j = 0; j < c.dests.size(); ++j) {
      const DestConfig& d = c.dests[j];
      const std::string dat = ".dests[" + std::to_string(j) + "]";
      if (d.id >= limits.max_dests) {
        err(dat + ".id", "must be < " + std::to_string(limits.max_dests));
        continue;
      }
      const DestSnap& held = prev.dest(d.id);
      if (dest_marks.has(d.id) || (held.available && !leaves(held.svc))) {
        err(dat + ".id", "duplicate real server id " + std::to_string(d.id));
        continue;
      }
      dest_marks.set(d.id, static_cast<uint32_t>(i));
      if (d.weight < 0) err(dat + ".weight", "must be >= 0");
      if (d.l_threshold > d.u_threshold) err(dat + ".lThreshold", "must not exceed uThreshold (numerical result out of range)");
      const bool svc_v6 = c.fwmark ? c.fwmark_v6 : !c.vip.is_v4();
      // Families may differ for tunnels (the kernel's rule) and NAT64 (FullNAT, IPv6 clients).
      if (!svc_v6 && !d.addr.is_v4() && d.fwd != FwdMethod::Tunnel)
        err(dat + ".address", "an IPv6 real server in an IPv4 service needs tun (IPv4 in IPv6)");
      if (svc_v6 && d.addr.is_v4() && d.fwd != FwdMethod::FullNat && d.fwd != FwdMethod::Tunnel)
        err(dat + ".address", "an IPv4 real server in an IPv6 service needs tun (IPv6 in IPv4) or fullnat (NAT64)");
      if (!d.addr.is_v4() && (d.addr.b[0] == 0xff || d.addr == IpAddr{})) err(dat + ".address", "must be a unicast address");
      if (!seen_dests.insert({d.addr.b, d.port}).second)
        err(dat, "real server " + addr_str(d.addr) + ":" + std::to_string(d.port) + " already exists");
      uint32_t h = ntoh32(d.addr.v4());
      if (d.addr.is_v4() && (h == 0 || h >= 0xe0000000u)) err(dat + ".address", "must be a unicast address");
      if (d.fwd == FwdMethod::Local) err(dat + ".method", "local delivery is not supported by a userspace director");
    }
  }
  if (ch.rules) {
    for (size_t i = 0; i < ch.rules->size(); ++i) {
      const MatchRule& r = (*ch.rules)[i];
      const std::string at = "rules[" + std::to_string(i) + "]";
      if (r.prefix_len > (r.dst_prefix.is_v4() ? 32 : 128))
        errors.push_back(at + ".prefixLength: must be <= " + (r.dst_prefix.is_v4() ? "32" : "128"));
      if (r.port_lo > r.port_hi) errors.push_back(at + ".ports: low port above high port");
      if (r.mark == 0) errors.push_back(at + ".mark: must be >= 1");
    }
  }
  if (ch.mtu && *ch.mtu < 576) errors.push_back("mtu: must be >= 576");
  if (ch.tunnel_source6 && *ch.tunnel_source6 != IpAddr{} &&
      (ch.tunnel_source6->is_v4() || ch.tunnel_source6->b[0] == 0xff))
    errors.push_back("tunnelSource6: must be an IPv6 unicast address");
  if (errors.size() != errors_before) return nullptr;

  // ---- the new snapshot: prev's tables shared, then rewritten where the change touches ----
  auto snap = std::make_unique<Snapshot>(prev);
  Snapshot& s = *snap;
  s.seq_ = prev.seq_ + 1;
  s.changed_.clear();
  uint32_t next_inc = prev.next_incarnation_;
  std::vector<std::pair<be32, int32_t>> vip_delta;
  bool marks_dirty = false, locality_dirty = false;
  std::vector<SvcId> v6_gone;                  // IPv6 services leaving the index
  std::vector<const ServiceSnap*> v6_added;    // and coming in

  size_t nv4 = prev.nv4_;
  for (SvcId id : gone_ids)
    if (leaves(id) && !prev.service(id)->fwmark && !prev.service(id)->v6) --nv4;
  for (size_t i = 0; i < ups.size(); ++i)
    if (changed[i] && !ups[i].fwmark && ups[i].vip.is_v4()) ++nv4;
  const bool rebuild_index = nv4 * 2 > s.v4_mask_ + 1;

  for (SvcId id : gone_ids) {
    if (!leaves(id)) continue;
    const ServiceSnap& old = *prev.service(id);
    if (old.fwmark) {
      marks_dirty = true;
    } else if (old.v6) {
      v6_gone.push_back(id);
    } else {
      if (!rebuild_index) v4_erase(s, old.key);
      vip_delta.push_back({old.vip.v4(), -1});
      --s.nv4_;
    }
    locality_dirty |= is_locality(old.sched);
    for (DestId d : old.order) s.dests_.edit(d).available = false;  // identity kept (incarnations)
    s.svcs_.edit(id) = nullptr;
    --s.nservices_;
    s.changed_.push_back(id);
  }

  for (size_t i = 0; i < ups.size(); ++i) {
    if (!changed[i]) continue;
    const ServiceConfig& c = ups[i];
    auto svc = std::make_shared<ServiceSnap>();
    svc->id = c.id;
    svc->proto = c.proto;
    svc->vip = c.vip;
    svc->port = c.port;
    svc->fwmark = c.fwmark;
    svc->sched = c.sched;
    svc->flags = c.flags;
    svc->persist_ticks = c.persist_timeout_s * kTicksPerSec;
    svc->netmask = c.netmask;
    svc->v6 = c.fwmark ? c.fwmark_v6 : !c.vip.is_v4();
    svc->plen6 = c.netmask6;
    svc->mh_table_size = c.mh_table_size;
    svc->key = service_key(c.proto, c.vip, c.port, c.fwmark, c.fwmark_v6);
    const ServiceSnap* old = prev.service(c.id);
    // (An IPv6 key is a digest: the address decides, so a colliding key never passes for it.)
    svc->incarnation = old && old->key == svc->key && old->vip == svc->vip ? old->incarnation : next_inc++;
    svc->order.reserve(c.dests.size());
    for (const DestConfig& d : c.dests) {
      DestSnap& ds = s.dests_.edit(d.id);
      const DestSnap was = ds;  // the id's last identity
      const bool same_server = was.incarnation && was.svc_key == svc->key && was.addr == d.addr && was.port == d.port;
      ds.addr = d.addr;
      ds.port = d.port;
      ds.fwd = d.fwd;
      ds.weight = d.weight;
      ds.u_threshold = d.u_threshold;
      ds.l_threshold = d.l_threshold;
      ds.id = d.id;
      ds.svc = c.id;
      ds.available = true;
      ds.incarnation = same_server ? was.incarnation : next_inc++;
      ds.svc_key = svc->key;
      // mh keeps a quiesced server's slots: remember its last non-zero weight.
      ds.last_weight = d.weight;
      if (d.weight == 0 && same_server && prev.dest(d.id).available && was.svc == c.id) ds.last_weight = was.last_weight;
      svc->order.push_back(d.id);
    }
    svc->generation = old ? (same_sched_inputs(*old, *svc, prev, s.dests()) ? old->generation : old->generation + 1) : 1;
    if (is_locality(svc->sched))
      svc->locality = old && old->incarnation == svc->incarnation && old->sched == svc->sched && old->locality
                          ? old->locality
                          : make_locality_cache(svc->sched);
    std::string e = build_sched_tables(svc->sched, svc->flags, s.dests(), svc->order, svc->generation, svc->tables,
                                       c.mh_table_size, svc->v6);
    if (!e.empty()) errors.push_back(std::string(ch.upsert_name) + "[" + std::to_string(i) + "].scheduler: " + e);
    if (svc->fwmark) {
      marks_dirty = true;
    } else if (svc->v6) {
      v6_added.push_back(svc.get());
    } else {
      if (!rebuild_index) v4_insert(s, svc->key, svc.get());
      vip_delta.push_back({svc->vip.v4(), +1});
      ++s.nv4_;
    }
    locality_dirty |= is_locality(svc->sched);
    if (!old || !leaves(c.id)) s.changed_.push_back(c.id);  // a replaced one is listed already
    s.svcs_.edit(c.id) = std::move(svc);
    ++s.nservices_;
  }
  if (errors.size() != errors_before) return nullptr;
  if (rebuild_index) v4_rebuild(s, s.nv4_);

  if (marks_dirty) {
    // One list per family: a mark may name an IPv4 and an IPv6 service (as the kernel's).
    for (const bool six : {false, true}) {
      auto marks = std::make_shared<std::vector<std::pair<uint32_t, const ServiceSnap*>>>();
      for (const auto& m : six ? *prev.marks6_ : *prev.marks_)
        if (!leaves(m.second->id)) marks->push_back(m);
      for (size_t i = 0; i < ups.size(); ++i)
        if (changed[i] && ups[i].fwmark && ups[i].fwmark_v6 == six) marks->push_back({ups[i].fwmark, s.service(ups[i].id)});
      std::sort(marks->begin(), marks->end(), [](const auto& a, const auto& b) { return a.first < b.first; });
      (six ? s.marks6_ : s.marks_) = std::move(marks);
    }
  }
  if (!vip_delta.empty()) {
    std::sort(vip_delta.begin(), vip_delta.end());
    std::vector<std::pair<be32, int32_t>> net;
    for (const auto& v : vip_delta) {
      if (!net.empty() && net.back().first == v.first)
        net.back().second += v.second;
      else
        net.push_back(v);
    }
    std::erase_if(net, [](const auto& v) { return v.second == 0; });
    if (!net.empty()) {  // a replaced service on the same VIP nets to nothing: shared as it was
      auto refs = std::make_shared<std::vector<std::pair<be32, uint32_t>>>();
      bool set_changed = false;
      size_t k = 0;
      for (const auto& r : *prev.vip_refs_) {
        for (; k < net.size() && net[k].first < r.first; ++k) {
          refs->push_back({net[k].first, static_cast<uint32_t>(net[k].second)});
          set_changed = true;
        }
        int64_t n = r.second;
        if (k < net.size() && net[k].first == r.first) n += net[k++].second;
        if (n > 0)
          refs->push_back({r.first, static_cast<uint32_t>(n)});
        else
          set_changed = true;
      }
      for (; k < net.size(); ++k) {
        refs->push_back({net[k].first, static_cast<uint32_t>(net[k].second)});
        set_changed = true;
      }
      if (set_changed) {
        auto vips = std::make_shared<std::vector<be32>>();
        vips->reserve(refs->size());
        for (const auto& r : *refs) vips->push_back(r.first);
        s.set_vips(std::move(vips));
      }
      s.vip_refs_ = std::move(refs);
    }
  }
  if (!v6_gone.empty() || !v6_added.empty()) v6_update(s, v6_gone, v6_added);
  if (locality_dirty) {
    auto loc = std::make_shared<std::vector<SvcId>>();
    for (SvcId id : *prev.locality_)
      if (!leaves(id)) loc->push_back(id);
    for (size_t i = 0; i < ups.size(); ++i)
      if (changed[i] && is_locality(ups[i].sched)) loc->push_back(ups[i].id);
    std::sort(loc->begin(), loc->end());
    s.locality_ = std::move(loc);
  }
  if (ch.rules) {
    s.rules_ = std::make_shared<const std::vector<MatchRule>>(*ch.rules);
    s.nrules6_ = static_cast<uint32_t>(
        std::count_if(s.rules_->begin(), s.rules_->end(), [](const MatchRule& r) { return !r.dst_prefix.is_v4(); }));
    s.nrules_ = static_cast<uint32_t>(s.rules_->size()) - s.nrules6_;
  }
  if (ch.timeouts) {
    s.timeout_config_ = *ch.timeouts;
    s.timeouts_ = make_timeouts(*ch.timeouts);
  }
  if (ch.tunnel_source) s.tunnel_source_ = *ch.tunnel_source;
  if (ch.tunnel_source6) s.tunnel_source6_ = *ch.tunnel_source6;
  if (ch.mtu) s.mtu_ = *ch.mtu;
  if (ch.expire_quiescent_template) s.expire_quiescent_template_ = *ch.expire_quiescent_template;
  if (ch.sloppy_tcp) s.sloppy_tcp_ = *ch.sloppy_tcp;
  s.next_incarnation_ = next_inc;
  return snap;
}

std::unique_ptr<Snapshot> build_snapshot(const CoreConfig& config, const WorkerLimits& limits, const Snapshot* prev,
                                         std::vector<std::string>& errors) {
  std::unique_ptr<Snapshot> empty;
  const Snapshot* base = prev;
  if (!prev || prev->limits().max_services != limits.max_services || prev->limits().max_dests != limits.max_dests) {
    empty = SnapshotBuilder::empty(limits, prev);
    base = empty.get();
  }
  SnapshotChange ch{config.services};
  ch.upsert_name = "services";
  ch.rules = &config.rules;
  ch.timeouts = &config.timeouts;
  ch.tunnel_source = &config.tunnel_source;
  ch.tunnel_source6 = &config.tunnel_source6;
  ch.mtu = &config.mtu;
  ch.expire_quiescent_template = &config.expire_quiescent_template;
  ch.sloppy_tcp = &config.sloppy_tcp;
  return SnapshotBuilder::build(*base, ch, errors);
}

std::unique_ptr<Snapshot> apply_delta(const Snapshot& prev, const CoreDelta& delta, std::vector<std::string>& errors) {
  SnapshotChange ch{delta.upsert};
  ch.remove = &delta.remove;
  ch.rules = delta.rules ? &*delta.rules : nullptr;
  ch.timeouts = delta.timeouts ? &*delta.timeouts : nullptr;
  ch.tunnel_source = delta.tunnel_source ? &*delta.tunnel_source : nullptr;
  ch.tunnel_source6 = delta.tunnel_source6 ? &*delta.tunnel_source6 : nullptr;
  ch.sloppy_tcp = delta.sloppy_tcp ? &*delta.sloppy_tcp : nullptr;
  return SnapshotBuilder::build(prev, ch, errors);
}


}  // namespace fulcrum
