// The kernel IPVS sync daemon's wire format (net/netfilter/ipvs/ip_vs_sync.c), so that a
// Fulcrum director and a kernel director can be each other's master and backup: version 1
// messages written and read (IPv4 and IPv6 records), version 0 messages read, with the
// kernel's checks and the kernel's choice of what a backup takes. Bytes in, bytes out: which
// connections to send, and installing what arrives, belong to the workers and the control side.
#pragma once

#include <cstddef>
#include <cstdint>

#include "types.h"

namespace fulcrum::sync {

// IP_VS_CONN_F_* (include/uapi/linux/ip_vs.h).
inline constexpr uint32_t kFwdMask = 0x0007;
inline constexpr uint32_t kFwdMasq = 0x0000;
inline constexpr uint32_t kFwdLocal = 0x0001;
inline constexpr uint32_t kFwdTunnel = 0x0002;
inline constexpr uint32_t kFwdDroute = 0x0003;
inline constexpr uint32_t kFlagSync = 0x0020;
inline constexpr uint32_t kFlagHashed = 0x0040;
inline constexpr uint32_t kFlagNoOutput = 0x0080;
inline constexpr uint32_t kFlagInactive = 0x0100;
inline constexpr uint32_t kFlagOutSeq = 0x0200;
inline constexpr uint32_t kFlagInSeq = 0x0400;
inline constexpr uint32_t kFlagSeqMask = 0x0600;
inline constexpr uint32_t kFlagNoCport = 0x0800;
inline constexpr uint32_t kFlagTemplate = 0x1000;
inline constexpr uint32_t kFlagOnePacket = 0x2000;
// What a backup takes from a version 1 record (IP_VS_CONN_F_BACKUP_MASK); it adds kFlagSync.
inline constexpr uint32_t kBackupMask = kFwdMask | kFlagNoOutput | kFlagInactive | kFlagSeqMask | kFlagNoCport | kFlagTemplate;

// The daemon's defaults: group 224.0.0.81 (host order here), port 8848.
inline constexpr uint32_t kDefaultGroup = 0xe0000051u;
inline constexpr uint16_t kDefaultPort = 8848;

inline constexpr size_t kHeaderV1 = 8;       // struct ip_vs_sync_mesg
inline constexpr size_t kHeaderV0 = 4;       // struct ip_vs_sync_mesg_v0
inline constexpr size_t kRecordV1v4 = 36;    // struct ip_vs_sync_v4
inline constexpr size_t kRecordV1v6 = 72;    // struct ip_vs_sync_v6
inline constexpr size_t kRecordV0 = 24;      // struct ip_vs_sync_conn_v0
inline constexpr size_t kSeqOptions = 24;    // struct ip_vs_sync_conn_options
inline constexpr size_t kMaxConns = 255;     // nr_conns is one byte

// Optional parameters of a version 1 record: type, length, data. A type with bit 0x40
// (IPVS_OPT_F_PARAM) is optional: a receiver that does not know it skips it; one without it
// that the receiver does not know makes the receiver drop the record.
inline constexpr uint8_t kParamSeq = 1;
inline constexpr uint8_t kParamPeData = 2;
inline constexpr uint8_t kParamPeName = 3;
inline constexpr uint8_t kParamOptional = 0x40;
// Fulcrum's own, optional (the kernel skips it): the FullNAT side of a connection, its local
// address (4 or 16 bytes, the record's family) and port. The kernel never runs FullNAT.
inline constexpr uint8_t kParamFullNat = kParamOptional | 0x20;
// Fulcrum's own, mandatory: a NAT64 connection (an IPv6 client, an IPv4 real server, FullNAT),
// sent as an IPv6 record whose daddr is IPv4-mapped (::ffff:a.b.c.d), with its IPv4 local
// address (4 bytes) and port here. The kernel's version 1 record has no family per address
// (its backup assumes the dest's is the service's: "no heterogeneous pools with
// synchronization", ip_vs_proc_conn), so a kernel backup could only make an unbound entry that
// sends to no server; mandatory, the parameter makes it skip the record instead (an unknown
// mandatory parameter drops that record alone). SyncConn: has_fullnat with an IPv4 laddr in an
// IPv6 record.
inline constexpr uint8_t kParamNat64 = 0x21;

// struct ip_vs_seq, host order.
struct SeqAdjust {
  uint32_t init_seq = 0;
  uint32_t delta = 0;
  uint32_t previous_delta = 0;
  bool operator==(const SeqAdjust&) const = default;
};

// One connection or persistence template as a record carries it.
struct SyncConn {
  uint8_t protocol = 0;      // IPPROTO_*
  uint32_t flags = 0;        // IP_VS_CONN_F_*
  uint16_t state = 0;        // the kernel's state number (tcp_state.h numbers TCP the same)
  be16 cport = 0, vport = 0, dport = 0;
  uint32_t fwmark = 0;
  uint32_t timeout_s = 0;    // version 1; 0 from version 0 (the backup's own timeouts apply)
  IpAddr caddr, vaddr, daddr;  // all IPv4-mapped, or all IPv6
  bool has_seq = false;      // in_seq/out_seq travel (flags has kFlagSeqMask bits)
  SeqAdjust in_seq, out_seq;
  bool has_fullnat = false;  // laddr/lport travel (kParamFullNat)
  IpAddr laddr;
  be16 lport = 0;

