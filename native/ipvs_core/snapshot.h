// An immutable, validated and indexed view of the balancer's configuration: what every worker
// reads on the packet path. The control side builds a new one for every change and publishes
// it by pointer swap; nothing in it changes per packet (that lives in the Worker).
#pragma once

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "config.h"
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
};

class Snapshot {
 public:
  // Service for a packet to vip:vport, the kernel's order after fwmark: exact match, then the
  // VIP's port-0 (all ports) service. Ports in network order as on the wire.
  const ServiceSnap* find_v4(uint8_t proto, be32 vip, be16 vport) const;
  const ServiceSnap* find_fwmark(uint32_t mark) const;
  // The mark the match rules give this packet, 0 for none.
  uint32_t mark_v4(uint8_t proto, be32 daddr, be16 dport) const;
  bool has_rules() const { return !rules_.empty(); }
  // True when the address is a VIP of some service (or may be, under a match rule). Inline:
  // every packet asks; a director has few VIPs, so a short scan beats a search.
  bool may_be_virtual_v4(be32 daddr) const {
    if (!rules_.empty()) return true;
    if (vips_v4_.size() > 8) return std::binary_search(vips_v4_.begin(), vips_v4_.end(), daddr);
    for (be32 v : vips_v4_)
      if (v == daddr) return true;
    return false;
  }
  // True when the address is a VIP or inside a match rule's prefix (ICMP echo is answered).
  bool is_virtual_v4(be32 daddr) const;
  // The VIPs of address-named services, sorted: the dataplane answers ARP for exactly these
  // (a match rule's prefix is routed to the director, never ARPed for).
  const std::vector<be32>& vips_v4() const { return vips_v4_; }
  bool has_vip_v4(be32 a) const { return std::binary_search(vips_v4_.begin(), vips_v4_.end(), a); }

  const ServiceSnap* service(SvcId id) const {
    return id < svc_slot_.size() && svc_slot_[id] >= 0 ? &services_[svc_slot_[id]] : nullptr;
  }
  const DestSnap& dest(DestId id) const { return dests_[id]; }
  const DestSnap* dests() const { return dests_.data(); }
  const std::vector<ServiceSnap>& services() const { return services_; }

  const Timeouts& timeouts() const { return timeouts_; }
  const TimeoutConfig& timeout_config() const { return timeout_config_; }
  uint16_t mtu() const { return mtu_; }
  be32 tunnel_source() const { return tunnel_source_; }
  bool expire_quiescent_template() const { return expire_quiescent_template_; }
  const WorkerLimits& limits() const { return limits_; }

 private:
  friend std::unique_ptr<Snapshot> build_snapshot(const CoreConfig&, const WorkerLimits&, const Snapshot*,
                                                  std::vector<std::string>&);
  struct V4Key {
    uint64_t key = 0;  // proto << 48 | port << 32 | vip; 0 = empty slot
    int32_t slot = -1;
  };
  static uint64_t v4_key(uint8_t proto, be32 vip, be16 port) {
    return (uint64_t{proto} << 48) | (uint64_t{port} << 32) | vip;
  }
  const ServiceSnap* lookup_v4(uint64_t key) const;

  std::vector<ServiceSnap> services_;
  std::vector<int32_t> svc_slot_;  // SvcId -> index in services_, -1 if absent
  std::vector<DestSnap> dests_;    // indexed by DestId; available == false where unused
  std::vector<V4Key> v4_index_;    // open addressing, power-of-two size
  std::vector<be32> vips_v4_;      // sorted, for may_be_virtual_v4
  std::vector<std::pair<uint32_t, int32_t>> marks_;  // sorted by mark
  std::vector<MatchRule> rules_;
  Timeouts timeouts_;
  TimeoutConfig timeout_config_;
  uint16_t mtu_ = 1500;
  be32 tunnel_source_ = 0;
  bool expire_quiescent_template_ = false;
  WorkerLimits limits_;
  uint32_t next_incarnation_ = 1;  // the next incarnation a successor may hand out
};

// Validates the whole config and builds a snapshot, or returns nullptr with every problem
// listed (path-like, e.g. "services[2].dests[0].weight: must be >= 0"). `prev`, when given, is
// the snapshot being replaced: generations and mh's last_weight carry over from it.
std::unique_ptr<Snapshot> build_snapshot(const CoreConfig& config, const WorkerLimits& limits, const Snapshot* prev,
                                         std::vector<std::string>& errors);

const char* sched_name(SchedKind k);
bool sched_from_name(const std::string& name, SchedKind& out);

}  // namespace fulcrum
