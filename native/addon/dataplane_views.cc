// The dataplane's read-only views for N-API: stats (counters summed over the workers, per
// service and real server as flat arrays), one worker's connections a page at a time, the
// ports and the neighbour table. Shared helpers come from dataplane_api.cc (dataplane_shared.h).
#include <arpa/inet.h>

#include <cmath>

#include "dataplane_shared.h"
#include "tcp_state.h"

namespace fulcrum::addon {

namespace {

// A listed address of either family: dotted for IPv4 (held IPv4-mapped), RFC 5952 text for IPv6.
std::string ip_text(const IpAddr& a) {
  if (a.is_v4()) return detail::dotted(a.v4());
  char buf[INET6_ADDRSTRLEN];
  return inet_ntop(AF_INET6, a.b.data(), buf, sizeof buf) ? buf : "";
}

using namespace detail;
using dp::Dataplane;
using dp::Request;

// Layout of stats()' flat arrays (src/native.ts names the fields).
constexpr size_t kSvcFields = 5;   // conns, inpkts, outpkts, inbytes, outbytes
constexpr size_t kDestFields = 8;  // the same, then activeConns, inactConns, persistConns

void add_counters(double* o, const TrafficCounters& c) {
  o[0] += static_cast<double>(c.conns);
  o[1] += static_cast<double>(c.inpkts);
  o[2] += static_cast<double>(c.outpkts);
  o[3] += static_cast<double>(c.inbytes);
  o[4] += static_cast<double>(c.outbytes);
}

// The per-id counter arrays of Stats, made once and filled again by every read: at 100,000
// real servers a new 7 MB array every 2 s was mapped, zeroed and faulted in page by page on
// the event loop's thread (~15 ms of the ~25 ms a read cost there). A read's arrays therefore
// hold its counters until the next read refills them (see DataplaneStats in src/native.ts).
Napi::Reference<Napi::Float64Array> g_svc_counters, g_dest_counters;

Napi::Float64Array counters_buffer(Napi::Env env, Napi::Reference<Napi::Float64Array>& ref, size_t n) {
  if (!ref.IsEmpty()) {
    Napi::Float64Array a = ref.Value();
    if (a.ElementLength() == n) return a;
  }
  Napi::Float64Array a = Napi::Float64Array::New(env, n);
  ref = Napi::Persistent(a);
  return a;
}

Napi::Value Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Dataplane& d = running_dataplane(env);
  return submit(env, d.stats_request(), -1, [](Napi::Env env, Request& r) -> Napi::Value {
    Dataplane& d = Dataplane::instance();
    Napi::Object out = Napi::Object::New(env);
    TrafficCounters total;
    uint64_t drops[kDropReasonCount] = {}, events[static_cast<size_t>(Event::Count)] = {};
    dp::DpCounters dpc;
    Napi::Array workers = Napi::Array::New(env, r.reports.size());
    for (size_t w = 0; w < r.reports.size(); ++w) {
      const dp::WorkerReport& wr = r.reports[w];
      total += wr.stats.total;
      for (unsigned i = 0; i < kDropReasonCount; ++i) drops[i] += wr.stats.drops[i];
      for (size_t i = 0; i < static_cast<size_t>(Event::Count); ++i) events[i] += wr.stats.events[i];
      for (unsigned i = 0; i < dp::kDpCounterCount; ++i) dpc.v[i] += wr.dp.v[i];
      Napi::Object wo = Napi::Object::New(env);
      wo.Set("id", static_cast<double>(w));
      wo.Set("lcore", d.worker_lcores()[w]);
      wo.Set("cpu", d.worker_cpus()[w]);
      wo.Set("connections", static_cast<double>(wr.conns));
      wo.Set("connCapacity", static_cast<double>(wr.conn_capacity));
      wo.Set("connections6", static_cast<double>(wr.conns6));
      wo.Set("conn6Capacity", static_cast<double>(wr.conn6_capacity));
      wo.Set("tableBytes", static_cast<double>(wr.table_bytes));
      wo.Set("halfOpen", static_cast<double>(wr.half_open));
      wo.Set("halfOpenBudget", static_cast<double>(wr.half_open_budget));
      wo.Set("halfOpen6", static_cast<double>(wr.half_open6));
      wo.Set("halfOpen6Budget", static_cast<double>(wr.half_open6_budget));
      wo.Set("polls", static_cast<double>(wr.polls));
      wo.Set("busyPolls", static_cast<double>(wr.busy_polls));
      wo.Set("rxPackets", static_cast<double>(wr.rx_packets));
      wo.Set("txPackets", static_cast<double>(wr.tx_packets));
      wo.Set("counters", counters(env, wr.stats.total));
      workers.Set(static_cast<uint32_t>(w), wo);
    }
    out.Set("total", counters(env, total));
    // Per service and per real server, as flat arrays indexed by native id and summed over the
    // workers: at 10,000 services × 10 real servers an object per entry cost ~100 ms of the
    // event loop per read; a Float64Array costs a copy. The arrays are summed id by id in
    // order (going by the snapshot's services touched them at random: ~10 ms at 100,000 real
    // servers, against ~2 ms in order). An id no service uses holds what its last user left
    // (zeroed when the id is given again); readers go by the ids of the services they hold.
    const WorkerLimits& lim = d.limits();
    Napi::Float64Array svc = counters_buffer(env, g_svc_counters, size_t{lim.max_services} * kSvcFields);
    Napi::Float64Array dst = counters_buffer(env, g_dest_counters, size_t{lim.max_dests} * kDestFields);
    double* sv = svc.Data();
    double* dv = dst.Data();
    std::fill(sv, sv + svc.ElementLength(), 0.0);
    std::fill(dv, dv + dst.ElementLength(), 0.0);
    for (const dp::WorkerReport& wr : r.reports) {
      size_t ns = std::min<size_t>(lim.max_services, wr.stats.svc.size());
      for (size_t i = 0; i < ns; ++i) add_counters(sv + i * kSvcFields, wr.stats.svc[i]);
      size_t nd = std::min<size_t>(lim.max_dests, std::min(wr.stats.dest.size(), wr.load.size()));
      for (size_t i = 0; i < nd; ++i) {
        double* o = dv + i * kDestFields;
        add_counters(o, wr.stats.dest[i]);
        o[5] += static_cast<double>(wr.load[i].active);
        o[6] += static_cast<double>(wr.load[i].inactive);
        o[7] += static_cast<double>(wr.load[i].persist);
      }
    }
    out.Set("serviceCounters", svc);
    out.Set("destCounters", dst);
    Napi::Object dr = Napi::Object::New(env);
    for (unsigned i = 1; i < kDropReasonCount; ++i)
      if (drops[i]) dr.Set(drop_reason_name(static_cast<DropReason>(i)), static_cast<double>(drops[i]));
    for (unsigned i = 0; i < dp::kDpFirstEvent; ++i)
      if (dpc.v[i]) dr.Set(dp::dp_counter_name(i), static_cast<double>(dpc.v[i]));
    out.Set("drops", dr);
    Napi::Object ev = Napi::Object::New(env);
    for (size_t i = 0; i < static_cast<size_t>(Event::Count); ++i)
      if (events[i]) ev.Set(event_name(static_cast<Event>(i)), static_cast<double>(events[i]));
    for (unsigned i = dp::kDpFirstEvent; i < dp::kDpCounterCount; ++i)
      if (dpc.v[i]) ev.Set(dp::dp_counter_name(i), static_cast<double>(dpc.v[i]));
    out.Set("events", ev);
    out.Set("workers", workers);
    d.recycle_reports(std::move(r.reports));
    return out;
  });
}

// connections(worker, cursor, max, filter) -> Promise<{connections, next}>: one worker's page.
Napi::Value Connections(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Dataplane& d = running_dataplane(env);
  if (info.Length() < 4 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsNumber() || !info[3].IsObject())
    type_error(env, "connections: expected (worker, cursor, max, filter)");
  int worker = info[0].As<Napi::Number>().Int32Value();
  if (worker < 0 || static_cast<uint32_t>(worker) >= d.workers())
    throw Napi::RangeError::New(env, "connections: worker must be in 0.." + std::to_string(d.workers() - 1));
  double cursor = info[1].As<Napi::Number>().DoubleValue(), max = info[2].As<Napi::Number>().DoubleValue();
  if (cursor < 0 || std::floor(cursor) != cursor) throw Napi::RangeError::New(env, "connections: bad cursor");
  if (max < 1 || max > 100000) throw Napi::RangeError::New(env, "connections: max must be in 1..100000");
  auto r = std::make_unique<Request>();
  r->type = dp::CmdType::ListConns;
  r->cursor = static_cast<size_t>(cursor);
  r->max = static_cast<size_t>(max);
  r->scratch.reserve(r->max);
  r->conns.reserve(r->max);
  Napi::Object f = info[3].As<Napi::Object>();
  auto opt_addr = [&](const char* k, bool& has, IpAddr& out) {
    std::string s = str(env, f, k, "filter", true);
    if (s.empty()) return;
    has = true;
    const std::string at = std::string("filter.") + k;
    out = s.find(':') != std::string::npos ? ipv6(env, s, at) : IpAddr::from_v4(ipv4(env, s, at));
  };
  auto opt_port = [&](const char* k, be16& out) {
    Napi::Value v = f.Get(k);
    if (v.IsUndefined()) return;
    if (!v.IsNumber() || v.As<Napi::Number>().Uint32Value() > 65535) throw Napi::RangeError::New(env, std::string("filter.") + k + ": must be a port");
    out = htons(static_cast<uint16_t>(v.As<Napi::Number>().Uint32Value()));
  };
  std::string proto = str(env, f, "protocol", "filter", true);
  if (proto == "tcp") r->filter.proto = kProtoTcp;
  else if (proto == "udp") r->filter.proto = kProtoUdp;
  else if (!proto.empty()) type_error(env, "filter.protocol: must be tcp or udp");
  opt_addr("virtualAddress", r->filter.has_vaddr, r->filter.vaddr);
  opt_port("virtualPort", r->filter.vport);
  opt_addr("serverAddress", r->filter.has_daddr, r->filter.daddr);
  opt_port("serverPort", r->filter.dport);
  opt_addr("clientAddress", r->filter.has_caddr, r->filter.caddr);
  if (f.Get("templates").IsBoolean()) r->filter.templates = f.Get("templates").As<Napi::Boolean>().Value();
  return submit(env, std::move(r), worker, [](Napi::Env env, Request& r) -> Napi::Value {
    Napi::Object out = Napi::Object::New(env);
    Napi::Array a = Napi::Array::New(env, r.conns.size());
    for (size_t i = 0; i < r.conns.size(); ++i) {
      const ConnInfo& c = r.conns[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("protocol", c.proto == kProtoTcp ? "tcp" : c.proto == kProtoUdp ? "udp" : c.proto == kProtoSctp ? "sctp" : "ip");
      o.Set("template", c.is_template);
      o.Set("state", c.is_template ? "NONE" : tcp_state_name(c.state));
      o.Set("method", fwd_name(c.fwd));
      o.Set("clientAddress", ip_text(c.caddr_ip));
      o.Set("clientPort", ntohs(c.cport));
      o.Set("virtualAddress", ip_text(c.vaddr_ip));
      o.Set("virtualPort", ntohs(c.vport));
      o.Set("serverAddress", ip_text(c.daddr_ip));
      o.Set("serverPort", ntohs(c.dport));
      if (c.fwd == FwdMethod::FullNat && !c.is_template) {
        o.Set("localAddress", ip_text(c.laddr_ip));
        o.Set("localPort", ntohs(c.lport));
      }
      o.Set("expiresMs", static_cast<double>(c.expires_in_ticks) * (1000.0 / kTicksPerSec));
      o.Set("dest", c.dest);
      o.Set("synced", c.synced);
      a.Set(static_cast<uint32_t>(i), o);
    }
    out.Set("connections", a);
    out.Set("next", static_cast<double>(r.next_cursor));
    return out;
  });
}

Napi::Value Ports(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Dataplane& d = running_dataplane(env);
  Napi::Array a = Napi::Array::New(env, d.port_count());
  for (size_t i = 0; i < d.port_count(); ++i) {
    dp::PortStatus s = d.port_status(i);
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", s.name);
    o.Set("device", s.device);
    o.Set("driver", s.driver);
    o.Set("mac", mac_str(s.mac));
    if (!s.tap.empty()) o.Set("tap", s.tap);
    o.Set("linkUp", s.link_up);
    o.Set("speedMbps", s.speed_mbps);
    o.Set("fullDuplex", s.full_duplex);
    o.Set("queues", s.queues);
    o.Set("rss", s.rss);
    Napi::Object st = Napi::Object::New(env);
    st.Set("ipackets", static_cast<double>(s.ipackets));
    st.Set("opackets", static_cast<double>(s.opackets));
    st.Set("ibytes", static_cast<double>(s.ibytes));
    st.Set("obytes", static_cast<double>(s.obytes));
    st.Set("imissed", static_cast<double>(s.imissed));
    st.Set("ierrors", static_cast<double>(s.ierrors));
    st.Set("oerrors", static_cast<double>(s.oerrors));
    st.Set("rxNombuf", static_cast<double>(s.rx_nombuf));
    o.Set("stats", st);
    a.Set(static_cast<uint32_t>(i), o);
  }
  return a;
}

Napi::Value Neighbours(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  running_dataplane(env);
  auto r = std::make_unique<Request>();
  r->type = dp::CmdType::Neighbours;
  r->neigh.reserve(2 * dp::kNeighCapacity);  // both tables whole (ARP's and ND's)
  return submit(env, std::move(r), 0, [](Napi::Env env, Request& r) -> Napi::Value {
    Dataplane& d = Dataplane::instance();
    Napi::Array a = Napi::Array::New(env, r.neigh.size());
    for (size_t i = 0; i < r.neigh.size(); ++i) {
      const dp::NeighInfo& n = r.neigh[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("port", n.port < d.port_count() ? d.port_status(n.port).name : std::to_string(n.port));
      o.Set("address", n.ip.is_v4() ? dotted(n.ip.v4()) : dp::in6_text(n.ip));
      o.Set("family", n.ip.is_v4() ? 4 : 6);
      o.Set("mac", mac_str(n.mac));
      o.Set("state", dp::neigh_state_name(static_cast<dp::NeighState>(n.state)));
      o.Set("confirmedMsAgo", static_cast<double>(n.age_ms));
      o.Set("queued", n.queued);
      a.Set(static_cast<uint32_t>(i), o);
    }
    Napi::Object out = Napi::Object::New(env);
    out.Set("neighbours", a);
    out.Set("truncated", r.neigh_truncated);
    return out;
  });
}

}  // namespace

void register_dataplane_views(Napi::Env env, Napi::Object exports) {
  exports.Set("stats", Napi::Function::New(env, Stats));
  exports.Set("connections", Napi::Function::New(env, Connections));
  exports.Set("ports", Napi::Function::New(env, Ports));
  exports.Set("neighbours", Napi::Function::New(env, Neighbours));
}

void release_dataplane_views() {
  g_svc_counters.Reset();
  g_dest_counters.Reset();
}

}  // namespace fulcrum::addon
