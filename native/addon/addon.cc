// The N-API surface of Fulcrum's native code. Each exported function validates its arguments
// and throws a JS exception naming the problem; nothing native ever aborts the process.
#include <napi.h>

#include "config_convert.h"
#include "dataplane_api.h"
#include "eal_log_api.h"
#include "service_notify.h"
#include "sync_api.h"
#include "tcp_prober_api.h"
#include "snapshot.h"

namespace {

Napi::Value Version(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), "fulcrum-native 0.1.0"); }

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
  if (limits.max_services < 1 || limits.max_services > 65535 || limits.max_dests < 1 || limits.max_dests > fulcrum::kMaxDests)
    throw Napi::RangeError::New(env, "checkCoreConfig: maxServices must be in 1..65535, maxDests in 1.." +
                                         std::to_string(fulcrum::kMaxDests));
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
  fulcrum::addon::register_dataplane(env, exports);
  fulcrum::addon::register_service_notify(env, exports);
  fulcrum::addon::register_eal_log(env, exports);
  fulcrum::addon::register_tcp_prober(env, exports);
  fulcrum::addon::register_sync(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(fulcrum, Init)
