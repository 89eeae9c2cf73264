// DPDK's log handed to JavaScript: captureLog() sends it to a queue instead of stderr (call it
// before start()), takeLog() drains that queue (native/dpdk/eal_log.h).
#include "eal_log_api.h"

#include "eal_log.h"

namespace fulcrum::addon {
namespace {

// captureLog(): DPDK's log goes to a queue from now on instead of stderr (before start()).
Napi::Value CaptureLog(const Napi::CallbackInfo& info) {
  fulcrum::dp::capture_eal_log();
  return info.Env().Undefined();
}

// takeLog() -> {lines: [{level, text, harmless}], dropped}: what DPDK logged since the last call.
Napi::Value TakeLog(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t dropped = 0;
  std::vector<fulcrum::dp::EalLogLine> got = fulcrum::dp::take_eal_log(dropped);
  Napi::Array lines = Napi::Array::New(env, got.size());
  for (size_t i = 0; i < got.size(); ++i) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("level", got[i].level);
    o.Set("text", got[i].text);
    o.Set("harmless", got[i].harmless);
    lines.Set(static_cast<uint32_t>(i), o);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("lines", lines);
  out.Set("dropped", static_cast<double>(dropped));
  return out;
}

}  // namespace

void register_eal_log(Napi::Env env, Napi::Object exports) {
  exports.Set("captureLog", Napi::Function::New(env, CaptureLog));
  exports.Set("takeLog", Napi::Function::New(env, TakeLog));
}

}  // namespace fulcrum::addon
