// Test frame builder and independent checksum verifier (see pktgen.h). Deliberately naive
// byte-at-a-time arithmetic, sharing nothing with checksum.h.
#include "pktgen.h"

#include <arpa/inet.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace fulcrum::test {
namespace {

void put16(Bytes& b, uint16_t v) {
  b.push_back(uint8_t(v >> 8));
  b.push_back(uint8_t(v));
}
void put32(Bytes& b, uint32_t v) {
  put16(b, uint16_t(v >> 16));
  put16(b, uint16_t(v));
}
void put_be32(Bytes& b, be32 v) {  // already network order in memory
  const uint8_t* p = reinterpret_cast<const uint8_t*>(&v);
  b.insert(b.end(), p, p + 4);
}
uint16_t get16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }
void set16(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v >> 8);
  p[1] = uint8_t(v);
}
void append(Bytes& a, const Bytes& b) { a.insert(a.end(), b.begin(), b.end()); }
void pad4(Bytes& b) {
  while (b.size() % 4) b.push_back(0);
}

uint32_t ref_sum(const uint8_t* p, size_t n, uint32_t s = 0) {
  for (size_t i = 0; i < n; i += 2) {
    uint32_t w = uint32_t(p[i]) << 8;
    if (i + 1 < n) w |= p[i + 1];
    s += w;
  }
  return s;
}
uint16_t ref_fold(uint32_t s) {
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return uint16_t(~s);
}

Bytes pseudo4(const uint8_t* src, const uint8_t* dst, uint8_t proto, size_t len) {
  Bytes b(12, 0);
  std::memcpy(&b[0], src, 4);
  std::memcpy(&b[4], dst, 4);
  b[9] = proto;
  set16(&b[10], uint16_t(len));
  return b;
}
Bytes pseudo6(const uint8_t* src, const uint8_t* dst, uint8_t proto, size_t len) {
  Bytes b(40, 0);
  std::memcpy(&b[0], src, 16);
  std::memcpy(&b[16], dst, 16);
  set16(&b[32], uint16_t(len >> 16));
  set16(&b[34], uint16_t(len));
  b[39] = proto;
  return b;
}
// Checksum over pseudo-header + data.
uint16_t csum_with(const Bytes& pseudo, const uint8_t* d, size_t n) {
  return ref_fold(ref_sum(d, n, ref_sum(pseudo.data(), pseudo.size())));
}

}  // namespace

uint16_t ref_csum(const Bytes& b) { return ref_fold(ref_sum(b.data(), b.size())); }

be32 ip4(const char* s) {
  in_addr a{};
  if (inet_pton(AF_INET, s, &a) != 1) {
    std::fprintf(stderr, "pktgen: bad IPv4 literal %s\n", s);
    std::abort();
  }
  return a.s_addr;
}
Ip6 ip6(const char* s) {
  Ip6 r{};
  if (inet_pton(AF_INET6, s, r.data()) != 1) {
    std::fprintf(stderr, "pktgen: bad IPv6 literal %s\n", s);
    std::abort();
  }
  return r;
}
Mac mac(const char* s) {
  Mac m{};
  unsigned v[6];
  if (std::sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6) {
    std::fprintf(stderr, "pktgen: bad MAC %s\n", s);
    std::abort();
  }
  for (int i = 0; i < 6; ++i) m[i] = uint8_t(v[i]);
  return m;
}

