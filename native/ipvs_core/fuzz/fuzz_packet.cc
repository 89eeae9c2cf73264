// libFuzzer target for the packet entry point: arbitrary bytes become a short sequence of
// frames pushed through a Worker configured with every forwarding method, persistence, a
// match rule and UDP, so the fuzzer reaches scheduling, state, rewrites and ICMP, not only
// parse; IPv6 services (NAT, FullNAT with IPv6 local addresses, NAT64, DR, TUN, persistence by
// prefix, the SYN proxy) beside the IPv4 ones. Input: [flags][len hi][len lo][frame]... ; flag bit 0 asks the harness to fix the
// IPv4 header checksum so mutations get past it, bits 1-3 advance the clock.
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "checksum.h"
#include "engine.h"

using namespace fulcrum;

namespace {

be32 v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) { return hton32(uint32_t(a) << 24 | b << 16 | c << 8 | d); }

IpAddr v6(uint8_t net, uint8_t host) {
  IpAddr a;
  const uint8_t b[16] = {0x20, 0x01, 0x0d, 0xb8, 0, net, 0, 0, 0, 0, 0, 0, 0, 0, 0, host};
  std::memcpy(a.b.data(), b, 16);
  return a;
}

DestConfig dest6(DestId id, const IpAddr& addr, uint16_t port, FwdMethod fwd, int32_t weight) {
  DestConfig d;
  d.id = id;
  d.addr = addr;
  d.port = port;
  d.fwd = fwd;
  d.weight = weight;
  return d;
}

DestConfig dest(DestId id, be32 addr, uint16_t port, FwdMethod fwd, int32_t weight) {
  DestConfig d;
  d.id = id;
  d.addr = IpAddr::from_v4(addr);
  d.port = port;
  d.fwd = fwd;
  d.weight = weight;
  return d;
}

// The SYN proxy's secret, known here so that an input can ask for a valid cookie (flag bit 4).
constexpr uint64_t kCookieSecret = 99;

