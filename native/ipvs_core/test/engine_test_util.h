// Helpers for the engine specifications: a small config builder and a harness that owns a
// Worker and its snapshot and pushes pktgen frames through it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "checksum.h"
#include "engine.h"
#include "pktgen.h"

namespace fulcrum::test {

inline DestConfig mkdest(DestId id, const char* addr, uint16_t port, FwdMethod fwd, int32_t weight = 1) {
  DestConfig d;
  d.id = id;
  d.addr = IpAddr::from_v4(ip4(addr));
  d.port = port;
  d.fwd = fwd;
  d.weight = weight;
  return d;
}

inline ServiceConfig mksvc(SvcId id, uint8_t proto, const char* vip, uint16_t port, SchedKind k,
                           std::vector<DestConfig> dests, uint32_t flags = 0) {
  ServiceConfig s;
  s.id = id;
  s.proto = proto;
  s.vip = IpAddr::from_v4(ip4(vip));
  s.port = port;
  s.sched = k;
  s.flags = flags;
  s.dests = std::move(dests);
  return s;
}

// IPv6 forms: addresses as text ("2001:db8::10").
inline DestConfig mkdest6(DestId id, const char* addr, uint16_t port, FwdMethod fwd, int32_t weight = 1) {
  DestConfig d = mkdest(id, "0.0.0.1", port, fwd, weight);
  const Ip6 a = ip6(addr);
  d.addr = IpAddr::from_v6(a.data());
  return d;
}

inline ServiceConfig mksvc6(SvcId id, uint8_t proto, const char* vip, uint16_t port, SchedKind k,
                            std::vector<DestConfig> dests, uint32_t flags = 0) {
  ServiceConfig s = mksvc(id, proto, "0.0.0.1", port, k, std::move(dests), flags);
  const Ip6 a = ip6(vip);
  s.vip = IpAddr::from_v6(a.data());
  return s;
}

inline IpAddr addr6(const char* text) {
  const Ip6 a = ip6(text);
  return IpAddr::from_v6(a.data());
}

struct Harness {
  WorkerOptions opts;
  std::unique_ptr<Worker> worker;
  std::vector<std::unique_ptr<Snapshot>> snaps;  // old ones kept alive like an RCU grace period
  uint32_t now = 1000;

  explicit Harness(const CoreConfig& cfg, uint32_t capacity = 1024, std::vector<be32> laddrs = {},
                   WorkerLimits limits = {16, 64}, uint32_t half_open_budget = 0, std::vector<IpAddr> laddrs6 = {}) {
    opts.conn_capacity = capacity;
    opts.local_addrs6 = std::move(laddrs6);
    opts.half_open_budget = half_open_budget;
    opts.limits = limits;
    opts.local_addrs = std::move(laddrs);
    opts.port_lo = 5000;
    opts.port_hi = 5099;
    worker = std::make_unique<Worker>(opts);
    apply(cfg);
  }

  void apply(const CoreConfig& cfg) {
    std::vector<std::string> errors;
    auto s = build_snapshot(cfg, opts.limits, snaps.empty() ? nullptr : snaps.back().get(), errors);
    ASSERT_TRUE(s) << (errors.empty() ? "" : errors.front());
    worker->set_snapshot(s.get());
    snaps.push_back(std::move(s));
  }

  // Applies a delta to the latest snapshot; the problems when refused (nothing changes then).
  std::vector<std::string> apply_delta(const CoreDelta& d) {
    std::vector<std::string> errors;
    auto s = fulcrum::apply_delta(*snaps.back(), d, errors);
    if (s) {
      worker->set_snapshot(s.get());
      snaps.push_back(std::move(s));
    }
    return errors;
  }
  const Snapshot& snap() const { return *snaps.back(); }

  struct Out {
    Verdict v;
    Bytes frame;
    Parsed p;
  };

  // route6: where a Transmit6 verdict sends the frame (route6_dst of its burst position).
  struct Out6 : Out {
    IpAddr route6;
  };
  Out6 send6(const Bytes& frame) {
    Out6 o;
    static_cast<Out&>(o) = send(frame);
    if (o.v.action == Action::Transmit6) o.route6 = worker->route6_dst(0);
    return o;
  }

  Out send(const Bytes& frame) {
    TestBuf b(frame);
    Out o;
    o.v = worker->process(b.pb, now);
    o.frame = b.bytes();
    parse_frame(o.frame.data(), static_cast<uint32_t>(o.frame.size()), o.p);
    return o;
  }

  void advance(uint32_t seconds) {
    now += seconds * kTicksPerSec;
    worker->housekeeping(now, 1u << 20);
  }

  uint64_t drops(DropReason r) const { return worker->stats().drops[static_cast<size_t>(r)]; }
  uint64_t events(Event e) const { return worker->stats().events[static_cast<size_t>(e)]; }
  DestLoad load(DestId d) const { return worker->load(d); }
};

// Every entry of the harness's worker (connections and templates), as listings read them.
inline std::vector<ConnInfo> conns(Harness& h) {
  std::vector<ConnInfo> v;
  size_t cursor = 0;
  do cursor = h.worker->list_conns(cursor, 1000, v, h.now);
  while (cursor != 0);
  return v;
}

inline std::string addr(be32 a) {
  uint32_t h = ntoh32(a);
  return std::to_string(h >> 24) + "." + std::to_string((h >> 16) & 255) + "." + std::to_string((h >> 8) & 255) +
         "." + std::to_string(h & 255);
}

}  // namespace fulcrum::test
