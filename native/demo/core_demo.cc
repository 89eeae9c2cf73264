// The packet core's demo, run from `fulcrum demo --core`: simulated clients open TCP
// connections to a NAT service, the core schedules and rewrites every packet, and simulated
// real servers answer with their own name, so the result shows real balancing decisions,
// state handling and counters of the core — nothing here is precomputed. Frames come from the
// shared test frame builder (native/testing), the one the C++ tests use.
#include "core_demo.h"

#include <stdexcept>
#include <string>

#include "engine.h"
#include "packet.h"
#include "pktgen.h"

namespace fulcrum::demo {

namespace {

// An Ethernet/IPv4/TCP frame (DF, correct checksums) in a buffer with head- and tailroom, as
// an mbuf would hold it; the core rewrites it in place.
test::TestBuf tcp_frame(be32 saddr, be16 sport, be32 daddr, be16 dport, uint8_t flags, uint32_t seq, uint32_t ack,
                        const std::string& payload) {
  test::Pkt p;
  p.eth(test::mac("02:00:00:00:00:d1"), test::mac("02:00:00:00:00:c1"))
      .ipv4(saddr, daddr)
      .df()
      .tcp(ntoh16(sport), ntoh16(dport), flags)
      .seq(seq)
      .ack(ack);
  if (!payload.empty()) p.payload(payload);
  return test::TestBuf(p.frame(), 128, 256);
}

be32 v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) { return hton32(uint32_t(a) << 24 | b << 16 | c << 8 | d); }

std::string dotted(be32 a) {
  uint32_t h = ntoh32(a);
  return std::to_string(h >> 24) + "." + std::to_string((h >> 16) & 255) + "." + std::to_string((h >> 8) & 255) +
         "." + std::to_string(h & 255);
}

}  // namespace

DemoResult run_core_demo(uint32_t connections, const std::vector<int32_t>& weights) {
  const be32 vip = v4(10, 0, 0, 100);
  const uint16_t vport = 80;
  WorkerOptions wo;
  wo.conn_capacity = connections * 2 + 1024;
  wo.limits.max_services = 4;
  wo.limits.max_dests = 16;
  Worker worker(wo);

  CoreConfig cfg;
  ServiceConfig svc;
  svc.id = 0;
  svc.proto = kProtoTcp;
  svc.vip = IpAddr::from_v4(vip);
  svc.port = vport;
  svc.sched = SchedKind::Wrr;
  // Added in order; the kernel keeps the newest first.
  for (size_t i = 0; i < weights.size(); ++i) {
    DestConfig d;
    d.addr = IpAddr::from_v4(v4(192, 168, 10, static_cast<uint8_t>(11 + i)));
    d.port = 8080;
    d.fwd = FwdMethod::Masq;
    d.weight = weights[i];
    d.id = static_cast<DestId>(i);
    svc.dests.insert(svc.dests.begin(), d);
  }
  cfg.services.push_back(svc);
  std::vector<std::string> errors;
  auto snap = build_snapshot(cfg, wo.limits, nullptr, errors);
  if (!snap) throw std::runtime_error("demo config rejected: " + errors.front());
  worker.set_snapshot(snap.get());

  DemoResult res;
  uint32_t now = 1000;
  for (uint32_t i = 0; i < connections; ++i, now += 1) {
    const be32 client = v4(172, 16, static_cast<uint8_t>(1 + (i >> 8) % 250), static_cast<uint8_t>(1 + i % 250));
    const be16 cport = hton16(static_cast<uint16_t>(20000 + i % 40000));
    const be16 vp = hton16(vport);
    // Client SYN: scheduled and rewritten towards the chosen real server.
    test::TestBuf syn = tcp_frame(client, cport, vip, vp, kTcpSyn, 1, 0, "");
    Verdict v = worker.process(syn.pb, now);
    if (v.action != Action::Transmit) continue;
    Parsed p;
    parse_frame(syn.pb.data, syn.pb.len, p);
    const be32 server = p.daddr;
    const be16 sport = p.dport;
    // The real server answers SYN-ACK from its own address; the core un-NATs it to the VIP.
    test::TestBuf synack = tcp_frame(server, sport, client, cport, kTcpSyn | kTcpAck, 5000, 2, "");
    worker.process(synack.pb, now);
    test::TestBuf ack = tcp_frame(client, cport, vip, vp, kTcpAck, 2, 5001, "");
    worker.process(ack.pb, now);
    test::TestBuf req = tcp_frame(client, cport, vip, vp, kTcpAck | kTcpPsh, 2, 5001, "GET / HTTP/1.0\r\n\r\n");
    worker.process(req.pb, now);
    // Response carrying the server's name: the client sees it coming from the VIP.
    const std::string body = "HTTP/1.0 200 OK\r\n\r\n" + dotted(server) + "\n";
    test::TestBuf resp = tcp_frame(server, sport, client, cport, kTcpAck | kTcpPsh | kTcpFin, 5001, 20, body);
    Verdict rv = worker.process(resp.pb, now);
    Parsed rp;
    if (rv.action == Action::Transmit && parse_frame(resp.pb.data, resp.pb.len, rp) == DropReason::None && rp.saddr == vip) {
      std::string text(reinterpret_cast<const char*>(resp.pb.data + rp.payload_off), rp.payload_len);
      res.answered_by[text.substr(text.rfind("\r\n\r\n") + 4, text.size() - text.rfind("\r\n\r\n") - 5)]++;
    }
    test::TestBuf fin = tcp_frame(client, cport, vip, vp, kTcpAck | kTcpFin, 20, 5001 + body.size() + 1, "");
    worker.process(fin.pb, now);
  }

  const WorkerStats& st = worker.stats();
  res.service_stats = st.svc[0];
  for (DestId d : snap->service(0)->order) {
    const DestSnap& ds = snap->dest(d);
    res.dests.push_back({dotted(ds.addr.v4()), ds.port, ds.weight, worker.load(d).active, worker.load(d).inactive,
                         st.dest[d]});
  }
  for (unsigned r = 1; r < kDropReasonCount; ++r)
    if (st.drops[r]) res.drops[drop_reason_name(static_cast<DropReason>(r))] = st.drops[r];
  res.vip = dotted(vip);
  res.vport = vport;
  return res;
}

}  // namespace fulcrum::demo
