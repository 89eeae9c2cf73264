// The kernel's sync messages, byte for byte: see sync_wire.h. Every read is bounds-checked
// against the datagram; the order of the checks is the kernel's (ip_vs_process_message,
// ip_vs_proc_sync_conn, ip_vs_process_message_v0), so a message the kernel would partly take
// is taken to the same record.
#include "sync_wire.h"

#include <cstring>

namespace fulcrum::sync {
namespace {

void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void put32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}
uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t get32(const uint8_t* p) { return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3]; }
// Ports and IPv4 addresses stay in network order (as the core keeps them): copied, not swapped.
void put_be(uint8_t* p, const void* v, size_t n) { std::memcpy(p, v, n); }
be16 get_be16(const uint8_t* p) {
  be16 v;
  std::memcpy(&v, p, 2);
  return v;
}

size_t addr_len(bool v6) { return v6 ? 16 : 4; }
void put_addr(uint8_t* p, const IpAddr& a, bool v6) {
  if (v6) std::memcpy(p, a.b.data(), 16);
  else std::memcpy(p, &a.b[12], 4);
}
IpAddr get_addr(const uint8_t* p, bool v6) {
  if (v6) return IpAddr::from_v6(p);
  be32 v;
  std::memcpy(&v, p, 4);
  return IpAddr::from_v4(v);
}

void put_seq(uint8_t* p, const SeqAdjust& s) {
  put32(p, s.init_seq);
  put32(p + 4, s.delta);
  put32(p + 8, s.previous_delta);
}
SeqAdjust get_seq(const uint8_t* p) { return {get32(p), get32(p + 4), get32(p + 8)}; }

// The states a protocol has (pp->num_states); 0: IPVS does not balance it.
uint16_t states_of(uint8_t protocol) {
  switch (protocol) {
    case kProtoTcp: return 11;   // IP_VS_TCP_S_LAST
    case kProtoUdp: return 1;    // IP_VS_UDP_S_LAST
    case kProtoSctp: return 14;  // IP_VS_SCTP_S_LAST
    case 50: case 51: return 1;  // ESP, AH
    default: return 0;
  }
}

// The kernel's per-record protocol and state check (templates pass whatever their state).
bool skip_for_state(const SyncConn& c, ReadResult& r) {
  if (c.flags & kFlagTemplate) return false;
  uint16_t n = states_of(c.protocol);
  if (n == 0) {
    r.skipped[static_cast<size_t>(RecordSkip::kProtocol)]++;
    return true;
  }
  if (c.state >= n) {
    r.skipped[static_cast<size_t>(RecordSkip::kState)]++;
    return true;
  }
  return false;
}

// One version 1 record in [p, end). Returns false when the rest of the message must go (the
// kernel's negative codes); `took` says whether the record was taken.
bool read_record_v1(const uint8_t* p, const uint8_t* end, SyncConn& c, bool& took, ReadResult& r) {
  took = false;
  uint8_t type = p[0];
  bool v6;
  if (type & 1) v6 = true;
  else if (type == 0) v6 = false;
  else return false;
  size_t fixed = v6 ? kRecordV1v6 : kRecordV1v4;
  if (p + fixed > end) return false;
  c = SyncConn{};
  c.protocol = p[1];
  c.flags = get32(p + 4);
  c.state = get16(p + 8);
  c.cport = get_be16(p + 10);
  c.vport = get_be16(p + 12);
  c.dport = get_be16(p + 14);
  c.fwmark = get32(p + 16);
  c.timeout_s = get32(p + 20);
  size_t al = addr_len(v6);
  c.caddr = get_addr(p + 24, v6);
  c.vaddr = get_addr(p + 24 + al, v6);
  c.daddr = get_addr(p + 24 + 2 * al, v6);

  bool mandatory_unknown = false, pe_data = false, pe_name = false;
  for (const uint8_t* q = p + fixed; q < end;) {
    if (q + 2 > end) return false;
    uint8_t ptype = q[0];
    uint8_t plen = q[1];
    q += 2;
    if (plen == 0 || q + plen > end) return false;
    switch (ptype & ~kParamOptional) {
      case kParamSeq:
        if (plen != kSeqOptions || c.has_seq) return false;
        c.has_seq = true;
        c.in_seq = get_seq(q);
        c.out_seq = get_seq(q + 12);
        break;
      case kParamPeData:
        if (pe_data) return false;  // plen is one byte: never above IP_VS_PEDATA_MAXLEN
        pe_data = true;
        break;
      case kParamPeName:
        if (plen > 16 || pe_name) return false;  // IP_VS_PENAME_MAXLEN
        pe_name = true;
        break;
      default:
        if (ptype == kParamFullNat && plen == al + 2 && !c.has_fullnat) {
          c.has_fullnat = true;
          c.laddr = get_addr(q, v6);
          c.lport = get_be16(q + al);
        } else if (ptype == kParamNat64 && v6 && plen == 4 + 2 && !c.has_fullnat) {
          c.has_fullnat = true;
          c.laddr = get_addr(q, false);
          c.lport = get_be16(q + 4);
        } else if (!(ptype & kParamOptional)) {
          mandatory_unknown = true;  // the kernel stops reading this record's parameters here
        }
    }
    if (mandatory_unknown) break;
    q += plen;
  }
  if (mandatory_unknown) {
    r.skipped[static_cast<size_t>(RecordSkip::kUnknownParam)]++;
    return true;
  }
  c.flags = (c.flags & kBackupMask) | kFlagSync;
  if (skip_for_state(c, r)) return true;
  // The kernel looks the engine up by name and drops the record when it has none; here there
  // are no persistence engines at all.
  if (pe_data) {
    r.skipped[static_cast<size_t>(RecordSkip::kPeData)]++;
    return true;
  }
  took = true;
  return true;
}

