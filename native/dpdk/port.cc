// See port.h. Checksums are updated incrementally in software by the packet core (RFC 1624:
// a few adds per rewrite), which every PMD supports alike; no TX checksum offload is asked for.
#include "port.h"

#include <arpa/inet.h>
#include <linux/ipv6.h>
#include <net/if.h>
#include <net/route.h>
#include <rte_bus.h>
#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <regex>
#include <stdexcept>

#include "dp_limits.h"
#include "nd.h"

namespace fulcrum::dp {

namespace {

std::string vdev_name(const std::string& device) { return device.substr(0, device.find(',')); }

std::string mac_string(const Mac& m) {
  char s[18];
  std::snprintf(s, sizeof s, "%02x:%02x:%02x:%02x:%02x:%02x", m.b[0], m.b[1], m.b[2], m.b[3], m.b[4], m.b[5]);
  return s;
}

// Gives the TAP's kernel interface the port's address, so the host's own traffic (SSH, health
// checks) uses the same address the dataplane answers ARP for.
void set_kernel_address(const std::string& ifname, be32 addr, uint8_t len) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) throw std::runtime_error("cannot open a socket to configure " + ifname);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
  auto* sin = reinterpret_cast<sockaddr_in*>(&ifr.ifr_addr);
  sin->sin_family = AF_INET;
  sin->sin_addr.s_addr = addr;
  int rc = ioctl(fd, SIOCSIFADDR, &ifr);
  if (rc == 0) {
    sin->sin_addr.s_addr = len ? htonl(~uint32_t{0} << (32 - len)) : 0;
    rc = ioctl(fd, SIOCSIFNETMASK, &ifr);
  }
  int err = errno;
  ::close(fd);
  if (rc != 0) throw std::runtime_error("cannot set the address of kernel interface " + ifname + ": " + strerror(err));
}

// The kernel interface's IPv6 address, as the dataplane's: DAD is off on the TAP (set before
// its link came up), since the port, not the TAP, is on the wire, and a tentative address
// would hold the host's traffic back for a second after every start.
void set_kernel_address6(const std::string& ifname, const PortAddr6& a) {
  int fd = socket(AF_INET6, SOCK_DGRAM, 0);
  if (fd < 0) throw std::runtime_error("cannot open an IPv6 socket to configure " + ifname + " (is IPv6 disabled?)");
  in6_ifreq r{};
  std::memcpy(&r.ifr6_addr, a.addr.b.data(), 16);
  r.ifr6_prefixlen = a.len;
  r.ifr6_ifindex = static_cast<int>(if_nametoindex(ifname.c_str()));
  int rc = r.ifr6_ifindex ? ioctl(fd, SIOCSIFADDR, &r) : -1;
  int err = r.ifr6_ifindex ? errno : ENODEV;
  ::close(fd);
  if (rc != 0 && err != EEXIST)
    throw std::runtime_error("cannot set the IPv6 address " + in6_text(a.addr) + " of kernel interface " + ifname + ": " +
                             strerror(err));
}

// Writes a per-interface IPv6 sysctl; false when it cannot (IPv6 off in this namespace).
bool set_ipv6_sysctl(const std::string& ifname, const char* key, const char* value) {
  std::string path = "/proc/sys/net/ipv6/conf/" + ifname + "/" + key;
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (!f) return false;
  bool ok = std::fputs(value, f) >= 0;
  return std::fclose(f) == 0 && ok;
}

}  // namespace

bool add_kernel_route6(const std::string& ifname, const IpAddr& prefix, uint8_t len, const IpAddr& via, std::string& error) {
  int fd = socket(AF_INET6, SOCK_DGRAM, 0);
  if (fd < 0) {
    error = std::string("socket: ") + strerror(errno);
    return false;
  }
  in6_rtmsg rt{};
  std::memcpy(&rt.rtmsg_dst, prefix.b.data(), 16);
  rt.rtmsg_dst_len = len;
  std::memcpy(&rt.rtmsg_gateway, via.b.data(), 16);
  rt.rtmsg_flags = RTF_UP | (in6_is_unspecified(via) ? 0 : RTF_GATEWAY);
  rt.rtmsg_metric = 1;
  rt.rtmsg_ifindex = static_cast<int>(if_nametoindex(ifname.c_str()));
  int rc = rt.rtmsg_ifindex ? ioctl(fd, SIOCADDRT, &rt) : -1;
  int err = rt.rtmsg_ifindex ? errno : ENODEV;
  ::close(fd);
  if (rc == 0 || err == EEXIST) return true;
  error = strerror(err);
  return false;
}

