// N-API face of native/dpdk's Dataplane. Arguments are checked here (types, addresses), the
// dataplane checks meaning; every failure is a JS exception with the cause. Requests to the
// workers return Promises, completed from the event loop when a worker's answer wakes it (a
// thread-safe function, so the Node thread never waits on the dataplane).
#include "dataplane_api.h"
#include "dataplane_shared.h"

#include <arpa/inet.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <thread>
#include <memory>

#include "config_convert.h"
#include "dataplane.h"
#include "tcp_state.h"

namespace fulcrum::addon {

namespace {

using dp::Dataplane;
using dp::Request;

// ---- the wake-up path ---------------------------------------------------------------------------

size_t g_waiting = 0;  // promises outstanding: the wake-up keeps the loop alive only while > 0

void on_wake_js(Napi::Env, Napi::Function, void*, void*) { Dataplane::instance().poll_replies(); }
using WakeTsfn = Napi::TypedThreadSafeFunction<void, void, on_wake_js>;
WakeTsfn g_wake;
bool g_wake_ready = false;
bool g_shutting_down = false;  // the environment is going: completions must not touch JS

void wake_from_worker(void*) { g_wake.NonBlockingCall(); }

void hold(Napi::Env env) {
  if (g_waiting++ == 0) g_wake.Ref(env);
}
void release(Napi::Env env) {
  if (g_waiting && --g_waiting == 0) g_wake.Unref(env);
}

}  // namespace

namespace detail {

using dp::Dataplane;
using dp::Request;

// ---- argument readers -----------------------------------------------------------------------

[[noreturn]] void type_error(Napi::Env env, const std::string& m) { throw Napi::TypeError::New(env, m); }

double num(Napi::Env env, Napi::Object o, const char* key, const std::string& at, double lo, double hi) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) type_error(env, at + "." + key + ": must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= lo && d <= hi) || std::floor(d) != d)
    throw Napi::RangeError::New(env, at + "." + key + ": must be an integer in " + std::to_string((long long)lo) +
                                         ".." + std::to_string((long long)hi));
  return d;
}

std::string str(Napi::Env env, Napi::Object o, const char* key, const std::string& at, bool optional) {
  Napi::Value v = o.Get(key);
  if (optional && (v.IsUndefined() || v.IsNull())) return "";
  if (!v.IsString()) type_error(env, at + "." + key + ": must be a string");
  return v.As<Napi::String>().Utf8Value();
}

be32 ipv4(Napi::Env env, const std::string& s, const std::string& at) {
  in_addr a{};
  if (inet_pton(AF_INET, s.c_str(), &a) != 1) type_error(env, at + ": '" + s + "' is not an IPv4 address");
  return a.s_addr;
}

void cidr(Napi::Env env, const std::string& s, const std::string& at, be32& addr, uint8_t& len) {
  size_t slash = s.find('/');
  if (slash == std::string::npos) type_error(env, at + ": '" + s + "' is not a.b.c.d/len");
  addr = ipv4(env, s.substr(0, slash), at);
  std::string l = s.substr(slash + 1);
  char* end = nullptr;
  long n = std::strtol(l.c_str(), &end, 10);
  if (l.empty() || *end || n < 0 || n > 32) type_error(env, at + ": '" + s + "' has a bad prefix length");
  len = static_cast<uint8_t>(n);
}

IpAddr ipv6(Napi::Env env, const std::string& s, const std::string& at) {
  uint8_t b[16];
  if (inet_pton(AF_INET6, s.c_str(), b) != 1) type_error(env, at + ": '" + s + "' is not an IPv6 address");
  return IpAddr::from_v6(b);
}

void cidr6(Napi::Env env, const std::string& s, const std::string& at, IpAddr& addr, uint8_t& len) {
  size_t slash = s.find('/');
  if (slash == std::string::npos) type_error(env, at + ": '" + s + "' is not an IPv6 prefix (address/len)");
  addr = ipv6(env, s.substr(0, slash), at);
  std::string l = s.substr(slash + 1);
  char* end = nullptr;
  long n = std::strtol(l.c_str(), &end, 10);
  if (l.empty() || *end || n < 0 || n > 128) type_error(env, at + ": '" + s + "' has a bad prefix length");
  len = static_cast<uint8_t>(n);
}

std::string dotted(be32 a) {
  char b[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a, b, sizeof b);
  return b;
}

std::string mac_str(const dp::Mac& m) {
  char s[18];
  std::snprintf(s, sizeof s, "%02x:%02x:%02x:%02x:%02x:%02x", m.b[0], m.b[1], m.b[2], m.b[3], m.b[4], m.b[5]);
  return s;
}

Napi::Array string_array(Napi::Env env, const std::vector<std::string>& v) {
  Napi::Array a = Napi::Array::New(env, v.size());
  for (size_t i = 0; i < v.size(); ++i) a.Set(static_cast<uint32_t>(i), v[i]);
  return a;
}

Napi::Error config_error(Napi::Env env, const std::vector<std::string>& problems) {
  std::string m = "config refused:";
  for (const std::string& p : problems) m += "\n  " + p;
  Napi::Error e = Napi::Error::New(env, m);
  e.Set("problems", string_array(env, problems));
  return e;
}

CoreConfig core_config(Napi::Env env, Napi::Value v) {
  if (!v.IsObject()) type_error(env, "core config: expected an object");
  CoreConfig cfg;
  std::vector<std::string> problems;
  if (!convert_core_config(v.As<Napi::Object>(), cfg, problems)) throw config_error(env, problems);
  return cfg;
}

// Calls fn(object, path) for each element of o[key], which must be an array of objects.
template <class Fn>
void each_object(Napi::Env env, Napi::Object o, const char* key, const std::string& at, Fn&& fn) {
  Napi::Value v = o.Get(key);
  if (!v.IsArray()) type_error(env, at + ": must be an array");
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); ++i) {
    std::string path = at + "[" + std::to_string(i) + "]";
    if (!a.Get(i).IsObject()) type_error(env, path + ": must be an object");
    fn(a.Get(i).As<Napi::Object>(), path);
  }
}

