#pragma once

#include <napi.h>

namespace fulcrum::addon {
void register_eal_log(Napi::Env env, Napi::Object exports);
}
