// The director's IPv6 routes: on-link prefixes from the ports' addresses plus static routes,
// in one rte_lpm6 built at start and only read afterwards (as route.h for IPv4), so every
// worker looks up in it without locks. A next hop is a port and a gateway (none: the
// destination is on the link). Link-local destinations are never routed (they name no port);
// a link-local gateway needs its route to name the port.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "types.h"

struct rte_lpm6;

namespace fulcrum::dp {

struct PortAddr6 {
  IpAddr addr;
  uint8_t len = 0;
};

struct RouteSpec6 {
  IpAddr prefix;
  uint8_t len = 0;
  IpAddr via;      // all zero: on the link
  int port = -1;   // -1: the port whose on-link prefix holds `via`
};

struct NextHop6 {
  uint16_t port = 0;
  bool on_link = true;  // deliver to the destination itself; otherwise to gateway
  IpAddr gateway;
};

class RouteTable6 {
 public:
  // ports[i]: port i's IPv6 addresses (their prefixes are on link there). Throws
  // std::runtime_error naming the route that cannot be used.
  RouteTable6(const std::string& name, const std::vector<std::vector<PortAddr6>>& ports,
              const std::vector<RouteSpec6>& routes);
  ~RouteTable6();
  RouteTable6(const RouteTable6&) = delete;
  RouteTable6& operator=(const RouteTable6&) = delete;

  // The next hop towards dst; false when there is no route.
  bool lookup(const IpAddr& dst, NextHop6& out) const;
  const std::vector<NextHop6>& hops() const { return hops_; }

 private:
  rte_lpm6* lpm_ = nullptr;
  std::vector<NextHop6> hops_;
  int32_t default_ = -1;  // the ::/0 route's hop, when there is one
};

// Text for an address (inet_ntop's), for messages.
std::string in6_text(const IpAddr& a);

}  // namespace fulcrum::dp
