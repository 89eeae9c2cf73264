// See route6.h.
#include "route6.h"

#include <arpa/inet.h>
#include <rte_errno.h>
#include <rte_lpm6.h>
#include <rte_memory.h>

#include <stdexcept>

#include "nd.h"

namespace fulcrum::dp {

std::string in6_text(const IpAddr& a) {
  char s[INET6_ADDRSTRLEN] = "";
  inet_ntop(AF_INET6, a.b.data(), s, sizeof s);
  return s;
}

RouteTable6::RouteTable6(const std::string& name, const std::vector<std::vector<PortAddr6>>& ports,
                         const std::vector<RouteSpec6>& routes) {
  rte_lpm6_config cfg{};
  cfg.max_rules = 1024;
  // A /64 takes up to 7 tbl8 groups below the first 24 bits; a director has tens of routes.
  cfg.number_tbl8s = 2048;
  lpm_ = rte_lpm6_create(name.c_str(), SOCKET_ID_ANY, &cfg);
  if (!lpm_) throw std::runtime_error(std::string("cannot create the IPv6 route table: ") + rte_strerror(rte_errno));
  auto add = [&](const IpAddr& prefix, uint8_t len, const NextHop6& nh, const std::string& what) {
    uint32_t id = static_cast<uint32_t>(hops_.size());
    hops_.push_back(nh);
    if (len == 0) {  // rte_lpm6 holds depths 1..128: the default route is what a miss finds
      default_ = static_cast<int32_t>(id);
      return;
    }
    if (rte_lpm6_add(lpm_, prefix.b.data(), len, id) < 0) throw std::runtime_error("cannot add route " + what);
  };
  for (size_t i = 0; i < ports.size(); ++i)
    for (const PortAddr6& a : ports[i])
      if (!in6_is_link_local(a.addr))
        add(a.addr, a.len, NextHop6{static_cast<uint16_t>(i), true, {}},
            "for the prefix of port " + std::to_string(i));
  for (const RouteSpec6& r : routes) {
    std::string what = in6_text(r.prefix) + "/" + std::to_string(r.len);
    int port = r.port;
    const bool on_link = in6_is_unspecified(r.via);
    if (port < 0 && !on_link) {
      if (in6_is_link_local(r.via))
        throw std::runtime_error("route " + what + ": a link-local gateway (" + in6_text(r.via) + ") needs the route's port");
      for (size_t i = 0; i < ports.size() && port < 0; ++i)
        for (const PortAddr6& a : ports[i])
          if (!in6_is_link_local(a.addr) && in6_in_prefix(r.via, a.addr, a.len)) port = static_cast<int>(i);
      if (port < 0) throw std::runtime_error("route " + what + ": gateway " + in6_text(r.via) + " is on no port's prefix");
    }
    if (port < 0) throw std::runtime_error("route " + what + ": needs a gateway or a port");
    add(r.prefix, r.len, NextHop6{static_cast<uint16_t>(port), on_link, r.via}, what);
  }
}

RouteTable6::~RouteTable6() {
  if (lpm_) rte_lpm6_free(lpm_);
}

bool RouteTable6::lookup(const IpAddr& dst, NextHop6& out) const {
  if (in6_is_link_local(dst) || in6_is_multicast(dst)) return false;
  uint32_t id;
  if (rte_lpm6_lookup(lpm_, dst.b.data(), &id) != 0) {
    if (default_ < 0) return false;
    id = static_cast<uint32_t>(default_);
  }
  out = hops_[id];
  return true;
}

}  // namespace fulcrum::dp