dp::DataplaneConfig dataplane_config(Napi::Env env, Napi::Object o) {
  dp::DataplaneConfig c;
  const std::string at = "dataplane";
  Napi::Value eal = o.Get("eal");
  if (!eal.IsArray()) type_error(env, "dataplane.eal: must be an array of strings");
  Napi::Array ea = eal.As<Napi::Array>();
  for (uint32_t i = 0; i < ea.Length(); ++i) {
    if (!ea.Get(i).IsString()) type_error(env, "dataplane.eal[" + std::to_string(i) + "]: must be a string");
    c.eal.push_back(ea.Get(i).As<Napi::String>().Utf8Value());
  }
  Napi::Value wk = o.Get("workers");
  if (!wk.IsArray()) type_error(env, "dataplane.workers: must be an array of CPU numbers");
  Napi::Array wa = wk.As<Napi::Array>();
  for (uint32_t i = 0; i < wa.Length(); ++i) {
    Napi::Value x = wa.Get(i);
    if (!x.IsNumber() || x.As<Napi::Number>().DoubleValue() < 0 || x.As<Napi::Number>().DoubleValue() > 1023)
      throw Napi::RangeError::New(env, "dataplane.workers[" + std::to_string(i) + "]: must be a CPU number 0..1023");
    c.worker_cpus.push_back(x.As<Napi::Number>().Uint32Value());
  }
  c.conn_capacity = static_cast<uint32_t>(num(env, o, "connTableSize", at, 1024, 1 << 30));
  if (!o.Get("connTable6Size").IsUndefined())
    c.conn6_capacity = static_cast<uint32_t>(num(env, o, "connTable6Size", at, 1024, 1 << 30));
  if (!o.Get("halfOpenBudget").IsUndefined())
    c.half_open_budget = static_cast<uint32_t>(num(env, o, "halfOpenBudget", at, 1, 1 << 30));
  // A fixed hash seed, for tests that repeat a run; absent (production): a secret per start.
  if (!o.Get("hashSeed").IsUndefined())
    c.seed = static_cast<uint64_t>(num(env, o, "hashSeed", at, 1, 9007199254740991.0));
  Napi::Value ib = o.Get("idleBackoff");
  if (ib.IsBoolean() && !ib.As<Napi::Boolean>().Value()) {
    c.backoff.enabled = false;
  } else if (ib.IsObject()) {
    Napi::Object b = ib.As<Napi::Object>();
    c.backoff.pause_after_polls = static_cast<uint32_t>(num(env, b, "pauseAfterPolls", at + ".idleBackoff", 1, 1e9));
    c.backoff.max_sleep_us = static_cast<uint32_t>(num(env, b, "maxSleepMicroseconds", at + ".idleBackoff", 0, 100000));
  } else {
    type_error(env, "dataplane.idleBackoff: must be false or {pauseAfterPolls, maxSleepMicroseconds}");
  }
  Napi::Value lim = o.Get("limits");
  if (!lim.IsObject()) type_error(env, "dataplane.limits: must be {maxServices, maxDests}");
  c.limits.max_services = static_cast<uint32_t>(num(env, lim.As<Napi::Object>(), "maxServices", at + ".limits", 1, 65535));
  c.limits.max_dests = static_cast<uint32_t>(num(env, lim.As<Napi::Object>(), "maxDests", at + ".limits", 1, kMaxDests));

  each_object(env, o, "ports", "dataplane.ports", [&](Napi::Object p, const std::string& pat) {
    dp::PortConfig pc;
    pc.name = str(env, p, "name", pat);
    pc.device = str(env, p, "device", pat);
    std::string addr = str(env, p, "address", pat, true);
    if (!addr.empty()) cidr(env, addr, pat + ".address", pc.addr, pc.prefix_len);
    Napi::Value a6 = p.Get("address6");
    if (!a6.IsUndefined()) {
      if (!a6.IsArray()) type_error(env, pat + ".address6: must be an array of IPv6 prefixes");
      Napi::Array aa = a6.As<Napi::Array>();
      for (uint32_t i = 0; i < aa.Length(); ++i) {
        const std::string aat = pat + ".address6[" + std::to_string(i) + "]";
        if (!aa.Get(i).IsString()) type_error(env, aat + ": must be a string");
        dp::PortAddr6 pa;
        cidr6(env, aa.Get(i).As<Napi::String>().Utf8Value(), aat, pa.addr, pa.len);
        pc.addrs6.push_back(pa);
      }
    }
    pc.tap = str(env, p, "tap", pat, true);
    if (pc.tap.size() > 15) throw Napi::RangeError::New(env, pat + ".tap: kernel interface names are at most 15 characters");
    Napi::Value fl = p.Get("floating");
    if (!fl.IsUndefined()) {
      if (!fl.IsArray()) type_error(env, pat + ".floating: must be an array of IPv4 or IPv6 addresses");
      Napi::Array fa = fl.As<Napi::Array>();
      for (uint32_t i = 0; i < fa.Length(); ++i) {
        const std::string fat = pat + ".floating[" + std::to_string(i) + "]";
        if (!fa.Get(i).IsString()) type_error(env, fat + ": must be a string");
        const std::string a = fa.Get(i).As<Napi::String>().Utf8Value();
        if (a.find(':') != std::string::npos)
          pc.floating6.push_back(ipv6(env, a, fat));
        else
          pc.floating.push_back(ipv4(env, a, fat));
      }
    }
    c.ports.push_back(pc);
  });
  auto port_named = [&](const std::string& port, const std::string& at) {
    for (size_t k = 0; k < c.ports.size(); ++k)
      if (c.ports[k].name == port) return static_cast<int>(k);
    type_error(env, at + ".port: no port named '" + port + "'");
  };
  each_object(env, o, "routes", "dataplane.routes", [&](Napi::Object r, const std::string& rat) {
    const std::string prefix = str(env, r, "prefix", rat);
    if (prefix.find(':') != std::string::npos) {  // an IPv6 route: the IPv6 table
      dp::RouteSpec6 rs;
      cidr6(env, prefix, rat + ".prefix", rs.prefix, rs.len);
      std::string via = str(env, r, "via", rat, true);
      if (!via.empty()) rs.via = ipv6(env, via, rat + ".via");
      std::string port = str(env, r, "port", rat, true);
      if (!port.empty()) rs.port = port_named(port, rat);
      if (via.empty() && rs.port < 0) type_error(env, rat + ": needs via or port");
      c.routes6.push_back(rs);
      return;
    }
    dp::RouteSpec rs;
    cidr(env, prefix, rat + ".prefix", rs.prefix, rs.len);
    std::string via = str(env, r, "via", rat, true);
    if (!via.empty()) rs.via = ipv4(env, via, rat + ".via");
    std::string port = str(env, r, "port", rat, true);
    if (!port.empty()) {
      for (size_t k = 0; k < c.ports.size(); ++k)
        if (c.ports[k].name == port) rs.port = static_cast<int>(k);
      if (rs.port < 0) type_error(env, rat + ".port: no port named '" + port + "'");
    }
    if (!rs.via && rs.port < 0) type_error(env, rat + ": needs via or port");
    c.routes.push_back(rs);
  });
  // With ha.vrrp the director starts as a backup: it owns its VIPs once keepalived says MASTER.
  Napi::Value vo = o.Get("vipOwner");
  if (!vo.IsUndefined()) {
    if (!vo.IsBoolean()) type_error(env, "vipOwner: must be a boolean");
    c.vip_owner = vo.As<Napi::Boolean>().Value();
  }
  // A graceful stop saves the connections there and the next start restores them.
  Napi::Value cf = o.Get("connectionsFile");
  if (!cf.IsUndefined()) {
    if (!cf.IsString()) type_error(env, "connectionsFile: must be a path");
    c.connections_file = cf.As<Napi::String>().Utf8Value();
  }
  Napi::Value ra = o.Get("acceptRa");
  if (!ra.IsUndefined()) {
    if (!ra.IsBoolean()) type_error(env, "acceptRa: must be a boolean");
    c.accept_ra = ra.As<Napi::Boolean>().Value();
  }
  Napi::Value la = o.Get("localAddresses");
  if (!la.IsArray()) type_error(env, "localAddresses: must be an array of IP addresses");
  Napi::Array laa = la.As<Napi::Array>();
  for (uint32_t i = 0; i < laa.Length(); ++i) {
    const std::string lat = "localAddresses[" + std::to_string(i) + "]";
    if (!laa.Get(i).IsString()) type_error(env, lat + ": must be a string");
    const std::string a = laa.Get(i).As<Napi::String>().Utf8Value();
    if (a.find(':') != std::string::npos)
      c.local_addrs6.push_back(ipv6(env, a, lat));  // answered in ND; FullNAT over IPv6 is the core's
    else
      c.local_addrs.push_back(ipv4(env, a, lat));
  }
  return c;
}

