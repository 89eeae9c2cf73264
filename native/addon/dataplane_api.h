// The dataplane's N-API functions (start, stop, apply, stats, connections, flush, ports,
// neighbours), registered on the module's exports. See src/native.ts for their JS types.
#pragma once

#include <napi.h>

namespace fulcrum::addon {

void register_dataplane(Napi::Env env, Napi::Object exports);

}  // namespace fulcrum::addon
