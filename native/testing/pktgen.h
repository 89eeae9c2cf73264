// Test frame crafting for the packet core: a fluent builder for Ethernet (+VLAN) / IPv4 (with
// options, fragment bits) / IPv6 (extension headers) / TCP / UDP / ICMP / ICMPv6 frames with
// correct checksums, a buffer with head- and tailroom, and an independent checksum verifier
// (its own naive arithmetic, not checksum.h) so tests never grade the code with itself.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "packet.h"
#include "types.h"

namespace fulcrum::test {

using Bytes = std::vector<uint8_t>;
using Mac = std::array<uint8_t, 6>;
using Ip6 = std::array<uint8_t, 16>;

be32 ip4(const char* dotted);          // network order; aborts on a bad literal
Ip6 ip6(const char* text);
Mac mac(const char* text);             // "02:00:00:00:00:01"
inline be16 port(uint16_t host) { return hton16(host); }

// Builder. Defaults: 02:00:00:00:00:02 <- 02:00:00:00:00:01, TTL 64, id 0x1234, TCP seq 1000
// ack 0 window 65535. Call one L3 (ipv4/ipv6) and one L4 (tcp/udp/icmp*/raw_l4); payload
// after the L4 header. Everything is computed at frame() time, so setters may come in any order.
class Pkt {
 public:
  // L2
  Pkt& eth(const Mac& dst, const Mac& src);
  Pkt& vlan(uint16_t tci);
  Pkt& qinq(uint16_t outer_tci);        // an extra outer 802.1ad tag (0x88a8)
  Pkt& ethertype(uint16_t et);          // non-IP frames: no L3 is emitted, payload follows
  Pkt& pad_to(size_t frame_len);        // trailing Ethernet padding (zeros)
  // L3
  Pkt& ipv4(be32 src, be32 dst);
  Pkt& ipv4(const char* src, const char* dst) { return ipv4(ip4(src), ip4(dst)); }
  Pkt& ipv6(const Ip6& src, const Ip6& dst);
  Pkt& ipv6(const char* src, const char* dst) { return ipv6(ip6(src), ip6(dst)); }
  Pkt& ttl(uint8_t v);
  Pkt& tos(uint8_t v);                  // IPv4 TOS / IPv6 traffic class
  Pkt& ip_id(uint16_t v);
  Pkt& df(bool v = true);
  Pkt& mf(bool v = true);               // IPv4 MF
  Pkt& frag_offset(uint16_t units8);    // IPv4 fragment offset in 8-byte units
  Pkt& ip_options(const Bytes& opts);   // IPv4 options, padded with EOL to a multiple of 4
  Pkt& ipv6_ext(uint8_t type, const Bytes& body);  // hop-by-hop 0 / routing 43 / dest 60;
                                                   // body after (nh,len), padded to 8n
  Pkt& ipv6_frag(uint16_t off_units8, bool more, uint32_t ident = 1);
  // L4
  Pkt& tcp(uint16_t sport, uint16_t dport, uint8_t flags = kTcpAck);
  Pkt& seq(uint32_t v);
  Pkt& ack(uint32_t v);
  Pkt& win(uint16_t v);
  Pkt& tcp_options(const Bytes& opts);  // padded with EOL to a multiple of 4
  Pkt& udp(uint16_t sport, uint16_t dport);
  Pkt& udp_zero_csum();                 // send UDP checksum 0 ("none", IPv4)
  Pkt& icmp_echo(uint16_t id, uint16_t seq, bool reply = false);  // v4 8/0, v6 128/129
  Pkt& icmp(uint8_t type, uint8_t code, uint32_t rest = 0);      // raw header, rest = bytes 4-7
  // An error quoting `quoted` (an IP packet, e.g. other.ip()); quote is the payload.
  Pkt& icmp_error(uint8_t type, uint8_t code, const Bytes& quoted, uint32_t rest = 0);
  Pkt& raw_l4(uint8_t proto);           // no L4 header; payload is the whole IP payload
  Pkt& payload(const Bytes& b);
  Pkt& payload(std::string_view s);
  Pkt& payload_size(size_t n);          // n pattern bytes (i * 7 + 3)

  Bytes frame() const;  // the whole Ethernet frame
  Bytes ip() const;     // from the IP header on, without L2 or padding (for quoting)

 private:
  enum class L4 : uint8_t { None, Tcp, Udp, Icmp, Raw };
  Bytes build_l4(uint8_t& proto) const;
  Bytes build_l3() const;

  Mac dst_ = {2, 0, 0, 0, 0, 2};
  Mac src_ = {2, 0, 0, 0, 0, 1};
  int vlan_ = -1;
  int qinq_ = -1;
  int ethertype_ = -1;
  size_t pad_to_ = 0;
  int family_ = 0;
  be32 s4_ = 0, d4_ = 0;
  Ip6 s6_{}, d6_{};
  uint8_t ttl_ = 64, tos_ = 0;
  uint16_t id_ = 0x1234;
  bool df_ = false, mf_ = false;
  uint16_t frag_off_ = 0;
  Bytes ip_opts_;
  Bytes v6_ext_;  // serialised, next-header bytes patched at build
  std::vector<uint8_t> v6_ext_types_;
  std::vector<size_t> v6_ext_offs_;
  L4 l4_ = L4::None;
  uint8_t raw_proto_ = 0;
  uint16_t sport_ = 0, dport_ = 0;
  uint8_t flags_ = 0;
  uint32_t seq_ = 1000, ack_ = 0;
  uint16_t win_ = 65535;
  Bytes tcp_opts_;
  bool udp_zero_ = false;
  uint8_t icmp_type_ = 0, icmp_code_ = 0;
  uint8_t echo_ = 0;  // 1 request, 2 reply
  uint32_t icmp_rest_ = 0;
  Bytes payload_;
};

// A frame inside a buffer with head- and tailroom, as an mbuf would hold it. Not copyable
// (pb points into the storage).
class TestBuf {
 public:
  explicit TestBuf(const Bytes& frame, uint32_t headroom = 128, uint32_t tailroom = 2048);
  TestBuf(const TestBuf&) = delete;
  TestBuf& operator=(const TestBuf&) = delete;
  TestBuf(TestBuf&&) = default;
  PacketBuf pb;
  uint8_t* data() { return pb.data; }
  Bytes bytes() const { return Bytes(pb.data, pb.data + pb.len); }

 private:
  Bytes store_;
};

// Independent verification. Returns "" when every checksum in the frame is right: IPv4 header,
// TCP/UDP (UDP/IPv4 0 accepted), ICMP, ICMPv6, an IPIP or IPv6-in-IP payload recursively, and inside an ICMP
// error the quoted IPv4 header and, when the quote holds the whole quoted packet, its L4
// checksum. Otherwise a description of the first bad one.
std::string verify_checksums(const uint8_t* frame, size_t len);
inline std::string verify_checksums(const Bytes& f) { return verify_checksums(f.data(), f.size()); }

// Naive reference checksum (RFC 1071 by the book) over a byte string.
uint16_t ref_csum(const Bytes& b);  // host-order value to store big-endian

std::string hex(const Bytes& b);
// "" when equal, else the first differing offset and both byte strings around it.
std::string diff(const Bytes& got, const Bytes& want);

}  // namespace fulcrum::test