Dataplane& running_dataplane(Napi::Env env) {
  Dataplane& d = Dataplane::instance();
  if (!d.running()) throw Napi::Error::New(env, "the dataplane is not running (call start first)");
  return d;
}

// Wraps a request in a Promise resolved by `fill` (on the event loop) when the workers answered.
Napi::Promise submit(Napi::Env env, std::unique_ptr<Request> r, int worker,
                     std::function<Napi::Value(Napi::Env, Request&)> fill) {
  auto deferred = std::make_shared<Napi::Promise::Deferred>(env);
  r->done = [env, deferred, fill](Request& req, const char* error) {
    if (g_shutting_down) return;
    release(env);
    Napi::HandleScope scope(env);
    if (error) {
      deferred->Reject(Napi::Error::New(env, error).Value());
      return;
    }
    try {
      deferred->Resolve(fill(env, req));
    } catch (const Napi::Error& e) {
      deferred->Reject(e.Value());
    }
  };
  hold(env);
  if (!Dataplane::instance().submit(std::move(r), worker)) {
    release(env);
    throw Napi::Error::New(env, "the dataplane's command ring is full: too many requests at once, try again");
  }
  return deferred->Promise();
}

Napi::Object counters(Napi::Env env, const TrafficCounters& c) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("conns", static_cast<double>(c.conns));
  o.Set("inpkts", static_cast<double>(c.inpkts));
  o.Set("outpkts", static_cast<double>(c.outpkts));
  o.Set("inbytes", static_cast<double>(c.inbytes));
  o.Set("outbytes", static_cast<double>(c.outbytes));
  return o;
}

