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

// The next-state tables of the kernel's ip_vs_proto_tcp.c (tcp_states, normal mode), re-typed
// and checked cell by cell in test/tcp_state_test.cc against reference §3.2.
namespace tcp_state_detail {

// Event rows in the kernel's order.
enum : uint8_t { kEvSyn = 0, kEvFin = 1, kEvAck = 2, kEvRst = 3, kEvCount = 4 };

// Short names for the cells. NONE and SYNACK are never a next state in the normal table
// (SYNACK is reached only under secure_tcp), so they have none.
constexpr uint8_t ES = kTcpEstablished, SS = kTcpSynSent, SR = kTcpSynRecv, FW = kTcpFinWait,
                  TW = kTcpTimeWait, CL = kTcpClose, CW = kTcpCloseWait, LA = kTcpLastAck, LI = kTcpListen;

// [direction][event][current state]
constexpr uint8_t kNext[3][kEvCount][kTcpStateCount] = {
    // In: client -> server with replies seen (NAT, FullNAT)
    {
        //       NO  ES  SS  SR  FW  TW  CL  CW  LA  LI  SA
        /*syn*/ {SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR},
        /*fin*/ {CL, CW, SS, TW, TW, TW, CL, CW, LA, LI, TW},
        /*ack*/ {ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES},
        /*rst*/ {CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, SR},
    },
    // Out: server -> client
    {
        /*syn*/ {SS, ES, SS, SR, SS, SS, SS, SS, SS, LI, SR},
        /*fin*/ {TW, FW, SS, TW, FW, TW, CL, TW, LA, LI, TW},
        /*ack*/ {ES, ES, SS, ES, FW, TW, CL, CW, LA, ES, ES},
        /*rst*/ {CL, CL, SS, CL, CL, TW, CL, CL, CL, CL, CL},
    },
    // InOnly: client -> server, replies bypass us (DR, TUN)
    {
        /*syn*/ {SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR},
        /*fin*/ {CL, FW, SS, TW, FW, TW, CL, CW, LA, LI, TW},
        /*ack*/ {ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES},
        /*rst*/ {CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL},
    },
};

// Flag bits as on the wire (packet.h has the same values; not included to keep this leaf-level).
constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kAck = 0x10;

}  // namespace tcp_state_detail

// Next state for a segment with `tcp_flags` (byte 13 of the TCP header) in direction `dir`.
// The event is chosen by priority RST > SYN > FIN > ACK; a segment with none of the four moves
// the connection to CLOSE (the kernel's default when no event applies). An out-of-range `cur`
// is treated as NONE.
// Inline: every TCP packet takes it (a call was 2-3% of the core at 10,000 connections).
inline uint8_t tcp_next_state(uint8_t cur, TcpDir dir, uint8_t tcp_flags) {
  uint8_t ev;
  if (tcp_flags & tcp_state_detail::kRst)
    ev = tcp_state_detail::kEvRst;
  else if (tcp_flags & tcp_state_detail::kSyn)
    ev = tcp_state_detail::kEvSyn;
  else if (tcp_flags & tcp_state_detail::kFin)
    ev = tcp_state_detail::kEvFin;
  else if (tcp_flags & tcp_state_detail::kAck)
    ev = tcp_state_detail::kEvAck;
  else
    return kTcpClose;
  if (cur >= kTcpStateCount) cur = kTcpNone;
  return tcp_state_detail::kNext[static_cast<uint8_t>(dir)][ev][cur];
}

// The name ipvsadm prints ("ESTABLISHED", "SYN_RECV", ..., "UDP"); "ERR!" when out of range.
const char* tcp_state_name(uint8_t state);

// Kernel tcp_state_active_table (since 4.7): ESTABLISHED, SYN_SENT, SYN_RECV and SYNACK count
// in ActiveConn. Note: reference §3.1 says ESTABLISHED only (older kernels); the engine picks.
bool tcp_state_active(uint8_t state);

}  // namespace fulcrum
