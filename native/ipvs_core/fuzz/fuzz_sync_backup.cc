// libFuzzer target for a sync backup's path: arbitrary bytes are a datagram read as a backup
// reads it (read_message, any SyncID), and every record it takes is installed in a Worker
// whose services the records can name (NAT, DR, FullNAT, UDP, persistence; IPv6 ones with NAT,
// DR, FullNAT, NAT64 and a /64 persistence, through sync_install6), then the table is flushed
// and every real server's counts must be zero again.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "engine.h"
#include "sync_record.h"
#include "sync_wire.h"

using namespace fulcrum;

namespace {

be32 v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) { return hton32(uint32_t(a) << 24 | b << 16 | c << 8 | d); }

struct Setup {
  WorkerLimits limits{8, 16};
  std::unique_ptr<Snapshot> snap;
  Setup() {
    CoreConfig c;
    auto dest = [](DestId id, be32 addr, uint16_t port, FwdMethod fwd) {
      DestConfig d;
      d.id = id;
      d.addr = IpAddr::from_v4(addr);
      d.port = port;
      d.fwd = fwd;
      return d;
    };
    auto svc = [&](SvcId id, uint8_t proto, be32 vip, uint16_t port, uint32_t flags, std::vector<DestConfig> ds) {
      ServiceConfig s;
      s.id = id;
      s.proto = proto;
      s.vip = IpAddr::from_v4(vip);
      s.port = port;
      s.sched = SchedKind::Rr;
      s.flags = flags;
      s.persist_timeout_s = 60;
      s.dests = std::move(ds);
      c.services.push_back(s);
    };
    // Addresses with few distinct bytes, so mutations find them: 10.0.0.x, 192.168.0.x.
    svc(0, kProtoTcp, v4(10, 0, 0, 1), 80, 0,
        {dest(0, v4(192, 168, 0, 1), 80, FwdMethod::Masq), dest(1, v4(192, 168, 0, 2), 80, FwdMethod::Route),
         dest(2, v4(192, 168, 0, 3), 80, FwdMethod::FullNat)});
    svc(1, kProtoUdp, v4(10, 0, 0, 1), 53, 0, {dest(3, v4(192, 168, 0, 1), 53, FwdMethod::Masq)});
    svc(2, kProtoTcp, v4(10, 0, 0, 2), 0, kSvcPersistent, {dest(4, v4(192, 168, 0, 1), 0, FwdMethod::Masq)});
    // IPv6: 2001:db8::1 (VIP), 2001:db8::a/b/c (servers), 192.168.0.4 (NAT64's server).
    auto a6 = [](uint8_t last) {
      IpAddr a;
      a.b[0] = 0x20, a.b[1] = 0x01, a.b[2] = 0x0d, a.b[3] = 0xb8, a.b[15] = last;
      return a;
    };
    svc(3, kProtoTcp, 0, 80, 0,
        {dest(5, 0, 80, FwdMethod::Masq), dest(6, 0, 80, FwdMethod::Route), dest(7, 0, 80, FwdMethod::FullNat),
         dest(8, v4(192, 168, 0, 4), 80, FwdMethod::FullNat)});
    c.services.back().vip = a6(1);
    for (int i = 0; i < 3; ++i) c.services.back().dests[i].addr = a6(static_cast<uint8_t>(0xa + i));
    svc(4, kProtoTcp, 0, 0, kSvcPersistent, {dest(9, 0, 0, FwdMethod::Route)});
    c.services.back().vip = a6(2);
    c.services.back().netmask6 = 64;
    c.services.back().dests[0].addr = a6(0xa);
    std::vector<std::string> errors;
    snap = build_snapshot(c, limits, nullptr, errors);
    if (!snap) std::abort();
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Setup setup;
  // One worker for every input (made once: a worker's memory is sized at construction); each
  // input starts from an empty table and leaves one.
  static Worker& w = *[] {
    WorkerOptions o;
    o.conn_capacity = 64;
    o.limits = setup.limits;
    o.local_addrs = {v4(10, 0, 0, 9)};
    IpAddr l6;
    l6.b[0] = 0x20, l6.b[1] = 0x01, l6.b[2] = 0x0d, l6.b[3] = 0xb8, l6.b[15] = 9;
    o.local_addrs6 = {l6};
    o.port_lo = 1024;
    o.port_hi = 1100;
    auto* x = new Worker(o);
    x->set_snapshot(setup.snap.get());
    return x;
  }();
  std::vector<sync::SyncConn> conns(sync::kMaxConns);
  sync::ReadResult r = sync::read_message(data, size, 0, conns.data());
  for (size_t i = 0; i < r.conns; ++i) {
    sync::SyncRecord rec;
    sync::SyncRecord6 rec6;
    if (conns[i].v6()) {
      if (sync::from_wire(conns[i], rec6)) w.sync_install6(rec6, 1000);
    } else if (sync::from_wire(conns[i], rec)) {
      w.sync_install(rec, 1000);
    }
  }
  w.flush_all(1000);
  if (w.conn_count() != 0) std::abort();
  for (DestId d = 0; d < 10; ++d) {
    DestLoad l = w.load(d);
    if (l.active || l.inactive || l.persist) std::abort();
  }
  return 0;
}