const char* fwd_name(FwdMethod f) {
  switch (f) {
    case FwdMethod::Masq: return "nat";
    case FwdMethod::FullNat: return "fullnat";
    case FwdMethod::Tunnel: return "tun";
    case FwdMethod::Route: return "dr";
    case FwdMethod::Local: return "local";
  }
  return "?";
}

}  // namespace detail

namespace {

using namespace detail;
using dp::Dataplane;
using dp::Request;

// ---- the functions ------------------------------------------------------------------------------

// What a start made of the connections file (dataplane_restart.cc), for logs and /v1/dataplane.
Napi::Value restore_object(Napi::Env env, const dp::RestoreReport& r) {
  if (r.file.empty()) return env.Null();
  Napi::Object o = Napi::Object::New(env);
  o.Set("file", r.file);
  o.Set("found", r.found);
  if (!r.refused.empty()) o.Set("refused", r.refused);
  o.Set("savedAt", static_cast<double>(r.saved_unix_ms));
  o.Set("downMs", static_cast<double>(r.down_ms));
  o.Set("savedWorkers", r.saved_workers);
  o.Set("entries", static_cast<double>(r.entries));
  o.Set("restored", static_cast<double>(r.counts.restored));
  Napi::Object sk = Napi::Object::New(env);
  sk.Set("expired", static_cast<double>(r.counts.expired));
  sk.Set("noService", static_cast<double>(r.counts.no_service));
  sk.Set("noRealServer", static_cast<double>(r.counts.no_dest));
  sk.Set("fullnatPortElsewhere", static_cast<double>(r.counts.fnat_moved));
  sk.Set("tableFull", static_cast<double>(r.counts.table_full));
  sk.Set("badRecord", static_cast<double>(r.counts.bad_record));
  o.Set("skipped", sk);
  o.Set("ms", r.ms);
  return o;
}

// What the stop just done saved, or null when no connections file was asked for.
Napi::Value save_object(Napi::Env env, const dp::SaveReport& r) {
  if (r.file.empty()) return env.Null();
  Napi::Object o = Napi::Object::New(env);
  o.Set("file", r.file);
  if (!r.error.empty()) o.Set("error", r.error);
  o.Set("saved", static_cast<double>(r.counts.saved));
  o.Set("synproxied", static_cast<double>(r.counts.synproxy));
  o.Set("ipv6", static_cast<double>(r.counts.v6));
  o.Set("skippedMixedTunnel", static_cast<double>(r.counts.skipped_mixed));
  o.Set("ms", r.ms);
  return o;
}

Napi::Value Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsObject()) type_error(env, "start: expected (dataplaneOptions, coreConfig)");
  dp::DataplaneConfig dc = dataplane_config(env, info[0].As<Napi::Object>());
  CoreConfig core = core_config(env, info[1]);
  if (!g_wake_ready) {
    g_wake = WakeTsfn::New(env, "fulcrum-dataplane-wake", 0, 1);
    g_wake.Unref(env);
    g_wake_ready = true;
  }
  dp::StartInfo si;
  try {
    si = Dataplane::instance().start(dc, core, wake_from_worker, nullptr);
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("hugepages", si.eal.hugepages);
  out.Set("ealArgs", string_array(env, si.eal.args));
  out.Set("mbufs", si.mbufs);
  Napi::Array ws = Napi::Array::New(env, dc.worker_cpus.size());
  for (size_t w = 0; w < dc.worker_cpus.size(); ++w) {
    Napi::Object wo = Napi::Object::New(env);
    wo.Set("id", static_cast<double>(w));
    wo.Set("lcore", si.eal.worker_lcores[w]);
    wo.Set("cpu", dc.worker_cpus[w]);
    ws.Set(static_cast<uint32_t>(w), wo);
  }
  out.Set("workers", ws);
  out.Set("restore", restore_object(env, si.restore));
  return out;
}