bool add_kernel_route(const std::string& ifname, be32 prefix, uint8_t len, be32 via, std::string& error) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) {
    error = std::string("socket: ") + strerror(errno);
    return false;
  }
  rtentry rt{};
  auto* dst = reinterpret_cast<sockaddr_in*>(&rt.rt_dst);
  dst->sin_family = AF_INET;
  dst->sin_addr.s_addr = prefix;
  auto* mask = reinterpret_cast<sockaddr_in*>(&rt.rt_genmask);
  mask->sin_family = AF_INET;
  mask->sin_addr.s_addr = len ? htonl(~uint32_t{0} << (32 - len)) : 0;
  auto* gw = reinterpret_cast<sockaddr_in*>(&rt.rt_gateway);
  gw->sin_family = AF_INET;
  gw->sin_addr.s_addr = via;
  rt.rt_flags = RTF_UP | (via ? RTF_GATEWAY : 0);
  std::string dev = ifname;
  rt.rt_dev = dev.data();
  int rc = ioctl(fd, SIOCADDRT, &rt);
  int err = errno;
  ::close(fd);
  if (rc == 0 || err == EEXIST) return true;  // one the host made itself is left as it is
  error = strerror(err);
  return false;
}

bool is_pci_address(const std::string& d) {
  static const std::regex re("^([0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\\.[0-7]$");
  return std::regex_match(d, re);
}

void start_ethdev(uint16_t id, uint16_t queues, rte_mempool* pool, const std::string& what, bool& rss) {
  rte_eth_dev_info info{};
  if (rte_eth_dev_info_get(id, &info) != 0) throw std::runtime_error(what + ": cannot read device info");
  if (info.max_rx_queues < queues || info.max_tx_queues < queues)
    throw std::runtime_error(what + ": has " + std::to_string(std::min(info.max_rx_queues, info.max_tx_queues)) +
                             " queue pair(s), one per worker needs " + std::to_string(queues) +
                             " (for net_af_packet add qpairs=" + std::to_string(queues) +
                             ", for net_af_xdp queue_count=" + std::to_string(queues) + ")");
  rte_eth_conf conf{};
  uint64_t hf = (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP) & info.flow_type_rss_offloads;
  rss = queues > 1 && hf != 0;
  if (rss) {
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf.rx_adv_conf.rss_conf.rss_hf = hf;
  }
  int rc = rte_eth_dev_configure(id, queues, queues, &conf);
  if (rc < 0) throw std::runtime_error(what + ": cannot configure " + std::to_string(queues) + " queues: " + rte_strerror(-rc));
  uint16_t nrx = kRxDesc, ntx = kTxDesc;
  rte_eth_dev_adjust_nb_rx_tx_desc(id, &nrx, &ntx);
  int socket = rte_eth_dev_socket_id(id);
  if (socket < 0) socket = 0;
  for (uint16_t q = 0; q < queues; ++q) {
    if ((rc = rte_eth_rx_queue_setup(id, q, nrx, socket, nullptr, pool)) < 0)
      throw std::runtime_error(what + ": RX queue " + std::to_string(q) + ": " + rte_strerror(-rc));
    if ((rc = rte_eth_tx_queue_setup(id, q, ntx, socket, nullptr)) < 0)
      throw std::runtime_error(what + ": TX queue " + std::to_string(q) + ": " + rte_strerror(-rc));
  }
  if ((rc = rte_eth_dev_start(id)) < 0) throw std::runtime_error(what + ": cannot start: " + rte_strerror(-rc));
}

void PortSet::open(const std::vector<PortConfig>& cfgs, uint16_t queues, rte_mempool* pool) {
  try {
    for (const PortConfig& c : cfgs) open_one(c, queues, pool);
  } catch (...) {
    close();
    throw;
  }
}

void PortSet::open_one(const PortConfig& c, uint16_t queues, rte_mempool* pool) {
  const std::string what = "port '" + c.name + "' (" + c.device + ")";
  Port p;
  p.cfg = c;
  p.queues = queues;
  if (is_pci_address(c.device)) {
    if (rte_eth_dev_get_port_by_name(c.device.c_str(), &p.id) != 0)
      throw std::runtime_error(what + ": PCI device not found (is it bound to vfio-pci?)");
  } else {
    std::string name = vdev_name(c.device);
    uint16_t existing;
    if (rte_eth_dev_get_port_by_name(name.c_str(), &existing) == 0)
      throw std::runtime_error(what + ": device " + name + " already exists (each port needs its own vdev name)");
    int rc = rte_dev_probe(c.device.c_str());
    if (rc < 0) throw std::runtime_error(what + ": cannot create the device: " + rte_strerror(-rc) + " (see the EAL log)");
    if (rte_eth_dev_get_port_by_name(name.c_str(), &p.id) != 0) {
      rte_eal_hotplug_remove("vdev", name.c_str());
      throw std::runtime_error(what + ": device created but no ethdev named " + name);
    }
    p.hotplugged = true;
  }
  ports_.push_back(p);  // from here on, close() undoes it
  Port& rp = ports_.back();
  start_ethdev(rp.id, queues, pool, what, rp.rss);
  rte_ether_addr mac;
  rte_eth_macaddr_get(rp.id, &mac);
  std::memcpy(rp.mac.b, mac.addr_bytes, 6);
  rp.link_local = in6_link_local(rp.mac);
  // Neighbour discovery is multicast (solicitations go to each address's solicited-node group,
  // 33:33:ff:xx:xx:xx): the port takes every multicast frame, as a NIC would need a filter entry
  // per address (VIPs come and go). A PMD without the mode (af_packet/af_xdp on veth) already
  // delivers them.
  if (rte_eth_allmulticast_enable(rp.id) != 0) rte_eth_promiscuous_enable(rp.id);
  if (!c.tap.empty()) open_tap(rp, queues, pool);
}

