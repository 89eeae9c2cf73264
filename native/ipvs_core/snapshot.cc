// Builds Snapshots: validates a CoreConfig as a whole (every problem reported, nothing
// half-built), then lays out the indexes the packet path reads: the service hash by
// (proto, VIP, port), the VIP set, fwmark services, match rules and each service's scheduler
// tables.
#include "snapshot.h"

#include <algorithm>
#include <set>
#include <string>
#include <tuple>

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
bool same_sched_inputs(const ServiceSnap& old, const ServiceSnap& now, const Snapshot& prev_snap,
                       const std::vector<DestSnap>& dests) {
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

}  // namespace

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
  if (v4_index_.empty()) return nullptr;
  size_t mask = v4_index_.size() - 1;
  for (size_t i = mix64(key) & mask;; i = (i + 1) & mask) {
    const V4Key& e = v4_index_[i];
    if (e.key == key) return &services_[e.slot];
    if (e.key == 0) return nullptr;
  }
}

const ServiceSnap* Snapshot::find_v4(uint8_t proto, be32 vip, be16 vport) const {
  if (const ServiceSnap* s = lookup_v4(v4_key(proto, vip, vport))) return s;
  return lookup_v4(v4_key(proto, vip, 0));
}

const ServiceSnap* Snapshot::find_fwmark(uint32_t mark) const {
  auto it = std::lower_bound(marks_.begin(), marks_.end(), std::make_pair(mark, int32_t{-1}));
  return it != marks_.end() && it->first == mark ? &services_[it->second] : nullptr;
}

uint32_t Snapshot::mark_v4(uint8_t proto, be32 daddr, be16 dport) const {
  uint16_t port = ntoh16(dport);
  for (const MatchRule& r : rules_) {
    if (!r.dst_prefix.is_v4()) continue;
    if (r.proto && r.proto != proto) continue;
    if (port < r.port_lo || port > r.port_hi) continue;
    if (prefix_match_v4(daddr, r.dst_prefix.v4(), r.prefix_len)) return r.mark;
  }
  return 0;
}

bool Snapshot::is_virtual_v4(be32 daddr) const {
  if (std::binary_search(vips_v4_.begin(), vips_v4_.end(), daddr)) return true;
  for (const MatchRule& r : rules_)
    if (r.dst_prefix.is_v4() && prefix_match_v4(daddr, r.dst_prefix.v4(), r.prefix_len)) return true;
  return false;
}

