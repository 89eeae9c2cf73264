// Vocabulary shared by every part of the packet core: addresses, protocols, forwarding
// methods, scheduler names and the per-worker load a scheduler reads. Kept free of logic so
// that parse, sched, conn and engine can all include it without pulling each other in.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>

namespace fulcrum {

// IPv4 addresses travel through the core in network byte order, exactly as on the wire, so the
// hot path never swaps. Hash functions that the kernel defines on host order call ntohl.
using be32 = uint32_t;
using be16 = uint16_t;

inline uint32_t ntoh32(be32 v) { return __builtin_bswap32(v); }
inline be32 hton32(uint32_t v) { return __builtin_bswap32(v); }
inline uint16_t ntoh16(be16 v) { return __builtin_bswap16(v); }
inline be16 hton16(uint16_t v) { return __builtin_bswap16(v); }

// A 128-bit address. IPv4 is held IPv4-mapped (::ffff:a.b.c.d) so config and snapshots are
// family-agnostic from day one; the IPv4 fast path extracts v4() once.
struct IpAddr {
  using Bytes = std::array<uint8_t, 16>;
  Bytes b{};

  static IpAddr from_v4(be32 a) {
    IpAddr r;
    r.b[10] = 0xff;
    r.b[11] = 0xff;
    std::memcpy(&r.b[12], &a, 4);
    return r;
  }
  static IpAddr from_v6(const uint8_t* p) {
    IpAddr r;
    std::memcpy(r.b.data(), p, 16);
    return r;
  }
  bool is_v4() const {
    static constexpr uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return std::memcmp(b.data(), prefix, 12) == 0;
  }
  be32 v4() const {
    be32 a;
    std::memcpy(&a, &b[12], 4);
    return a;
  }
  bool operator==(const IpAddr& o) const { return eq16(b.data(), o.b.data()); }
  bool operator!=(const IpAddr& o) const { return !eq16(b.data(), o.b.data()); }

