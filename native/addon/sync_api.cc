// syncStart/syncStop/syncDaemons/syncTunables (src/native.ts has the types): arguments are
// checked here and named when wrong; the dataplane (dataplane_sync.cc) starts and stops the
// daemons. Tunables are kept while the dataplane is down and applied when it starts.
#include "sync_api.h"

#include <arpa/inet.h>

#include "dataplane.h"
#include "dataplane_shared.h"

namespace fulcrum::addon {

namespace {

using dp::Dataplane;
using detail::num;
using detail::str;

bool state_arg(Napi::Env env, Napi::Value v, const std::string& at) {
  if (v.IsString()) {
    std::string s = v.As<Napi::String>().Utf8Value();
    if (s == "master") return true;
    if (s == "backup") return false;
  }
  throw Napi::TypeError::New(env, at + ": must be 'master' or 'backup'");
}

// syncStart({state, port, syncId, maxlen?, group?, mcastPort?, ttl?})
Napi::Value SyncStart(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "syncStart: expected an options object");
  Napi::Object o = info[0].As<Napi::Object>();
  const std::string at = "syncStart";
  dp::SyncDaemonOptions d;
  d.master = state_arg(env, o.Get("state"), at + ".state");
  d.port = str(env, o, "port", at);
  d.syncid = static_cast<uint8_t>(num(env, o, "syncId", at, 0, 255));
  if (!o.Get("maxlen").IsUndefined()) d.maxlen = static_cast<uint16_t>(num(env, o, "maxlen", at, 64, 65507));
  std::string group = str(env, o, "group", at, true);
  d.group = htonl(sync::kDefaultGroup);
  if (!group.empty()) {
    in_addr a{};
    if (inet_pton(AF_INET, group.c_str(), &a) != 1 || (ntohl(a.s_addr) >> 28) != 0xe)
      throw Napi::TypeError::New(env, at + ".group: '" + group + "' is not an IPv4 multicast address");
    d.group = a.s_addr;
  }
  if (!o.Get("mcastPort").IsUndefined()) d.mcast_port = static_cast<uint16_t>(num(env, o, "mcastPort", at, 1, 65535));
  if (!o.Get("ttl").IsUndefined()) d.ttl = static_cast<uint8_t>(num(env, o, "ttl", at, 1, 255));
  Dataplane& dp = detail::running_dataplane(env);
  try {
    dp.sync_start(d);
  } catch (const dp::SyncDaemonExists& e) {
    Napi::Error err = Napi::Error::New(env, std::string("syncStart: ") + e.what());
    err.Set("code", "EEXIST");
    throw err;
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, std::string("syncStart.") + e.what());
  }
  return env.Undefined();
}

// syncStop(state) -> boolean
Napi::Value SyncStop(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1) throw Napi::TypeError::New(env, "syncStop: expected 'master' or 'backup'");
  bool master = state_arg(env, info[0], "syncStop");
  return Napi::Boolean::New(env, Dataplane::instance().sync_stop(master));
}

// syncDaemons() -> [{state, port, syncId, maxlen, group, mcastPort, ttl, stats}]
Napi::Value SyncDaemons(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array a = Napi::Array::New(env);
  Dataplane& dp = Dataplane::instance();
  uint32_t n = 0;
  for (bool master : {true, false}) {
    const dp::SyncDaemon* d = dp.sync_daemon(master);
    if (!d) continue;
    const dp::SyncDaemonOptions& o = d->options();
    Napi::Object x = Napi::Object::New(env);
    x.Set("state", master ? "master" : "backup");
    x.Set("port", o.port);
    x.Set("syncId", o.syncid);
    x.Set("maxlen", o.maxlen);
    x.Set("group", detail::dotted(o.group));
    x.Set("mcastPort", o.mcast_port);
    x.Set("ttl", o.ttl);
    Napi::Object st = Napi::Object::New(env);
    for (const dp::SyncDaemonStat& s : d->stats()) st.Set(s.name, static_cast<double>(s.value));
    x.Set("stats", st);
    a.Set(n++, x);
  }
  return a;
}

// syncTunables({threshold, period, refreshPeriod, retries, persistMode, backupOnly})
Napi::Value SyncTunables(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "syncTunables: expected an object");
  Napi::Object o = info[0].As<Napi::Object>();
  const std::string at = "syncTunables";
  sync::SyncSysctls s;
  s.threshold = static_cast<uint32_t>(num(env, o, "threshold", at, 0, 2147483647));
  s.period = static_cast<uint32_t>(num(env, o, "period", at, 0, 2147483647));
  // The kernel's check of sync_threshold: the threshold below the period, unless the period is 0.
  if (s.period && s.threshold >= s.period)
    throw Napi::RangeError::New(env, at + ".threshold: must be below period (or period 0)");
  s.refresh_period_s = static_cast<uint32_t>(num(env, o, "refreshPeriod", at, 0, 2147483647));
  s.retries = static_cast<uint32_t>(num(env, o, "retries", at, 0, 3));
  auto boolean = [&](const char* key) {
    Napi::Value v = o.Get(key);
    if (!v.IsBoolean()) throw Napi::TypeError::New(env, at + "." + key + ": must be a boolean");
    return v.As<Napi::Boolean>().Value();
  };
  s.persist_mode = boolean("persistMode");
  bool backup_only = boolean("backupOnly");
  Dataplane::instance().sync_tunables(s, backup_only);
  return env.Undefined();
}

}  // namespace

void register_sync(Napi::Env env, Napi::Object exports) {
  exports.Set("syncStart", Napi::Function::New(env, SyncStart));
  exports.Set("syncStop", Napi::Function::New(env, SyncStop));
  exports.Set("syncDaemons", Napi::Function::New(env, SyncDaemons));
  exports.Set("syncTunables", Napi::Function::New(env, SyncTunables));
}

}  // namespace fulcrum::addon