std::unique_ptr<Snapshot> build_snapshot(const CoreConfig& config, const WorkerLimits& limits, const Snapshot* prev,
                                         std::vector<std::string>& errors) {
  auto snap = std::make_unique<Snapshot>();
  Snapshot& s = *snap;
  s.limits_ = limits;
  // Every id's last identity carries over, deleted ones too, so an id given back to the same
  // server keeps its incarnation and one given to another server gets a new one.
  const bool same_shape = prev && prev->limits().max_dests == limits.max_dests;
  if (same_shape)
    s.dests_ = prev->dests_;
  else
    s.dests_.assign(limits.max_dests, DestSnap{});
  for (DestSnap& d : s.dests_) d.available = false;
  s.svc_slot_.assign(limits.max_services, -1);
  uint32_t next_inc = prev ? prev->next_incarnation_ : 1;

  std::set<std::tuple<uint8_t, IpAddr::Bytes, uint16_t>> seen_services;
  std::set<uint32_t> seen_marks;
  for (size_t i = 0; i < config.services.size(); ++i) {
    const ServiceConfig& c = config.services[i];
    const std::string at = "services[" + std::to_string(i) + "]";
    auto err = [&](const std::string& field, const std::string& msg) { errors.push_back(at + field + ": " + msg); };
    bool ok = true;
    if (c.id >= limits.max_services) {
      err(".id", "must be < " + std::to_string(limits.max_services));
      ok = false;
    } else if (s.svc_slot_[c.id] >= 0) {
      err(".id", "duplicate service id " + std::to_string(c.id));
      ok = false;
    }
    if (c.fwmark) {
      if (!seen_marks.insert(c.fwmark).second) err(".fwmark", "service for fwmark " + std::to_string(c.fwmark) + " already exists");
    } else {
      if (c.proto != kProtoTcp && c.proto != kProtoUdp && c.proto != kProtoSctp) err(".protocol", "must be tcp, udp or sctp");
      if (!c.vip.is_v4()) err(".address", "IPv6 services are not supported yet");
      if (c.port == 0 && !(c.flags & kSvcPersistent)) err(".port", "zero port specified for non-persistent service");
      if (!seen_services.insert({c.proto, c.vip.b, c.port}).second)
        err("", "service " + addr_str(c.vip) + ":" + std::to_string(c.port) + " already exists");
    }
    if ((c.flags & kSvcOnePacket) && !c.fwmark && c.proto != kProtoUdp)
      err(".ops", "one-packet scheduling is only for UDP virtual services");
    if ((c.flags & kSvcPersistent) && (c.persist_timeout_s < 1 || c.persist_timeout_s > kMaxPersistTimeout))
      err(".persistence.timeout", "must be in 1.." + std::to_string(kMaxPersistTimeout));
    {
      uint32_t m = ntoh32(c.netmask);
      if (m != 0 && (~m & (~m + 1)) != 0) err(".persistence.netmask", "must be a contiguous netmask");
      if (m == 0) err(".persistence.netmask", "must not be 0.0.0.0");
    }
    if (c.sched == SchedKind::Mh && !valid_mh_size(c.mh_table_size))
      err(".mhTableSize", "must be one of the kernel's primes 251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071");

    ServiceSnap svc;
    svc.id = c.id;
    svc.proto = c.proto;
    svc.vip = c.vip;
    svc.port = c.port;
    svc.fwmark = c.fwmark;
    svc.sched = c.sched;
    svc.flags = c.flags;
    svc.persist_ticks = c.persist_timeout_s * kTicksPerSec;
    svc.netmask = c.netmask;
    svc.key = service_key(c.proto, c.vip, c.port, c.fwmark);
    {
      const ServiceSnap* old = prev && c.id < limits.max_services ? prev->service(c.id) : nullptr;
      svc.incarnation = old && old->key == svc.key ? old->incarnation : next_inc++;
    }
    std::set<std::pair<IpAddr::Bytes, uint16_t>> seen_dests;
    for (size_t j = 0; j < c.dests.size(); ++j) {
      const DestConfig& d = c.dests[j];
      const std::string dat = ".dests[" + std::to_string(j) + "]";
      if (d.id >= limits.max_dests) {
        err(dat + ".id", "must be < " + std::to_string(limits.max_dests));
        continue;
      }
      if (s.dests_[d.id].available) {
        err(dat + ".id", "duplicate real server id " + std::to_string(d.id));
        continue;
      }
      if (d.weight < 0) err(dat + ".weight", "must be >= 0");
      if (d.l_threshold > d.u_threshold) err(dat + ".lThreshold", "must not exceed uThreshold (numerical result out of range)");
      if (!d.addr.is_v4()) err(dat + ".address", "IPv6 real servers are not supported yet");
      if (!seen_dests.insert({d.addr.b, d.port}).second)
        err(dat, "real server " + addr_str(d.addr) + ":" + std::to_string(d.port) + " already exists");
      uint32_t h = ntoh32(d.addr.v4());
      if (d.addr.is_v4() && (h == 0 || h >= 0xe0000000u)) err(dat + ".address", "must be a unicast address");
      if (d.fwd == FwdMethod::Local) err(dat + ".method", "local delivery is not supported by a userspace director");
      DestSnap& ds = s.dests_[d.id];
      const DestSnap old = ds;  // the id's last identity (available is false here)
      const bool same_server = old.incarnation && old.svc_key == svc.key && old.addr == d.addr && old.port == d.port;
      ds.incarnation = same_server ? old.incarnation : next_inc++;
      ds.svc_key = svc.key;
      ds.addr = d.addr;
      ds.port = d.port;
      ds.fwd = d.fwd;
      ds.weight = d.weight;
      ds.u_threshold = d.u_threshold;
      ds.l_threshold = d.l_threshold;
      ds.id = d.id;
      ds.svc = c.id;
      ds.available = true;
      // mh keeps a quiesced server's slots: remember its last non-zero weight.
      ds.last_weight = d.weight;
      if (d.weight == 0 && same_shape && prev->dest(d.id).available && old.svc == c.id && same_server)
        ds.last_weight = old.last_weight;
      svc.order.push_back(d.id);
    }
    if (ok) {
      s.svc_slot_[c.id] = static_cast<int32_t>(s.services_.size());
      s.services_.push_back(std::move(svc));
    }
  }

  for (size_t i = 0; i < config.rules.size(); ++i) {
    const MatchRule& r = config.rules[i];
    const std::string at = "rules[" + std::to_string(i) + "]";
    if (!r.dst_prefix.is_v4()) errors.push_back(at + ".prefix: IPv6 rules are not supported yet");
    if (r.prefix_len > 32) errors.push_back(at + ".prefixLength: must be <= 32");
    if (r.port_lo > r.port_hi) errors.push_back(at + ".ports: low port above high port");
    if (r.mark == 0) errors.push_back(at + ".mark: must be >= 1");
  }
  if (config.mtu < 576) errors.push_back("mtu: must be >= 576");

  // Scheduler tables and generations, once the dests are all known.
  for (ServiceSnap& svc : s.services_) {
    const ServiceSnap* old = prev ? prev->service(svc.id) : nullptr;
    svc.generation = old ? (same_sched_inputs(*old, svc, *prev, s.dests_) ? old->generation : old->generation + 1) : 1;
    const ServiceConfig* c = nullptr;
    for (const ServiceConfig& sc : config.services)
      if (sc.id == svc.id) c = &sc;
    std::string e = build_sched_tables(svc.sched, svc.flags, s.dests_.data(), svc.order, svc.generation, svc.tables,
                                       c ? c->mh_table_size : 4093);
    if (!e.empty()) errors.push_back("services[id " + std::to_string(svc.id) + "].scheduler: " + e);
  }
  if (!errors.empty()) return nullptr;

  // Indexes for the packet path.
  size_t n = 16;
  while (n < s.services_.size() * 2) n <<= 1;
  s.v4_index_.assign(n, {});
  for (size_t i = 0; i < s.services_.size(); ++i) {
    const ServiceSnap& svc = s.services_[i];
    if (svc.fwmark) {
      s.marks_.push_back({svc.fwmark, static_cast<int32_t>(i)});
      continue;
    }
    uint64_t key = Snapshot::v4_key(svc.proto, svc.vip.v4(), hton16(svc.port));
    for (size_t j = mix64(key) & (n - 1);; j = (j + 1) & (n - 1)) {
      if (s.v4_index_[j].key == 0) {
        s.v4_index_[j] = {key, static_cast<int32_t>(i)};
        break;
      }
    }
    s.vips_v4_.push_back(svc.vip.v4());
  }
  std::sort(s.vips_v4_.begin(), s.vips_v4_.end());
  s.vips_v4_.erase(std::unique(s.vips_v4_.begin(), s.vips_v4_.end()), s.vips_v4_.end());
  std::sort(s.marks_.begin(), s.marks_.end());
  s.rules_ = config.rules;
  s.timeout_config_ = config.timeouts;
  s.timeouts_ = make_timeouts(config.timeouts);
  s.mtu_ = config.mtu;
  s.tunnel_source_ = config.tunnel_source;
  s.expire_quiescent_template_ = config.expire_quiescent_template;
  s.next_incarnation_ = next_inc;
  return snap;
}

}  // namespace fulcrum
