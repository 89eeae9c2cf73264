// One IPv6 connection (or persistence template) as the worker's IPv6 table stores it: one
// 64-byte cache line, twice an IPv4 record (conn.h), with the same per-packet state inside. The
// fields mean what ConnV4's do (conn.h); the generic helpers there (conn_dest, conn_fwd_method,
// conn_dest_tag, ...) read either record.
#pragma once

#include <cstdint>
#include <cstring>

#include "conn.h"
#include "types.h"

namespace fulcrum {

// The real server's address is not kept: it is the dest's (DestSnap::addr), which the packet
// path reads anyway to check the server is usable, and an entry is only ever used while its dest
// id names the incarnation it was made for (conn_dest_tag) -- so the address cannot have changed
// under it. That leaves room for both 128-bit client-side addresses, the ports and the state in
// 52 bytes; the rest of the line holds a sync master's bookkeeping (the IPv4 table keeps it in
// a side array or the FullNAT word, sync_side.h; here the line has room) and spare bytes.
//
// Identity (hashed): proto, caddr, cport. Templates: TEMPLATE + cport 0 + caddr = the client
// prefix, vaddr = VIP (fwmark services: the mark in its last word, proto 0), vport = port or 0.
struct alignas(64) ConnV6 {
  IpAddr caddr;
  IpAddr vaddr;
  be16 cport;
  be16 vport;
  be16 dport;
  uint16_t dest_lo;
  uint32_t expires;
  union {
    struct {
      be16 lport;     // FullNAT: local port
      uint8_t laddr;  // FullNAT: index of the local address in the worker's IPv6 pool
      uint8_t tag;    // connections: see conn_dest_tag
    } fnat;
    uint32_t children;  // templates: live connections they control
  };
  uint8_t proto;
  uint8_t state : 4;
  uint8_t dest_hi : 4;
  uint8_t flags;      // kConn* (conn.h)
  // Connections: 1 + their template's prefix length (0..128), 0 = no template; templates: the
  // dest tag. No flag bits share it: the synced mark is sync_flags', the proxied one ext's.
  uint8_t tmpl_plen;
  uint8_t ext;  // kConn6* (tmpl_plen has no bit to spare for them: 1 + 128 needs all 8)
  // A sync master's count (packets until the threshold packet; 0: not counted yet), the state
  // it last synced, and its sync_endtime (engine_sync6.cc). Zeroed with the record.
  uint8_t sync_state;
  uint16_t sync_left;
  uint32_t sync_end;
  uint8_t sync_flags;  // kConn6Synced
  uint8_t spare[3];
};

// ConnV6::ext: the connection is SYN-proxied, its seq delta is in the worker's IPv6 SynProxyTable.
constexpr uint8_t kConn6SynProxy = 0x01;

static_assert(sizeof(ConnV6) == 64, "one record per cache line, twice an IPv4 one");

// ConnV6::sync_flags: installed from a sync master (listings say so).
constexpr uint8_t kConn6Synced = 0x01;

// A fwmark template's vaddr: the mark in the last word (ConnV4's is the mark itself).
inline IpAddr mark_addr6(uint32_t mark) {
  IpAddr a;
  const be32 m = hton32(mark);
  std::memcpy(&a.b[12], &m, 4);
  return a;
}

inline uint8_t conn_plen(const ConnV6& c) { return c.tmpl_plen; }
inline bool conn_synced(const ConnV6& c) { return (c.sync_flags & kConn6Synced) != 0; }

}  // namespace fulcrum
