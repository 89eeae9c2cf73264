// One IPv4 connection (or persistence template) as the worker's table stores it: 32 bytes, two
// per cache line, with all per-packet state inside so a hit costs one record line. The table
// (conn_table.h) owns where records live; the engine owns what their fields mean over time.
#pragma once

#include <cstdint>

#include "tcp_state.h"
#include "types.h"

namespace fulcrum {

// ConnV4::flags. The low three bits are the FwdMethod value (0..5).
enum : uint8_t {
  kConnFwdMask = 0x07,
  kConnNoOutput = 0x08,  // DR/TUN: no reply seen yet, the INPUT-ONLY TCP table applies
  kTmplSynced = 0x08,    // templates (never NO_OUTPUT): installed from a sync master, see below
  kConnTemplate = 0x10,  // a persistence template, not a connection
  kConnActive = 0x20,    // counted in its dest's ActiveConn (else InActConn / PersistConn)
  kConnToaSent = 0x40,   // FullNAT: the client address option went out already
  kConnCounted = 0x40,   // templates (never FullNAT's option): counted in PersistConn, see below
  kConnLimited = 0x80,   // counted in its dest's shared word (the dest had -x when it was bound)
};

// Field order packs the three addresses and the ports into the first 20 bytes so the key
// compares of the lookups are a few wide loads. Addresses and ports in network order.
//
// Identity (hashed, so never changed while the record is in the table): proto, caddr, cport.
// A template is TEMPLATE + cport 0 + caddr = the masked client net, vaddr = VIP (or the fwmark
// value, proto 0) and vport = service port or 0; daddr/dport/dest are where it sends clients.
struct ConnV4 {
  be32 caddr;
  be32 vaddr;
  be32 daddr;
  be16 cport;
  be16 vport;
  be16 dport;
  uint16_t dest_lo;  // the DestId's low 16 bits (conn_dest)
  uint32_t expires;  // tick at which the entry is due (see tick_reached)
  union {
    struct {
      be16 lport;     // local port of a FullNAT connection
      uint8_t laddr;  // index of its local address in the worker's FnatPool
      uint8_t tag;    // any connection: see conn_dest_tag
    } fnat;
    // Other connections have no use for lport/laddr: a sync master counts in them (the
    // packets until its threshold packet, the state last synced; engine_sync.cc), so their
    // packets touch no line beyond the record. FullNAT connections count in a side array.
    struct {
      uint16_t left;
      uint8_t state;
      uint8_t tag;
    } sync;
    uint32_t children;  // templates: live connections they control
  };
  uint8_t proto;
  uint8_t state : 4;    // kTcp* for TCP, kStateUdp for UDP, kTcpNone for templates
  uint8_t dest_hi : 4;  // the DestId's high 4 bits: the record stays 32 bytes
  uint8_t flags;  // kConn*
  // Controlled connections: 1 + the prefix length of their template's netmask (0 = no template),
  // enough for the engine to find the template again by key when the connection goes
  // (conn_plen); its top bit is kConnSynProxy.
  uint8_t tmpl_plen;
};

static_assert(sizeof(ConnV4) == 32, "two records per cache line");

// Templates and PersistConn. Each worker keeps a template for a persistent client it sees, but
// the kernel has one per client, and so does PersistConn: only the template of the worker that
// made the client's director-wide tie (shared_affinity.h), or of one that found no room for a
// tie, is kConnCounted. That one lives as long as the tie does, however long other workers'
// connections keep the tie alive, so the count is the director's.

// In a connection's tmpl_plen (1 + a prefix length needs 6 bits): the connection is proxied, its
// seq delta is in the worker's SynProxyTable. Templates keep a dest tag there and are never proxied.
constexpr uint8_t kConnSynProxy = 0x80;
// In a connection's tmpl_plen too: installed from a sync master (listings say so). Templates
// keep the same fact in flags (kTmplSynced): their tmpl_plen is the dest tag.
constexpr uint8_t kConnSynced = 0x40;
template <class C>
inline uint8_t conn_plen(const C& c) { return c.tmpl_plen & 0x3f; }
template <class C>
inline bool conn_synced(const C& c) {
  return (c.flags & kConnTemplate) ? (c.flags & kTmplSynced) != 0 : (c.tmpl_plen & kConnSynced) != 0;
}

static_assert(kTcpStateCount <= 16 && kStateUdp < 16, "states fit the record's 4 bits");
static_assert(kMaxDests <= (1u << 20), "DestIds fit the record's 20 bits");

template <class C>
inline DestId conn_dest(const C& c) { return DestId{c.dest_lo} | (DestId{c.dest_hi} << 16); }
template <class C>
inline void set_conn_dest(C& c, DestId d) {
  c.dest_lo = static_cast<uint16_t>(d);
  c.dest_hi = static_cast<uint8_t>(d >> 16);
}

template <class C>
inline FwdMethod conn_fwd_method(const C& c) { return static_cast<FwdMethod>(c.flags & kConnFwdMask); }

// The low 8 bits of the incarnation of `dest` the entry was made for (DestSnap::incarnation):
// when the control side gives the id to another server, the old entries are told apart from
// the new server's and never touch its counts. Connections keep it in the FullNAT word's last
// byte (free for every method), templates in tmpl_plen (a template is never under a template).
template <class C>
inline uint8_t conn_dest_tag(const C& c) { return (c.flags & kConnTemplate) ? c.tmpl_plen : c.fnat.tag; }
template <class C>
inline void set_conn_dest_tag(C& c, uint32_t incarnation) {
  if (c.flags & kConnTemplate)
    c.tmpl_plen = static_cast<uint8_t>(incarnation);
  else
    c.fnat.tag = static_cast<uint8_t>(incarnation);
}

}  // namespace fulcrum
