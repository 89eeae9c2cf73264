// A connection as the workers and the sync thread hand it to each other: the IPv4 part of a
// sync record (sync_wire.h's SyncConn) in 40 fixed bytes, so it travels through a ring by
// value; IPv6 ones (and NAT64 ones: an IPv6 client, an IPv4 server) as SyncRecord6 through a
// ring of their own, so the IPv4 ring's elements and its throughput stay what they were. A master's worker fills it from its table (Worker::sync_emit); the sync thread turns
// it into wire records (to_wire) and what a backup reads back into it (from_wire), and the
// owning worker installs it (Worker::sync_install).
#pragma once

#include <cstdint>

#include "sync_wire.h"
#include "types.h"

namespace fulcrum::sync {

struct SyncRecord {
  be32 caddr, vaddr, daddr;
  be32 laddr;         // FullNAT local address (has_fullnat)
  be16 cport, vport, dport;
  be16 lport;         // FullNAT local port
  uint32_t fwmark;
  uint32_t timeout_s;  // 0: the receiver's own per-state timeout (version 0 messages)
  uint32_t flags;      // IP_VS_CONN_F_* (the wire's)
  uint8_t protocol;
  uint8_t state;       // the kernel's state number (TCP: tcp_state.h's)
  uint8_t has_fullnat;
  uint8_t pad = 0;
};
static_assert(sizeof(SyncRecord) == 40, "a ring element of 40 bytes");

// An IPv6 connection or template. A NAT64 connection has an IPv4 (IPv4-mapped) daddr and
// laddr; its wire record is an IPv6 one with Fulcrum's NAT64 parameter (sync_wire.h).
struct SyncRecord6 {
  IpAddr caddr, vaddr, daddr;
  IpAddr laddr;        // FullNAT local address (has_fullnat): IPv6, or IPv4-mapped for NAT64
  be16 cport, vport, dport;
  be16 lport;
  uint32_t fwmark;
  uint32_t timeout_s;
  uint32_t flags;
  uint8_t protocol;
  uint8_t state;
  uint8_t has_fullnat;
  uint8_t pad = 0;
};
static_assert(sizeof(SyncRecord6) == 88, "a ring element of 88 bytes");

// The wire form; IPv4-mapped addresses.
SyncConn to_wire(const SyncRecord& r);
SyncConn to_wire(const SyncRecord6& r);
// The ring form of a record a backup read; false for what the form cannot hold (from_wire of
// an IPv6 record into a SyncRecord, and of an IPv4 one into a SyncRecord6: the caller asks
// SyncConn::v6() which to use; and a state beyond 255).
// Sequence adjustments (NAT applications) are left out: the core keeps no such state.
bool from_wire(const SyncConn& c, SyncRecord& out);
bool from_wire(const SyncConn& c, SyncRecord6& out);

// The forwarding method a record names, either family's: FullNAT by its parameter, the rest by
// IP_VS_CONN_F_FWD_MASK as the kernel's.
template <class Record>
FwdMethod fwd_of(const Record& r) {
  if (r.has_fullnat) return FwdMethod::FullNat;
  switch (r.flags & kFwdMask) {
    case kFwdTunnel: return FwdMethod::Tunnel;
    case kFwdDroute: return FwdMethod::Route;
    case kFwdLocal: return FwdMethod::Local;
    default: return FwdMethod::Masq;
  }
}

}  // namespace fulcrum::sync
