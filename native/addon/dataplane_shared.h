// What dataplane_api.cc (start, stop, changes) and dataplane_views.cc (stats, listings) share:
// argument readers that throw JS exceptions, address formatting, and submit(), which wraps a
// request to the workers in a Promise settled on the event loop. Internal to the addon.
#pragma once

#include <napi.h>

#include <functional>
#include <memory>
#include <string>

#include "dataplane.h"

namespace fulcrum::addon {

namespace detail {

[[noreturn]] void type_error(Napi::Env env, const std::string& m);
// An integer in [lo, hi] at o[key]; `at` names o in the message.
double num(Napi::Env env, Napi::Object o, const char* key, const std::string& at, double lo, double hi);
// A string at o[key]; "" when absent and optional.
std::string str(Napi::Env env, Napi::Object o, const char* key, const std::string& at, bool optional = false);
be32 ipv4(Napi::Env env, const std::string& s, const std::string& at);
IpAddr ipv6(Napi::Env env, const std::string& s, const std::string& at);
std::string dotted(be32 a);
std::string mac_str(const dp::Mac& m);
// The dataplane, or a JS exception when it is not running.
dp::Dataplane& running_dataplane(Napi::Env env);
// Sends r to `worker` (-1: every worker); the Promise is settled with fill()'s value when the
// answer arrives, or rejected with the workers' error.
Napi::Promise submit(Napi::Env env, std::unique_ptr<dp::Request> r, int worker,
                     std::function<Napi::Value(Napi::Env, dp::Request&)> fill);
Napi::Object counters(Napi::Env env, const TrafficCounters& c);
const char* fwd_name(FwdMethod f);

}  // namespace detail

// dataplane_views.cc: registers stats, connections, ports and neighbours; releases what they
// keep between calls (the environment is going).
void register_dataplane_views(Napi::Env env, Napi::Object exports);
void release_dataplane_views();

}  // namespace fulcrum::addon
