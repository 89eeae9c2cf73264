#pragma once

#include <napi.h>

namespace fulcrum::addon {
void register_tcp_prober(Napi::Env env, Napi::Object exports);
}