void read_v1(const uint8_t* msg, size_t len, SyncConn* out, ReadResult& r) {
  r.version = 1;
  const uint8_t* end = msg + len;
  const uint8_t* next = msg + kHeaderV1;
  size_t n = msg[4];
  for (size_t i = 0; i < n; i++) {
    const uint8_t* p = next;
    if (p + kRecordV1v4 > end) {
      r.error = MessageError::kTruncated;
      return;
    }
    uint16_t ver_size = get16(p + 2);
    size_t size = ver_size & 0x0fff;
    const uint8_t* rec_end = p + size;
    if (rec_end > end) {
      r.error = MessageError::kTruncated;
      return;
    }
    if (ver_size >> 12) {
      r.error = MessageError::kRecordVersion;
      return;
    }
    bool took;
    if (!read_record_v1(p, rec_end, out[r.conns], took, r)) {
      r.error = MessageError::kBadRecord;
      return;
    }
    if (took) r.conns++;
    next = p + ((size + 3) & ~size_t{3});
  }
}

void read_v0(const uint8_t* msg, size_t len, SyncConn* out, ReadResult& r) {
  r.version = 0;
  const uint8_t* end = msg + len;
  const uint8_t* p = msg + kHeaderV0;
  size_t n = msg[0];
  for (size_t i = 0; i < n; i++) {
    if (p + kRecordV0 > end) {
      r.error = MessageError::kTruncated;
      return;
    }
    SyncConn& c = out[r.conns];
    c = SyncConn{};
    c.protocol = p[1];
    c.cport = get_be16(p + 2);
    c.vport = get_be16(p + 4);
    c.dport = get_be16(p + 6);
    c.caddr = get_addr(p + 8, false);
    c.vaddr = get_addr(p + 12, false);
    c.daddr = get_addr(p + 16, false);
    c.flags = (get16(p + 20) | kFlagSync) & ~kFlagHashed;
    c.state = get16(p + 22);
    if (c.flags & kFlagSeqMask) {
      if (p + kRecordV0 + kSeqOptions > end) {
        r.error = MessageError::kBadRecord;
        return;
      }
      // Version 0 copies the master's struct as it is in memory: host order, little-endian
      // on the directors that run it.
      auto le32 = [](const uint8_t* q) { return uint32_t{q[0]} | uint32_t{q[1]} << 8 | uint32_t{q[2]} << 16 | uint32_t{q[3]} << 24; };
      const uint8_t* o = p + kRecordV0;
      c.has_seq = true;
      c.in_seq = {le32(o), le32(o + 4), le32(o + 8)};
      c.out_seq = {le32(o + 12), le32(o + 16), le32(o + 20)};
      p += kRecordV0 + kSeqOptions;
    } else {
      p += kRecordV0;
    }
    if (skip_for_state(c, r)) continue;
    r.conns++;
  }
}

}  // namespace