Pkt& Pkt::eth(const Mac& dst, const Mac& src) { dst_ = dst; src_ = src; return *this; }
Pkt& Pkt::vlan(uint16_t tci) { vlan_ = tci; return *this; }
Pkt& Pkt::qinq(uint16_t tci) { qinq_ = tci; return *this; }
Pkt& Pkt::ethertype(uint16_t et) { ethertype_ = et; return *this; }
Pkt& Pkt::pad_to(size_t n) { pad_to_ = n; return *this; }
Pkt& Pkt::ipv4(be32 s, be32 d) { family_ = 4; s4_ = s; d4_ = d; return *this; }
Pkt& Pkt::ipv6(const Ip6& s, const Ip6& d) { family_ = 6; s6_ = s; d6_ = d; return *this; }
Pkt& Pkt::ttl(uint8_t v) { ttl_ = v; return *this; }
Pkt& Pkt::tos(uint8_t v) { tos_ = v; return *this; }
Pkt& Pkt::ip_id(uint16_t v) { id_ = v; return *this; }
Pkt& Pkt::df(bool v) { df_ = v; return *this; }
Pkt& Pkt::mf(bool v) { mf_ = v; return *this; }
Pkt& Pkt::frag_offset(uint16_t v) { frag_off_ = v; return *this; }
Pkt& Pkt::ip_options(const Bytes& o) { ip_opts_ = o; pad4(ip_opts_); return *this; }
Pkt& Pkt::ipv6_ext(uint8_t type, const Bytes& body) {
  v6_ext_types_.push_back(type);
  v6_ext_offs_.push_back(v6_ext_.size());
  Bytes h = {0, 0};
  append(h, body);
  while (h.size() % 8) h.push_back(0);
  h[1] = uint8_t(h.size() / 8 - 1);
  append(v6_ext_, h);
  return *this;
}
Pkt& Pkt::ipv6_frag(uint16_t off, bool more, uint32_t ident) {
  v6_ext_types_.push_back(44);
  v6_ext_offs_.push_back(v6_ext_.size());
  Bytes h = {0, 0};
  put16(h, uint16_t(off << 3 | (more ? 1 : 0)));
  put32(h, ident);
  append(v6_ext_, h);
  return *this;
}
Pkt& Pkt::tcp(uint16_t s, uint16_t d, uint8_t flags) {
  l4_ = L4::Tcp; sport_ = s; dport_ = d; flags_ = flags; return *this;
}
Pkt& Pkt::seq(uint32_t v) { seq_ = v; return *this; }
Pkt& Pkt::ack(uint32_t v) { ack_ = v; return *this; }
Pkt& Pkt::win(uint16_t v) { win_ = v; return *this; }
Pkt& Pkt::tcp_options(const Bytes& o) { tcp_opts_ = o; pad4(tcp_opts_); return *this; }
Pkt& Pkt::udp(uint16_t s, uint16_t d) { l4_ = L4::Udp; sport_ = s; dport_ = d; return *this; }
Pkt& Pkt::udp_zero_csum() { udp_zero_ = true; return *this; }
Pkt& Pkt::icmp_echo(uint16_t id, uint16_t sq, bool reply) {
  l4_ = L4::Icmp;
  echo_ = reply ? 2 : 1;  // the type depends on the family, known at build
  icmp_code_ = 0;
  icmp_rest_ = uint32_t(id) << 16 | sq;
  return *this;
}
Pkt& Pkt::icmp(uint8_t type, uint8_t code, uint32_t rest) {
  l4_ = L4::Icmp; echo_ = 0; icmp_type_ = type; icmp_code_ = code; icmp_rest_ = rest; return *this;
}
Pkt& Pkt::icmp_error(uint8_t type, uint8_t code, const Bytes& quoted, uint32_t rest) {
  icmp(type, code, rest);
  payload_ = quoted;
  return *this;
}
Pkt& Pkt::raw_l4(uint8_t proto) { l4_ = L4::Raw; raw_proto_ = proto; return *this; }
Pkt& Pkt::payload(const Bytes& b) { payload_ = b; return *this; }
Pkt& Pkt::payload(std::string_view s) { payload_.assign(s.begin(), s.end()); return *this; }
Pkt& Pkt::payload_size(size_t n) {
  payload_.resize(n);
  for (size_t i = 0; i < n; ++i) payload_[i] = uint8_t(i * 7 + 3);
  return *this;
}

Bytes Pkt::build_l4(uint8_t& proto) const {
  Bytes b;
  const uint8_t* s = family_ == 4 ? reinterpret_cast<const uint8_t*>(&s4_) : s6_.data();
  const uint8_t* d = family_ == 4 ? reinterpret_cast<const uint8_t*>(&d4_) : d6_.data();
  auto pseudo = [&](uint8_t pr, size_t len) {
    return family_ == 4 ? pseudo4(s, d, pr, len) : pseudo6(s, d, pr, len);
  };
  switch (l4_) {
    case L4::Tcp: {
      proto = kProtoTcp;
      put16(b, sport_);
      put16(b, dport_);
      put32(b, seq_);
      put32(b, ack_);
      b.push_back(uint8_t(((20 + tcp_opts_.size()) / 4) << 4));
      b.push_back(flags_);
      put16(b, win_);
      put16(b, 0);
      put16(b, 0);
      append(b, tcp_opts_);
      append(b, payload_);
      set16(&b[16], csum_with(pseudo(proto, b.size()), b.data(), b.size()));
      break;
    }
    case L4::Udp: {
      proto = kProtoUdp;
      put16(b, sport_);
      put16(b, dport_);
      put16(b, uint16_t(8 + payload_.size()));
      put16(b, 0);
      append(b, payload_);
      if (!udp_zero_) {
        uint16_t c = csum_with(pseudo(proto, b.size()), b.data(), b.size());
        set16(&b[6], c == 0 ? 0xffff : c);
      }
      break;
    }
    case L4::Icmp: {
      proto = family_ == 4 ? kProtoIcmp : kProtoIcmpv6;
      uint8_t type = icmp_type_;
      if (echo_) type = family_ == 4 ? (echo_ == 2 ? 0 : 8) : (echo_ == 2 ? 129 : 128);
      b.push_back(type);
      b.push_back(icmp_code_);
      put16(b, 0);
      put32(b, icmp_rest_);
      append(b, payload_);
      uint16_t c = family_ == 4 ? ref_csum(b) : csum_with(pseudo(proto, b.size()), b.data(), b.size());
      set16(&b[2], c);
      break;
    }
    case L4::Raw:
      proto = raw_proto_;
      b = payload_;
      break;
    case L4::None:
      proto = 59;  // IPv6 "no next header"; harmless for IPv4 tests
      b = payload_;
      break;
  }
  return b;
}

