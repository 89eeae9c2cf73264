// Specification of the TCP state machine and the timeouts: every cell of reference §3.2's
// next-state table (In, Out, InOnly), the event priority, the NAT and DR flows described there,
// the names ipvsadm prints, and the kernel's timeout defaults with `--set` semantics.
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "packet.h"
#include "tcp_state.h"
#include "timeouts.h"

namespace fulcrum {
namespace {

// Reference §3.2, typed as printed there. Columns: NO ES SS SR FW TW CL CW LA LI SA.
struct Row {
  TcpDir dir;
  uint8_t flags;
  const char* next;
};
const Row kReference[] = {
    {TcpDir::In, kTcpSyn, "SR ES ES SR SR SR SR SR SR SR SR"},
    {TcpDir::In, kTcpFin, "CL CW SS TW TW TW CL CW LA LI TW"},
    {TcpDir::In, kTcpAck, "ES ES SS ES FW TW CL CW CL LI ES"},
    {TcpDir::In, kTcpRst, "CL CL CL SR CL CL CL CL LA LI SR"},
    {TcpDir::Out, kTcpSyn, "SS ES SS SR SS SS SS SS SS LI SR"},
    {TcpDir::Out, kTcpFin, "TW FW SS TW FW TW CL TW LA LI TW"},
    {TcpDir::Out, kTcpAck, "ES ES SS ES FW TW CL CW LA ES ES"},
    {TcpDir::Out, kTcpRst, "CL CL SS CL CL TW CL CL CL CL CL"},
    {TcpDir::InOnly, kTcpSyn, "SR ES ES SR SR SR SR SR SR SR SR"},
    {TcpDir::InOnly, kTcpFin, "CL FW SS TW FW TW CL CW LA LI TW"},
    {TcpDir::InOnly, kTcpAck, "ES ES SS ES FW TW CL CW CL LI ES"},
    {TcpDir::InOnly, kTcpRst, "CL CL CL SR CL CL CL CL LA LI CL"},
};

uint8_t abbrev(const std::string& s) {
  static const char* names[] = {"NO", "ES", "SS", "SR", "FW", "TW", "CL", "CW", "LA", "LI", "SA"};
  for (uint8_t i = 0; i < kTcpStateCount; ++i)
    if (s == names[i]) return i;
  ADD_FAILURE() << "bad abbreviation " << s;
  return 0xff;
}

const char* dir_name(TcpDir d) { return d == TcpDir::In ? "In" : d == TcpDir::Out ? "Out" : "InOnly"; }

TEST(TcpState, EveryCellMatchesTheReferenceTable) {
  int cells = 0;
  for (const Row& r : kReference) {
    std::istringstream ss(r.next);
    std::string tok;
    for (uint8_t cur = 0; cur < kTcpStateCount; ++cur) {
      ASSERT_TRUE(ss >> tok);
      EXPECT_EQ(tcp_next_state(cur, r.dir, r.flags), abbrev(tok))
          << dir_name(r.dir) << " flags=" << int(r.flags) << " from " << tcp_state_name(cur);
      ++cells;
    }
  }
  EXPECT_EQ(cells, 3 * 4 * 11);
}

TEST(TcpState, EventPriorityIsRstThenSynThenFinThenAck) {
  for (TcpDir d : {TcpDir::In, TcpDir::Out, TcpDir::InOnly}) {
    for (uint8_t cur = 0; cur < kTcpStateCount; ++cur) {
      uint8_t rst = tcp_next_state(cur, d, kTcpRst), syn = tcp_next_state(cur, d, kTcpSyn);
      uint8_t fin = tcp_next_state(cur, d, kTcpFin), ack = tcp_next_state(cur, d, kTcpAck);
      EXPECT_EQ(tcp_next_state(cur, d, kTcpRst | kTcpSyn | kTcpFin | kTcpAck), rst);
      EXPECT_EQ(tcp_next_state(cur, d, kTcpRst | kTcpAck), rst);
      EXPECT_EQ(tcp_next_state(cur, d, kTcpSyn | kTcpAck), syn);
      EXPECT_EQ(tcp_next_state(cur, d, kTcpSyn | kTcpFin), syn);
      EXPECT_EQ(tcp_next_state(cur, d, kTcpFin | kTcpAck | kTcpPsh), fin);
      EXPECT_EQ(tcp_next_state(cur, d, kTcpAck | kTcpPsh | kTcpUrg), ack);
      // None of the four: CLOSE, whatever the state.
      EXPECT_EQ(tcp_next_state(cur, d, 0), kTcpClose);
      EXPECT_EQ(tcp_next_state(cur, d, kTcpPsh | kTcpUrg), kTcpClose);
    }
  }
}

TEST(TcpState, OutOfRangeStatesAreTreatedAsNone) {
  EXPECT_EQ(tcp_next_state(kStateUdp, TcpDir::In, kTcpSyn), kTcpSynRecv);
  EXPECT_EQ(tcp_next_state(200, TcpDir::Out, kTcpAck), kTcpEstablished);
}

uint8_t run(std::vector<std::pair<TcpDir, uint8_t>> segs) {
  uint8_t s = kTcpNone;
  for (auto [d, f] : segs) s = tcp_next_state(s, d, f);
  return s;
}

TEST(TcpState, TypicalNatFlow) {
  uint8_t s = kTcpNone;
  s = tcp_next_state(s, TcpDir::In, kTcpSyn);
  EXPECT_EQ(s, kTcpSynRecv);
  s = tcp_next_state(s, TcpDir::Out, kTcpSyn | kTcpAck);
  EXPECT_EQ(s, kTcpSynRecv);
  s = tcp_next_state(s, TcpDir::In, kTcpAck);
  EXPECT_EQ(s, kTcpEstablished);
  s = tcp_next_state(s, TcpDir::In, kTcpFin | kTcpAck);  // client closes first
  EXPECT_EQ(s, kTcpCloseWait);
  s = tcp_next_state(s, TcpDir::Out, kTcpAck);
  EXPECT_EQ(s, kTcpCloseWait);
  s = tcp_next_state(s, TcpDir::Out, kTcpFin | kTcpAck);  // server closes
  EXPECT_EQ(s, kTcpTimeWait);
  s = tcp_next_state(s, TcpDir::In, kTcpAck);
  EXPECT_EQ(s, kTcpTimeWait);
  EXPECT_EQ(make_timeouts(TimeoutConfig{}).tcp[s], 120 * kTicksPerSec);

  // Server closes first.
  EXPECT_EQ(run({{TcpDir::In, kTcpSyn}, {TcpDir::Out, kTcpSyn | kTcpAck}, {TcpDir::In, kTcpAck},
                 {TcpDir::Out, kTcpFin | kTcpAck}}),
            kTcpFinWait);
  EXPECT_EQ(run({{TcpDir::In, kTcpSyn}, {TcpDir::Out, kTcpSyn | kTcpAck}, {TcpDir::In, kTcpAck},
                 {TcpDir::Out, kTcpFin | kTcpAck}, {TcpDir::In, kTcpFin | kTcpAck}}),
            kTcpTimeWait);
  // Reset by the server.
  EXPECT_EQ(run({{TcpDir::In, kTcpSyn}, {TcpDir::Out, kTcpRst}}), kTcpClose);
}

TEST(TcpState, TypicalDrFlow) {
  uint8_t s = kTcpNone;
  s = tcp_next_state(s, TcpDir::InOnly, kTcpSyn);
  EXPECT_EQ(s, kTcpSynRecv);
  s = tcp_next_state(s, TcpDir::InOnly, kTcpAck);
  EXPECT_EQ(s, kTcpEstablished);
  s = tcp_next_state(s, TcpDir::InOnly, kTcpAck | kTcpPsh);
  EXPECT_EQ(s, kTcpEstablished);
  s = tcp_next_state(s, TcpDir::InOnly, kTcpFin | kTcpAck);
  EXPECT_EQ(s, kTcpFinWait);
  EXPECT_EQ(make_timeouts(TimeoutConfig{}).tcp[s], 120 * kTicksPerSec);
  s = tcp_next_state(s, TcpDir::InOnly, kTcpAck);  // further ACKs keep FIN_WAIT
  EXPECT_EQ(s, kTcpFinWait);
  s = tcp_next_state(s, TcpDir::InOnly, kTcpRst);
  EXPECT_EQ(s, kTcpClose);
  EXPECT_EQ(make_timeouts(TimeoutConfig{}).tcp[s], 10 * kTicksPerSec);
}

TEST(TcpState, NamesAsIpvsadmPrintsThem) {
  const char* want[] = {"NONE",  "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT", "TIME_WAIT",
                        "CLOSE", "CLOSE_WAIT",  "LAST_ACK", "LISTEN",   "SYNACK",   "UDP"};
  for (uint8_t s = 0; s <= kStateUdp; ++s) EXPECT_STREQ(tcp_state_name(s), want[s]);
  EXPECT_STREQ(tcp_state_name(12), "ERR!");
  EXPECT_EQ(kTcpNone, 0);
  EXPECT_EQ(kTcpEstablished, 1);
  EXPECT_EQ(kTcpSynAck, 10);
}

TEST(TcpState, ActiveStatesAreTheKernelsPreEstablishedAndEstablishedOnes) {
  for (uint8_t s = 0; s <= kStateUdp; ++s) {
    bool want = s == kTcpEstablished || s == kTcpSynSent || s == kTcpSynRecv || s == kTcpSynAck;
    EXPECT_EQ(tcp_state_active(s), want) << tcp_state_name(s);
  }
}

TEST(Timeouts, KernelDefaultsInTicks) {
  EXPECT_EQ(kTicksPerSec, 100u);
  Timeouts t = make_timeouts(TimeoutConfig{});
  const uint32_t secs[] = {2, 900, 120, 60, 120, 120, 10, 60, 30, 120, 120};
  for (uint8_t s = 0; s < kTcpStateCount; ++s) EXPECT_EQ(t.tcp[s], secs[s] * 100) << tcp_state_name(s);
  EXPECT_EQ(t.udp, 300u * 100);
  EXPECT_EQ(t.icmp, 60u * 100);
  EXPECT_EQ(kNewConnTimeoutSecs, 3u);
  EXPECT_EQ(kExpireLaterSecs, 60u);
}

TEST(Timeouts, SetChangesOnlyEstablishedFinWaitAndUdpAndZeroMeansUnchanged) {
  TimeoutConfig c;
  apply_set_timeouts(c, 3600, 0, 0);
  EXPECT_EQ(c.tcp_established, 3600u);
  EXPECT_EQ(c.tcp_fin_wait, 120u);
  EXPECT_EQ(c.udp, 300u);
  apply_set_timeouts(c, 0, 30, 45);
  EXPECT_EQ(c.tcp_established, 3600u);
  EXPECT_EQ(c.tcp_fin_wait, 30u);
  EXPECT_EQ(c.udp, 45u);
  apply_set_timeouts(c, 0, 0, 0);
  EXPECT_EQ(c.tcp_established, 3600u);

  Timeouts t = make_timeouts(c);
  Timeouts d = make_timeouts(TimeoutConfig{});
  for (uint8_t s = 0; s < kTcpStateCount; ++s) {
    if (s == kTcpEstablished)
      EXPECT_EQ(t.tcp[s], 3600u * kTicksPerSec);
    else if (s == kTcpFinWait)
      EXPECT_EQ(t.tcp[s], 30u * kTicksPerSec);
    else
      EXPECT_EQ(t.tcp[s], d.tcp[s]) << tcp_state_name(s);  // TIME_WAIT, CLOSE_WAIT... untouched
  }
  EXPECT_EQ(t.udp, 45u * kTicksPerSec);
  EXPECT_EQ(t.icmp, d.icmp);
}

TEST(Timeouts, TickComparisonSurvivesWrapAround) {
  EXPECT_TRUE(tick_reached(5, 5));
  EXPECT_TRUE(tick_reached(6, 5));
  EXPECT_FALSE(tick_reached(4, 5));
  EXPECT_TRUE(tick_reached(10, 0xfffffff0u));   // 26 ticks after, across zero
  EXPECT_FALSE(tick_reached(0xfffffff0u, 10));  // 26 ticks before
}

}  // namespace
}  // namespace fulcrum
