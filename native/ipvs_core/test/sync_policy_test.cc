// When a master sends a connection, as the kernel decides it (ip_vs_sync_conn_needed): TCP in
// its synced states only, at once on a change into a closing state, else on the 3rd, 53rd,
// 103rd ... packet; UDP by count alone; templates whenever asked; one-packet connections
// never; with sync_refresh_period, only when the reported expiry moved enough, retried.
#include <gtest/gtest.h>

#include <vector>

#include "sync_policy.h"
#include "tcp_state.h"
#include "types.h"

namespace fulcrum::sync {
namespace {

constexpr uint64_t kHz = 1000;

SyncInput tcp(uint16_t state, uint32_t pkts, uint64_t now = 0, uint64_t timeout_s = 900) {
  return SyncInput{kProtoTcp, state, false, false, false, pkts, now, timeout_s * kHz, kHz};
}

// The packets (1..n) on which a connection in `state` all along is sent.
std::vector<uint32_t> sent_on(SyncSysctls s, SyncInput in, uint32_t n) {
  SyncMark m;
  std::vector<uint32_t> out;
  for (uint32_t p = 1; p <= n; p++) {
    in.pkts = p;
    if (sync_needed(s, in, m)) out.push_back(p);
  }
  return out;
}

TEST(SyncPolicy, AnEstablishedTcpConnectionGoesOnThe3rd53rdAnd103rdPacket) {
  EXPECT_EQ(sent_on({}, tcp(kTcpEstablished, 0), 120), (std::vector<uint32_t>{3, 53, 103}));
  SyncSysctls s;
  s.threshold = 1;
  s.period = 10;
  EXPECT_EQ(sent_on(s, tcp(kTcpEstablished, 0), 25), (std::vector<uint32_t>{1, 11, 21}));
}

TEST(SyncPolicy, HandshakeStatesAreNeverSent) {
  for (uint16_t st : {kTcpNone, kTcpSynSent, kTcpSynRecv, kTcpLastAck, kTcpListen, kTcpSynAck})
    EXPECT_TRUE(sent_on({}, tcp(st, 0), 60).empty()) << st;
}

TEST(SyncPolicy, AChangeIntoAClosingStateIsSentAtOnceThenByCountAgain) {
  SyncMark m;
  SyncSysctls s;
  EXPECT_TRUE(sync_needed(s, tcp(kTcpEstablished, 3), m));
  EXPECT_FALSE(sync_needed(s, tcp(kTcpEstablished, 4), m));
  EXPECT_TRUE(sync_needed(s, tcp(kTcpFinWait, 7), m)) << "the change, whatever the count";
  EXPECT_FALSE(sync_needed(s, tcp(kTcpFinWait, 8), m));
  EXPECT_TRUE(sync_needed(s, tcp(kTcpTimeWait, 9), m));
  EXPECT_TRUE(sync_needed(s, tcp(kTcpTimeWait, 53), m)) << "the count still sends";
  // back to ESTABLISHED: a change, but into ESTABLISHED, so the count decides
  EXPECT_FALSE(sync_needed(s, tcp(kTcpEstablished, 60), m));
  EXPECT_TRUE(sync_needed(s, tcp(kTcpEstablished, 103), m));
}

TEST(SyncPolicy, UdpGoesByCountTemplatesWhenAskedOnePacketNever) {
  SyncInput udp{kProtoUdp, 0, false, false, false, 0, 0, 300 * kHz, kHz};
  EXPECT_EQ(sent_on({}, udp, 60), (std::vector<uint32_t>{3, 53}));
  SyncInput tpl = udp;
  tpl.is_template = true;
  EXPECT_EQ(sent_on({}, tpl, 4), (std::vector<uint32_t>{1, 2, 3, 4}));
  SyncInput ops = udp;
  ops.one_packet = true;
  EXPECT_TRUE(sent_on({}, ops, 60).empty());
  SyncSysctls persist;
  persist.persist_mode = true;
  SyncInput under = tcp(kTcpEstablished, 0);
  under.under_template = true;
  EXPECT_TRUE(sent_on(persist, under, 60).empty()) << "sync_persist_mode: the template carries them";
  EXPECT_EQ(sent_on({}, under, 10), (std::vector<uint32_t>{3}));
}

TEST(SyncPolicy, WithARefreshPeriodAResendWaitsUntilTheExpiryMovedEnough) {
  SyncSysctls s;
  s.period = 0;
  s.refresh_period_s = 30;
  SyncMark m;
  SyncInput in = tcp(kTcpEstablished, 1, 1000 * kHz, 900);
  EXPECT_TRUE(sync_needed(s, in, m)) << "never sent: the expiry moved from nothing";
  in.now += 5 * kHz;
  EXPECT_FALSE(sync_needed(s, in, m)) << "moved 5 s, less than min(30 s, max(450 s, 10 s))";
  in.now += 25 * kHz;
  EXPECT_TRUE(sync_needed(s, in, m)) << "moved 30 s";

  // sync_retries: resent up to that many times, refresh/8 apart, while it has not moved enough
  s.retries = 2;
  SyncMark r;
  SyncInput x = tcp(kTcpEstablished, 1, 5000 * kHz, 900);
  EXPECT_TRUE(sync_needed(s, x, r));
  x.now += 1 * kHz;
  EXPECT_FALSE(sync_needed(s, x, r)) << "before refresh/8 (3.75 s)";
  x.now += 3 * kHz;
  EXPECT_TRUE(sync_needed(s, x, r)) << "first retry";
  x.now += 4 * kHz;
  EXPECT_TRUE(sync_needed(s, x, r)) << "second retry";
  x.now += 4 * kHz;
  EXPECT_FALSE(sync_needed(s, x, r)) << "retries spent";
}

}  // namespace
}  // namespace fulcrum::sync
