// The connection sync daemons' N-API face: syncStart, syncStop, syncDaemons, syncTunables.
#pragma once

#include <napi.h>

namespace fulcrum::addon {

void register_sync(Napi::Env env, Napi::Object exports);

}  // namespace fulcrum::addon
