// The packet core's demo (see core_demo.cc): its inputs and what it measured.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "stats.h"

namespace fulcrum::demo {

struct DemoDest {
  std::string address;
  uint16_t port;
  int32_t weight;
  uint32_t active;
  uint32_t inactive;
  TrafficCounters stats;
};

struct DemoResult {
  std::string vip;
  uint16_t vport = 0;
  TrafficCounters service_stats;
  std::vector<DemoDest> dests;
  std::map<std::string, uint64_t> answered_by;
  std::map<std::string, uint64_t> drops;
};

DemoResult run_core_demo(uint32_t connections, const std::vector<int32_t>& weights);

}  // namespace fulcrum::demo
