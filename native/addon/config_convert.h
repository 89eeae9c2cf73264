// Reads the native config object that src/control/native_config.ts builds into the core's
// CoreConfig (and a NativeDelta into a CoreDelta), checking every JS type on the way: a wrong
// type is a listed problem with its path, never a crash or a silently defaulted field.
#pragma once

#include <napi.h>

#include <string>
#include <vector>

#include "config.h"
#include "snapshot.h"

namespace fulcrum::addon {

// Fills cfg from obj; returns false with problems listed when a field has the wrong type or
// an unparseable address. Semantic checks are build_snapshot's.
bool convert_core_config(const Napi::Object& obj, CoreConfig& cfg, std::vector<std::string>& problems);

// Fills delta from a NativeDelta ({upsert?, remove?, rules?, timeouts?, tunnelSource?, tunnelSource6?}); the
// same checks, with paths such as "upsert[3].dests[0].weight".
bool convert_core_delta(const Napi::Object& obj, CoreDelta& delta, std::vector<std::string>& problems);

}  // namespace fulcrum::addon
