// A second, small N-API module (fulcrum_demo.node) for `fulcrum demo --core`: the packet
// core's demo (core_demo.cc) with its options checked and its result as a JS object. Kept out
// of the production addon: the demo links the test frame builder, which the director never
// needs.
#include <napi.h>

#include <vector>

#include "core_demo.h"

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

// coreDemo({connections, weights}) — see DemoAddon in src/native.ts.
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

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("coreDemo", Napi::Function::New(env, CoreDemo));
  return exports;
}

}  // namespace

NODE_API_MODULE(fulcrum_demo, Init)
