// The kernel IPVS sync daemon's messages, as specifications: what a Fulcrum master writes is
// the kernel's version 1 layout byte for byte; what a backup takes from a message (version 1
// or 0) is what the kernel's backup takes, record for record, with the kernel's checks; and no
// datagram, however malformed, makes the reader look outside it.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "sync_wire.h"

namespace fulcrum::sync {
namespace {

be32 ip4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) { return hton32(uint32_t{a} << 24 | uint32_t{b} << 16 | uint32_t{c} << 8 | d); }

SyncConn tcp_conn() {
  SyncConn c;
  c.protocol = kProtoTcp;
  c.flags = kFwdMasq;
  c.state = 1;  // ESTABLISHED
  c.cport = hton16(40000);
  c.vport = hton16(80);
  c.dport = hton16(8080);
  c.timeout_s = 900;
  c.caddr = IpAddr::from_v4(ip4(198, 18, 0, 10));
  c.vaddr = IpAddr::from_v4(ip4(198, 18, 0, 100));
  c.daddr = IpAddr::from_v4(ip4(198, 19, 0, 11));
  return c;
}

struct Read {
  ReadResult r;
  std::vector<SyncConn> conns;
};
Read read(const std::vector<uint8_t>& m, uint8_t syncid = 0) {
  std::vector<SyncConn> out(kMaxConns);
  Read x;
  x.r = read_message(m.data(), m.size(), syncid, out.data());
  out.resize(x.r.conns);
  x.conns = out;
  return x;
}

std::vector<uint8_t> written(const std::vector<SyncConn>& cs, uint8_t syncid = 0, size_t cap = 1472) {
  std::vector<uint8_t> buf(cap);
  MessageWriter w(buf.data(), buf.size(), syncid);
  for (const SyncConn& c : cs) EXPECT_TRUE(w.add(c));
  buf.resize(w.size());
  return buf;
}

// What a backup keeps of a record it takes.
SyncConn as_taken(SyncConn c) {
  c.flags = (c.flags & kBackupMask) | kFlagSync;
  return c;
}

TEST(SyncWire, AVersion1MessageIsTheKernelsLayoutByteForByte) {
  SyncConn c = tcp_conn();
  c.flags = kFwdMasq | kFlagHashed | kFlagInactive;  // HASHED never travels
  c.fwmark = 0x01020304;
  std::vector<uint8_t> m = written({c}, 9);
  const std::vector<uint8_t> want = {
      0x00, 9, 0x00, 44, 1, 1, 0x00, 0x00,    // reserved, SyncID, size, nr_conns, version, spare
      0x00, 6, 0x00, 36,                      // type (IPv4), protocol, version 0 | record size
      0x00, 0x00, 0x01, 0x00,                 // flags
      0x00, 0x01, 0x9c, 0x40,                 // state, cport 40000
      0x00, 0x50, 0x1f, 0x90,                 // vport 80, dport 8080
      0x01, 0x02, 0x03, 0x04,                 // fwmark
      0x00, 0x00, 0x03, 0x84,                 // timeout 900 s
      198, 18, 0, 10, 198, 18, 0, 100, 198, 19, 0, 11,  // caddr, vaddr, daddr
  };
  EXPECT_EQ(m, want);
}

TEST(SyncWire, RecordsComeBackAsWrittenPaddedToFourBytesWithSequenceAndFullNatData) {
  SyncConn seq = tcp_conn();
  seq.flags = kFwdMasq | kFlagInSeq | kFlagOutSeq;
  seq.has_seq = true;
  seq.in_seq = {1000, 7, 3};
  seq.out_seq = {2000, 0xfffffff9u, 0};
  SyncConn fnat = tcp_conn();
  fnat.cport = hton16(40001);
  fnat.has_fullnat = true;
  fnat.laddr = IpAddr::from_v4(ip4(198, 19, 0, 1));
  fnat.lport = hton16(1025);
  SyncConn tpl = tcp_conn();
  tpl.flags = kFwdDroute | kFlagTemplate | kFlagNoCport;
  tpl.protocol = kProtoUdp;
  tpl.state = 0;
  tpl.cport = 0;
  tpl.timeout_s = 300;
  SyncConn v6 = tcp_conn();
  uint8_t a[16] = {0x20, 0x01, 0x0d, 0xb8};
  a[15] = 10;
  v6.caddr = IpAddr::from_v6(a);
  a[15] = 100;
  v6.vaddr = IpAddr::from_v6(a);
  a[15] = 11;
  v6.daddr = IpAddr::from_v6(a);
  v6.has_fullnat = true;
  a[15] = 1;
  v6.laddr = IpAddr::from_v6(a);
  v6.lport = hton16(2000);

  std::vector<uint8_t> m = written({seq, fnat, tpl, v6});
  // seq: 36 + 26 = 62 bytes, then 2 bytes of padding before the next record
  EXPECT_EQ(m[8 + 2] << 8 | m[8 + 3], 62);
  EXPECT_EQ(m[8 + 62], 0);
  EXPECT_EQ(m[8 + 64 + 1], kProtoTcp);
  EXPECT_EQ(m.size(), 8u + 64 + 44 + 36 + (72 + 20));
  Read x = read(m);
  EXPECT_EQ(x.r.error, MessageError::kNone);
  EXPECT_EQ(x.r.version, 1);
  ASSERT_EQ(x.conns.size(), 4u);
  EXPECT_EQ(x.conns[0], as_taken(seq));
  EXPECT_EQ(x.conns[1], as_taken(fnat));
  EXPECT_EQ(x.conns[2], as_taken(tpl));
  EXPECT_EQ(x.conns[3], as_taken(v6));
  EXPECT_TRUE(x.conns[3].v6());
}

TEST(SyncWire, ANat64RecordIsAnIpv6OneWithAMappedServerAndTheMandatoryNat64Parameter) {
  SyncConn n = tcp_conn();
  uint8_t a[16] = {0x20, 0x01, 0x0d, 0xb8};
  a[15] = 10;
  n.caddr = IpAddr::from_v6(a);
  a[15] = 100;
  n.vaddr = IpAddr::from_v6(a);
  n.daddr = IpAddr::from_v4(ip4(198, 19, 0, 11));  // the IPv4 server
  n.has_fullnat = true;
  n.laddr = IpAddr::from_v4(ip4(198, 19, 0, 1));  // the IPv4 local address
  n.lport = hton16(2000);
  std::vector<uint8_t> m = written({n});
  ASSERT_EQ(m.size(), 8u + 72 + 8);
  const uint8_t* r = m.data() + 8;
  EXPECT_EQ(r[0], 1) << "an IPv6 record";
  const uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 19, 0, 11};
  EXPECT_EQ(std::vector<uint8_t>(r + 24 + 32, r + 24 + 48), std::vector<uint8_t>(mapped, mapped + 16));
  // The parameter: type 0x21 without IPVS_OPT_F_PARAM (a kernel backup skips the record),
  // 6 bytes: the IPv4 local address and port.
  EXPECT_EQ(std::vector<uint8_t>(r + 72, r + 80), (std::vector<uint8_t>{kParamNat64, 6, 198, 19, 0, 1, 0x07, 0xd0}));
  EXPECT_EQ(kParamNat64 & kParamOptional, 0);
  Read x = read(m);
  ASSERT_EQ(x.conns.size(), 1u);
  EXPECT_EQ(x.conns[0], as_taken(n));
  EXPECT_TRUE(x.conns[0].v6());
  EXPECT_TRUE(x.conns[0].laddr.is_v4());
  // A reader that does not know the parameter (the kernel): the record alone is skipped, the
  // next one taken.
  std::vector<uint8_t> k = written({n, tcp_conn()});
  k[8 + 72] = 0x22;  // stands for "a mandatory parameter this reader does not know"
  Read y = read(k);
  EXPECT_EQ(y.r.error, MessageError::kNone);
  ASSERT_EQ(y.conns.size(), 1u);
  EXPECT_FALSE(y.conns[0].v6());
  EXPECT_EQ(y.r.skipped[static_cast<size_t>(RecordSkip::kUnknownParam)], 1u);
  // The NAT64 parameter of another length: not the one we know, so an unknown mandatory one.
  std::vector<uint8_t> bad = written({n});
  bad[8 + 73] = 5;
  Read z = read(bad);
  EXPECT_EQ(z.conns.size(), 0u);
  EXPECT_EQ(z.r.skipped[static_cast<size_t>(RecordSkip::kUnknownParam)], 1u);
}

