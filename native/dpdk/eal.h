// Starting DPDK's EAL inside the Node process: the arguments from the config plus what
// Fulcrum decides itself (lcore layout, hugepages or --no-huge, PCI allow-list). EAL can be
// initialised once per process, so a second start reuses it when it asks for the same lcores.
#pragma once

#include <string>
#include <vector>

namespace fulcrum::dp {

struct EalRequest {
  std::vector<std::string> user_args;  // dataplane.eal from the config
  std::vector<unsigned> worker_cpus;   // one worker lcore per CPU, in this order
  std::vector<std::string> pci;        // PCI addresses of the ports
};

struct EalInfo {
  bool hugepages = false;              // false: --no-huge (4 KiB pages)
  std::vector<std::string> args;       // what rte_eal_init was given
  std::vector<unsigned> worker_lcores; // lcore id of each worker (1, 2, ...)
  unsigned main_lcore = 0;
};

// Throws std::runtime_error with the reason (bad argument, CPU not available, EAL failed).
EalInfo eal_start(const EalRequest& req);

}  // namespace fulcrum::dp
