#pragma once

#include <napi.h>

namespace fulcrum::addon {
void register_service_notify(Napi::Env env, Napi::Object exports);
}