TEST(SyncWire, AVersion0MessageIsReadWithTheBackupsOwnTimeouts) {
  // struct ip_vs_sync_mesg_v0 and two ip_vs_sync_conn_v0, the second with its options (as
  // the master's memory holds them: little-endian).
  std::vector<uint8_t> m = {
      2, 5, 0x00, 4 + 24 + 48,
      0, 6, 0x9c, 0x40, 0x00, 0x50, 0x1f, 0x90, 198, 18, 0, 10, 198, 18, 0, 100, 198, 19, 0, 11,
      0x00, 0x40, 0x00, 0x01,  // flags HASHED (dropped), state ESTABLISHED
      0, 6, 0x9c, 0x41, 0x00, 0x50, 0x1f, 0x90, 198, 18, 0, 10, 198, 18, 0, 100, 198, 19, 0, 11,
      0x06, 0x00, 0x00, 0x04,  // flags IN_SEQ|OUT_SEQ, state FIN_WAIT
      0xe8, 0x03, 0, 0, 7, 0, 0, 0, 3, 0, 0, 0, 0xd0, 0x07, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  };
  Read x = read(m, 5);
  EXPECT_EQ(x.r.error, MessageError::kNone);
  EXPECT_EQ(x.r.version, 0);
  ASSERT_EQ(x.conns.size(), 2u);
  SyncConn want = tcp_conn();
  want.timeout_s = 0;
  want.flags = kFlagSync;
  EXPECT_EQ(x.conns[0], want);
  EXPECT_EQ(x.conns[1].state, 4);
  EXPECT_EQ(x.conns[1].flags, kFlagSync | kFlagSeqMask);
  EXPECT_TRUE(x.conns[1].has_seq);
  EXPECT_EQ(x.conns[1].in_seq, (SeqAdjust{1000, 7, 3}));
  EXPECT_EQ(x.conns[1].out_seq, (SeqAdjust{2000, 0, 0}));
}

