// Steering (steer.h) as specifications: which worker owns a frame, from frames the shared test
// frame builder writes. Truncated frames are copied into buffers of their exact size, so a
// read past the end is caught by AddressSanitizer in the sanitizer build.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <vector>

#include "pktgen.h"
#include "steer.h"

namespace fulcrum::dp {
namespace {

using test::Bytes;
using test::ip4;
using test::Pkt;

constexpr uint32_t kWorkers = 4;
constexpr uint32_t kSelf = 7;  // not a worker: "stays where it arrived" is told apart
const be32 kVip = ip4("10.0.0.100");
const be32 kServer = ip4("172.16.0.11");
const be32 kClient = ip4("192.0.2.10");
const be32 kLocal[] = {ip4("172.16.0.200"), ip4("172.16.0.201")};

std::vector<be32> sorted_locals() {
  std::vector<be32> v(std::begin(kLocal), std::end(kLocal));
  std::sort(v.begin(), v.end());
  return v;
}

const IpAddr kVip6 = IpAddr::from_v6(test::ip6("2001:db8:18::100").data());
const IpAddr kClient6 = IpAddr::from_v6(test::ip6("2001:db8:2::10").data());
const IpAddr kServer6 = IpAddr::from_v6(test::ip6("2001:db8:19::11").data());
const IpAddr kLocal6 = IpAddr::from_v6(test::ip6("2001:db8:19::200").data());

struct IsVip {
  bool operator()(be32 d) const { return d == kVip; }
  bool operator()(const IpAddr& d) const { return d == kVip6; }
};

struct Steering {
  std::vector<be32> locals = sorted_locals();
  std::vector<IpAddr> locals6{kLocal6};
  SteerPlan plan{kWorkers, locals.data(), static_cast<uint32_t>(locals.size()), locals6.data(), 1};
  uint32_t owner(const Bytes& f) const {
    Bytes exact(f.begin(), f.end());
    return frame_owner(plan, IsVip{}, exact.data(), static_cast<uint32_t>(exact.size()), kSelf);
  }
};

Bytes client_tcp(uint16_t cport, int vlan = -1) {
  Pkt p;
  if (vlan >= 0) p.vlan(static_cast<uint16_t>(vlan));
  return p.ipv4(kClient, kVip).tcp(cport, 80, kTcpSyn).frame();
}

TEST(Steer, ClientsSpreadOverWorkersAndBothDirectionsAgree) {
  Steering s;
  std::set<uint32_t> seen;
  for (uint16_t cport = 40000; cport < 40200; ++cport) {
    uint32_t w = s.owner(client_tcp(cport));
    ASSERT_LT(w, kWorkers);
    seen.insert(w);
    // The real server's answer names the client as destination (NAT).
    EXPECT_EQ(s.owner(Pkt().ipv4(kServer, kClient).tcp(80, cport).frame()), w);
    EXPECT_EQ(s.owner(Pkt().ipv4(kClient, kVip).udp(cport, 53).frame()), owner_of_client(kClient, test::port(cport), kWorkers));
  }
  EXPECT_EQ(seen.size(), kWorkers);
}

TEST(Steer, VlanTaggedFramesAreSteeredLikeUntagged) {
  Steering s;
  std::set<uint32_t> seen;
  for (uint16_t cport = 40000; cport < 40200; ++cport) {
    uint32_t w = s.owner(client_tcp(cport, 42));
    EXPECT_EQ(w, s.owner(client_tcp(cport))) << cport;
    seen.insert(w);
  }
  EXPECT_EQ(seen.size(), kWorkers);  // not all left on the receiving worker
}

TEST(Steer, FullNatRepliesGoToTheWorkerWhoseRangeHoldsThePort) {
  Steering s;
  for (uint32_t w = 0; w < kWorkers; ++w) {
    PortRange r = fnat_port_range(w, kWorkers);
    for (uint16_t port : {r.lo, static_cast<uint16_t>((r.lo + r.hi) / 2), r.hi})
      for (be32 laddr : kLocal) {
        EXPECT_EQ(s.owner(Pkt().ipv4(kServer, laddr).tcp(80, port).frame()), w) << port;
        EXPECT_EQ(s.owner(Pkt().vlan(7).ipv4(kServer, laddr).udp(53, port).frame()), w) << port;
      }
  }
  // The ranges cover every port above the floor, in order and without overlap.
  EXPECT_EQ(fnat_port_range(0, kWorkers).lo, kFnatPortFloor);
  for (uint32_t w = 1; w < kWorkers; ++w)
    EXPECT_EQ(fnat_port_range(w, kWorkers).lo, fnat_port_range(w - 1, kWorkers).hi + 1);
  EXPECT_EQ(fnat_port_range(kWorkers - 1, kWorkers).hi, 65535);
}

TEST(Steer, IcmpErrorsGoToTheOwnerOfTheQuotedConnection) {
  Steering s;
  std::set<uint32_t> seen;
  for (uint16_t cport = 40000; cport < 40100; ++cport) {
    uint32_t w = s.owner(client_tcp(cport));
    seen.insert(w);
    // A router on the way to the client could not take our reply (frag needed).
    Bytes reply = Pkt().ipv4(kVip, kClient).tcp(80, cport).payload_size(64).ip();
    EXPECT_EQ(s.owner(Pkt().ipv4(ip4("198.51.100.1"), kVip).icmp_error(3, 4, reply, 1400).frame()), w);
    // A router on the way to the real server could not take the forwarded request (NAT).
    Bytes fwd = Pkt().ipv4(kClient, kServer).tcp(cport, 80).ip();
    EXPECT_EQ(s.owner(Pkt().vlan(3).ipv4(ip4("172.16.0.1"), kClient).icmp_error(11, 0, fwd).frame()), w);
  }
  EXPECT_EQ(seen.size(), kWorkers);
  // FullNAT: the quoted packet went from a local address to the real server.
  PortRange r = fnat_port_range(2, kWorkers);
  Bytes fnat = Pkt().ipv4(kLocal[0], kServer).udp(r.lo + 5, 53).ip();
  EXPECT_EQ(s.owner(Pkt().ipv4(ip4("172.16.0.1"), kLocal[0]).icmp_error(3, 3, fnat).frame()), 2u);
}

TEST(Steer, WhatNamesNoConnectionStaysWhereItArrived) {
  Steering s;
  EXPECT_EQ(s.owner(Pkt().ipv4(kClient, kVip).icmp_echo(1, 1).frame()), kSelf);
  EXPECT_EQ(s.owner(Pkt().ipv4(kClient, kVip).mf().udp(1234, 53).payload_size(100).frame()), kSelf);
  EXPECT_EQ(s.owner(Pkt().ipv4(kClient, kVip).frag_offset(10).udp(1234, 53).frame()), kSelf);
  EXPECT_EQ(s.owner(Pkt().ipv6("2001:db8::1", "2001:db8::2").ipv6_frag(0, true).tcp(1234, 80).frame()), kSelf);  // a fragment
  EXPECT_EQ(s.owner(Pkt().ethertype(kEthArp).payload_size(28).frame()), kSelf);
  EXPECT_EQ(s.owner(Pkt().qinq(5).vlan(6).ipv4(kClient, kVip).tcp(1234, 80).frame()), kSelf);
  // An error quoting something without ports (an echo) or not IPv4.
  Bytes echo = Pkt().ipv4(kVip, kClient).icmp_echo(1, 1).ip();
  EXPECT_EQ(s.owner(Pkt().ipv4(kServer, kVip).icmp_error(3, 1, echo).frame()), kSelf);
}

// Every prefix of every kind of frame: never a read past the end (ASan), and a frame cut
// before the bytes steering needs stays where it arrived.
TEST(Steer, TruncatedFramesAreNeverReadPastTheirEnd) {
  Steering s;
  Bytes quoted = Pkt().ipv4(kVip, kClient).tcp(80, 40001).ip();
  std::vector<Bytes> frames = {
      client_tcp(40001),
      client_tcp(40001, 9),
      Pkt().ipv4(kClient, kVip).ip_options({1, 1, 1, 1}).udp(40001, 53).frame(),
      Pkt().ipv4(ip4("198.51.100.1"), kVip).icmp_error(3, 4, quoted).frame(),
      Pkt().vlan(9).ipv4(ip4("198.51.100.1"), kVip).icmp_error(3, 4, quoted).frame(),
      Pkt().ipv4(kServer, kLocal[1]).tcp(80, 2000).frame(),
      // IP options push the ICMP header far out: a short frame ends before its type byte.
      Pkt().ipv4(ip4("198.51.100.1"), kVip).ip_options(Bytes(40, 1)).icmp_error(3, 4, quoted).frame(),
  };
  for (const Bytes& f : frames) {
    for (size_t cut = 0; cut < f.size(); ++cut) {
      uint32_t w = s.owner(Bytes(f.begin(), f.begin() + static_cast<long>(cut)));
      EXPECT_TRUE(w < kWorkers || w == kSelf);
    }
  }
  // ICMP: cut inside the ICMP header, inside the quoted IP header, before the quoted ports.
  Bytes err = frames[3];
  for (size_t cut : {34u, 35u, 41u, 42u, 61u, 62u, 65u})
    EXPECT_EQ(s.owner(Bytes(err.begin(), err.begin() + static_cast<long>(cut))), kSelf) << cut;
  EXPECT_NE(s.owner(Bytes(err.begin(), err.begin() + 66)), kSelf);  // the quoted ports are in
}

TEST(Steer, Ipv6ClientsSpreadOverWorkersAndBothDirectionsAgree) {
  Steering s;
  std::set<uint32_t> seen;
  for (uint16_t cport = 40000; cport < 40200; ++cport) {
    uint32_t w = s.owner(Pkt().ipv6(kClient6.b, kVip6.b).tcp(cport, 80, kTcpSyn).frame());
    ASSERT_LT(w, kWorkers);
    seen.insert(w);
    EXPECT_EQ(s.owner(Pkt().ipv6(kServer6.b, kClient6.b).tcp(80, cport).frame()), w);  // NAT's reply
    EXPECT_EQ(s.owner(Pkt().vlan(5).ipv6(kClient6.b, kVip6.b).udp(cport, 53).frame()), w);
  }
  EXPECT_EQ(seen.size(), kWorkers);
}

TEST(Steer, Ipv6FullNatRepliesGoToTheLocalPortsWorker) {
  Steering s;
  for (uint32_t w = 0; w < kWorkers; ++w) {
    PortRange r = fnat_port_range(w, kWorkers);
    EXPECT_EQ(s.owner(Pkt().ipv6(kServer6.b, kLocal6.b).tcp(80, r.lo).frame()), w);
    EXPECT_EQ(s.owner(Pkt().ipv6(kServer6.b, kLocal6.b).udp(53, r.hi).frame()), w);
  }
}

TEST(Steer, Icmpv6ErrorsGoToTheOwnerOfTheQuotedConnection) {
  Steering s;
  for (uint16_t cport = 40000; cport < 40050; ++cport) {
    uint32_t w = s.owner(Pkt().ipv6(kClient6.b, kVip6.b).tcp(cport, 80, kTcpSyn).frame());
    Bytes reply = Pkt().ipv6(kVip6.b, kClient6.b).tcp(80, cport).payload_size(64).ip();
    EXPECT_EQ(s.owner(Pkt().ipv6("2001:db8:ff::1", "2001:db8:18::100").icmp_error(2, 0, reply, 1280).frame()), w);
  }
  PortRange r = fnat_port_range(1, kWorkers);
  Bytes fnat = Pkt().ipv6(kLocal6.b, kServer6.b).udp(r.lo + 9, 53).ip();
  EXPECT_EQ(s.owner(Pkt().ipv6("2001:db8:19::fe", "2001:db8:19::200").icmp_error(1, 4, fnat).frame()), 1u);
}

TEST(Steer, OtherIpv6StaysWhereItArrivedAndTruncationsNeverReadPastTheEnd) {
  Steering s;
  EXPECT_EQ(s.owner(Pkt().ipv6(kClient6.b, kVip6.b).icmp_echo(1, 1).frame()), kSelf);
  EXPECT_EQ(s.owner(Pkt().ipv6(kClient6.b, kVip6.b).ipv6_ext(0, Bytes(6, 0)).tcp(40000, 80).frame()), kSelf);
  EXPECT_EQ(s.owner(Pkt().ipv6(kClient6.b, kVip6.b).icmp(135, 0).frame()), kSelf);  // ND
  Bytes reply = Pkt().ipv6(kVip6.b, kClient6.b).tcp(80, 40000).ip();
  const Bytes frames[] = {
      Pkt().ipv6(kClient6.b, kVip6.b).tcp(40000, 80).frame(),
      Pkt().ipv6("2001:db8:ff::1", "2001:db8:18::100").icmp_error(1, 0, reply).frame(),
  };
  for (const Bytes& f : frames)
    for (size_t cut = 0; cut < f.size(); ++cut) {
      uint32_t w = s.owner(Bytes(f.begin(), f.begin() + static_cast<long>(cut)));
      EXPECT_TRUE(w < kWorkers || w == kSelf);
    }
}

}  // namespace
}  // namespace fulcrum::dp
