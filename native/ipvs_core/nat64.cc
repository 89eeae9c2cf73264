// NAT64 header translation (nat64.h). Per packet of a NAT64 connection, but out of the IPv4
// and IPv6 fast paths: the header is rebuilt whole (it changes size), the L4 checksum patched.
#include "nat64.h"

#include <cstring>

#include "checksum.h"

namespace fulcrum {

namespace {

void set_ethertype(uint8_t* f, const Parsed& p, uint16_t et) { store16(f + p.l2_len - 2, hton16(et)); }

// The L4 checksum field's offset in its header, 0 when the protocol has none we patch.
uint32_t csum_off(uint8_t proto) { return proto == kProtoTcp ? 16 : proto == kProtoUdp ? 6 : 0; }

}  // namespace

DropReason nat64_6to4(PacketBuf& b, Parsed& p, be32 saddr, be16 sport, be32 daddr, be16 dport, uint16_t ip_id) {
  if (p.family != 6) return DropReason::WrongFamily;
  if (p.proto != kProtoTcp && p.proto != kProtoUdp) return DropReason::L4Unsupported;
  uint8_t* f = b.data;
  uint8_t* l4 = f + p.l4_off;
  CsumDelta d;
  static constexpr uint8_t kZero[16] = {};
  d.add128(f + p.v6_saddr_off(), kZero);
  d.add128(f + p.v6_daddr_off(), kZero);
  d.add32(0, saddr);
  d.add32(0, daddr);
  d.add16(load16(l4), sport);
  d.add16(load16(l4 + 2), dport);
  store16(l4, sport);
  store16(l4 + 2, dport);
  if (p.proto == kProtoTcp)
    d.apply_at(l4 + 16);
  else
    d.apply_udp_at(l4 + 6);

  const uint8_t tclass = p.tos, hop = p.ttl, proto = p.proto;
  const uint32_t tot = kIpv4HdrLen + p.l4_len;
  const uint32_t shift = p.l4_off - kIpv4HdrLen - p.l3_off;  // 20 + extension headers
  uint8_t* const cap_end = b.data + b.len + b.tailroom;
  std::memmove(f + shift, f, p.l2_len);
  b.data += shift;
  b.headroom += shift;
  b.len = p.l3_off + tot;
  b.tailroom = static_cast<uint32_t>(cap_end - (b.data + b.len));
  set_ethertype(b.data, p, kEthIpv4);
  uint8_t* ip = b.data + p.l3_off;
  ip[0] = 0x45;
  ip[1] = tclass;
  store16(ip + 2, hton16(static_cast<uint16_t>(tot)));
  store16(ip + 4, hton16(ip_id));
  store16(ip + 6, hton16(0x4000));
  ip[8] = hop;
  ip[9] = proto;
  store16(ip + 10, 0);
  store32(ip + 12, saddr);
  store32(ip + 16, daddr);
  store16(ip + 10, inet_csum(ip, kIpv4HdrLen));
  return parse_frame(b.data, b.len, p);
}

DropReason nat64_4to6(PacketBuf& b, Parsed& p, const uint8_t* saddr, be16 sport, const uint8_t* daddr,
                      be16 dport) {
  if (p.family != 4) return DropReason::WrongFamily;
  if (p.proto != kProtoTcp && p.proto != kProtoUdp) return DropReason::L4Unsupported;
  const uint32_t ihl = p.ip_hdr_len();
  if (ihl < kIpv6HdrLen && b.headroom < kIpv6HdrLen - ihl) return DropReason::TunNoHeadroom;
  uint8_t src[16], dst[16];
  std::memcpy(src, saddr, 16);
  std::memcpy(dst, daddr, 16);
  uint8_t* l4 = b.data + p.l4_off;
  const uint8_t tos = p.tos, ttl = p.ttl, proto = p.proto;
  const uint32_t l4_len = p.l4_len;
  const uint32_t coff = csum_off(proto);
  if (proto == kProtoUdp && load16(l4 + 6) == 0) {
    // No checksum over IPv4; IPv6 requires one: computed over the translated packet.
    store16(l4, sport);
    store16(l4 + 2, dport);
    const uint16_t c = csum_fold(csum_partial(l4, l4_len, pseudo_v6(src, dst, proto, l4_len)));
    store16(l4 + 6, c == 0 ? 0xffff : c);
  } else {
    CsumDelta d;
    static constexpr uint8_t kZero[16] = {};
    d.add32(p.saddr, 0);
    d.add32(p.daddr, 0);
    d.add128(kZero, src);
    d.add128(kZero, dst);
    d.add16(load16(l4), sport);
    d.add16(load16(l4 + 2), dport);
    store16(l4, sport);
    store16(l4 + 2, dport);
    if (proto == kProtoTcp)
      d.apply_at(l4 + coff);
    else
      d.apply_udp_at(l4 + coff);
  }

  uint8_t* const cap_end = b.data + b.len + b.tailroom;
  const uint32_t l3_off = p.l3_off, l2_len = p.l2_len;
  uint8_t* new_data = l4 - kIpv6HdrLen - l2_len;
  std::memmove(new_data, b.data, l2_len);
  b.headroom = static_cast<uint32_t>(b.headroom - (b.data - new_data));
  b.data = new_data;
  b.len = l3_off + kIpv6HdrLen + l4_len;
  b.tailroom = static_cast<uint32_t>(cap_end - (b.data + b.len));
  set_ethertype(b.data, p, kEthIpv6);
  uint8_t* ip = b.data + l3_off;
  store32(ip, hton32(0x60000000u | (uint32_t{tos} << 20)));
  store16(ip + 4, hton16(static_cast<uint16_t>(l4_len)));
  ip[6] = proto;
  ip[7] = ttl;
  std::memcpy(ip + 8, src, 16);
  std::memcpy(ip + 24, dst, 16);
  return parse_frame(b.data, b.len, p);
}

}  // namespace fulcrum