TEST(SyncWire, ABackupWithASyncIdTakesOnlyItsOwnAndOneWithoutTakesAny) {
  std::vector<uint8_t> m = written({tcp_conn()}, 3);
  EXPECT_EQ(read(m, 7).r.error, MessageError::kOtherSyncId);
  EXPECT_EQ(read(m, 7).conns.size(), 0u);
  EXPECT_EQ(read(m, 3).conns.size(), 1u);
  EXPECT_EQ(read(m, 0).conns.size(), 1u);
}

TEST(SyncWire, AMessageWhoseSizeIsNotTheDatagramsOrTooShortIsDroppedWhole) {
  std::vector<uint8_t> m = written({tcp_conn(), tcp_conn()});
  std::vector<uint8_t> longer = m;
  longer.push_back(0);
  EXPECT_EQ(read(longer).r.error, MessageError::kBadSize);
  EXPECT_EQ(read(longer).conns.size(), 0u);
  EXPECT_EQ(read({0, 0, 0}).r.error, MessageError::kTooShort);
}

TEST(SyncWire, RecordsBeforeAProblemAreTakenAndNothingAfterIt) {
  SyncConn b = tcp_conn();
  b.cport = hton16(40001);
  std::vector<uint8_t> m = written({tcp_conn(), b, tcp_conn()});
  // the second record claims version 1
  std::vector<uint8_t> v = m;
  v[8 + 36 + 2] |= 0x10;
  Read x = read(v);
  EXPECT_EQ(x.r.error, MessageError::kRecordVersion);
  EXPECT_EQ(x.conns.size(), 1u);
  // the second record runs past the datagram
  std::vector<uint8_t> t = m;
  t[8 + 36 + 3] = 200;
  EXPECT_EQ(read(t).r.error, MessageError::kTruncated);
  EXPECT_EQ(read(t).conns.size(), 1u);
  // the second record's type is neither IPv4 (0) nor IPv6 (bit 0)
  std::vector<uint8_t> y = m;
  y[8 + 36] = 2;
  EXPECT_EQ(read(y).r.error, MessageError::kBadRecord);
  EXPECT_EQ(read(y).conns.size(), 1u);
  // more records announced than there are
  std::vector<uint8_t> n = m;
  n[4] = 4;
  EXPECT_EQ(read(n).r.error, MessageError::kTruncated);
  EXPECT_EQ(read(n).conns.size(), 3u);
}

