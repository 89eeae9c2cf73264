// The next-state tables of the kernel's ip_vs_proto_tcp.c (tcp_states, normal mode), re-typed
// and checked cell by cell in test/tcp_state_test.cc against reference §3.2.
#include "tcp_state.h"

namespace fulcrum {

namespace {

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

constexpr const char* kNames[kTcpStateCount + 1] = {
    "NONE", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT", "TIME_WAIT",
    "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "SYNACK", "UDP",
};

}  // namespace

uint8_t tcp_next_state(uint8_t cur, TcpDir dir, uint8_t tcp_flags) {
  uint8_t ev;
  if (tcp_flags & kRst)
    ev = kEvRst;
  else if (tcp_flags & kSyn)
    ev = kEvSyn;
  else if (tcp_flags & kFin)
    ev = kEvFin;
  else if (tcp_flags & kAck)
    ev = kEvAck;
  else
    return kTcpClose;
  if (cur >= kTcpStateCount) cur = kTcpNone;
  return kNext[static_cast<uint8_t>(dir)][ev][cur];
}

const char* tcp_state_name(uint8_t state) { return state <= kStateUdp ? kNames[state] : "ERR!"; }

bool tcp_state_active(uint8_t state) {
  return state == kTcpEstablished || state == kTcpSynSent || state == kTcpSynRecv || state == kTcpSynAck;
}

}  // namespace fulcrum