// A delta built on a pool thread reads the snapshot it builds from (DeltaBuild). While one is
// in flight no other change is taken (its base would be retired and, after the workers'
// grace period, freed under the reader) and stopping waits for the reading to end.
std::atomic<int> g_builds_pending{0};  // queued and not yet settled (event loop's thread)
std::atomic<int> g_builds_reading{0};  // still reading their base (ends on the pool thread)

void refuse_while_building(Napi::Env env, const char* what) {
  if (g_builds_pending.load() > 0)
    throw Napi::Error::New(env, std::string(what) + ": a large change is still being built; wait for it to settle");
}

void stop_dataplane() {
  // The pool thread finishes its build without this thread's help; builds take tens of ms.
  while (g_builds_reading.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  Dataplane::instance().stop();
}

Napi::Value Stop(const Napi::CallbackInfo& info) {
  const bool was_running = Dataplane::instance().running();
  stop_dataplane();
  if (!was_running) return info.Env().Null();
  return save_object(info.Env(), Dataplane::instance().last_save());
}

Napi::Value Running(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), Dataplane::instance().running());
}

// Publishes what `apply` builds and returns a Promise settled once every worker confirmed it:
// a refused change throws with .problems; a change that could not be sent rejects.
// What completes a published change's promise once every worker confirmed it (or could not).
std::function<void(Request&, const char*)> on_confirmed(Napi::Env env, std::shared_ptr<Napi::Promise::Deferred> deferred) {
  return [env, deferred](Request&, const char* error) {
    if (g_shutting_down) return;
    release(env);
    Napi::HandleScope scope(env);
    if (error)
      deferred->Reject(Napi::Error::New(env, std::string("applied, but not confirmed: ") + error).Value());
    else
      deferred->Resolve(env.Undefined());
  };
}