// A record with a parameter appended by hand: the record's size, the message's size.
std::vector<uint8_t> with_param(SyncConn c, std::vector<uint8_t> param) {
  std::vector<uint8_t> m = written({c});
  m.insert(m.end(), param.begin(), param.end());
  size_t rec = 36 + param.size();
  m[8 + 2] = static_cast<uint8_t>(rec >> 8);
  m[8 + 3] = static_cast<uint8_t>(rec);
  m[2] = static_cast<uint8_t>(m.size() >> 8);
  m[3] = static_cast<uint8_t>(m.size());
  return m;
}

TEST(SyncWire, ParametersAreCheckedAsTheKernelChecksThem) {
  // an unknown optional parameter is skipped; an unknown mandatory one skips the record
  EXPECT_EQ(read(with_param(tcp_conn(), {0x40 | 9, 2, 0xaa, 0xbb})).conns.size(), 1u);
  Read mand = read(with_param(tcp_conn(), {9, 2, 0xaa, 0xbb}));
  EXPECT_EQ(mand.r.error, MessageError::kNone);
  EXPECT_EQ(mand.conns.size(), 0u);
  EXPECT_EQ(mand.r.skipped[static_cast<size_t>(RecordSkip::kUnknownParam)], 1u);
  // persistence-engine data: no engine here, the record is skipped
  Read pe = read(with_param(tcp_conn(), {kParamPeData, 2, 1, 2, kParamPeName, 3, 's', 'i', 'p'}));
  EXPECT_EQ(pe.conns.size(), 0u);
  EXPECT_EQ(pe.r.skipped[static_cast<size_t>(RecordSkip::kPeData)], 1u);
  // a zero length, a length past the record, sequence data of the wrong size or twice: the
  // rest of the message goes
  EXPECT_EQ(read(with_param(tcp_conn(), {0x40 | 9, 0})).r.error, MessageError::kBadRecord);
  EXPECT_EQ(read(with_param(tcp_conn(), {0x40 | 9, 9, 0})).r.error, MessageError::kBadRecord);
  EXPECT_EQ(read(with_param(tcp_conn(), {kParamSeq, 2, 0, 0})).r.error, MessageError::kBadRecord);
  std::vector<uint8_t> two(2 * 26, 0);
  two[0] = two[26] = kParamSeq;
  two[1] = two[27] = 24;
  EXPECT_EQ(read(with_param(tcp_conn(), two)).r.error, MessageError::kBadRecord);
}

TEST(SyncWire, ProtocolsAndStatesIpvsDoesNotHaveAreSkippedTemplatesAreNot) {
  SyncConn icmp = tcp_conn();
  icmp.protocol = kProtoIcmp;
  SyncConn bad_state = tcp_conn();
  bad_state.state = 11;  // IP_VS_TCP_S_LAST
  SyncConn udp_bad = tcp_conn();
  udp_bad.protocol = kProtoUdp;
  udp_bad.state = 1;
  SyncConn tpl = tcp_conn();
  tpl.flags = kFlagTemplate;
  tpl.state = 99;
  Read x = read(written({icmp, bad_state, udp_bad, tpl, tcp_conn()}));
  EXPECT_EQ(x.r.error, MessageError::kNone);
  ASSERT_EQ(x.conns.size(), 2u);
  EXPECT_EQ(x.conns[0].state, 99);
  EXPECT_EQ(x.r.skipped[static_cast<size_t>(RecordSkip::kProtocol)], 1u);
  EXPECT_EQ(x.r.skipped[static_cast<size_t>(RecordSkip::kState)], 2u);
}

