// SYN proxy (DPVS's synproxy) for services that ask for it: the director answers a client's SYN
// itself with a SYN-ACK whose sequence number is a SYN cookie (keyed by a director-wide secret,
// the 64-second time bucket and the 4-tuple, the client's MSS encoded in it), so a SYN costs no
// table entry. Only the client's ACK that returns a valid cookie is scheduled: the director then
// opens the connection to the real server with the client's ISN, completes that handshake itself
// when the server's SYN-ACK comes, and from then on shifts sequence numbers between the two
// halves: server -> client seq - delta, client -> server ack + delta (delta = the server's ISN -
// the cookie), SACK blocks in the client's ACKs too. IPv4 and IPv6 clients alike (IPv6 ones to
// IPv6 servers, or to IPv4 ones through NAT64).
//
// What this file owns: the cookie, the in-place frame builders, the seq shifts, and the side
// table of the proxied connections' deltas (connections that are not proxied carry nothing: one
// bit of their record says whether to look here). Only the MSS option is negotiated (as the
// kernel's cookies without timestamps): no window scaling, SACK or timestamps on proxied
// connections.
#pragma once

#include <cstdint>

#include "conn_table.h"
#include "drop_reason.h"
#include "checksum.h"
#include "packet.h"

namespace fulcrum {

// ---- cookies -------------------------------------------------------------------------------------
// The MSS values a cookie can carry (its 2-bit index): the largest not above the client's.
constexpr uint16_t kSynProxyMss[4] = {536, 1220, 1440, 1460};
// Cookie time buckets of 64 s (in 10 ms ticks); an ACK is accepted up to one bucket late.
constexpr uint32_t kCookieBucketTicks = 6400;

uint32_t syn_cookie(uint64_t secret, be32 saddr, be32 daddr, be16 sport, be16 dport, uint32_t client_isn,
                    uint32_t mss_index, uint32_t now);
// The MSS index a valid cookie encodes, or -1 (forged, for another tuple or ISN, or too old).
int check_syn_cookie(uint64_t secret, be32 saddr, be32 daddr, be16 sport, be16 dport, uint32_t client_isn,
                     uint32_t cookie, uint32_t now);
// The same over IPv6 addresses (16 bytes each): the kernel's layout, the 4-tuple's 288 bits
// folded through the same keyed mix.
uint32_t syn_cookie6(uint64_t secret, const uint8_t* saddr, const uint8_t* daddr, be16 sport, be16 dport,
                     uint32_t client_isn, uint32_t mss_index, uint32_t now);
int check_syn_cookie6(uint64_t secret, const uint8_t* saddr, const uint8_t* daddr, be16 sport, be16 dport,
                      uint32_t client_isn, uint32_t cookie, uint32_t now);
// The MSS option of a SYN (0 when absent).
uint16_t tcp_mss_option(const uint8_t* frame, const Parsed& p);

// ---- frames --------------------------------------------------------------------------------------
// Rewrites the IPv4 TCP segment in place as a bare one: the given addresses, ports, seq/ack and
// flags, an MSS option when mss != 0, no payload, window `win`; checksums computed afresh and
// b.len set. Needs 4 bytes of tailroom past the TCP header when the segment had no options.
// Fails (frame untouched) with ToaNoRoom when it cannot grow.
DropReason tcp_rebuild_v4(PacketBuf& b, Parsed& p, be32 saddr, be16 sport, be32 daddr, be16 dport, uint32_t seq,
                          uint32_t ack, uint8_t flags, uint16_t mss, uint16_t win);

// The same for an IPv6 segment: the IPv6 header keeps its first word and hop limit, loses any
// extension headers (the TCP header follows it); payload length and checksum set. The addresses
// may point into the frame.
DropReason tcp_rebuild_v6(PacketBuf& b, Parsed& p, const uint8_t* saddr, be16 sport, const uint8_t* daddr, be16 dport,
                          uint32_t seq, uint32_t ack, uint8_t flags, uint16_t mss, uint16_t win);

// Shifts a segment's seq (server -> client: seq - delta) or ack and SACK blocks (client -> server:
// + delta), checksum kept incrementally. Either family.
void synproxy_shift_out(uint8_t* frame, const Parsed& p, uint32_t delta);
void synproxy_shift_in(uint8_t* frame, const Parsed& p, uint32_t delta);

// ---- the proxied connections ---------------------------------------------------------------------
// Per connection (by table slot): the cookie the client took as the server's ISN, and once the
// server has answered, delta. Open addressing over a lazily backed mmap (pages are touched only by
// proxied connections); full at half its entries, then a new proxied connection is refused.
class SynProxyTable {
 public:
  explicit SynProxyTable(uint32_t max_entries);
  ~SynProxyTable();
  SynProxyTable(const SynProxyTable&) = delete;
  SynProxyTable& operator=(const SynProxyTable&) = delete;

  struct Entry {
    uint32_t idx_plus1;  // 0 = empty
    uint32_t cookie;     // our ISN as the client knows it
    uint32_t delta;      // server ISN - cookie, once known
    uint32_t known;      // the server has answered: delta holds
  };
  Entry* insert(uint32_t idx, uint32_t cookie);  // nullptr: full
  Entry* find(uint32_t idx);
  void erase(uint32_t idx);
  uint32_t size() const { return size_; }
  size_t memory_bytes() const { return bytes_; }

 private:
  uint32_t slot(uint32_t idx) const { return (idx * 0x9e3779b1u) >> shift_; }
  Entry* e_ = nullptr;
  uint32_t mask_ = 0, shift_ = 0, size_ = 0, max_ = 0;
  size_t bytes_ = 0;
  TableAllocator alloc_ = default_table_allocator();
};

// An Entry's `known` word, as both families' proxies (engine_synproxy.cc, engine_synproxy6.cc)
// read it: bit 0 the server has answered (delta holds), bits 1-2 the client's MSS index, bits
// 3-10 the held frame's place + 1 (0: none), bits 16-31 the client's window.
namespace synproxy_bits {
inline constexpr uint32_t kKnown = 1;
inline constexpr uint32_t kHeldBits = 0xffu << 3;
inline uint32_t mss_index(uint32_t bits) { return (bits >> 1) & 3; }
inline uint16_t client_window(uint32_t bits) { return static_cast<uint16_t>(bits >> 16); }
inline uint32_t held_of(uint32_t bits) { return (bits >> 3) & 0xff; }
inline uint32_t seq_of(const uint8_t* f, const Parsed& p) { return ntoh32(load32(f + p.l4_off + 4)); }
inline uint32_t ack_of(const uint8_t* f, const Parsed& p) { return ntoh32(load32(f + p.l4_off + 8)); }
}  // namespace synproxy_bits

}  // namespace fulcrum