Bytes Pkt::build_l3() const {
  uint8_t proto = 0;
  Bytes l4 = build_l4(proto);
  Bytes b;
  if (family_ == 4) {
    const size_t hl = 20 + ip_opts_.size();
    b.push_back(uint8_t(0x40 | (hl / 4)));
    b.push_back(tos_);
    put16(b, uint16_t(hl + l4.size()));
    put16(b, id_);
    put16(b, uint16_t((df_ ? 0x4000 : 0) | (mf_ ? 0x2000 : 0) | (frag_off_ & 0x1fff)));
    b.push_back(ttl_);
    b.push_back(proto);
    put16(b, 0);
    put_be32(b, s4_);
    put_be32(b, d4_);
    append(b, ip_opts_);
    set16(&b[10], ref_csum(b));
  } else if (family_ == 6) {
    Bytes ext = v6_ext_;
    uint8_t first = proto;
    for (size_t i = v6_ext_types_.size(); i-- > 0;) {  // chain: each header names the next
      ext[v6_ext_offs_[i]] = first;
      first = v6_ext_types_[i];
    }
    put32(b, 0x60000000u | uint32_t(tos_) << 20);
    put16(b, uint16_t(ext.size() + l4.size()));
    b.push_back(first);
    b.push_back(ttl_);
    b.insert(b.end(), s6_.begin(), s6_.end());
    b.insert(b.end(), d6_.begin(), d6_.end());
    append(b, ext);
  }
  append(b, l4);
  return b;
}

Bytes Pkt::ip() const { return build_l3(); }

Bytes Pkt::frame() const {
  Bytes f(dst_.begin(), dst_.end());
  f.insert(f.end(), src_.begin(), src_.end());
  if (qinq_ >= 0) {
    put16(f, kEthQinQ);
    put16(f, uint16_t(qinq_));
  }
  if (vlan_ >= 0) {
    put16(f, kEthVlan);
    put16(f, uint16_t(vlan_));
  }
  if (ethertype_ >= 0) {
    put16(f, uint16_t(ethertype_));
    append(f, payload_);
  } else {
    put16(f, family_ == 6 ? kEthIpv6 : kEthIpv4);
    append(f, build_l3());
  }
  if (f.size() < pad_to_) f.resize(pad_to_, 0);
  return f;
}

TestBuf::TestBuf(const Bytes& frame, uint32_t headroom, uint32_t tailroom)
    : store_(headroom + frame.size() + tailroom, 0xee) {
  std::memcpy(store_.data() + headroom, frame.data(), frame.size());
  pb = PacketBuf{store_.data() + headroom, uint32_t(frame.size()), headroom, tailroom};
}