  bool v6() const { return !caddr.is_v4(); }
  bool operator==(const SyncConn&) const = default;
};

// Version 1 messages, written into the caller's buffer of sync_maxlen bytes, records aligned
// to 4 bytes as the kernel writes them.
class MessageWriter {
 public:
  MessageWriter(uint8_t* buf, size_t capacity, uint8_t syncid);
  // The bytes a record takes (without the padding before it).
  static size_t record_size(const SyncConn& c);
  // Appends a record; false, writing nothing, when it does not fit or the message is full.
  bool add(const SyncConn& c);
  // Starts a new empty message in the same buffer.
  void reset();
  size_t size() const { return size_; }
  size_t count() const { return count_; }
  const uint8_t* data() const { return buf_; }

 private:
  uint8_t* buf_;
  size_t capacity_;
  size_t size_ = 0;
  size_t count_ = 0;
  uint8_t syncid_;
};

// Why a message was not read to its end (the records before the problem were).
enum class MessageError : uint8_t {
  kNone = 0,
  kTooShort,          // shorter than a version 0 header
  kBadSize,           // the header's size is not the datagram's
  kOtherSyncId,       // filtered: the backup has a SyncID and this is another's
  kTruncated,         // a record runs past the end
  kRecordVersion,     // a record of a version after 1
  kBadRecord,         // an unknown record type, a bad parameter, options where none fit
};

// Why one record was skipped (the kernel goes on with the next).
enum class RecordSkip : uint8_t {
  kUnknownParam = 0,  // a mandatory parameter the backup does not know
  kPeData,            // persistence-engine data (no engines here)
  kProtocol,          // a protocol IPVS does not balance
  kState,             // a state the protocol does not have
  kCount,
};

struct ReadResult {
  uint8_t version = 0;  // 0 or 1; meaningless when error is kTooShort, kBadSize or kOtherSyncId
  size_t conns = 0;     // records taken (written to `out`)
  MessageError error = MessageError::kNone;
  uint32_t skipped[static_cast<size_t>(RecordSkip::kCount)] = {};
};

// Reads one datagram as a backup with SyncID `syncid` (0: any) reads it: every record it
// would take goes to out[0..conns) (room for kMaxConns), with flags as the backup keeps them
// (kFlagSync added). Never reads outside [msg, msg + len).
ReadResult read_message(const uint8_t* msg, size_t len, uint8_t syncid, SyncConn* out);

}  // namespace fulcrum::sync