template <class Apply>
Napi::Value publish_change(Napi::Env env, Apply&& apply) {
  auto deferred = std::make_shared<Napi::Promise::Deferred>(env);
  std::vector<std::string> problems;
  hold(env);
  Dataplane::ApplyResult res = apply(problems, on_confirmed(env, deferred));
  if (res == Dataplane::ApplyResult::Refused) {
    release(env);
    throw config_error(env, problems);
  }
  if (res == Dataplane::ApplyResult::Busy) {  // nothing changed: the promise says why
    release(env);
    deferred->Reject(Napi::Error::New(env, problems.front()).Value());
  }
  return deferred->Promise();
}

Napi::Value Apply(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Dataplane& d = running_dataplane(env);
  refuse_while_building(env, "apply");
  if (info.Length() < 1) type_error(env, "apply: expected a core config");
  CoreConfig core = core_config(env, info[0]);
  return publish_change(env, [&](std::vector<std::string>& problems, auto done) {
    return d.apply(core, problems, std::move(done));
  });
}

// applyDelta({upsert?, remove?, rules?, timeouts?, tunnelSource?}): see NativeDelta.
// A large delta (a 10,000-service restore) is handed over in parts, so converting it never
// holds the event loop for long: stageDelta(part) converts and keeps each part, and the next
// applyDelta publishes everything staged plus its own part as ONE snapshot (the workers never
// see half a restore). dropStaged() forgets staged parts (the change was abandoned). One
// writer stages at a time (the control side's queue).
CoreDelta g_staged;
bool g_has_staged = false;

void merge_delta(CoreDelta& into, CoreDelta&& part) {
  for (ServiceConfig& s : part.upsert) into.upsert.push_back(std::move(s));
  into.remove.insert(into.remove.end(), part.remove.begin(), part.remove.end());
  if (part.rules) into.rules = std::move(part.rules);
  if (part.timeouts) into.timeouts = part.timeouts;
  if (part.tunnel_source) into.tunnel_source = part.tunnel_source;
  if (part.tunnel_source6) into.tunnel_source6 = part.tunnel_source6;
}

Napi::Value StageDelta(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  running_dataplane(env);
  if (info.Length() < 1 || !info[0].IsObject()) type_error(env, "stageDelta: expected a delta object");
  CoreDelta part;
  std::vector<std::string> problems;
  if (!convert_core_delta(info[0].As<Napi::Object>(), part, problems)) throw config_error(env, problems);
  merge_delta(g_staged, std::move(part));
  g_has_staged = true;
  return env.Undefined();
}

Napi::Value DropStaged(const Napi::CallbackInfo& info) {
  g_staged = CoreDelta{};
  g_has_staged = false;
  return info.Env().Undefined();
}

// A large delta's snapshot is built on a libuv pool thread (10,000 services take ~50 ms to
// build, which would stall the event loop); the previous snapshot it builds from is immutable,
// and the one writer on the control side sends the next change only after this one settles.
// Publishing happens back on this thread.
class DeltaBuild : public Napi::AsyncWorker {
 public:
  DeltaBuild(Napi::Env env, CoreDelta delta, const Snapshot* base)
      : Napi::AsyncWorker(env), delta_(std::move(delta)), base_(base), deferred_(Napi::Promise::Deferred::New(env)) {
    ++g_builds_pending;
    ++g_builds_reading;
  }
  ~DeltaBuild() override { --g_builds_pending; }
  Napi::Promise promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    // base_ is not read after this (publish_built only compares it): stopping may go on.
    struct Done { ~Done() { --g_builds_reading; } } done;
    try {
      built_ = fulcrum::apply_delta(*base_, delta_, problems_);
    } catch (const std::exception& e) {
      SetError(std::string("building the change failed: ") + e.what());
    }
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }
  void OnOK() override {
    Napi::Env env = Env();
    if (!built_) {
      deferred_.Reject(config_error(env, problems_).Value());
      return;
    }
    Dataplane& d = Dataplane::instance();
    auto deferred = std::make_shared<Napi::Promise::Deferred>(deferred_);
    std::vector<std::string> problems;
    hold(env);
    Dataplane::ApplyResult res = d.publish_built(std::move(built_), base_, problems, on_confirmed(env, deferred));
    if (res != Dataplane::ApplyResult::Applied) {
      release(env);
      deferred_.Reject(Napi::Error::New(env, problems.empty() ? "not applied" : problems.front()).Value());
    }
  }

 private:
  CoreDelta delta_;
  const Snapshot* base_;
  Napi::Promise::Deferred deferred_;
  std::unique_ptr<Snapshot> built_;
  std::vector<std::string> problems_;
};