struct Setup {
  WorkerLimits limits{16, 64};
  IpAddr proxied6 = v6(0, 3);
  std::unique_ptr<Snapshot> snap;
  Setup() {
    CoreConfig c;
    auto svc = [&](SvcId id, uint8_t proto, be32 vip, uint16_t port, SchedKind k, uint32_t flags) {
      ServiceConfig s;
      s.id = id;
      s.proto = proto;
      s.vip = IpAddr::from_v4(vip);
      s.port = port;
      s.sched = k;
      s.flags = flags;
      return s;
    };
    ServiceConfig nat = svc(0, kProtoTcp, v4(10, 0, 0, 1), 80, SchedKind::Wrr, 0);
    nat.dests = {dest(0, v4(192, 168, 0, 1), 8080, FwdMethod::Masq, 3), dest(1, v4(192, 168, 0, 2), 80, FwdMethod::FullNat, 1),
                 dest(2, v4(192, 168, 0, 3), 80, FwdMethod::Route, 1), dest(3, v4(192, 168, 0, 4), 80, FwdMethod::Tunnel, 1),
                 dest6(19, v6(2, 9), 80, FwdMethod::Tunnel, 1)};  // IPv4 in IPv6
    ServiceConfig udp = svc(1, kProtoUdp, v4(10, 0, 0, 1), 53, SchedKind::Sh, kSvcSched1 | kSvcSched2);
    udp.dests = {dest(4, v4(192, 168, 0, 5), 53, FwdMethod::Masq, 1), dest(5, v4(192, 168, 0, 6), 53, FwdMethod::Masq, 0)};
    ServiceConfig pers = svc(2, kProtoTcp, v4(10, 0, 0, 2), 0, SchedKind::Wlc, kSvcPersistent);
    pers.netmask = hton32(0xffffff00);
    pers.dests = {dest(6, v4(192, 168, 0, 7), 0, FwdMethod::Masq, 1), dest(7, v4(192, 168, 0, 8), 0, FwdMethod::FullNat, 2)};
    ServiceConfig fwm;
    fwm.id = 3;
    fwm.fwmark = 7;
    fwm.sched = SchedKind::Mh;
    fwm.mh_table_size = 251;
    fwm.flags = kSvcPersistent;
    fwm.dests = {dest(8, v4(192, 168, 0, 9), 0, FwdMethod::Masq, 1)};
    ServiceConfig empty = svc(4, kProtoTcp, v4(10, 0, 0, 3), 443, SchedKind::Rr, 0);
    ServiceConfig proxied = svc(5, kProtoTcp, v4(10, 0, 0, 4), 80, SchedKind::Rr, kSvcSynProxy);
    proxied.dests = {dest(9, v4(192, 168, 0, 10), 8080, FwdMethod::Masq, 1)};
    // IPv6: 2001:db8::1 (every method, NAT64 too), UDP with sh, and 2001:db8::2 persistent /64.
    ServiceConfig nat6 = svc(6, kProtoTcp, 0, 80, SchedKind::Rr, 0);
    nat6.vip = v6(0, 1);
    nat6.dests = {dest6(10, v6(2, 1), 8080, FwdMethod::Masq, 1), dest6(11, v6(2, 2), 80, FwdMethod::FullNat, 1),
                  dest6(12, v6(2, 3), 80, FwdMethod::Route, 1), dest6(13, v6(2, 4), 80, FwdMethod::Tunnel, 1),
                  dest(14, v4(192, 168, 0, 14), 8080, FwdMethod::FullNat, 1),
                  dest(20, v4(192, 168, 0, 20), 80, FwdMethod::Tunnel, 1)};  // IPv6 in IPv4
    ServiceConfig udp6 = svc(7, kProtoUdp, 0, 53, SchedKind::Sh, 0);
    udp6.vip = v6(0, 1);
    udp6.dests = {dest6(15, v6(2, 5), 53, FwdMethod::Masq, 1), dest6(16, v6(2, 6), 53, FwdMethod::Masq, 1)};
    ServiceConfig pers6 = svc(8, kProtoTcp, 0, 0, SchedKind::Wlc, kSvcPersistent);
    pers6.vip = v6(0, 2);
    pers6.netmask6 = 64;
    pers6.dests = {dest6(17, v6(2, 7), 0, FwdMethod::Masq, 1), dest6(18, v6(2, 8), 0, FwdMethod::FullNat, 1)};
    // 2001:db8::3:80 SYN-proxied, over an IPv6 NAT server and an IPv4 one (NAT64).
    ServiceConfig proxied6 = svc(9, kProtoTcp, 0, 80, SchedKind::Rr, kSvcSynProxy);
    proxied6.vip = v6(0, 3);
    proxied6.dests = {dest6(19, v6(2, 9), 8080, FwdMethod::Masq, 1), dest(20, v4(192, 168, 0, 20), 8080, FwdMethod::FullNat, 1)};
    c.services = {nat, udp, pers, fwm, empty, proxied, nat6, udp6, pers6, proxied6};
    MatchRule r;
    r.dst_prefix = IpAddr::from_v4(v4(10, 9, 0, 0));
    r.prefix_len = 16;
    r.mark = 7;
    c.rules = {r};
    c.mtu = 600;
    std::vector<std::string> errors;
    snap = build_snapshot(c, limits, nullptr, errors);
    if (!snap) __builtin_trap();
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Setup setup;
  // One worker for the whole run (building one per input costs more than the input): every
  // input starts from an empty table, so only scheduler cursors carry over between inputs.
  static Worker* worker = [] {
    WorkerOptions wo;
    wo.conn_capacity = 64;  // small: table-full paths get exercised too
    wo.limits = setup.limits;
    wo.local_addrs = {v4(10, 255, 0, 1)};
    wo.local_addrs6 = {v6(0xff, 1)};
    wo.conn6_capacity = 64;
    wo.port_lo = 5000;
    wo.port_hi = 5007;
    wo.synproxy_secret = kCookieSecret;
    auto* w = new Worker(wo);
    w->set_snapshot(setup.snap.get());
    return w;
  }();
  Worker& w = *worker;
  static uint32_t now = 100;
  w.flush_all(now);
  if (w.conn_count() != 0 || w.conn6_count() != 0) __builtin_trap();
  std::vector<uint8_t> buf;
  while (size >= 3) {
    uint8_t flags = data[0];
    size_t len = (size_t{data[1]} << 8 | data[2]) % 1600;
    data += 3;
    size -= 3;
    if (len > size) len = size;
    // Exactly-sized allocation with head/tailroom so ASan sees any write past either end.
    buf.assign(128 + len + 64, 0);
    std::memcpy(buf.data() + 128, data, len);
    uint8_t* f = buf.data() + 128;
    // Flag bit 4: a TCP segment to the proxied service (10.0.0.4:80) returns a valid cookie for
    // its ISN (seq - 1) and MSS index (flag bits 5-6), so the proxied paths past the cookie check
    // are reached too.
    if ((flags & 0x10) && len >= 54 && f[12] == 0x08 && f[13] == 0 && (f[14] >> 4) == 4 && f[23] == kProtoTcp &&
        load32(f + 30) == v4(10, 0, 0, 4)) {
      uint32_t ihl = (f[14] & 15) * 4u;
      uint8_t* tcp = f + 14 + ihl;
      if (ihl >= 20 && 14 + ihl + 20 <= len && load16(tcp + 2) == hton16(80)) {
        const uint32_t isn = ntoh32(load32(tcp + 4)) - 1;
        store32(tcp + 8, hton32(syn_cookie(kCookieSecret, load32(f + 26), load32(f + 30), load16(tcp), load16(tcp + 2), isn,
                                           (flags >> 5) & 3, now) + 1));
      }
    }
    // The same for the IPv6 proxied service (2001:db8::3:80), its cookie over the 128-bit addresses.
    if ((flags & 0x10) && len >= 74 && f[12] == 0x86 && f[13] == 0xdd && f[14 + 6] == kProtoTcp &&
        std::memcmp(f + 14 + 24, setup.proxied6.b.data(), 16) == 0) {
      uint8_t* tcp = f + 14 + 40;
      if (load16(tcp + 2) == hton16(80)) {
        const uint32_t isn = ntoh32(load32(tcp + 4)) - 1;
        store32(tcp + 8, hton32(syn_cookie6(kCookieSecret, f + 14 + 8, f + 14 + 24, load16(tcp), load16(tcp + 2), isn,
                                            (flags >> 5) & 3, now) + 1));
      }
    }
    if ((flags & 1) && len >= 34 && f[12] == 0x08 && f[13] == 0 && (f[14] >> 4) == 4) {
      uint32_t ihl = (f[14] & 15) * 4u;
      if (ihl >= 20 && 14 + ihl <= len) {
        store16(f + 24, 0);
        store16(f + 24, inet_csum(f + 14, ihl));
      }
    }
    PacketBuf pb{f, static_cast<uint32_t>(len), 128, 64};
    const Verdict v = w.process(pb, now);
    if (pb.data < buf.data() || pb.data + pb.len > buf.data() + buf.size()) __builtin_trap();
    if (v.action == Action::Transmit6 && w.route6_dst(0) == IpAddr{}) __builtin_trap();  // always a destination
    // A tunnel across families hands out a frame of the outer family, its source left to fill.
    if (v.action == Action::TransmitSrc || v.action == Action::Transmit6Src) {
      const uint32_t l2 = load16(pb.data + 12) == hton16(0x8100) ? 18 : 14;
      const bool v4out = v.action == Action::TransmitSrc;
      if (pb.len < l2 + (v4out ? 20 : 40) || load16(pb.data + l2 - 2) != hton16(v4out ? 0x0800 : 0x86dd)) __builtin_trap();
      if (v4out ? load32(pb.data + l2 + 12) != 0 : pb.data[l2 + 8] != 0) __builtin_trap();
    }
    if (v.release) {  // a kept frame is due: as the dataplane does, it goes through the core anew
      std::vector<uint8_t> held(128 + Worker::kHeldFrameBytes + 64);
      PacketBuf hb{held.data() + 128, 0, 128, Worker::kHeldFrameBytes + 64};
      if (!w.take_held(v.release, hb)) __builtin_trap();
      hb.tailroom -= hb.len;
      w.process(hb, now);
      if (hb.data < held.data() || hb.data + hb.len > held.data() + held.size()) __builtin_trap();
    }
    now += ((flags >> 1) & 7) * 700;
    w.housekeeping(now, 16);
    data += len;
    size -= len;
  }
  // Accounting oracle: once every entry is gone, every real server's counts are back to zero
  // (a leak or double release here would skew schedulers and listings forever).
  w.flush_all(now);
  for (DestId d = 0; d < setup.limits.max_dests; ++d) {
    const DestLoad& l = w.load(d);
    if (l.active || l.inactive || l.persist) __builtin_trap();
    const DestLoad g = w.shared_load().total(d);  // and so are the director-wide ones
    if (g.active || g.inactive || g.persist) __builtin_trap();
  }
  return 0;
}
