// ARP on raw Ethernet frames: read a request or reply, turn a request into our answer in place,
// and write requests (including gratuitous ones). Byte-buffer code with no DPDK in it, so the
// neighbour logic and its tests need no EAL.
#pragma once

#include <cstdint>
#include <cstring>

#include "types.h"

namespace fulcrum::dp {

struct Mac {
  uint8_t b[6] = {};
  bool operator==(const Mac& o) const { return std::memcmp(b, o.b, 6) == 0; }
  bool is_zero() const { static const uint8_t z[6] = {}; return std::memcmp(b, z, 6) == 0; }
};
inline const Mac kBroadcast{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};

enum : uint16_t { kArpRequest = 1, kArpReply = 2 };

constexpr uint32_t kArpFrameLen = 14 + 28;  // untagged Ethernet + IPv4-over-Ethernet ARP
constexpr uint32_t kMinFrameLen = 60;       // Ethernet minimum without FCS: pad to this

struct ArpView {
  uint16_t op = 0;
  Mac sha;      // sender hardware address
  be32 spa = 0; // sender protocol address
  Mac tha;
  be32 tpa = 0;
  uint32_t l2_len = 14;  // 18 with a VLAN tag
};

// The Ethernet header's length (14, or 18 with one VLAN tag) and the ethertype after it; 0
// when the frame is too short to say.
inline uint32_t frame_l2(const uint8_t* f, uint32_t len, uint16_t& et) {
  if (len < 14) return 0;
  et = static_cast<uint16_t>(f[12] << 8 | f[13]);
  if (et != 0x8100) return 14;
  if (len < 18) return 0;
  et = static_cast<uint16_t>(f[16] << 8 | f[17]);
  return 18;
}

// Reads an Ethernet/IPv4 ARP packet; false when the frame is not one (wrong types, truncated).
inline bool arp_parse(const uint8_t* f, uint32_t len, ArpView& a) {
  uint16_t et = 0;
  const uint32_t l2 = frame_l2(f, len, et);
  if (!l2 || et != 0x0806 || len < l2 + 28) return false;
  const uint8_t* p = f + l2;
  // htype 1 (Ethernet), ptype 0x0800, hlen 6, plen 4
  if (p[0] != 0 || p[1] != 1 || p[2] != 8 || p[3] != 0 || p[4] != 6 || p[5] != 4) return false;
  a.op = static_cast<uint16_t>(p[6] << 8 | p[7]);
  std::memcpy(a.sha.b, p + 8, 6);
  std::memcpy(&a.spa, p + 14, 4);
  std::memcpy(a.tha.b, p + 18, 6);
  std::memcpy(&a.tpa, p + 24, 4);
  a.l2_len = l2;
  return true;
}

// Rewrites a parsed request in place into the reply "tpa is at `mine`", addressed to the asker.
inline void arp_make_reply(uint8_t* f, const ArpView& a, const Mac& mine) {
  std::memcpy(f, a.sha.b, 6);
  std::memcpy(f + 6, mine.b, 6);
  uint8_t* p = f + a.l2_len;
  p[6] = 0;
  p[7] = kArpReply;
  std::memcpy(p + 8, mine.b, 6);
  std::memcpy(p + 14, &a.tpa, 4);
  std::memcpy(p + 18, a.sha.b, 6);
  std::memcpy(p + 24, &a.spa, 4);
}

// Writes a broadcast request "who has tpa, tell spa" into f (kMinFrameLen bytes; returns the
// length). spa == tpa makes it gratuitous (announcing spa at `mine`).
inline uint32_t arp_write_request(uint8_t* f, const Mac& mine, be32 spa, be32 tpa, const Mac& dst = kBroadcast) {
  std::memset(f, 0, kMinFrameLen);
  std::memcpy(f, dst.b, 6);
  std::memcpy(f + 6, mine.b, 6);
  f[12] = 0x08;
  f[13] = 0x06;
  uint8_t* p = f + 14;
  p[1] = 1;
  p[2] = 8;
  p[4] = 6;
  p[5] = 4;
  p[7] = kArpRequest;
  std::memcpy(p + 8, mine.b, 6);
  std::memcpy(p + 14, &spa, 4);
  std::memcpy(p + 24, &tpa, 4);
  return kMinFrameLen;
}

}  // namespace fulcrum::dp