/** Upserts beyond which a delta is built off the event loop's thread. */
constexpr size_t kBuildOffThread = 256;

Napi::Value ApplyDelta(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Dataplane& d = running_dataplane(env);
  refuse_while_building(env, "applyDelta");
  if (info.Length() < 1 || !info[0].IsObject()) type_error(env, "applyDelta: expected a delta object");
  CoreDelta delta;
  std::vector<std::string> problems;
  bool ok = convert_core_delta(info[0].As<Napi::Object>(), delta, problems);
  if (g_has_staged) {
    // Staged parts come first: removes before upserts holds across parts too.
    CoreDelta all = std::move(g_staged);
    g_staged = CoreDelta{};
    g_has_staged = false;
    merge_delta(all, std::move(delta));
    delta = std::move(all);
  }
  if (!ok) throw config_error(env, problems);
  if (delta.upsert.size() > kBuildOffThread) {
    auto* w = new DeltaBuild(env, std::move(delta), d.snapshot());
    Napi::Promise p = w->promise();
    w->Queue();
    return p;
  }
  return publish_change(env, [&](std::vector<std::string>& problems, auto done) {
    return d.apply_delta(delta, problems, std::move(done));
  });
}

// setVipOwner(owner): publishes VIP ownership (ha.vrrp's MASTER: true; BACKUP, FAULT: false);
// the Promise settles once every worker acts on it.
Napi::Value SetVipOwner(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Dataplane& d = running_dataplane(env);
  if (info.Length() < 1 || !info[0].IsBoolean()) type_error(env, "setVipOwner: expects a boolean");
  bool owner = info[0].As<Napi::Boolean>().Value();
  return publish_change(env, [&](std::vector<std::string>& problems, auto done) {
    return d.set_vip_owner(owner, problems, std::move(done));
  });
}

Napi::Value VipOwner(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), Dataplane::instance().vip_owner());
}

// flush() drops every connection and template; flush(destId) those of one real server.
Napi::Value Flush(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Dataplane& d = running_dataplane(env);
  auto r = std::make_unique<Request>();
  r->type = dp::CmdType::FlushAll;
  if (info.Length() > 0 && !info[0].IsUndefined()) {
    if (!info[0].IsNumber() || info[0].As<Napi::Number>().Uint32Value() >= d.limits().max_dests)
      throw Napi::RangeError::New(env, "flush: dest id out of range");
    r->type = dp::CmdType::FlushDest;
    r->dest = static_cast<DestId>(info[0].As<Napi::Number>().Uint32Value());
  }
  return submit(env, std::move(r), -1, [](Napi::Env env, Request&) -> Napi::Value { return env.Undefined(); });
}

void cleanup(void*) {
  g_shutting_down = true;
  stop_dataplane();
  if (g_wake_ready) g_wake.Release();
  g_wake_ready = false;
  release_dataplane_views();
}

}  // namespace

void register_dataplane(Napi::Env env, Napi::Object exports) {
  exports.Set("start", Napi::Function::New(env, Start));
  exports.Set("stop", Napi::Function::New(env, Stop));
  exports.Set("running", Napi::Function::New(env, Running));
  exports.Set("apply", Napi::Function::New(env, Apply));
  exports.Set("applyDelta", Napi::Function::New(env, ApplyDelta));
  exports.Set("stageDelta", Napi::Function::New(env, StageDelta));
  exports.Set("dropStaged", Napi::Function::New(env, DropStaged));
  exports.Set("flush", Napi::Function::New(env, Flush));
  exports.Set("setVipOwner", Napi::Function::New(env, SetVipOwner));
  exports.Set("vipOwner", Napi::Function::New(env, VipOwner));
  register_dataplane_views(env, exports);
  // Workers must not outlive the environment they report to.
  napi_add_env_cleanup_hook(env, cleanup, nullptr);
}

}  // namespace fulcrum::addon
