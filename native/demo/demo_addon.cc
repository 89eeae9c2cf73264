// A second, small N-API module (fulcrum_demo.node) for demos and benches: the packet core's
// demo for `fulcrum demo --core` (core_demo.cc) with its options checked and its result as a JS
// object, and the loopback listeners `fulcrum bench health` checks (loopback_listeners.h). Kept
// out of the production addon: the director needs neither, nor the test frame builder.
#include <napi.h>

#include <memory>
#include <system_error>
#include <vector>

#include "core_demo.h"
#include "loopback_listeners.h"

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

// new LoopbackListeners(count): .ports, .accepted(), .close() — see DemoAddon in src/native.ts.
class Listeners : public Napi::ObjectWrap<Listeners> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "LoopbackListeners", {
      InstanceMethod<&Listeners::Accepted>("accepted"),
      InstanceMethod<&Listeners::Close>("close"),
    });
  }

  explicit Listeners(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Listeners>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(env, "LoopbackListeners: expected a count");
    double count = info[0].As<Napi::Number>().DoubleValue();
    if (!(count >= 1 && count <= 10000) || count != static_cast<uint32_t>(count))
      throw Napi::RangeError::New(env, "LoopbackListeners: the count must be an integer in 1..10000");
    try {
      l_ = std::make_unique<fulcrum::demo::LoopbackListeners>(static_cast<uint32_t>(count));
    } catch (const std::system_error& e) {
      throw Napi::Error::New(env, std::string("LoopbackListeners: ") + e.what());
    }
    Napi::Array ports = Napi::Array::New(env, l_->ports().size());
    for (size_t i = 0; i < l_->ports().size(); ++i) ports.Set(static_cast<uint32_t>(i), l_->ports()[i]);
    info.This().As<Napi::Object>().Set("ports", ports);
  }

 private:
  // accepted(): connections accepted so far (they stay counted after close()).
  Napi::Value Accepted(const Napi::CallbackInfo& info) {
    if (l_) seen_ = l_->accepted();
    return Napi::Number::New(info.Env(), static_cast<double>(seen_));
  }
  // close(): the ports close; accepted() keeps its last count.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (l_) seen_ = l_->accepted();
    l_.reset();
    return info.Env().Undefined();
  }

  std::unique_ptr<fulcrum::demo::LoopbackListeners> l_;
  uint64_t seen_ = 0;
};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("coreDemo", Napi::Function::New(env, CoreDemo));
  exports.Set("LoopbackListeners", Listeners::Define(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(fulcrum_demo, Init)
