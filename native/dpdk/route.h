// The director's IPv4 routes: connected subnets from the ports' addresses plus static routes,
// in one rte_lpm built at start and only read afterwards, so every worker looks up in it
// without locks. A next hop is a port and a gateway (0: the destination is on the link).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "types.h"

struct rte_lpm;

namespace fulcrum::dp {

struct RouteSpec {
  be32 prefix = 0;
  uint8_t len = 0;
  be32 via = 0;          // 0: on the link
  int port = -1;         // -1: the port whose connected subnet holds `via`
};

struct NextHop {
  uint16_t port;  // index into the dataplane's port list
  be32 gateway;   // 0 = deliver to the destination itself
};

struct PortAddr {
  be32 addr = 0;
  uint8_t len = 0;
};

class RouteTable {
 public:
  // Builds the table; throws std::runtime_error naming the route that cannot be used.
  RouteTable(const std::string& name, const std::vector<PortAddr>& ports, const std::vector<RouteSpec>& routes);
  ~RouteTable();
  RouteTable(const RouteTable&) = delete;
  RouteTable& operator=(const RouteTable&) = delete;

  // The next hop towards dst; false when there is no route.
  bool lookup(be32 dst, NextHop& out) const;
  const std::vector<NextHop>& hops() const { return hops_; }

 private:
  rte_lpm* lpm_ = nullptr;
  std::vector<NextHop> hops_;
  int32_t default_ = -1;  // the 0.0.0.0/0 route's hop, when there is one
};

}  // namespace fulcrum::dp
