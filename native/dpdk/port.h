// The director's ports: each config port is a DPDK ethdev (a PCI device or a virtual device)
// with one RX and one TX queue per worker, and, unless turned off, a TAP companion in the
// kernel that carries the host's own traffic (the exception path). Opening is all or
// nothing: a failure closes whatever was opened and names the port and the cause.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "arp.h"
#include "route6.h"
#include "types.h"

struct rte_mempool;

namespace fulcrum::dp {

struct PortConfig {
  std::string name;    // the config's name for it
  std::string device;  // "0000:03:00.0" or "net_af_packet0,iface=veth0"
  be32 addr = 0;       // the director's address on this link (0: none)
  uint8_t prefix_len = 0;
  std::string tap;     // kernel interface name for the exception path; empty: none
  // Addresses this port answers ARP for only while the director owns its VIPs (ha.vrrp's
  // floating addresses: a NAT gateway that must move with them); few, so scanned.
  std::vector<be32> floating;
  std::vector<IpAddr> floating6;  // the same for IPv6 (neighbour advertisements)
  std::vector<PortAddr6> addrs6;  // the director's IPv6 addresses on this link (besides link-local)
};

struct Port {
  PortConfig cfg;
  uint16_t id = 0;          // DPDK port id
  bool hotplugged = false;  // we created the device (a vdev): remove it on close
  Mac mac;
  IpAddr link_local;  // fe80:: and the MAC's EUI-64: the kernel's on the TAP too (nd.h)
  uint16_t queues = 0;
  bool rss = false;
  bool has_tap = false;
  uint16_t tap_id = 0;
};

struct PortStatus {
  std::string name, device, driver, tap;
  Mac mac;
  bool link_up = false;
  uint32_t speed_mbps = 0;
  bool full_duplex = false;
  uint16_t queues = 0;
  bool rss = false;
  uint64_t ipackets = 0, opackets = 0, ibytes = 0, obytes = 0, imissed = 0, ierrors = 0, oerrors = 0, rx_nombuf = 0;
};

class PortSet {
 public:
  PortSet() = default;
  ~PortSet() { close(); }
  PortSet(const PortSet&) = delete;
  PortSet& operator=(const PortSet&) = delete;

  // Probes, configures and starts every port with `queues` queue pairs; throws
  // std::runtime_error after closing what it opened.
  void open(const std::vector<PortConfig>& cfgs, uint16_t queues, rte_mempool* pool);
  void close();

  const std::vector<Port>& ports() const { return ports_; }
  PortStatus status(size_t i) const;

 private:
  void open_one(const PortConfig& c, uint16_t queues, rte_mempool* pool);
  void open_tap(Port& p, uint16_t queues, rte_mempool* pool);
  std::vector<Port> ports_;
};

// Starts an ethdev with n queue pairs of `desc` descriptors; throws naming `what`.
void start_ethdev(uint16_t id, uint16_t queues, rte_mempool* pool, const std::string& what, bool& rss);

// Adds prefix/len (via a gateway, or on the link when via is 0) to the kernel's main table
// through the TAP `ifname`, so the director's own traffic (health checks) to networks the
// dataplane routes through a port leaves through that port; false with `error` when refused.
// A route the kernel already has counts as added.
bool add_kernel_route(const std::string& ifname, be32 prefix, uint8_t len, be32 via, std::string& error);

// The same for an IPv6 prefix (via all zero: on the link).
bool add_kernel_route6(const std::string& ifname, const IpAddr& prefix, uint8_t len, const IpAddr& via, std::string& error);

// True when the device string names a PCI device rather than a virtual one.
bool is_pci_address(const std::string& device);

}  // namespace fulcrum::dp
