// Ids the control side reuses: a dest id or service id freed and later given to another server
// or service starts clean in the worker (counters, ActiveConn/InActConn/PersistConn, overload,
// scheduler state), and the entries of the id's earlier holder, still in the table, never
// touch the new holder's counts. The same server given its id back resumes (the kernel's trash).
#include "engine_test_util.h"

namespace fulcrum::test {
namespace {

const char* kVip = "10.0.0.1";

CoreConfig one_server(const char* server, SchedKind k = SchedKind::Rr, uint32_t flags = 0) {
  CoreConfig c;
  c.services = {mksvc(0, kProtoTcp, kVip, 80, k, {mkdest(0, server, 80, FwdMethod::Masq)}, flags)};
  return c;
}

Bytes syn(uint16_t cport, const char* client = "172.16.5.20") {
  return Pkt().ipv4(client, kVip).tcp(cport, 80, kTcpSyn).frame();
}
Bytes ack(uint16_t cport) { return Pkt().ipv4("172.16.5.20", kVip).tcp(cport, 80, kTcpAck).frame(); }
Bytes reply(const char* server, uint16_t cport, uint8_t flags) {
  return Pkt().ipv4(server, "172.16.5.20").tcp(80, cport, flags).frame();
}

TEST(EngineIdReuse, ADestIdGivenToAnotherServerStartsWithNoCountsAndOldEntriesDoNotTouchThem) {
  Harness h(one_server("192.168.1.10"));
  h.send(syn(1));                                   // SYN_RECV: active
  h.send(syn(2));
  h.send(reply("192.168.1.10", 2, kTcpSyn | kTcpAck));
  h.send(ack(2));                                   // ESTABLISHED: active
  ASSERT_EQ(h.load(0).active, 2u);
  ASSERT_EQ(h.worker->stats().dest[0].conns, 2u);

  h.apply(one_server("192.168.1.20"));  // id 0 now names another server
  EXPECT_EQ(h.load(0).active, 0u);
  EXPECT_EQ(h.load(0).inactive, 0u);
  EXPECT_EQ(h.worker->stats().dest[0].conns, 0u);
  EXPECT_EQ(h.worker->stats().dest[0].inpkts, 0u);
  // The old server's connections are not the new one's: their packets are dropped.
  EXPECT_EQ(h.send(ack(2)).v.reason, DropReason::DestUnavailable);

  EXPECT_EQ(h.send(syn(3)).p.daddr, ip4("192.168.1.20"));
  EXPECT_EQ(h.load(0).active, 1u);
  h.advance(61);  // SYN_RECV entries (old 1, new 3) expire; the old ESTABLISHED one lives on
  EXPECT_EQ(h.load(0).active, 0u);
  EXPECT_EQ(h.load(0).inactive, 0u);
  h.advance(900);  // the old ESTABLISHED entry goes too, without touching the new counts
  EXPECT_EQ(h.worker->conn_count(), 0u);
  EXPECT_EQ(h.load(0).active, 0u) << "an old entry must not decrement the new server's count";
  EXPECT_EQ(h.load(0).inactive, 0u);
  EXPECT_EQ(h.worker->stats().dest[0].conns, 1u);
}

TEST(EngineIdReuse, TheSameServerGivenItsIdBackKeepsItsCountsAndConnections) {
  CoreConfig two;
  two.services = {mksvc(0, kProtoTcp, kVip, 80, SchedKind::Rr,
                        {mkdest(1, "192.168.1.11", 80, FwdMethod::Masq), mkdest(0, "192.168.1.10", 80, FwdMethod::Masq)})};
  Harness h(two);
  uint16_t on0 = 0;
  for (uint16_t p = 1; p <= 2; ++p)
    if (h.send(syn(p)).p.daddr == ip4("192.168.1.10")) on0 = p;
  ASSERT_NE(on0, 0);
  CoreConfig without = two;
  without.services[0].dests.pop_back();  // id 0 deleted...
  h.apply(without);
  h.apply(two);  // ...and given back to the same server
  EXPECT_EQ(h.load(0).active, 1u);
  EXPECT_EQ(h.worker->stats().dest[0].conns, 1u);
  EXPECT_EQ(h.send(ack(on0)).v.action, Action::Transmit);  // now ESTABLISHED (900 s)
  h.advance(901);
  EXPECT_EQ(h.load(0).active, 0u);
  EXPECT_EQ(h.load(0).inactive, 0u);
}

TEST(EngineIdReuse, AReusedDestIdDoesNotInheritOverload) {
  CoreConfig c = one_server("192.168.1.10");
  c.services[0].dests[0].u_threshold = 1;
  Harness h(c);
  h.send(syn(1));
  ASSERT_TRUE(h.load(0).overload);
  CoreConfig other = one_server("192.168.1.20");
  other.services[0].dests[0].u_threshold = 1;
  h.apply(other);
  EXPECT_FALSE(h.load(0).overload);
  EXPECT_EQ(h.send(syn(2)).v.action, Action::Transmit);
  EXPECT_TRUE(h.load(0).overload);
  h.advance(61);  // both SYN_RECV entries go; only the new one unbinds from the new server
  EXPECT_FALSE(h.load(0).overload);
  EXPECT_EQ(h.load(0).active, 0u);
}

TEST(EngineIdReuse, AnOldServersTemplateNeitherSendsClientsToTheNewOneNorCountsForIt) {
  Harness h(one_server("192.168.1.10", SchedKind::Rr, kSvcPersistent));
  h.send(syn(1));
  ASSERT_EQ(h.load(0).persist, 1u);
  h.apply(one_server("192.168.1.20", SchedKind::Rr, kSvcPersistent));
  EXPECT_EQ(h.load(0).persist, 0u);
  EXPECT_EQ(h.send(syn(2)).p.daddr, ip4("192.168.1.20"));
  EXPECT_EQ(h.load(0).persist, 1u) << "a new template for the new server";
  h.advance(100);   // the connections go; their templates live the persistence timeout on
  h.advance(1000);  // everything expires: the old template must not decrement the new count
  EXPECT_EQ(h.worker->conn_count(), 0u);
  EXPECT_EQ(h.load(0).persist, 0u);
  EXPECT_EQ(h.load(0).active, 0u);
}

TEST(EngineIdReuse, AServiceIdGivenToAnotherServiceStartsWithFreshCountersAndScheduler) {
  CoreConfig a;
  a.services = {mksvc(0, kProtoTcp, kVip, 80, SchedKind::Rr,
                      {mkdest(1, "192.168.1.11", 80, FwdMethod::Masq), mkdest(0, "192.168.1.10", 80, FwdMethod::Masq)})};
  Harness h(a);
  EXPECT_EQ(h.send(syn(1)).p.daddr, ip4("192.168.1.11"));  // rr cursor now on the head's first
  ASSERT_EQ(h.worker->stats().svc[0].conns, 1u);
  CoreConfig b;  // id 0 names another service (another port); dest ids taken by new servers
  b.services = {mksvc(0, kProtoTcp, kVip, 8080, SchedKind::Rr,
                      {mkdest(1, "192.168.1.11", 8080, FwdMethod::Masq), mkdest(0, "192.168.1.10", 8080, FwdMethod::Masq)})};
  h.apply(b);
  EXPECT_EQ(h.worker->stats().svc[0].conns, 0u);
  Harness::Out o = h.send(Pkt().ipv4("172.16.5.20", kVip).tcp(7, 8080, kTcpSyn).frame());
  EXPECT_EQ(o.p.daddr, ip4("192.168.1.11")) << "a new service's rr starts at the head";
}

}  // namespace
}  // namespace fulcrum::test
