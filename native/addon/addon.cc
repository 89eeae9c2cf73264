// The N-API surface of Fulcrum's native code. Each exported function validates its arguments
// and throws a JS exception naming the problem; nothing native ever aborts the process.
#include <napi.h>

#include "config_convert.h"
#include "core_demo.h"
#include "dataplane_api.h"
#include "snapshot.h"

namespace {

Napi::Object counters(Napi::Env env, const fulcrum::TrafficCounters& c) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("conns", Napi::Number::New(env, static_cast<double>(c.conns)));
  o.Set("inpkts", Napi::Number::New(env, static_cast<double>(c.inpkts)));
  o.Set("outpkts", Napi::Number::New(env, static_cast<double>(c.outpkts)));
  o.Set("inbytes", Napi::Number::New(env, static_cast<double>(c.inbytes)));
  o.Set("outbytes", Napi::Number::New(env, static_cast<double>(c.outbytes)));
  return o;
}

Napi::Value Version(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), "fulcrum-native 0.1.0"); }

// coreDemo({connections, weights}) — see src/native.ts.
Napi::Value CoreDemo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "coreDemo: expected an options object");
  Napi::Object opts = info[0].As<Napi::Object>();
  Napi::Value n = opts.Get("connections");
  if (!n.IsNumber() || n.As<Napi::Number>().DoubleValue() < 1 || n.As<Napi::Number>().DoubleValue() > 1e6)
    throw Napi::RangeError::New(env, "coreDemo: connections must be a number in 1..1000000");
  Napi::Value w = opts.Get("weights");
  if (!w.IsArray()) throw Napi::TypeError::New(env, "coreDemo: weights must be an array of numbers");
  Napi::Array wa = w.As<Napi::Array>();
  if (wa.Length() < 1 || wa.Length() > 8) throw Napi::RangeError::New(env, "coreDemo: 1 to 8 weights");
  std::vector<int32_t> weights;
  for (uint32_t i = 0; i < wa.Length(); ++i) {
    Napi::Value v = wa.Get(i);
    if (!v.IsNumber() || v.As<Napi::Number>().Int32Value() < 0)
      throw Napi::RangeError::New(env, "coreDemo: weights must be integers >= 0");
    weights.push_back(v.As<Napi::Number>().Int32Value());
  }
  fulcrum::demo::DemoResult r;
  try {
    r = fulcrum::demo::run_core_demo(n.As<Napi::Number>().Uint32Value(), weights);
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, std::string("coreDemo: ") + e.what());
  }
  Napi::Object out = Napi::Object::New(env);
  Napi::Object svc = Napi::Object::New(env);
  svc.Set("protocol", "TCP");
  svc.Set("address", r.vip);
  svc.Set("port", r.vport);
  svc.Set("scheduler", "wrr");
  svc.Set("stats", counters(env, r.service_stats));
  out.Set("service", svc);
  Napi::Array dests = Napi::Array::New(env, r.dests.size());
  for (size_t i = 0; i < r.dests.size(); ++i) {
    const auto& d = r.dests[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("address", d.address);
    o.Set("port", d.port);
    o.Set("weight", d.weight);
    o.Set("activeConns", d.active);
    o.Set("inactConns", d.inactive);
    o.Set("stats", counters(env, d.stats));
    dests.Set(static_cast<uint32_t>(i), o);
  }
  out.Set("dests", dests);
  Napi::Object answered = Napi::Object::New(env);
  for (const auto& [k, v] : r.answered_by) answered.Set(k, static_cast<double>(v));
  out.Set("answeredBy", answered);
  Napi::Object drops = Napi::Object::New(env);
  for (const auto& [k, v] : r.drops) drops.Set(k, static_cast<double>(v));
  out.Set("drops", drops);
  return out;
}

// checkCoreConfig(nativeConfig, {maxServices, maxDests}) -> string[]: every problem the core
// finds (types, then build_snapshot's validation), empty when the config would be accepted.
Napi::Value CheckCoreConfig(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsObject())
    throw Napi::TypeError::New(env, "checkCoreConfig: expected (config, limits)");
  Napi::Object lim = info[1].As<Napi::Object>();
  fulcrum::WorkerLimits limits;
  Napi::Value ms = lim.Get("maxServices"), md = lim.Get("maxDests");
  if (!ms.IsNumber() || !md.IsNumber()) throw Napi::TypeError::New(env, "checkCoreConfig: limits need maxServices and maxDests");
  limits.max_services = ms.As<Napi::Number>().Uint32Value();
  limits.max_dests = md.As<Napi::Number>().Uint32Value();
  if (limits.max_services < 1 || limits.max_services > 65535 || limits.max_dests < 1 || limits.max_dests > 65535)
    throw Napi::RangeError::New(env, "checkCoreConfig: limits must be in 1..65535");
  fulcrum::CoreConfig cfg;
  std::vector<std::string> problems;
  if (fulcrum::addon::convert_core_config(info[0].As<Napi::Object>(), cfg, problems))
    fulcrum::build_snapshot(cfg, limits, nullptr, problems);
  Napi::Array out = Napi::Array::New(env, problems.size());
  for (size_t i = 0; i < problems.size(); ++i) out.Set(static_cast<uint32_t>(i), problems[i]);
  return out;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("checkCoreConfig", Napi::Function::New(env, CheckCoreConfig));
  exports.Set("version", Napi::Function::New(env, Version));
  exports.Set("coreDemo", Napi::Function::New(env, CoreDemo));
  fulcrum::addon::register_dataplane(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(fulcrum, Init)
