// SYN cookies, the in-place frames of the proxied handshakes, the seq shifts and the side table
// of deltas (see synproxy.h).
#include "synproxy.h"

#include <cstring>
#include <new>

#include "checksum.h"
#include "mix.h"

namespace fulcrum {

namespace {

constexpr uint32_t kCookieMask = 0xffffff;

uint32_t cookie_hash(uint64_t secret, be32 saddr, be32 daddr, be16 sport, be16 dport, uint32_t salt) {
  uint64_t x = secret ^ (uint64_t{saddr} << 32 | daddr);
  uint64_t h = splitmix64(x);
  x = h ^ (uint64_t{sport} << 48 | uint64_t{dport} << 32 | salt);
  return static_cast<uint32_t>(splitmix64(x) >> 16);
}

// IPv6: the addresses' four words folded into one keyed digest once, then salted as IPv4's.
struct CookieKey6 {
  uint64_t digest;
  CookieKey6(uint64_t secret, const uint8_t* saddr, const uint8_t* daddr) {
    uint64_t w[4];
    std::memcpy(w, saddr, 16);
    std::memcpy(w + 2, daddr, 16);
    uint64_t x = secret ^ 0x6a09e667f3bcc908ull, h = 0;
    for (uint64_t v : w) {
      x ^= v ^ h;
      h = splitmix64(x);
    }
    digest = h;
  }
  uint32_t hash(be16 sport, be16 dport, uint32_t salt) const {
    uint64_t x = digest ^ (uint64_t{sport} << 48 | uint64_t{dport} << 32 | salt);
    return static_cast<uint32_t>(splitmix64(x) >> 16);
  }
};

}  // namespace

// The kernel's layout (net/ipv4/syncookies.c): hash1 + client ISN + (bucket << 24) + ((hash2(bucket)
// + mss index) & 0xffffff), so the bucket is read back from the top byte and the low 24 bits leave
// 22 bits of check.
uint32_t syn_cookie(uint64_t secret, be32 saddr, be32 daddr, be16 sport, be16 dport, uint32_t client_isn,
                    uint32_t mss_index, uint32_t now) {
  const uint32_t count = now / kCookieBucketTicks;
  return cookie_hash(secret, saddr, daddr, sport, dport, 0) + client_isn + (count << 24) +
         ((cookie_hash(secret, saddr, daddr, sport, dport, count) + mss_index) & kCookieMask);
}

int check_syn_cookie(uint64_t secret, be32 saddr, be32 daddr, be16 sport, be16 dport, uint32_t client_isn,
                     uint32_t cookie, uint32_t now) {
  const uint32_t t = cookie - cookie_hash(secret, saddr, daddr, sport, dport, 0) - client_isn;
  const uint32_t count = (now / kCookieBucketTicks) & 0xff, made = t >> 24;
  if (((count - made) & 0xff) > 1) return -1;
  // made is the bucket's low byte; the hash was salted with the whole bucket number.
  const uint32_t full = (now / kCookieBucketTicks) - ((count - made) & 0xff);
  const uint32_t idx = (t - cookie_hash(secret, saddr, daddr, sport, dport, full)) & kCookieMask;
  return idx < 4 ? static_cast<int>(idx) : -1;
}

uint32_t syn_cookie6(uint64_t secret, const uint8_t* saddr, const uint8_t* daddr, be16 sport, be16 dport,
                     uint32_t client_isn, uint32_t mss_index, uint32_t now) {
  const CookieKey6 k(secret, saddr, daddr);
  const uint32_t count = now / kCookieBucketTicks;
  return k.hash(sport, dport, 0) + client_isn + (count << 24) + ((k.hash(sport, dport, count) + mss_index) & kCookieMask);
}

int check_syn_cookie6(uint64_t secret, const uint8_t* saddr, const uint8_t* daddr, be16 sport, be16 dport,
                      uint32_t client_isn, uint32_t cookie, uint32_t now) {
  const CookieKey6 k(secret, saddr, daddr);
  const uint32_t t = cookie - k.hash(sport, dport, 0) - client_isn;
  const uint32_t count = (now / kCookieBucketTicks) & 0xff, made = t >> 24;
  if (((count - made) & 0xff) > 1) return -1;
  const uint32_t full = (now / kCookieBucketTicks) - ((count - made) & 0xff);
  const uint32_t idx = (t - k.hash(sport, dport, full)) & kCookieMask;
  return idx < 4 ? static_cast<int>(idx) : -1;
}

// Calls fn(option) for each TCP option of the segment with a length byte (kind, length, data),
// until fn returns false, the end-of-options kind or a malformed length stops the walk.
template <class Byte, class Fn>
static void each_tcp_option(Byte* f, const Parsed& p, Fn&& fn) {
  Byte* o = f + p.l4_off + 20;
  Byte* end = f + p.payload_off;
  while (o < end) {
    if (*o == 0) break;
    if (*o == 1) {
      ++o;
      continue;
    }
    if (o + 1 >= end || o[1] < 2 || o + o[1] > end) break;
    if (!fn(o)) break;
    o += o[1];
  }
}

uint16_t tcp_mss_option(const uint8_t* f, const Parsed& p) {
  uint16_t mss = 0;
  each_tcp_option(f, p, [&](const uint8_t* o) {
    if (*o == 2 && o[1] == 4) mss = static_cast<uint16_t>(o[2] << 8 | o[3]);
    return mss == 0;
  });
  return mss;
}

// The TCP header both rebuilds write (checksum 0: the caller's pseudo-header sums it): no
// options but MSS when one is given.
static void write_tcp(uint8_t* tcp, be16 sport, be16 dport, uint32_t seq, uint32_t ack, uint8_t flags, uint16_t mss,
               uint16_t win, uint32_t tcp_len) {
  store16(tcp, sport);
  store16(tcp + 2, dport);
  store32(tcp + 4, hton32(seq));
  store32(tcp + 8, hton32(ack));
  tcp[12] = static_cast<uint8_t>((tcp_len / 4) << 4);
  tcp[13] = flags;
  store16(tcp + 14, hton16(win));
  store16(tcp + 16, 0);
  store16(tcp + 18, 0);
  if (mss) {
    tcp[20] = 2;
    tcp[21] = 4;
    store16(tcp + 22, hton16(mss));
  }
}

DropReason tcp_rebuild_v4(PacketBuf& b, Parsed& p, be32 saddr, be16 sport, be32 daddr, be16 dport, uint32_t seq,
                          uint32_t ack, uint8_t flags, uint16_t mss, uint16_t win) {
  const uint32_t tcp_len = mss ? 24 : 20;
  const uint32_t end = p.l4_off + tcp_len;
  if (end > b.len + b.tailroom) return DropReason::ToaNoRoom;
  uint8_t* f = b.data;
  uint8_t* ip = f + p.l3_off;
  uint8_t* tcp = f + p.l4_off;
  const uint32_t ip_len = p.l4_off - p.l3_off + tcp_len;
  store16(ip + 2, hton16(static_cast<uint16_t>(ip_len)));
  store32(ip + 12, saddr);
  store32(ip + 16, daddr);
  store16(ip + 10, 0);
  store16(ip + 10, inet_csum(ip, p.l4_off - p.l3_off));
  write_tcp(tcp, sport, dport, seq, ack, flags, mss, win, tcp_len);
  store16(tcp + 16, csum_fold(csum_partial(tcp, tcp_len, pseudo_v4(saddr, daddr, kProtoTcp, tcp_len))));
  b.tailroom = b.tailroom + b.len - end;
  b.len = end;
  p.saddr = saddr;
  p.daddr = daddr;
  p.sport = sport;
  p.dport = dport;
  p.tcp_flags = flags;
  p.ip_tot_len = ip_len;
  p.l4_len = tcp_len;
  p.payload_off = end;
  p.payload_len = 0;
  return DropReason::None;
}

DropReason tcp_rebuild_v6(PacketBuf& b, Parsed& p, const uint8_t* saddr, be16 sport, const uint8_t* daddr, be16 dport,
                          uint32_t seq, uint32_t ack, uint8_t flags, uint16_t mss, uint16_t win) {
  const uint32_t tcp_len = mss ? 24 : 20;
  const uint32_t l4 = p.l3_off + kIpv6HdrLen;
  const uint32_t end = l4 + tcp_len;
  if (end > b.len + b.tailroom) return DropReason::ToaNoRoom;
  uint8_t src[16], dst[16];  // copies: they may be the frame's own
  std::memcpy(src, saddr, 16);
  std::memcpy(dst, daddr, 16);
  uint8_t* f = b.data;
  uint8_t* ip = f + p.l3_off;
  uint8_t* tcp = f + l4;
  store16(ip + 4, hton16(static_cast<uint16_t>(tcp_len)));
  ip[6] = kProtoTcp;
  std::memcpy(ip + 8, src, 16);
  std::memcpy(ip + 24, dst, 16);
  write_tcp(tcp, sport, dport, seq, ack, flags, mss, win, tcp_len);
  store16(tcp + 16, csum_fold(csum_partial(tcp, tcp_len, pseudo_v6(src, dst, kProtoTcp, tcp_len))));
  b.tailroom = b.tailroom + b.len - end;
  b.len = end;
  p.proto = kProtoTcp;
  p.ip_options = false;
  p.sport = sport;
  p.dport = dport;
  p.tcp_flags = flags;
  p.l4_off = l4;
  p.ip_tot_len = kIpv6HdrLen + tcp_len;
  p.l4_len = tcp_len;
  p.payload_off = end;
  p.payload_len = 0;
  return DropReason::None;
}

void synproxy_shift_out(uint8_t* f, const Parsed& p, uint32_t delta) {
  uint8_t* tcp = f + p.l4_off;
  const uint32_t old = load32(tcp + 4);
  const uint32_t nv = hton32(ntoh32(old) - delta);
  store32(tcp + 4, nv);
  store16(tcp + 16, csum_update32(load16(tcp + 16), old, nv));
}

void synproxy_shift_in(uint8_t* f, const Parsed& p, uint32_t delta) {
  uint8_t* tcp = f + p.l4_off;
  if (p.tcp_flags & kTcpAck) {
    const uint32_t old = load32(tcp + 8);
    const uint32_t nv = hton32(ntoh32(old) + delta);
    store32(tcp + 8, nv);
    store16(tcp + 16, csum_update32(load16(tcp + 16), old, nv));
  }
  // SACK blocks (kind 5) name the server's sequence space too. Proxied connections negotiate no
  // SACK, so this is for a peer that sends them anyway: the checksum is computed afresh then.
  bool sack = false;
  each_tcp_option(f, p, [&](uint8_t* o) {
    if (*o == 5)
      for (uint8_t* e = o + 2; e + 4 <= o + o[1]; e += 4) {
        const uint32_t v = (uint32_t{e[0]} << 24 | uint32_t{e[1]} << 16 | uint32_t{e[2]} << 8 | e[3]) + delta;
        e[0] = static_cast<uint8_t>(v >> 24);
        e[1] = static_cast<uint8_t>(v >> 16);
        e[2] = static_cast<uint8_t>(v >> 8);
        e[3] = static_cast<uint8_t>(v);
        sack = true;
      }
    return true;
  });
  if (sack) {
    const uint8_t* ip = f + p.l3_off;
    const uint32_t pseudo = p.family == 6 ? pseudo_v6(ip + 8, ip + 24, kProtoTcp, p.l4_len)
                                          : pseudo_v4(load32(ip + 12), load32(ip + 16), kProtoTcp, p.l4_len);
    store16(tcp + 16, 0);
    store16(tcp + 16, csum_fold(csum_partial(tcp, p.l4_len, pseudo)));
  }
}

SynProxyTable::SynProxyTable(uint32_t max_entries) {
  uint32_t cap = 16;
  shift_ = 28;
  while (cap < 2 * uint64_t{max_entries} && cap < (1u << 30)) {
    cap <<= 1;
    --shift_;
  }
  mask_ = cap - 1;
  max_ = cap / 2;
  bytes_ = size_t{cap} * sizeof(Entry);
  e_ = static_cast<Entry*>(alloc_.alloc(bytes_, 64, alloc_.ctx));
  if (!e_) throw std::bad_alloc();
  if (bytes_ < (size_t{1} << 20)) std::memset(static_cast<void*>(e_), 0, bytes_);  // mmap'd ones are zero
}

SynProxyTable::~SynProxyTable() { alloc_.free(e_, bytes_, alloc_.ctx); }

SynProxyTable::Entry* SynProxyTable::insert(uint32_t idx, uint32_t cookie) {
  if (size_ >= max_) return nullptr;
  uint32_t i = slot(idx);
  while (e_[i].idx_plus1 && e_[i].idx_plus1 != idx + 1) i = (i + 1) & mask_;
  if (!e_[i].idx_plus1) ++size_;
  e_[i] = {idx + 1, cookie, 0, 0};
  return &e_[i];
}

SynProxyTable::Entry* SynProxyTable::find(uint32_t idx) {
  for (uint32_t i = slot(idx);; i = (i + 1) & mask_) {
    if (e_[i].idx_plus1 == idx + 1) return &e_[i];
    if (!e_[i].idx_plus1) return nullptr;
  }
}

// Backward-shift deletion: no tombstones, so a probe always ends at an empty slot.
void SynProxyTable::erase(uint32_t idx) {
  uint32_t i = slot(idx);
  while (e_[i].idx_plus1 != idx + 1) {
    if (!e_[i].idx_plus1) return;
    i = (i + 1) & mask_;
  }
  --size_;
  for (uint32_t j = (i + 1) & mask_;; j = (j + 1) & mask_) {
    if (!e_[j].idx_plus1) break;
    const uint32_t home = slot(e_[j].idx_plus1 - 1);
    // e_[j] may move to i when its home is not in (i, j] (cyclically).
    if (((j - home) & mask_) >= ((j - i) & mask_)) {
      e_[i] = e_[j];
      i = j;
    }
  }
  e_[i] = {};
}

}  // namespace fulcrum
