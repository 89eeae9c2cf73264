// A sync peer for the integration tests, run in a namespace of theirs: it listens to a sync
// group and prints what each datagram decodes to (sync_wire's read_message), or sends a
// message it writes (MessageWriter) or raw bytes, as a kernel or Fulcrum master would.
//   sync_peer listen IFNAME GROUP PORT SECONDS     one JSON line per datagram
//   sync_peer send IFNAME GROUP PORT SYNCID        records on stdin, one a line:
//       proto caddr cport vaddr vport daddr dport state flags timeout [laddr lport]
//   sync_peer raw IFNAME GROUP PORT                each stdin line: one datagram in hex
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "sync_wire.h"

using namespace fulcrum;

namespace {

std::string ip(const IpAddr& a) {
  char b[INET6_ADDRSTRLEN];
  if (a.is_v4()) {
    be32 v = a.v4();
    inet_ntop(AF_INET, &v, b, sizeof b);
  } else {
    inet_ntop(AF_INET6, a.b.data(), b, sizeof b);
  }
  return b;
}

int die(const char* what) {
  std::perror(what);
  return 1;
}

int sender(const std::string& ifname, const std::string& group, int port) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) return -1;
  ip_mreqn m{};
  m.imr_ifindex = static_cast<int>(if_nametoindex(ifname.c_str()));
  if (!m.imr_ifindex || setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &m, sizeof m) != 0) return -1;
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, group.c_str(), &to.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) return -1;
  return fd;
}

int listen_mode(const std::string& ifname, const std::string& group, int port, int seconds) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, group.c_str(), &a.sin_addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return die("bind");
  ip_mreqn m{};
  m.imr_multiaddr = a.sin_addr;
  m.imr_ifindex = static_cast<int>(if_nametoindex(ifname.c_str()));
  if (setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof m) != 0) return die("IP_ADD_MEMBERSHIP");
  std::printf("{\"listening\":true}\n");
  std::fflush(stdout);
  timeval tv{0, 100 * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  std::vector<uint8_t> buf(65536);
  std::vector<sync::SyncConn> conns(sync::kMaxConns);
  while (std::chrono::steady_clock::now() < end) {
    sockaddr_in from{};
    socklen_t fl = sizeof from;
    ssize_t n = recvfrom(fd, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &fl);
    if (n < 0) continue;
    sync::ReadResult r = sync::read_message(buf.data(), static_cast<size_t>(n), 0, conns.data());
    char src[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &from.sin_addr, src, sizeof src);
    std::printf("{\"from\":\"%s\",\"bytes\":%zd,\"syncid\":%u,\"version\":%u,\"error\":%u,\"conns\":[", src, n,
                n > 1 ? buf[1] : 0, r.version, static_cast<unsigned>(r.error));
    for (size_t i = 0; i < r.conns; ++i) {
      const sync::SyncConn& c = conns[i];
      std::printf("%s{\"protocol\":%u,\"flags\":%u,\"state\":%u,\"caddr\":\"%s\",\"cport\":%u,\"vaddr\":\"%s\",\"vport\":%u,"
                  "\"daddr\":\"%s\",\"dport\":%u,\"fwmark\":%u,\"timeout\":%u",
                  i ? "," : "", c.protocol, c.flags, c.state, ip(c.caddr).c_str(), ntohs(c.cport), ip(c.vaddr).c_str(),
                  ntohs(c.vport), ip(c.daddr).c_str(), ntohs(c.dport), c.fwmark, c.timeout_s);
      if (c.has_fullnat) std::printf(",\"laddr\":\"%s\",\"lport\":%u", ip(c.laddr).c_str(), ntohs(c.lport));
      std::printf("}");
    }
    std::printf("]}\n");
    std::fflush(stdout);
  }
  return 0;
}

int send_mode(const std::string& ifname, const std::string& group, int port, int syncid) {
  int fd = sender(ifname, group, port);
  if (fd < 0) return die("sender socket");
  uint8_t buf[1472];
  sync::MessageWriter w(buf, sizeof buf, static_cast<uint8_t>(syncid));
  std::string line;
  auto flush = [&] {
    if (w.count() && send(fd, w.data(), w.size(), 0) != static_cast<ssize_t>(w.size())) die("send");
    w.reset();
  };
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    unsigned proto, cport, vport, dport, state, flags, timeout, lport = 0;
    std::string caddr, vaddr, daddr, laddr;
    if (!(in >> proto >> caddr >> cport >> vaddr >> vport >> daddr >> dport >> state >> flags >> timeout)) continue;
    in >> laddr >> lport;
    sync::SyncConn c;
    auto v4 = [](const std::string& s) {
      in_addr a{};
      inet_pton(AF_INET, s.c_str(), &a);
      return IpAddr::from_v4(a.s_addr);
    };
    c.protocol = static_cast<uint8_t>(proto);
    c.caddr = v4(caddr);
    c.vaddr = v4(vaddr);
    c.daddr = v4(daddr);
    c.cport = htons(static_cast<uint16_t>(cport));
    c.vport = htons(static_cast<uint16_t>(vport));
    c.dport = htons(static_cast<uint16_t>(dport));
    c.state = static_cast<uint16_t>(state);
    c.flags = flags;
    c.timeout_s = timeout;
    if (!laddr.empty()) {
      c.has_fullnat = true;
      c.laddr = v4(laddr);
      c.lport = htons(static_cast<uint16_t>(lport));
    }
    if (!w.add(c)) {
      flush();
      w.add(c);
    }
  }
  flush();
  return 0;
}

int raw_mode(const std::string& ifname, const std::string& group, int port) {
  int fd = sender(ifname, group, port);
  if (fd < 0) return die("sender socket");
  std::string line;
  while (std::getline(std::cin, line)) {
    std::vector<uint8_t> b;
    for (size_t i = 0; i + 1 < line.size(); i += 2) b.push_back(static_cast<uint8_t>(std::stoi(line.substr(i, 2), nullptr, 16)));
    if (send(fd, b.data(), b.size(), 0) < 0) die("send");
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> a(argv + 1, argv + argc);
  if (a.size() >= 5 && a[0] == "listen") return listen_mode(a[1], a[2], std::stoi(a[3]), std::stoi(a[4]));
  if (a.size() >= 5 && a[0] == "send") return send_mode(a[1], a[2], std::stoi(a[3]), std::stoi(a[4]));
  if (a.size() >= 4 && a[0] == "raw") return raw_mode(a[1], a[2], std::stoi(a[3]));
  std::fprintf(stderr, "usage: sync_peer listen IFNAME GROUP PORT SECONDS | send IFNAME GROUP PORT SYNCID | raw IFNAME GROUP PORT\n");
  return 2;
}
