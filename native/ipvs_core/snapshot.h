// An immutable, validated and indexed view of the balancer's configuration: what every worker
// reads on the packet path. The control side builds a new one for every change, from the
// previous one and sharing with it what the change does not touch (services by pointer, the
// per-id arrays and the service index in copy-on-write chunks), and publishes it by pointer
// swap; nothing in it changes per packet (that lives in the Worker).
#pragma once

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "config.h"
#include "cow_array.h"
#include "sched/sched.h"
#include "timeouts.h"
#include "types.h"

namespace fulcrum {

// Sizes of the per-worker arrays indexed by ids; set when workers are created.
struct WorkerLimits {
  uint32_t max_services = 1024;
  uint32_t max_dests = 8192;
};

struct ServiceSnap {
  SvcId id = 0;
  uint8_t proto = 0;
  IpAddr vip;
  uint16_t port = 0;  // host order
  uint32_t fwmark = 0;
  SchedKind sched = SchedKind::Wlc;
  uint32_t flags = 0;
  uint32_t persist_ticks = 0;
  be32 netmask = 0xffffffff;
  uint8_t plen6 = 128;  // IPv6 services: the persistence prefix length (-M)
  bool v6 = false;      // the VIP is IPv6
  uint32_t mh_table_size = 4093;
  std::vector<DestId> order;  // newest first
  SchedTables tables;
  // Bumped whenever the scheduler's inputs (dest list, weights, scheduler) change, so each
  // worker re-syncs its own scheduler state (rr cursor, wrr current weight) exactly once.
  uint32_t generation = 0;
  // Which service holds the id: kept while the id names the same key (service_key), new when
  // the id was absent from the previous snapshot or names another service now. A worker
  // starts a new incarnation's scheduler state and counters afresh.
  uint32_t incarnation = 0;
  uint64_t key = 0;
  // lblc/lblcr: the service's locality cache, which every worker picks through (under its
  // lock). Mutable state reached from the immutable snapshot on purpose: it lives as long as a
  // snapshot names it, is carried over while the service keeps its incarnation and scheduler,
  // and is new (empty, as the kernel's init_service) otherwise.
  std::shared_ptr<LocalityCache> locality;
};

class Snapshot {
 public:
  // Service for a packet to vip:vport, the kernel's order after fwmark: exact match, then the
  // VIP's port-0 (all ports) service. Ports in network order as on the wire.
  const ServiceSnap* find_v4(uint8_t proto, be32 vip, be16 vport) const;
  const ServiceSnap* find_fwmark(uint32_t mark) const;
  // The IPv6 family's fwmark service, and the mark the IPv6 match rules give a packet (0: none).
  const ServiceSnap* find_fwmark6(uint32_t mark) const;
  uint32_t mark_v6(uint8_t proto, const uint8_t* daddr, be16 dport) const;
  bool has_rules6() const { return nrules6_ != 0; }
  // The mark the match rules give this packet, 0 for none.
  uint32_t mark_v4(uint8_t proto, be32 daddr, be16 dport) const;
  bool has_rules() const { return nrules_ != 0; }
  // True when the address is a VIP of some service (or may be, under a match rule). Inline:
  // every packet asks; a director has few VIPs, so a short scan beats a search.
  bool may_be_virtual_v4(be32 daddr) const {
    if (nrules_) return true;
    if (nvips_ > 8) return std::binary_search(vip_data_, vip_data_ + nvips_, daddr);
    for (uint32_t i = 0; i < nvips_; ++i)
      if (vip_data_[i] == daddr) return true;
    return false;
  }
  // True when the address is a VIP or inside a match rule's prefix (ICMP echo is answered).
  bool is_virtual_v4(be32 daddr) const;
  // The VIPs of address-named services, sorted: the dataplane answers ARP for exactly these
  // (a match rule's prefix is routed to the director, never ARPed for).
  const std::vector<be32>& vips_v4() const { return *vips_; }
  bool has_vip_v4(be32 a) const { return std::binary_search(vip_data_, vip_data_ + nvips_, a); }

  // ---- IPv6 (addresses are 16-byte pointers, e.g. into the frame) ----
  // The service for a packet to vip:vport (exact, then the VIP's port-0 service), as find_v4.
  const ServiceSnap* find_v6(uint8_t proto, const uint8_t* vip, be16 vport) const;
  // True when the address is the VIP of some IPv6 service. A director has few: a short scan.
  bool may_be_virtual_v6(const uint8_t* daddr) const {
    if (nrules6_) return true;
    if (nvips6_ > 8) return has_vip_v6(daddr);
    for (uint32_t i = 0; i < nvips6_; ++i)
      if (IpAddr::eq16(vip6_data_[i].b.data(), daddr)) return true;
    return false;
  }
  // The IPv6 VIPs are sorted as memcmp orders them (v6_update): a binary search, as IPv4's.
  bool has_vip_v6(const uint8_t* a) const {
    uint32_t lo = 0, hi = nvips6_;
    while (lo < hi) {
      const uint32_t mid = lo + (hi - lo) / 2;
      const int c = std::memcmp(vip6_data_[mid].b.data(), a, 16);
      if (c == 0) return true;
      if (c < 0) lo = mid + 1; else hi = mid;
    }
    return false;
  }
  // A VIP of an IPv6 service or inside an IPv6 match rule's prefix (echo is answered).
  bool is_virtual_v6(const uint8_t* daddr) const;
  // The VIPs of IPv6 services, sorted: the dataplane answers neighbour solicitations for these.
  const std::vector<IpAddr>& vips_v6() const { return *vips6_; }