  // Two 16-byte addresses equal: two 8-byte loads each. GCC left std::array's == and
  // memcmp(.., 16) as calls to libc's memcmp on the IPv6 packet path (6% of an IPv6 packet's
  // time in the dataplane bench).
  static bool eq16(const uint8_t* x, const uint8_t* y) {
    uint64_t x0, x1, y0, y1;
    std::memcpy(&x0, x, 8);
    std::memcpy(&x1, x + 8, 8);
    std::memcpy(&y0, y, 8);
    std::memcpy(&y1, y + 8, 8);
    return ((x0 ^ y0) | (x1 ^ y1)) == 0;
  }
};

// IP protocol numbers (IANA), as the kernel's IPPROTO_*.
enum : uint8_t {
  kProtoIcmp = 1,
  kProtoIpip = 4,
  kProtoTcp = 6,
  kProtoUdp = 17,
  kProtoIcmpv6 = 58,
  kProtoSctp = 132,
};

// The first plen bits of `a` (an IPv6 -M prefix length or a rule's prefix, 0..128), the rest 0.
inline IpAddr ip6_prefix(const IpAddr& a, uint32_t plen) {
  IpAddr r;
  for (uint32_t i = 0; i < 16; ++i) {
    const uint32_t bits = plen >= 8 * (i + 1) ? 8 : plen > 8 * i ? plen - 8 * i : 0;
    r.b[i] = static_cast<uint8_t>(a.b[i] & static_cast<uint8_t>(0xff00u >> bits));
  }
  return r;
}

// Forwarding methods. The first four carry the kernel's IP_VS_CONN_F_FWD_MASK values so that
// config and listings map one to one; FullNat is Fulcrum's (as DPVS's FNAT).
enum class FwdMethod : uint8_t {
  Masq = 0,
  Local = 1,
  Tunnel = 2,
  Route = 3,
  FullNat = 5,
};

enum class SchedKind : uint8_t {
  Rr,
  Wrr,
  Lc,
  Wlc,
  Sed,
  Nq,
  Lblc,
  Lblcr,
  Dh,
  Sh,
  Mh,
  Fo,
  Ovf,
  Twos,
};

// Service flags with the kernel's IP_VS_SVC_F_* values (include/uapi/linux/ip_vs.h).
enum : uint32_t {
  kSvcPersistent = 0x0001,
  kSvcOnePacket = 0x0004,
  kSvcSched1 = 0x0008,  // sh-fallback / mh-fallback
  kSvcSched2 = 0x0010,  // sh-port / mh-port
  kSvcSched3 = 0x0020,
  kSvcSynProxy = 0x8000,  // DPVS's IP_VS_SVC_F_SYNPROXY: the director answers SYNs (synproxy.h)
};

// Dest ids and service ids are small stable integers chosen by the control side; per-worker
// arrays (load, stats, scheduler state) are indexed by them. They are runtime-bounded, not
// compile-time: the arrays are sized from the config at start.
// DestIds have 20 bits: a connection record keeps them in 16 + 4 bits (conn.h), enough for
// 10,000 services with 100 real servers each.
using DestId = uint32_t;
using SvcId = uint16_t;
constexpr DestId kNoDest = 0xfffff;
constexpr uint32_t kMaxDests = kNoDest;  // ids 0 .. kMaxDests - 1

// What a scheduler needs to know about one real server: its configuration as of the current
// snapshot. Immutable once published.
struct DestSnap {
  IpAddr addr;
  uint16_t port = 0;  // host order
  FwdMethod fwd = FwdMethod::Route;
  int32_t weight = 1;       // 0 = quiesced
  int32_t last_weight = 1;  // most recent non-zero weight (mh keeps slots by it)
  uint32_t u_threshold = 0; // 0 = unset
  uint32_t l_threshold = 0; // 0 = unset
  DestId id = kNoDest;
  SvcId svc = 0;
  bool available = true;    // false once deleted (kept while connections refer to it)
  // Which server holds the id: assigned by the snapshot builder, kept while the id names the
  // same server (service key, address and port, even across a delete and re-add, as the
  // kernel's dest trash), new when the control side gives the id to another server. Workers
  // start a new incarnation's counters at zero; entries carry its low 8 bits (conn.h).
  uint32_t incarnation = 0;
  uint64_t svc_key = 0;     // the service's key (service_key()) when the dest was last present
};

// The per-DestId configuration as schedulers and the engine read it: chunks of 64 DestSnaps
// (a snapshot shares the chunks a change does not touch with its predecessor; cow_array.h).
constexpr unsigned kDestChunkBits = 6;
struct DestTable {
  const DestSnap* const* chunks = nullptr;
  const DestSnap& operator[](DestId id) const {
    return chunks[id >> kDestChunkBits][id & ((1u << kDestChunkBits) - 1)];
  }
};

// A service's identity: proto/VIP/port, or its fwmark. Exact for IPv4 VIPs and fwmarks; for an
// IPv6 VIP a 62-bit digest of proto/VIP/port (bit 62 set), which the snapshot only ever uses
// together with the address itself (its IPv6 index and duplicate checks compare all 16 bytes).
inline uint64_t service_key(uint8_t proto, const IpAddr& vip, uint16_t port, uint32_t fwmark, bool fwmark_v6 = false) {
  if (fwmark) return (uint64_t{1} << 63) | (uint64_t{fwmark_v6} << 62) | fwmark;
  if (!vip.is_v4()) {
    uint64_t h = (uint64_t{proto} << 16 | port) * 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < 16; i += 8) {
      uint64_t w;
      std::memcpy(&w, &vip.b[i], 8);
      h = (h ^ w) * 0xff51afd7ed558ccdull;
      h ^= h >> 29;
    }
    return (uint64_t{1} << 62) | (h >> 2);
  }
  return (uint64_t{proto} << 48) | (uint64_t{port} << 32) | vip.v4();
}

// Per-worker, per-dest load as the scheduler sees it. Owned by one worker: plain integers.
struct DestLoad {
  uint32_t active = 0;    // TCP/SCTP connections in ESTABLISHED
  uint32_t inactive = 0;  // every other non-template connection
  uint32_t persist = 0;   // persistence templates pointing at the dest
  bool overload = false;  // IP_VS_DEST_F_OVERLOAD, set/cleared by thresholds
};

}  // namespace fulcrum
