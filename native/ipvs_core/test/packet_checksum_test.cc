// Checksum arithmetic against the naive reference in pktgen: odd lengths and alignments,
// chained partial sums, RFC 1624 incremental updates, the 0x0000/0xffff edge and UDP's "0 =
// no checksum" rule.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "checksum.h"
#include "pktgen.h"

namespace fulcrum {
namespace {

using test::Bytes;
using test::ref_csum;

uint16_t as_host(uint16_t mem) { return ntoh16(mem); }

TEST(Checksum, Rfc1071Example) {
  // RFC 1071 §3: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2, checksum 0x220d.
  const Bytes b = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  EXPECT_EQ(as_host(inet_csum(b.data(), b.size())), 0x220d);
  EXPECT_EQ(ref_csum(b), 0x220d);
}

TEST(Checksum, OddLengthsAndAlignmentsMatchReference) {
  std::mt19937 rng(1);
  Bytes buf(300);
  for (auto& x : buf) x = uint8_t(rng());
  for (size_t start = 0; start < 9; ++start) {
    for (size_t len = 0; len < 200; ++len) {
      Bytes part(buf.begin() + start, buf.begin() + start + len);
      ASSERT_EQ(as_host(inet_csum(buf.data() + start, len)), ref_csum(part))
          << "start " << start << " len " << len;
    }
  }
}

TEST(Checksum, ChainedPartialSumsAtEvenSplits) {
  std::mt19937 rng(2);
  Bytes b(101);
  for (auto& x : b) x = uint8_t(rng());
  for (size_t split = 0; split <= b.size(); split += 2) {
    uint32_t s = csum_partial(b.data(), split);
    s = csum_partial(b.data() + split, b.size() - split, s);
    ASSERT_EQ(csum_fold(s), inet_csum(b.data(), b.size())) << split;
  }
}

TEST(Checksum, ZeroAndAllOnesResults) {
  const Bytes zeros(10, 0);
  EXPECT_EQ(as_host(inet_csum(zeros.data(), zeros.size())), 0xffff);
  const Bytes ones = {0xff, 0xff, 0xff, 0xff};
  EXPECT_EQ(inet_csum(ones.data(), ones.size()), 0x0000);
  EXPECT_EQ(ref_csum(ones), 0x0000);
  // UDP: a computed 0 goes out as 0xffff.
  EXPECT_EQ(udp_csum_final(csum_partial(ones.data(), ones.size())), 0xffff);
  EXPECT_EQ(as_host(udp_csum_final(csum_partial(zeros.data(), 2))), 0xffff);
}

TEST(Checksum, IncrementalMatchesFullRecompute) {
  std::mt19937 rng(3);
  for (int iter = 0; iter < 20000; ++iter) {
    Bytes b(24 + 2 * (rng() % 20));
    for (auto& x : b) x = uint8_t(rng());
    if (iter % 7 == 0) std::fill(b.begin(), b.end(), 0);  // sums near the 0/0xffff edge
    store16(&b[0], 0);
    store16(&b[0], inet_csum(b.data(), b.size()));
    const size_t off16 = 2 + 2 * (rng() % ((b.size() - 2) / 2));
    const size_t off32 = 2 + 2 * (rng() % ((b.size() - 6) / 2));
    const uint16_t old16 = load16(&b[off16]);
    const uint16_t new16 = uint16_t(rng());
    store16(&b[off16], new16);
    store16(&b[0], csum_update16(load16(&b[0]), old16, new16));
    const uint32_t old32 = load32(&b[off32]);
    const uint32_t new32 = uint32_t(rng());
    store32(&b[off32], new32);
    store16(&b[0], csum_update32(load16(&b[0]), old32, new32));
    ASSERT_EQ(ref_csum(b), 0) << "iter " << iter;  // the area verifies
  }
}

TEST(Checksum, DeltaUdpKeepsZeroAndAvoidsZero) {
  CsumDelta d;
  d.add16(hton16(1), hton16(0x1235));
  EXPECT_EQ(d.apply_udp(0), 0);  // "no checksum" stays so
  // ~0x1234 + ~1 + 0x1235 folds to 0xffff, so the plain update yields 0x0000 ...
  EXPECT_EQ(d.apply(hton16(0x1234)), 0);
  // ... which UDP must send as 0xffff.
  EXPECT_EQ(d.apply_udp(hton16(0x1234)), 0xffff);
}

TEST(Checksum, UnchangedWordsLeaveChecksumIdentical) {
  CsumDelta d;
  d.add32(0x01020304, 0x01020304);
  d.add16(0xabcd, 0xabcd);
  EXPECT_TRUE(d.empty());
  EXPECT_EQ(d.apply(0xffff), 0xffff);
  EXPECT_EQ(d.apply(0x0000), 0x0000);
}

TEST(Checksum, PseudoHeaders) {
  const be32 s = test::ip4("10.0.0.2"), d = test::ip4("207.175.44.110");
  Bytes ph(12, 0);
  std::memcpy(&ph[0], &s, 4);
  std::memcpy(&ph[4], &d, 4);
  ph[9] = 6;
  ph[10] = 0x05;
  ph[11] = 0xdc;
  EXPECT_EQ(as_host(csum_fold(pseudo_v4(s, d, 6, 1500))), ref_csum(ph));

  const auto s6 = test::ip6("2001:db8::1"), d6 = test::ip6("2001:db8::ffff:1");
  Bytes ph6(40, 0);
  std::memcpy(&ph6[0], s6.data(), 16);
  std::memcpy(&ph6[16], d6.data(), 16);
  ph6[33] = 1;
  ph6[34] = 0x11;
  ph6[35] = 0x70;
  ph6[39] = 17;
  EXPECT_EQ(as_host(csum_fold(pseudo_v6(s6.data(), d6.data(), 17, 70000))), ref_csum(ph6));
}

}  // namespace
}  // namespace fulcrum
