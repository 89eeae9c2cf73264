// See route.h.
#include "route.h"

#include <rte_errno.h>
#include <rte_lpm.h>

#include <stdexcept>

namespace fulcrum::dp {

namespace {

uint32_t mask_of(uint8_t len) { return len == 0 ? 0 : ~uint32_t{0} << (32 - len); }

std::string dotted(be32 a) {
  uint32_t h = ntoh32(a);
  return std::to_string(h >> 24) + "." + std::to_string((h >> 16) & 255) + "." + std::to_string((h >> 8) & 255) +
         "." + std::to_string(h & 255);
}

}  // namespace

RouteTable::RouteTable(const std::string& name, const std::vector<PortAddr>& ports,
                       const std::vector<RouteSpec>& routes) {
  rte_lpm_config cfg{};
  cfg.max_rules = 1024;
  cfg.number_tbl8s = 256;
  lpm_ = rte_lpm_create(name.c_str(), SOCKET_ID_ANY, &cfg);
  if (!lpm_) throw std::runtime_error(std::string("cannot create the route table: ") + rte_strerror(rte_errno));
  auto add = [&](be32 prefix, uint8_t len, NextHop nh, const std::string& what) {
    uint32_t id = static_cast<uint32_t>(hops_.size());
    hops_.push_back(nh);
    if (len == 0) {  // rte_lpm holds depths 1..32: the default route is what a miss finds
      default_ = static_cast<int32_t>(id);
      return;
    }
    if (rte_lpm_add(lpm_, ntoh32(prefix) & mask_of(len), len, id) < 0)
      throw std::runtime_error("cannot add route " + what);
  };
  for (size_t i = 0; i < ports.size(); ++i)
    if (ports[i].addr)
      add(ports[i].addr, ports[i].len, NextHop{static_cast<uint16_t>(i), 0},
          "for the subnet of port " + std::to_string(i));
  for (const RouteSpec& r : routes) {
    std::string what = dotted(r.prefix) + "/" + std::to_string(r.len);
    int port = r.port;
    if (port < 0) {
      // The gateway must be on one of our links.
      for (size_t i = 0; i < ports.size() && port < 0; ++i)
        if (ports[i].addr && ((ntoh32(ports[i].addr) ^ ntoh32(r.via)) & mask_of(ports[i].len)) == 0)
          port = static_cast<int>(i);
      if (port < 0) throw std::runtime_error("route " + what + ": gateway " + dotted(r.via) + " is on no port's subnet");
    }
    add(r.prefix, r.len, NextHop{static_cast<uint16_t>(port), r.via}, what);
  }
}

RouteTable::~RouteTable() {
  if (lpm_) rte_lpm_free(lpm_);
}

bool RouteTable::lookup(be32 dst, NextHop& out) const {
  uint32_t id;
  if (rte_lpm_lookup(lpm_, ntoh32(dst), &id) != 0) {
    if (default_ < 0) return false;
    id = static_cast<uint32_t>(default_);
  }
  out = hops_[id];
  return true;
}

}  // namespace fulcrum::dp