// ---- verification ----------------------------------------------------------------------------
namespace {

std::string verify_ip(const uint8_t* p, size_t n, const std::string& ctx, int depth);

std::string verify_l4(int fam, const uint8_t* ip, uint8_t proto, const uint8_t* l4, size_t n,
                      const std::string& ctx, int depth) {
  const uint8_t* s = fam == 4 ? ip + 12 : ip + 8;
  const uint8_t* d = fam == 4 ? ip + 16 : ip + 24;
  auto pseudo = [&](uint8_t pr) { return fam == 4 ? pseudo4(s, d, pr, n) : pseudo6(s, d, pr, n); };
  char buf[96];
  switch (proto) {
    case kProtoTcp:
      if (n >= 20 && csum_with(pseudo(proto), l4, n) != 0) {
        std::snprintf(buf, sizeof buf, "%s: bad TCP checksum %04x", ctx.c_str(), get16(l4 + 16));
        return buf;
      }
      return "";
    case kProtoUdp:
      if (n < 8) return "";
      if (get16(l4 + 6) == 0) return fam == 4 ? "" : ctx + ": UDP/IPv6 checksum 0";
      if (csum_with(pseudo(proto), l4, n) != 0) {
        std::snprintf(buf, sizeof buf, "%s: bad UDP checksum %04x", ctx.c_str(), get16(l4 + 6));
        return buf;
      }
      return "";
    case kProtoIcmp:
    case kProtoIcmpv6: {
      if (n < 8) return "";
      uint16_t c = proto == kProtoIcmp ? ref_fold(ref_sum(l4, n)) : csum_with(pseudo(proto), l4, n);
      if (c != 0) {
        std::snprintf(buf, sizeof buf, "%s: bad ICMP checksum %04x", ctx.c_str(), get16(l4 + 2));
        return buf;
      }
      bool err = proto == kProtoIcmp ? icmp4_is_error(l4[0]) : icmp6_is_error(l4[0]);
      if (err && depth == 0) return verify_ip(l4 + 8, n - 8, ctx + "/quoted", depth + 1);
      return "";
    }
    case kProtoIpip:
      return verify_ip(l4, n, ctx + "/ipip", depth);
    case 41:  // IPv6 encapsulated (IPv6-in-IPv6, or IPv6 in IPv4)
      return verify_ip(l4, n, ctx + "/ip6", depth);
    default:
      return "";
  }
}

// depth > 0: a quote, possibly truncated: check what is complete.
std::string verify_ip(const uint8_t* p, size_t n, const std::string& ctx, int depth) {
  if (n < 1) return "";
  const int v = p[0] >> 4;
  if (v == 4) {
    if (n < 20) return depth ? "" : ctx + ": short IPv4";
    size_t ihl = size_t(p[0] & 15) * 4;
    if (ihl < 20 || ihl > n) return depth ? "" : ctx + ": bad IHL";
    if (ref_fold(ref_sum(p, ihl)) != 0) {
      char buf[96];
      std::snprintf(buf, sizeof buf, "%s: bad IPv4 header checksum %04x", ctx.c_str(), get16(p + 10));
      return buf;
    }
    size_t tot = get16(p + 2);
    if (tot > n) return depth ? "" : ctx + ": IPv4 total length beyond frame";
    if (tot < ihl) return ctx + ": IPv4 total length < IHL";
    if (get16(p + 6) & 0x3fff) return "";  // fragment: L4 not checkable
    return verify_l4(4, p, p[9], p + ihl, tot - ihl, ctx, depth);
  }
  if (v == 6) {
    if (n < 40) return depth ? "" : ctx + ": short IPv6";
    size_t tot = 40 + get16(p + 4);
    if (tot > n) return depth ? "" : ctx + ": IPv6 payload length beyond frame";
    uint8_t nh = p[6];
    size_t off = 40;
    for (;;) {
      if (nh == 0 || nh == 43 || nh == 60) {
        if (off + 2 > tot) return "";
        size_t hl = (size_t(p[off + 1]) + 1) * 8;
        nh = p[off];
        off += hl;
        if (off > tot) return "";
      } else if (nh == 44) {
        return "";
      } else {
        break;
      }
    }
    return verify_l4(6, p, nh, p + off, tot - off, ctx, depth);
  }
  return depth ? "" : ctx + ": not IP";
}

}  // namespace

std::string verify_checksums(const uint8_t* f, size_t len) {
  if (len < 14) return "short frame";
  size_t off = 12;
  uint16_t et = get16(f + off);
  while ((et == kEthVlan || et == kEthQinQ) && off + 6 <= len) {
    off += 4;
    et = get16(f + off);
  }
  off += 2;
  if (et != kEthIpv4 && et != kEthIpv6) return "";
  return verify_ip(f + off, len - off, "outer", 0);
}

std::string hex(const Bytes& b) {
  std::string s;
  char t[4];
  for (size_t i = 0; i < b.size(); ++i) {
    std::snprintf(t, sizeof t, "%02x", b[i]);
    s += t;
    if (i + 1 < b.size()) s += (i % 16 == 15) ? '\n' : ' ';
  }
  return s;
}

std::string diff(const Bytes& got, const Bytes& want) {
  size_t i = 0;
  while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
  if (i == got.size() && i == want.size()) return "";
  char buf[96];
  std::snprintf(buf, sizeof buf, "first difference at offset %zu (got %zu bytes, want %zu)\n", i,
                got.size(), want.size());
  return std::string(buf) + "got:\n" + hex(got) + "\nwant:\n" + hex(want);
}

}  // namespace fulcrum::test
