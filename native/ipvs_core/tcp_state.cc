// The names of the TCP states as ipvsadm prints them, and which states count as active (the
// next-state tables are inline in tcp_state.h).
#include "tcp_state.h"

namespace fulcrum {

namespace {

constexpr const char* kNames[kTcpStateCount + 1] = {
    "NONE", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT", "TIME_WAIT",
    "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "SYNACK", "UDP",
};

}  // namespace

const char* tcp_state_name(uint8_t state) { return state <= kStateUdp ? kNames[state] : "ERR!"; }

bool tcp_state_active(uint8_t state) {
  return state == kTcpEstablished || state == kTcpSynSent || state == kTcpSynRecv || state == kTcpSynAck;
}

}  // namespace fulcrum