TEST(SyncWire, AWriterStopsAtItsBufferAnd255Records) {
  std::vector<uint8_t> small(8 + 36 + 36);
  MessageWriter w(small.data(), small.size(), 1);
  EXPECT_TRUE(w.add(tcp_conn()));
  EXPECT_TRUE(w.add(tcp_conn()));
  EXPECT_FALSE(w.add(tcp_conn()));
  EXPECT_EQ(w.count(), 2u);
  EXPECT_EQ(w.size(), small.size());
  w.reset();
  EXPECT_EQ(w.count(), 0u);
  EXPECT_EQ(w.size(), kHeaderV1);

  std::vector<uint8_t> big(65535);
  MessageWriter many(big.data(), big.size(), 1);
  for (int i = 0; i < 255; i++) ASSERT_TRUE(many.add(tcp_conn()));
  EXPECT_FALSE(many.add(tcp_conn()));
  big.resize(many.size());
  EXPECT_EQ(read(big).conns.size(), 255u);
}

// Datagrams a kernel master sent (Debian 12, Linux 6.1, ../shared/tools/lvs-kernel-vm), captured
// on the wire in a namespace: three connections to a NAT service reaching ESTABLISHED (SyncID
// 5), then the same three in CLOSE_WAIT; with a persistent service (SyncID 9), connections and
// their template in version 1, and in version 0 after `sync_version=0`. The other way, the same
// kernel as a backup listed in `ipvsadm -Lnc` what MessageWriter wrote (ESTABLISHED with the
// timeout sent, TIME_WAIT, and a record carrying the FullNAT parameter, which it skipped).
const char* const kKernelEstablished =
      "000500740301000000060024000000000001e590005000500000000000000384"
      "c6120101c6120164c612020100060024000000000001e59a0050005000000000"
      "00000384c6120101c6120164c612020100060024000000000001e59c00500050"
      "0000000000000384c6120101c6120164c6120201";
const char* const kKernelCloseWait =
      "000500740301000000060024000001000007e59a00500050000000000000003c"
      "c6120101c6120164c612020100060024000001000007e5900050005000000000"
      "0000003cc6120101c6120164c612020100060024000001000007e59c00500050"
      "000000000000003cc6120101c6120164c6120201";
const char* const kKernelPersistentV1 =
      "0009014c0901000000060024000011000000000000500050000000000000012c"
      "c6120101c6120164c61202010006002400001100000100000050005000000000"
      "0000012cc6120101c6120164c612020100060024000000000001afc900500050"
      "0000000000000384c6120101c6120164c6120201000600240000110000010000"
      "00500050000000000000012cc6120101c6120164c61202010006002400001100"
      "0001000000500050000000000000012cc6120101c6120164c612020100060024"
      "000011000001000000500050000000000000012cc6120101c6120164c6120201"
      "00060024000011000001000000500050000000000000012cc6120101c6120164"
      "c612020100060024000001000007afc900500050000000000000003cc6120101"
      "c6120164c612020100060024000011000001000000500050000000000000012c"
      "c6120101c6120164c6120201";
const char* const kKernelPersistentV0 =
      "040900640006afca00500050c6120101c6120164c61202010000000100060000"
      "00500050c6120101c6120164c6120201110000010006afca00500050c6120101"
      "c6120164c6120201010000070006000000500050c6120101c6120164c6120201"
      "11000001";

std::vector<uint8_t> unhex(const char* h) {
  std::vector<uint8_t> out;
  for (; h[0] && h[1]; h += 2) out.push_back(static_cast<uint8_t>(std::stoi(std::string(h, 2), nullptr, 16)));
  return out;
}

SyncConn kernel_conn(uint16_t cport, uint16_t state, uint32_t timeout, uint32_t flags) {
  SyncConn c = tcp_conn();
  c.caddr = IpAddr::from_v4(ip4(198, 18, 1, 1));
  c.vaddr = IpAddr::from_v4(ip4(198, 18, 1, 100));
  c.daddr = IpAddr::from_v4(ip4(198, 18, 2, 1));
  c.cport = hton16(cport);
  c.dport = hton16(80);
  c.state = state;
  c.timeout_s = timeout;
  c.flags = flags;
  return c;
}