  const ServiceSnap* service(SvcId id) const { return id < svcs_.size() ? svcs_[id].get() : nullptr; }
  const DestSnap& dest(DestId id) const { return dests_[id]; }
  DestTable dests() const { return {dests_.chunks()}; }
  // Every service, by id.
  template <class F>
  void for_each_service(F&& f) const {
    for (size_t i = 0; i < svcs_.size(); ++i)
      if (const ServiceSnap* s = svcs_[i].get()) f(*s);
  }
  size_t service_count() const { return nservices_; }
  // The lblc/lblcr services, whose locality caches the workers' housekeeping collects.
  const std::vector<SvcId>& locality_services() const { return *locality_; }

  // Consecutive numbers along a line of snapshots built one from the other, and the services
  // (by id) added, replaced or removed since the predecessor: a worker that took the
  // predecessor re-syncs only those; one that skipped a snapshot walks everything.
  uint64_t seq() const { return seq_; }
  // Snapshots built one from the other share a lineage; one built from nothing starts another.
  uint64_t lineage() const { return lineage_; }
  const std::vector<SvcId>& changed_services() const { return changed_; }

  const Timeouts& timeouts() const { return timeouts_; }
  const TimeoutConfig& timeout_config() const { return timeout_config_; }
  uint16_t mtu() const { return mtu_; }
  be32 tunnel_source() const { return tunnel_source_; }
  const IpAddr& tunnel_source6() const { return tunnel_source6_; }  // :: when not set
  bool expire_quiescent_template() const { return expire_quiescent_template_; }
  bool sloppy_tcp() const { return sloppy_tcp_; }
  const WorkerLimits& limits() const { return limits_; }

 private:
  friend class SnapshotBuilder;
  struct V6Entry {
    IpAddr vip;
    uint16_t port;  // host order
    uint8_t proto;
    const ServiceSnap* svc;
  };
  struct V4Slot {
    uint64_t key = 0;  // service_key(); 0 = empty slot
    const ServiceSnap* svc = nullptr;
  };
  const ServiceSnap* lookup_v4(uint64_t key) const;
  const ServiceSnap* find_v6_exact(uint8_t proto, const IpAddr& vip, uint16_t port) const;
  void set_vips(std::shared_ptr<const std::vector<be32>> v) {
    vips_ = std::move(v);
    vip_data_ = vips_->data();
    nvips_ = static_cast<uint32_t>(vips_->size());
  }

  CowArray<std::shared_ptr<const ServiceSnap>, 6> svcs_;  // by SvcId
  CowArray<DestSnap, kDestChunkBits> dests_;  // by DestId; available == false where unused
  CowArray<V4Slot, 8> v4_index_;              // open addressing, linear probing
  size_t v4_mask_ = 0;
  size_t nservices_ = 0;
  size_t nv4_ = 0;
  std::shared_ptr<const std::vector<be32>> vips_;  // sorted, for may_be_virtual_v4
  // IPv6 services by (vip, proto, port), sorted, and their VIPs: rebuilt from the predecessor's
  // by what a change adds and removes (IPv6 services only; IPv4 ones never touch them).
  std::shared_ptr<const std::vector<V6Entry>> v6_index_;
  std::shared_ptr<const std::vector<IpAddr>> vips6_;
  const IpAddr* vip6_data_ = nullptr;  // vips6_'s, read by every IPv6 packet
  uint32_t nvips6_ = 0;
  void set_vips6(std::shared_ptr<const std::vector<IpAddr>> v) {
    vips6_ = std::move(v);
    vip6_data_ = vips6_->data();
    nvips6_ = static_cast<uint32_t>(vips6_->size());
  }
  const be32* vip_data_ = nullptr;
  uint32_t nvips_ = 0;
  std::shared_ptr<const std::vector<std::pair<be32, uint32_t>>> vip_refs_;  // VIP -> services on it
  std::shared_ptr<const std::vector<std::pair<uint32_t, const ServiceSnap*>>> marks_;  // sorted
  std::shared_ptr<const std::vector<MatchRule>> rules_;
  uint32_t nrules_ = 0;   // IPv4 rules
  uint32_t nrules6_ = 0;  // IPv6 rules
  std::shared_ptr<const std::vector<std::pair<uint32_t, const ServiceSnap*>>> marks6_;  // IPv6 fwmark services
  std::shared_ptr<const std::vector<SvcId>> locality_;
  std::vector<SvcId> changed_;
  uint64_t seq_ = 0;
  uint64_t lineage_ = 0;
  Timeouts timeouts_;
  TimeoutConfig timeout_config_;
  uint16_t mtu_ = 1500;
  be32 tunnel_source_ = 0;
  IpAddr tunnel_source6_;
  bool expire_quiescent_template_ = false;
  bool sloppy_tcp_ = false;
  WorkerLimits limits_;
  uint32_t next_incarnation_ = 1;  // the next incarnation a successor may hand out
};

// Validates the whole config and builds a snapshot, or returns nullptr with every problem
// listed (path-like, e.g. "services[2].dests[0].weight: must be >= 0"). `prev`, when given, is
// the snapshot being replaced: what did not change is shared with it, and generations,
// incarnations and mh's last_weight carry over from it.
std::unique_ptr<Snapshot> build_snapshot(const CoreConfig& config, const WorkerLimits& limits, const Snapshot* prev,
                                         std::vector<std::string>& errors);

// The snapshot `prev` with `delta` applied, sharing everything the delta does not touch, or
// nullptr with every problem listed ("upsert[3].dests[0].weight: ...", "remove[0]: ...").
std::unique_ptr<Snapshot> apply_delta(const Snapshot& prev, const CoreDelta& delta, std::vector<std::string>& errors);

const char* sched_name(SchedKind k);
bool sched_from_name(const std::string& name, SchedKind& out);

}  // namespace fulcrum
