// Neighbour discovery frames (nd.h) and the IPv6 neighbour table as specifications: what the
// dataplane writes is what a receiver accepts (RFC 4861's checks), an answer goes back to the
// asker with the right flags, and a malformed message is Bad (counted and dropped), never a
// crash and never taken for something else.
#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <random>
#include <vector>

#include "nd.h"
#include "neigh.h"

namespace fulcrum::dp {
namespace {

IpAddr a6(const char* s) {
  uint8_t b[16];
  EXPECT_EQ(inet_pton(AF_INET6, s, b), 1) << s;
  return IpAddr::from_v6(b);
}

const Mac kMine{{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}};
const Mac kPeer{{0x02, 0x00, 0x00, 0x00, 0x00, 0x22}};
const IpAddr kPortAddr = a6("2001:db8:1::1");
const IpAddr kPeerAddr = a6("2001:db8:1::22");

constexpr uint32_t kIp = 14;         // untagged: the IPv6 header's offset
constexpr uint32_t kIcmp = 14 + 40;  // the ICMPv6 header's

// Rewrites the checksum of a frame whose ICMPv6 part was changed by a test.
void fix_checksum(std::vector<uint8_t>& f, uint32_t ip = kIp) {
  uint8_t* icmp = f.data() + ip + 40;
  const uint32_t plen = uint32_t{f[ip + 4]} << 8 | f[ip + 5];
  icmp[2] = icmp[3] = 0;
  uint16_t c = nd_detail::icmp6_csum(f.data() + ip + 8, f.data() + ip + 24, icmp, plen);
  std::memcpy(icmp + 2, &c, 2);
}

std::vector<uint8_t> peer_ns(const IpAddr& target) {
  std::vector<uint8_t> f(128);
  f.resize(nd_write_ns(f.data(), kPeer, kPeerAddr, target));
  return f;
}

TEST(Nd, LinkLocalAddressIsTheMacsModifiedEui64AsTheKernelMakesIt) {
  EXPECT_EQ(in6_link_local(kMine), a6("fe80::5054:ff:fe12:3456"));
  EXPECT_TRUE(in6_is_link_local(in6_link_local(kMine)));
  EXPECT_FALSE(in6_is_link_local(kPortAddr));
}

TEST(Nd, SolicitationGoesToTheTargetsSolicitedNodeGroupAndParses) {
  std::vector<uint8_t> f = peer_ns(kPortAddr);
  ASSERT_EQ(f.size(), kNdFrameLen);
  EXPECT_EQ(in6_solicited_node(kPortAddr), a6("ff02::1:ff00:1"));
  const Mac group{{0x33, 0x33, 0xff, 0x00, 0x00, 0x01}};
  EXPECT_EQ(std::memcmp(f.data(), group.b, 6), 0);
  EXPECT_EQ(f[kIp + 7], 255);  // hop limit
  NdView v;
  ASSERT_EQ(nd_parse(f.data(), static_cast<uint32_t>(f.size()), v), NdParse::Ok);
  EXPECT_EQ(v.type, kNdNeighSolicit);
  EXPECT_EQ(v.target, kPortAddr);
  EXPECT_EQ(v.src, kPeerAddr);
  EXPECT_EQ(v.dst, a6("ff02::1:ff00:1"));
  ASSERT_TRUE(v.has_lladdr);
  EXPECT_EQ(v.lladdr, kPeer);
}

TEST(Nd, UnicastSolicitationConfirmsAStaleNeighbourDirectly) {
  std::vector<uint8_t> f(128);
  f.resize(nd_write_ns(f.data(), kMine, kPortAddr, kPeerAddr, &kPeer));
  NdView v;
  ASSERT_EQ(nd_parse(f.data(), static_cast<uint32_t>(f.size()), v), NdParse::Ok);
  EXPECT_EQ(v.dst, kPeerAddr);
  EXPECT_EQ(std::memcmp(f.data(), kPeer.b, 6), 0);
}

TEST(Nd, AnswerIsSolicitedAndOverridingToTheAskerWithOurMac) {
  std::vector<uint8_t> f = peer_ns(kPortAddr);
  NdView ns;
  ASSERT_EQ(nd_parse(f.data(), static_cast<uint32_t>(f.size()), ns), NdParse::Ok);
  f.resize(kNdFrameLen + 4);
  f.resize(nd_make_na(f.data(), ns, kMine));
  EXPECT_EQ(std::memcmp(f.data(), kPeer.b, 6), 0);
  EXPECT_EQ(std::memcmp(f.data() + 6, kMine.b, 6), 0);
  NdView na;
  ASSERT_EQ(nd_parse(f.data(), static_cast<uint32_t>(f.size()), na), NdParse::Ok);
  EXPECT_EQ(na.type, kNdNeighAdvert);
  EXPECT_EQ(na.flags, kNaSolicited | kNaOverride);
  EXPECT_EQ(na.src, kPortAddr);
  EXPECT_EQ(na.dst, kPeerAddr);
  EXPECT_EQ(na.target, kPortAddr);
  ASSERT_TRUE(na.has_lladdr);
  EXPECT_EQ(na.lladdr, kMine);
}

TEST(Nd, AnswerWithoutSourceOptionGoesToTheFramesSender) {
  std::vector<uint8_t> f = peer_ns(kPortAddr);
  f.resize(kIcmp + 24);  // drop the option
  f[kIp + 5] = 24;
  fix_checksum(f);
  NdView ns;
  ASSERT_EQ(nd_parse(f.data(), static_cast<uint32_t>(f.size()), ns), NdParse::Ok);
  EXPECT_FALSE(ns.has_lladdr);
  f.resize(kNdFrameLen + 4);
  f.resize(nd_make_na(f.data(), ns, kMine));
  EXPECT_EQ(std::memcmp(f.data(), kPeer.b, 6), 0);
}

TEST(Nd, DuplicateAddressDetectionIsDefendedToAllNodesUnsolicited) {
  std::vector<uint8_t> f = peer_ns(kPortAddr);
  std::memset(f.data() + kIp + 8, 0, 16);  // source ::
  f.resize(kIcmp + 24);                    // and no source link-layer option (RFC 4861 7.1.1)
  f[kIp + 5] = 24;
  fix_checksum(f);
  NdView ns;
  ASSERT_EQ(nd_parse(f.data(), static_cast<uint32_t>(f.size()), ns), NdParse::Ok);
  f.resize(kNdFrameLen + 4);
  f.resize(nd_make_na(f.data(), ns, kMine));
  NdView na;
  ASSERT_EQ(nd_parse(f.data(), static_cast<uint32_t>(f.size()), na), NdParse::Ok);
  EXPECT_EQ(na.dst, a6("ff02::1"));
  EXPECT_EQ(na.flags, kNaOverride);
  const Mac all{{0x33, 0x33, 0, 0, 0, 1}};
  EXPECT_EQ(std::memcmp(f.data(), all.b, 6), 0);
}

TEST(Nd, VlanTaggedSolicitationIsAnsweredOnTheSameVlan) {
  std::vector<uint8_t> u = peer_ns(kPortAddr);
  std::vector<uint8_t> f(u.begin(), u.begin() + 12);
  const uint8_t tag[4] = {0x81, 0x00, 0x00, 0x2a};
  f.insert(f.end(), tag, tag + 4);
  f.insert(f.end(), u.begin() + 12, u.end());
  NdView ns;
  ASSERT_EQ(nd_parse(f.data(), static_cast<uint32_t>(f.size()), ns), NdParse::Ok);
  EXPECT_EQ(ns.l2_len, 18u);
  f.resize(kNdFrameLen + 4);
  f.resize(nd_make_na(f.data(), ns, kMine));
  EXPECT_EQ(f[12], 0x81);
  EXPECT_EQ(f[15], 0x2a);
  NdView na;
  ASSERT_EQ(nd_parse(f.data(), static_cast<uint32_t>(f.size()), na), NdParse::Ok);
  EXPECT_EQ(na.type, kNdNeighAdvert);
}

TEST(Nd, UnsolicitedAdvertisementOverridesCachesOfAllNodes) {
  std::vector<uint8_t> f(kNdFrameLen);
  const IpAddr vip = a6("2001:db8:100::10");
  ASSERT_EQ(nd_write_unsolicited_na(f.data(), kMine, vip), kNdFrameLen);
  NdView v;
  ASSERT_EQ(nd_parse(f.data(), kNdFrameLen, v), NdParse::Ok);
  EXPECT_EQ(v.type, kNdNeighAdvert);
  EXPECT_EQ(v.flags, kNaOverride);
  EXPECT_EQ(v.src, vip);
  EXPECT_EQ(v.target, vip);
  EXPECT_EQ(v.dst, a6("ff02::1"));
  EXPECT_EQ(v.lladdr, kMine);
}

TEST(Nd, HopLimitOtherThan255IsBad) {
  std::vector<uint8_t> f = peer_ns(kPortAddr);
  f[kIp + 7] = 254;  // not part of the checksum: the frame is otherwise intact
  NdView v;
  EXPECT_EQ(nd_parse(f.data(), static_cast<uint32_t>(f.size()), v), NdParse::Bad);
}

TEST(Nd, WrongChecksumIsBad) {
  std::vector<uint8_t> f = peer_ns(kPortAddr);
  f[kIcmp + 2] ^= 0x01;
  NdView v;
  EXPECT_EQ(nd_parse(f.data(), static_cast<uint32_t>(f.size()), v), NdParse::Bad);
  f = peer_ns(kPortAddr);
  f[kIcmp + 8 + 15] ^= 0x10;  // the target, checksum not updated
  EXPECT_EQ(nd_parse(f.data(), static_cast<uint32_t>(f.size()), v), NdParse::Bad);
}

TEST(Nd, NonZeroCodeIsBad) {
  std::vector<uint8_t> f = peer_ns(kPortAddr);
  f[kIcmp + 1] = 1;
  fix_checksum(f);
  NdView v;
  EXPECT_EQ(nd_parse(f.data(), static_cast<uint32_t>(f.size()), v), NdParse::Bad);
}

TEST(Nd, BadOptionsAreBad) {
  NdView v;
  std::vector<uint8_t> f = peer_ns(kPortAddr);
  f[kIcmp + 25] = 0;  // option length 0: a receiver would loop forever
  fix_checksum(f);
  EXPECT_EQ(nd_parse(f.data(), static_cast<uint32_t>(f.size()), v), NdParse::Bad);
  f = peer_ns(kPortAddr);
  f[kIcmp + 25] = 2;  // 16 bytes, past the message's end
  fix_checksum(f);
  EXPECT_EQ(nd_parse(f.data(), static_cast<uint32_t>(f.size()), v), NdParse::Bad);
  f = peer_ns(kPortAddr);
  f.push_back(1);  // one byte of an option header
  f[kIp + 5] = 33;
  fix_checksum(f);
  EXPECT_EQ(nd_parse(f.data(), static_cast<uint32_t>(f.size()), v), NdParse::Bad);
}

TEST(Nd, MulticastTargetIsBad) {
  std::vector<uint8_t> f = peer_ns(a6("ff02::1"));
  NdView v;
  EXPECT_EQ(nd_parse(f.data(), static_cast<uint32_t>(f.size()), v), NdParse::Bad);
}

TEST(Nd, DadSolicitationWithSourceOptionIsBad) {
  std::vector<uint8_t> f = peer_ns(kPortAddr);
  std::memset(f.data() + kIp + 8, 0, 16);
  fix_checksum(f);
  NdView v;
  EXPECT_EQ(nd_parse(f.data(), static_cast<uint32_t>(f.size()), v), NdParse::Bad);
}

TEST(Nd, SolicitedAdvertisementToAMulticastGroupIsBad) {
  std::vector<uint8_t> f(kNdFrameLen);
  nd_write_unsolicited_na(f.data(), kMine, kPortAddr);
  f[kIcmp + 4] |= kNaSolicited;
  fix_checksum(f);
  NdView v;
  EXPECT_EQ(nd_parse(f.data(), kNdFrameLen, v), NdParse::Bad);
}

TEST(Nd, PayloadLengthPastTheFrameIsBad) {
  std::vector<uint8_t> f = peer_ns(kPortAddr);
  f[kIp + 5] = 40;
  NdView v;
  EXPECT_EQ(nd_parse(f.data(), static_cast<uint32_t>(f.size()), v), NdParse::Bad);
}

TEST(Nd, OtherFramesAreNotNd) {
  NdView v;
  std::vector<uint8_t> f = peer_ns(kPortAddr);
  f[kIcmp] = 128;  // echo request
  fix_checksum(f);
  EXPECT_EQ(nd_parse(f.data(), static_cast<uint32_t>(f.size()), v), NdParse::NotNd);
  f = peer_ns(kPortAddr);
  f[kIp + 6] = 6;  // TCP
  EXPECT_EQ(nd_parse(f.data(), static_cast<uint32_t>(f.size()), v), NdParse::NotNd);
  f = peer_ns(kPortAddr);
  f[12] = 0x08;  // IPv4
  f[13] = 0x00;
  EXPECT_EQ(nd_parse(f.data(), static_cast<uint32_t>(f.size()), v), NdParse::NotNd);
}

TEST(Nd, EveryTruncationIsNotNdOrBadNeverOk) {
  std::vector<uint8_t> whole = peer_ns(kPortAddr);
  for (uint32_t len = 0; len < whole.size(); ++len) {
    std::vector<uint8_t> f(whole.begin(), whole.begin() + len);  // exactly len bytes: ASan sees overreads
    NdView v;
    EXPECT_NE(nd_parse(f.data(), len, v), NdParse::Ok) << len;
  }
}

TEST(Nd, RandomBytesBehindAnNdHeaderNeverCrash) {
  std::mt19937 rng(7);
  std::vector<uint8_t> whole = peer_ns(kPortAddr);
  for (int round = 0; round < 20000; ++round) {
    std::vector<uint8_t> f = whole;
    f.resize(kIcmp + 4 + rng() % 80);
    for (size_t i = kIcmp + 4; i < f.size(); ++i) f[i] = static_cast<uint8_t>(rng());
    f[kIcmp] = static_cast<uint8_t>(133 + rng() % 5);
    const uint32_t plen = static_cast<uint32_t>(f.size() - kIcmp) + (rng() % 3 == 0 ? rng() % 16 : 0);
    f[kIp + 4] = static_cast<uint8_t>(plen >> 8);
    f[kIp + 5] = static_cast<uint8_t>(plen);
    if (plen <= f.size() - kIcmp) fix_checksum(f);
    NdView v;
    nd_parse(f.data(), static_cast<uint32_t>(f.size()), v);  // any answer, no crash, no overread
  }
}

// ---- the IPv6 neighbour table: NeighTableT's rules with ND's flags ------------------------------

int pkt[4];

TEST(Nd6Table, SolicitedAdvertisementResolvesAndReleasesTheQueue) {
  NeighTable6 t;
  auto r = t.resolve(0, kPeerAddr, 0, &pkt[0]);
  ASSERT_EQ(r.outcome, NeighTable6::Outcome::Queued);
  EXPECT_TRUE(r.request);
  std::vector<void*> sent;
  t.learn(0, kPeerAddr, kPeer, 5, false, false, true, [&](void* p, const Mac&) { sent.push_back(p); });
  EXPECT_EQ(sent, std::vector<void*>{&pkt[0]});
  auto ready = t.resolve(0, kPeerAddr, 6, &pkt[1]);
  ASSERT_EQ(ready.outcome, NeighTable6::Outcome::Ready);
  EXPECT_EQ(*ready.mac, kPeer);
  EXPECT_EQ(t.lookup(0, kPeerAddr)->state, NeighState::Reachable);
}

TEST(Nd6Table, AdvertisementWithoutOverrideDoesNotMoveAKnownNeighbour) {
  NeighTable6 t;
  t.learn(0, kPeerAddr, kPeer, 0, true, true, true, [](void*, const Mac&) {});
  const Mac other{{2, 0, 0, 0, 0, 0x99}};
  t.learn(0, kPeerAddr, other, 1, false, false, true, [](void*, const Mac&) {});
  EXPECT_EQ(t.lookup(0, kPeerAddr)->mac, kPeer);
  t.learn(0, kPeerAddr, other, 2, false, true, false, [](void*, const Mac&) {});  // O set, unsolicited
  EXPECT_EQ(t.lookup(0, kPeerAddr)->mac, other);
  EXPECT_EQ(t.lookup(0, kPeerAddr)->state, NeighState::Stale);  // moved, not yet confirmed
}

TEST(Nd6Table, SolicitationFromAKnownNeighbourDoesNotDemoteIt) {
  NeighTable6 t;
  t.learn(0, kPeerAddr, kPeer, 0, true, true, true, [](void*, const Mac&) {});
  t.learn(0, kPeerAddr, kPeer, 1, true, true, false, [](void*, const Mac&) {});
  EXPECT_EQ(t.lookup(0, kPeerAddr)->state, NeighState::Reachable);
}

TEST(Nd6Table, UnansweredSolicitationsGiveUpAndDropTheQueue) {
  NeighOptions o;
  o.capacity = 16;
  o.retrans_ms = 1000;
  o.max_probes = 3;
  o.sweep_ms = 1;
  NeighTable6 t(o);
  t.resolve(1, kPeerAddr, 0, &pkt[0]);
  int asked = 0, dropped = 0;
  for (uint64_t now = 1; now <= 5000; now += 100)
    t.tick(now, [&](uint16_t port, const IpAddr& ip, const Mac*) { asked += port == 1 && ip == kPeerAddr; },
           [&](void*) { ++dropped; });
  EXPECT_EQ(asked, 2);  // after the first: max_probes in all
  EXPECT_EQ(dropped, 1);
  EXPECT_EQ(t.lookup(1, kPeerAddr), nullptr);
}

}  // namespace
}  // namespace fulcrum::dp