TEST(SyncWireKernel, AKernelMastersDatagramsReadAsItsIpvsadmListedThem) {
  Read est = read(unhex(kKernelEstablished), 5);
  EXPECT_EQ(est.r.error, MessageError::kNone);
  ASSERT_EQ(est.conns.size(), 3u);
  EXPECT_EQ(est.conns[0], kernel_conn(58768, 1, 900, kFlagSync));
  EXPECT_EQ(est.conns[2], kernel_conn(58780, 1, 900, kFlagSync));
  Read cw = read(unhex(kKernelCloseWait), 5);
  ASSERT_EQ(cw.conns.size(), 3u);
  EXPECT_EQ(cw.conns[0], kernel_conn(58778, 7, 60, kFlagSync | kFlagInactive));  // CLOSE_WAIT
  EXPECT_EQ(read(unhex(kKernelCloseWait), 6).r.error, MessageError::kOtherSyncId);

  Read v1 = read(unhex(kKernelPersistentV1), 9);
  EXPECT_EQ(v1.r.version, 1);
  ASSERT_EQ(v1.conns.size(), 9u);
  EXPECT_EQ(v1.conns[0], kernel_conn(0, 0, 300, kFlagSync | kFlagTemplate | kFlagInactive));
  EXPECT_EQ(v1.conns[2], kernel_conn(45001, 1, 900, kFlagSync));
  EXPECT_EQ(v1.conns[7], kernel_conn(45001, 7, 60, kFlagSync | kFlagInactive));
  Read v0 = read(unhex(kKernelPersistentV0), 9);
  EXPECT_EQ(v0.r.version, 0);
  EXPECT_EQ(v0.r.error, MessageError::kNone);
  ASSERT_EQ(v0.conns.size(), 4u);
  EXPECT_EQ(v0.conns[0], kernel_conn(45002, 1, 0, kFlagSync));
  EXPECT_EQ(v0.conns[1], kernel_conn(0, 1, 0, kFlagSync | kFlagTemplate | kFlagInactive));
}

TEST(SyncWireKernel, WhatAKernelMasterSentIsWhatThisWriterWritesByteForByte) {
  for (const char* hex : {kKernelEstablished, kKernelCloseWait, kKernelPersistentV1}) {
    std::vector<uint8_t> kernel = unhex(hex);
    Read x = read(kernel);
    std::vector<SyncConn> sent;
    for (SyncConn c : x.conns) {
      c.flags &= ~kFlagSync;  // a master's own connections are not synced ones
      sent.push_back(c);
    }
    EXPECT_EQ(written(sent, kernel[1]), kernel);
  }
}

TEST(SyncWire, NoDatagramMakesTheReaderLookOutsideIt) {
  std::mt19937 rng(20261202);
  SyncConn seq = tcp_conn();
  seq.flags |= kFlagSeqMask;
  seq.has_seq = true;
  SyncConn fnat = tcp_conn();
  fnat.has_fullnat = true;
  std::vector<uint8_t> valid = written({tcp_conn(), seq, fnat, tcp_conn()});
  std::vector<SyncConn> out(kMaxConns);
  for (int i = 0; i < 200000; i++) {
    std::vector<uint8_t> m;
    if (i % 2) {
      m = valid;
      for (int k = rng() % 6; k >= 0; k--) m[rng() % m.size()] = static_cast<uint8_t>(rng());
      m.resize(rng() % (m.size() + 1));
    } else {
      m.resize(rng() % 300);
      for (uint8_t& b : m) b = static_cast<uint8_t>(rng());
      if (m.size() >= 4 && rng() % 2) {  // a size that matches, so the records are read
        m[2] = static_cast<uint8_t>(m.size() >> 8);
        m[3] = static_cast<uint8_t>(m.size());
        if (m.size() >= 8 && rng() % 2) m[0] = 0, m[5] = 1, m[6] = 0, m[7] = 0;
      }
    }
    // a copy of exactly the datagram's size: ASan sees a read past its end
    auto* exact = new uint8_t[m.size()];
    std::copy(m.begin(), m.end(), exact);
    ReadResult r = read_message(exact, m.size(), 0, out.data());
    delete[] exact;
    ASSERT_LE(r.conns, kMaxConns);
  }
}

}  // namespace
}  // namespace fulcrum::sync
