// The kernel's IPVS TCP connection-state machine (ip_vs_proto_tcp.c, normal table, not the
// secure_tcp one): state numbers as the kernel numbers them, the names ipvsadm -Lc prints, and
// the next-state lookup. Pure functions over a 396-byte table, so the engine can call them per
// packet and tests can check every cell.
#pragma once

#include <cstdint>

namespace fulcrum {

// IP_VS_TCP_S_* with their kernel values: listings, the sync protocol and the timeout table are
// all indexed by them.
enum : uint8_t {
  kTcpNone = 0,
  kTcpEstablished = 1,
  kTcpSynSent = 2,
  kTcpSynRecv = 3,
  kTcpFinWait = 4,
  kTcpTimeWait = 5,
  kTcpClose = 6,
  kTcpCloseWait = 7,
  kTcpLastAck = 8,
  kTcpListen = 9,
  kTcpSynAck = 10,
  kTcpStateCount = 11,  // IP_VS_TCP_S_LAST
  // UDP has a single state in the kernel (IP_VS_UDP_S_NORMAL, printed "UDP"); a distinct value
  // lets a listing name a record's state without looking at its protocol.
  kStateUdp = 11,
};

// Which table applies. InOnly is used while a connection has NOOUTPUT (DR/TUN: the director
// never sees replies); the engine clears NOOUTPUT at the first Out packet.
enum class TcpDir : uint8_t { In = 0, Out = 1, InOnly = 2 };

// Next state for a segment with `tcp_flags` (byte 13 of the TCP header) in direction `dir`.
// The event is chosen by priority RST > SYN > FIN > ACK; a segment with none of the four moves
// the connection to CLOSE (the kernel's default when no event applies). An out-of-range `cur`
// is treated as NONE.
uint8_t tcp_next_state(uint8_t cur, TcpDir dir, uint8_t tcp_flags);

// The name ipvsadm prints ("ESTABLISHED", "SYN_RECV", ..., "UDP"); "ERR!" when out of range.
const char* tcp_state_name(uint8_t state);

// Kernel tcp_state_active_table (since 4.7): ESTABLISHED, SYN_SENT, SYN_RECV and SYNACK count
// in ActiveConn. Note: reference §3.1 says ESTABLISHED only (older kernels); the engine picks.
bool tcp_state_active(uint8_t state);

}  // namespace fulcrum