void PortSet::open_tap(Port& p, uint16_t queues, rte_mempool* pool) {
  const std::string what = "kernel interface '" + p.cfg.tap + "' of port '" + p.cfg.name + "'";
  std::string name = "net_tap_fk" + std::to_string(p.id);
  std::string args = name + ",iface=" + p.cfg.tap + ",mac=" + mac_string(p.mac);
  int rc = rte_dev_probe(args.c_str());
  if (rc < 0) throw std::runtime_error(what + ": cannot create the TAP: " + rte_strerror(-rc));
  if (rte_eth_dev_get_port_by_name(name.c_str(), &p.tap_id) != 0) throw std::runtime_error(what + ": TAP not found after creation");
  p.has_tap = true;
  // Before the link comes up (its link-local address is made then): no duplicate address
  // detection (see set_kernel_address6), and router advertisements never change the host's
  // routes through the TAP (the dataplane decides what it accepts: dataplane.acceptRa).
  bool v6 = set_ipv6_sysctl(p.cfg.tap, "accept_dad", "0");
  set_ipv6_sysctl(p.cfg.tap, "accept_ra", "0");
  set_ipv6_sysctl(p.cfg.tap, "autoconf", "0");
  bool rss;
  start_ethdev(p.tap_id, queues, pool, what, rss);
  if (p.cfg.addr) set_kernel_address(p.cfg.tap, p.cfg.addr, p.cfg.prefix_len);
  if (!p.cfg.addrs6.empty() && !v6)
    throw std::runtime_error(what + ": IPv6 is disabled for it (net.ipv6.conf." + p.cfg.tap + ".disable_ipv6?), so its IPv6 address cannot be set");
  for (const PortAddr6& a : p.cfg.addrs6) set_kernel_address6(p.cfg.tap, a);
}

void PortSet::close() {
  for (auto it = ports_.rbegin(); it != ports_.rend(); ++it) {
    auto remove = [](uint16_t id, bool hotplugged) {
      rte_eth_dev_stop(id);
      rte_eth_dev_info info{};
      rte_device* dev = rte_eth_dev_info_get(id, &info) == 0 ? info.device : nullptr;
      rte_eth_dev_close(id);
      if (hotplugged && dev) rte_dev_remove(dev);
    };
    if (it->has_tap) remove(it->tap_id, true);
    remove(it->id, it->hotplugged);
  }
  ports_.clear();
}

namespace {

// The kernel interface a vdev runs on ("net_af_packet0,iface=veth0"), or "" for a device
// that has none (PCI, net_null).
std::string vdev_iface(const std::string& device) {
  size_t at = device.find(",iface=");
  if (at == std::string::npos) return "";
  size_t start = at + 7, end = device.find(',', start);
  return device.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

// Whether a kernel interface is up with a carrier (IFF_UP and IFF_RUNNING), asked of this
// process's network namespace; true when it cannot be asked (the PMD's word stands).
bool kernel_link_up(const std::string& ifname) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return true;
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
  bool up = true;
  if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) up = (ifr.ifr_flags & IFF_UP) && (ifr.ifr_flags & IFF_RUNNING);
  ::close(fd);
  return up;
}

}  // namespace

PortStatus PortSet::status(size_t i) const {
  const Port& p = ports_[i];
  PortStatus s;
  s.name = p.cfg.name;
  s.device = p.cfg.device;
  s.tap = p.has_tap ? p.cfg.tap : "";
  s.mac = p.mac;
  s.queues = p.queues;
  s.rss = p.rss;
  rte_eth_dev_info info{};
  if (rte_eth_dev_info_get(p.id, &info) == 0 && info.driver_name) s.driver = info.driver_name;
  rte_eth_link link{};
  if (rte_eth_link_get_nowait(p.id, &link) == 0) {
    s.link_up = link.link_status == RTE_ETH_LINK_UP;
    s.speed_mbps = link.link_speed == RTE_ETH_SPEED_NUM_UNKNOWN ? 0 : link.link_speed;
    s.full_duplex = link.link_duplex == RTE_ETH_LINK_FULL_DUPLEX;
  }
  // DPDK 22.11's af_packet PMD says "up" from its start on, whatever its interface does; the
  // kernel knows (an unplugged cable, `ip link set down`): a port on a kernel interface is up
  // only while that interface is (what ha.vrrp's FAULT on a dead port needs).
  if (std::string ifname = vdev_iface(p.cfg.device); s.link_up && !ifname.empty()) s.link_up = kernel_link_up(ifname);
  rte_eth_stats st{};
  if (rte_eth_stats_get(p.id, &st) == 0) {
    s.ipackets = st.ipackets;
    s.opackets = st.opackets;
    s.ibytes = st.ibytes;
    s.obytes = st.obytes;
    s.imissed = st.imissed;
    s.ierrors = st.ierrors;
    s.oerrors = st.oerrors;
    s.rx_nombuf = st.rx_nombuf;
  }
  return s;
}

}  // namespace fulcrum::dp