MessageWriter::MessageWriter(uint8_t* buf, size_t capacity, uint8_t syncid)
    : buf_(buf), capacity_(capacity), syncid_(syncid) {
  reset();
}

void MessageWriter::reset() {
  count_ = 0;
  size_ = 0;
  if (capacity_ < kHeaderV1) return;
  std::memset(buf_, 0, kHeaderV1);
  buf_[1] = syncid_;
  buf_[5] = 1;  // SYNC_PROTO_VER; byte 0 stays 0 so that version 0 readers drop the message
  size_ = kHeaderV1;
  put16(buf_ + 2, static_cast<uint16_t>(size_));
}

size_t MessageWriter::record_size(const SyncConn& c) {
  bool v6 = c.v6();
  size_t n = v6 ? kRecordV1v6 : kRecordV1v4;
  if (c.has_seq) n += 2 + kSeqOptions;
  if (c.has_fullnat) n += 2 + addr_len(v6 && !c.laddr.is_v4()) + 2;
  return n;
}

bool MessageWriter::add(const SyncConn& c) {
  if (size_ == 0 || count_ >= kMaxConns) return false;
  size_t pad = (4 - (size_ & 3)) & 3;
  size_t len = record_size(c);
  if (size_ + pad + len > capacity_ || size_ + pad + len > 0xffff) return false;
  uint8_t* p = buf_ + size_;
  std::memset(p, 0, pad + len);
  p += pad;
  bool v6 = c.v6();
  p[0] = v6 ? 1 : 0;
  p[1] = c.protocol;
  put16(p + 2, static_cast<uint16_t>(len & 0x0fff));  // version 0 of the record
  put32(p + 4, c.flags & ~kFlagHashed);
  put16(p + 8, c.state);
  put_be(p + 10, &c.cport, 2);
  put_be(p + 12, &c.vport, 2);
  put_be(p + 14, &c.dport, 2);
  put32(p + 16, c.fwmark);
  put32(p + 20, c.timeout_s);
  size_t al = addr_len(v6);
  put_addr(p + 24, c.caddr, v6);
  put_addr(p + 24 + al, c.vaddr, v6);
  put_addr(p + 24 + 2 * al, c.daddr, v6);
  uint8_t* q = p + (v6 ? kRecordV1v6 : kRecordV1v4);
  if (c.has_seq) {
    q[0] = kParamSeq;
    q[1] = kSeqOptions;
    put_seq(q + 2, c.in_seq);
    put_seq(q + 14, c.out_seq);
    q += 2 + kSeqOptions;
  }
  if (c.has_fullnat) {
    // NAT64 (an IPv4 local address in an IPv6 record): the mandatory form, kParamNat64.
    const bool l6 = v6 && !c.laddr.is_v4();
    const size_t ll = addr_len(l6);
    q[0] = v6 && !l6 ? kParamNat64 : kParamFullNat;
    q[1] = static_cast<uint8_t>(ll + 2);
    put_addr(q + 2, c.laddr, l6);
    put_be(q + 2 + ll, &c.lport, 2);
  }
  size_ += pad + len;
  count_++;
  buf_[4] = static_cast<uint8_t>(count_);
  put16(buf_ + 2, static_cast<uint16_t>(size_));
  return true;
}

ReadResult read_message(const uint8_t* msg, size_t len, uint8_t syncid, SyncConn* out) {
  ReadResult r;
  if (len < kHeaderV0) {
    r.error = MessageError::kTooShort;
    return r;
  }
  if (len != get16(msg + 2)) {
    r.error = MessageError::kBadSize;
    return r;
  }
  if (syncid != 0 && msg[1] != syncid) {
    r.error = MessageError::kOtherSyncId;
    return r;
  }
  // Version 1: version byte 1, reserved byte 0, spare 0 (a 4-byte message cannot be one).
  if (len >= kHeaderV1 && msg[5] == 1 && msg[0] == 0 && msg[6] == 0 && msg[7] == 0) read_v1(msg, len, out, r);
  else read_v0(msg, len, out, r);
  return r;
}

}  // namespace fulcrum::sync
