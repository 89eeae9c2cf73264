// Specification of the connection table: both directions through one index, templates by key,
// colliding homes and the overflow counters across erasures, a full table, the budgeted expiry
// sweep under a hand-driven (and wrapping) clock, bounded iteration, memory per connection.
#include <algorithm>
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>
#include <tuple>
#include <vector>

#include "conn_table.h"

namespace fulcrum {
namespace {

constexpr be32 ip(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return static_cast<be32>(a) | static_cast<be32>(b) << 8 | static_cast<be32>(c) << 16 | static_cast<be32>(d) << 24;
}
be16 port(uint16_t p) { return hton16(p); }

const be32 kVip = ip(10, 0, 0, 100);
const be32 kRs = ip(192, 168, 1, 10);

ConnV4 conn(be32 caddr, uint16_t cport, uint8_t proto = kProtoTcp, FwdMethod fwd = FwdMethod::Masq) {
  ConnV4 c{};
  c.proto = proto;
  c.caddr = caddr;
  c.cport = port(cport);
  c.vaddr = kVip;
  c.vport = port(80);
  c.daddr = kRs;
  c.dport = port(8080);
  set_conn_dest(c, 3);
  c.flags = static_cast<uint8_t>(fwd);
  c.expires = 1000;
  return c;
}

ConnTable::Options opts(uint32_t capacity, uint64_t seed = 42) {
  ConnTable::Options o;
  o.capacity = capacity;
  o.seed = seed;
  return o;
}

uint32_t in(const ConnTable& t, const ConnV4& c) {
  return t.find_in(t.hash(c.proto, c.caddr, c.cport), c.proto, c.caddr, c.cport, c.vaddr, c.vport);
}
uint32_t out(const ConnTable& t, const ConnV4& c) {
  return t.find_out(t.hash(c.proto, c.caddr, c.cport), c.proto, c.caddr, c.cport, c.daddr, c.dport);
}

TEST(ConnTable, RecordIsHalfACacheLine) {
  EXPECT_EQ(sizeof(ConnV4), 32u);
  EXPECT_EQ(alignof(ConnV4), 4u);
}

TEST(ConnTable, FindsAConnectionFromBothDirectionsAndForgetsItOnErase) {
  ConnTable t(opts(1000));
  ConnV4 c = conn(ip(1, 2, 3, 4), 40000);
  uint32_t idx = t.insert(t.hash(c.proto, c.caddr, c.cport), c);
  ASSERT_NE(idx, ConnTable::kNone);
  EXPECT_EQ(t.size(), 1u);
  EXPECT_TRUE(t.is_live(idx));
  EXPECT_EQ(in(t, c), idx);
  EXPECT_EQ(out(t, c), idx);
  EXPECT_EQ(t.record(idx).daddr, kRs);

  // Every key field matters.
  ConnV4 k = c;
  k.vport = port(81);
  EXPECT_EQ(in(t, k), ConnTable::kNone);
  k = c;
  k.vaddr = ip(10, 0, 0, 101);
  EXPECT_EQ(in(t, k), ConnTable::kNone);
  k = c;
  k.dport = port(8081);
  EXPECT_EQ(out(t, k), ConnTable::kNone);
  k = c;
  k.daddr = ip(192, 168, 1, 11);
  EXPECT_EQ(out(t, k), ConnTable::kNone);
  k = c;
  k.proto = kProtoUdp;
  EXPECT_EQ(in(t, k), ConnTable::kNone);
  EXPECT_EQ(out(t, k), ConnTable::kNone);
  k = c;
  k.cport = port(40001);
  EXPECT_EQ(in(t, k), ConnTable::kNone);

  t.erase(idx);
  EXPECT_EQ(t.size(), 0u);
  EXPECT_FALSE(t.is_live(idx));
  EXPECT_EQ(in(t, c), ConnTable::kNone);
  EXPECT_EQ(out(t, c), ConnTable::kNone);
}

TEST(ConnTable, TcpAndUdpOfTheSameTupleAreDistinct) {
  ConnTable t(opts(100));
  ConnV4 a = conn(ip(1, 2, 3, 4), 5353, kProtoTcp);
  ConnV4 b = conn(ip(1, 2, 3, 4), 5353, kProtoUdp);
  uint32_t ia = t.insert(a), ib = t.insert(b);
  ASSERT_NE(ia, ib);
  EXPECT_EQ(in(t, a), ia);
  EXPECT_EQ(in(t, b), ib);
}

TEST(ConnTable, FullNatConnectionsAreNotFoundAsNatReplies) {
  ConnTable t(opts(100));
  ConnV4 c = conn(ip(1, 2, 3, 4), 40000, kProtoTcp, FwdMethod::FullNat);
  uint32_t idx = t.insert(c);
  EXPECT_EQ(in(t, c), idx);
  EXPECT_EQ(out(t, c), ConnTable::kNone);
}

TEST(ConnTable, TemplatesAreFoundByTheirKeyAndNeverAsConnections) {
  ConnTable t(opts(100));
  be32 net = ip(1, 2, 3, 0);
  ConnV4 tp{};
  tp.proto = kProtoTcp;
  tp.caddr = net;
  tp.cport = 0;
  tp.vaddr = kVip;
  tp.vport = port(443);
  tp.daddr = kRs;
  tp.dport = port(443);
  tp.flags = static_cast<uint8_t>(FwdMethod::Route) | kConnTemplate;
  tp.children = 2;
  uint32_t ti = t.insert(t.hash(kProtoTcp, net, 0), tp);
  ASSERT_NE(ti, ConnTable::kNone);
  EXPECT_EQ(t.find_template(t.hash(kProtoTcp, net, 0), kProtoTcp, net, kVip, port(443)), ti);
  EXPECT_EQ(t.find_template(t.hash(kProtoTcp, net, 0), kProtoTcp, net, kVip, port(80)), ConnTable::kNone);
  EXPECT_EQ(t.find_template(t.hash(kProtoUdp, net, 0), kProtoUdp, net, kVip, port(443)), ConnTable::kNone);

  // A (bogus) client port 0 packet from the net address itself must not be taken for the template.
  EXPECT_EQ(t.find_in(t.hash(kProtoTcp, net, 0), kProtoTcp, net, 0, kVip, port(443)), ConnTable::kNone);
  EXPECT_EQ(t.find_out(t.hash(kProtoTcp, net, 0), kProtoTcp, net, 0, kRs, port(443)), ConnTable::kNone);

  // ... and a connection with that same key is not a template.
  ConnV4 c = tp;
  c.flags = static_cast<uint8_t>(FwdMethod::Route);
  uint32_t ci = t.insert(c);
  EXPECT_EQ(t.find_template(t.hash(kProtoTcp, net, 0), kProtoTcp, net, kVip, port(443)), ti);
  EXPECT_EQ(t.find_in(t.hash(kProtoTcp, net, 0), kProtoTcp, net, 0, kVip, port(443)), ci);

  // fwmark template: protocol 0, the mark in place of the VIP, port 0.
  ConnV4 fm = tp;
  fm.proto = 0;
  fm.vaddr = hton32(7);
  fm.vport = 0;
  uint32_t fi = t.insert(fm);
  EXPECT_EQ(t.find_template(t.hash(0, net, 0), 0, net, hton32(7), 0), fi);
  EXPECT_EQ(t.record(fi).children, 2u);
}

// Keys whose home bucket is `bucket`, found by trying random ones.
std::vector<ConnV4> keys_homed_at(const ConnTable& t, uint32_t bucket, size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<ConnV4> v;
  std::set<std::pair<be32, be16>> seen;
  while (v.size() < n) {
    ConnV4 c = conn(rng(), static_cast<uint16_t>(rng() | 1));
    if (t.home_bucket(t.hash_of(c)) != bucket || !seen.insert({c.caddr, c.cport}).second) continue;
    v.push_back(c);
  }
  return v;
}

TEST(ConnTable, CollidingHomesSpillToTheNextBucketsAndCountOverflow) {
  ConnTable t(opts(1000));  // 100 buckets of 14
  ASSERT_EQ(t.bucket_count(), 100u);
  std::vector<ConnV4> keys = keys_homed_at(t, 7, 40, 1);
  std::vector<uint32_t> idx;
  for (const ConnV4& c : keys) idx.push_back(t.insert(c));
  for (uint32_t i = 0; i < 40; ++i) {
    EXPECT_EQ(idx[i] / ConnTable::kSlotsPerBucket, 7 + i / 14) << i;
    EXPECT_EQ(in(t, keys[i]), idx[i]) << i;
    EXPECT_EQ(out(t, keys[i]), idx[i]) << i;
  }
  EXPECT_EQ(t.overflow_count(7), 26);  // 14 in bucket 8 + 12 in bucket 9
  EXPECT_EQ(t.overflow_count(8), 12);
  EXPECT_EQ(t.overflow_count(9), 0);
  EXPECT_EQ(t.overflow_count(6), 0);

  // Empty bucket 8: the entries of bucket 9 must still be reachable through it.
  for (uint32_t i = 14; i < 28; ++i) t.erase(idx[i]);
  EXPECT_EQ(t.overflow_count(7), 12);
  EXPECT_EQ(t.overflow_count(8), 12);
  for (uint32_t i = 0; i < 40; ++i)
    EXPECT_EQ(in(t, keys[i]), i >= 14 && i < 28 ? ConnTable::kNone : idx[i]) << i;

  // A new key homed at 7 takes the first free slot on its probe path (bucket 8).
  ConnV4 extra = keys_homed_at(t, 7, 41, 1).back();
  uint32_t e = t.insert(extra);
  EXPECT_EQ(e / ConnTable::kSlotsPerBucket, 8u);
  EXPECT_EQ(t.overflow_count(7), 13);
  t.erase(e);

  for (uint32_t i = 28; i < 40; ++i) t.erase(idx[i]);
  EXPECT_EQ(t.overflow_count(7), 0);
  EXPECT_EQ(t.overflow_count(8), 0);
  for (uint32_t i = 0; i < 14; ++i) EXPECT_EQ(in(t, keys[i]), idx[i]);
}

// Stage 2's slot hint is only a hint: a hit through it must be the live record with the key,
// whatever happened to the slot since (erased, reused by another key) or whatever it is.
TEST(ConnTable, AHintedLookupFindsOnlyTheLiveRecordWithTheKey) {
  ConnTable t(opts(1000));
  ConnV4 a = conn(ip(1, 2, 3, 4), 40000), b = conn(ip(5, 6, 7, 8), 50000);
  const uint64_t ha = t.hash_of(a);
  const uint32_t ia = t.insert(a);
  auto in_hinted = [&](const ConnV4& c, uint32_t hint) {
    return t.find_in(t.hash_of(c), hint, c.proto, c.caddr, c.cport, c.vaddr, c.vport);
  };
  EXPECT_EQ(t.prefetch_match(ha), ia);
  EXPECT_EQ(in_hinted(a, ia), ia);
  EXPECT_EQ(in_hinted(a, ConnTable::kNone), ia);
  const uint32_t ib = t.insert(b);
  EXPECT_EQ(in_hinted(a, ib), ia) << "a hint to another record";
  EXPECT_EQ(in_hinted(b, ia), ib);
  // Erased: its bytes are still there, the hint must not revive it.
  t.erase(ia);
  EXPECT_EQ(in_hinted(a, ia), ConnTable::kNone);
  // Its key again, elsewhere or in the same slot: found either way.
  const uint32_t ia2 = t.insert(a);
  EXPECT_EQ(in_hinted(a, ia), ia2);
  // A template with the same address and ports is not a connection.
  ConnV4 tp = a;
  tp.flags |= kConnTemplate;
  t.erase(ia2);
  const uint32_t it = t.insert(tp);
  EXPECT_EQ(in_hinted(a, it), ConnTable::kNone);
}

// Stage 2's hint for a key that overflowed into the next bucket: the home bucket holds no
// record with its tag (or another's), so the hint is a slot of the next bucket, and a hinted
// lookup finds the key through it or, when the hint is another record, by probing.
TEST(ConnTable, TheHintOfAnOverflowedKeyIsInTheNextBucket) {
  ConnTable t(opts(1000));  // 100 buckets of 14
  std::vector<ConnV4> keys = keys_homed_at(t, 7, 20, 3);
  std::vector<uint32_t> idx;
  for (const ConnV4& c : keys) idx.push_back(t.insert(c));
  for (uint32_t i = 0; i < keys.size(); ++i) {
    const uint64_t h = t.hash_of(keys[i]);
    const uint32_t hint = t.prefetch_match(h);
    ASSERT_NE(hint, ConnTable::kNone) << i;
    if (i >= ConnTable::kSlotsPerBucket) {
      EXPECT_EQ(idx[i] / ConnTable::kSlotsPerBucket, 8u) << i;
      // Its hint is in bucket 8 unless a home record shares its tag.
      auto tag = [](uint64_t x) { return std::max<uint8_t>(static_cast<uint8_t>(x), 1); };  // as the table's
      bool home_tag = false;
      for (uint32_t j = 0; j < ConnTable::kSlotsPerBucket; ++j) home_tag |= tag(t.hash_of(keys[j])) == tag(h);
      if (!home_tag) {
        EXPECT_EQ(hint / ConnTable::kSlotsPerBucket, 8u) << i;
      }
    }
    EXPECT_EQ(t.find_in(h, hint, keys[i].proto, keys[i].caddr, keys[i].cport, keys[i].vaddr, keys[i].vport), idx[i]) << i;
  }
}

TEST(ConnTable, ProbingWrapsFromTheLastBucketToTheFirst) {
  ConnTable t(opts(30));  // 3 buckets
  ASSERT_EQ(t.bucket_count(), 3u);
  std::vector<ConnV4> keys = keys_homed_at(t, 2, 20, 2);
  std::vector<uint32_t> idx;
  for (const ConnV4& c : keys) idx.push_back(t.insert(c));
  for (uint32_t i = 0; i < 20; ++i) {
    EXPECT_EQ(idx[i] / ConnTable::kSlotsPerBucket, i < 14 ? 2u : 0u);
    EXPECT_EQ(in(t, keys[i]), idx[i]);
  }
  EXPECT_EQ(t.overflow_count(2), 6);
  EXPECT_EQ(t.overflow_count(0), 0);
  for (uint32_t i = 14; i < 20; ++i) t.erase(idx[i]);
  EXPECT_EQ(t.overflow_count(2), 0);
}

TEST(ConnTable, RandomOperationsAgreeWithAModelAndLeaveNoOverflowBehind) {
  // A tiny table forces long collision chains; a std::map is the oracle.
  for (uint32_t capacity : {13u, 40u, 500u}) {
    ConnTable t(opts(capacity, capacity));
    std::map<std::tuple<uint8_t, be32, be16>, uint32_t> model;
    std::mt19937 rng(capacity);
    for (int step = 0; step < 200000; ++step) {
      ConnV4 c = conn(ip(10, 1, 0, static_cast<uint8_t>(rng() % 64)), static_cast<uint16_t>(1 + rng() % 16),
                      (rng() & 1) ? kProtoTcp : kProtoUdp);
      auto key = std::make_tuple(c.proto, c.caddr, c.cport);
      auto it = model.find(key);
      uint32_t found = in(t, c);
      ASSERT_EQ(found, it == model.end() ? ConnTable::kNone : it->second) << step;
      if (it != model.end()) {
        ASSERT_EQ(out(t, c), it->second);
        t.erase(it->second);
        model.erase(it);
      } else {
        uint32_t idx = t.insert(c);
        if (model.size() == capacity) {
          ASSERT_EQ(idx, ConnTable::kNone);
        } else {
          ASSERT_NE(idx, ConnTable::kNone);
          model[key] = idx;
        }
      }
      ASSERT_EQ(t.size(), model.size());
    }
    for (auto& [k, idx] : model) t.erase(idx);
    for (uint32_t b = 0; b < t.bucket_count(); ++b) EXPECT_EQ(t.overflow_count(b), 0) << capacity << " " << b;
  }
}

TEST(ConnTable, AFullTableRefusesInsertsAndKeepsServingTheOthers) {
  ConnTable t(opts(100));
  EXPECT_EQ(t.capacity(), 100u);
  std::vector<ConnV4> keys;
  std::vector<uint32_t> idx;
  for (uint16_t i = 0; i < 100; ++i) {
    keys.push_back(conn(ip(1, 1, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)), 1000 + i));
    idx.push_back(t.insert(keys.back()));
    ASSERT_NE(idx.back(), ConnTable::kNone);
  }
  ConnV4 extra = conn(ip(9, 9, 9, 9), 9);
  EXPECT_EQ(t.insert(extra), ConnTable::kNone);
  EXPECT_EQ(t.size(), 100u);
  for (size_t i = 0; i < keys.size(); ++i) EXPECT_EQ(in(t, keys[i]), idx[i]);
  EXPECT_EQ(in(t, extra), ConnTable::kNone);
  t.erase(idx[50]);
  EXPECT_NE(t.insert(extra), ConnTable::kNone);
}

TEST(ConnTable, IndicesStayValidWhileOthersComeAndGo) {
  ConnTable t(opts(200));
  ConnV4 keep = conn(ip(7, 7, 7, 7), 7777);
  uint32_t k = t.insert(keep);
  std::mt19937 rng(3);
  for (int round = 0; round < 50; ++round) {
    std::vector<uint32_t> v;
    for (int i = 0; i < 150; ++i) v.push_back(t.insert(conn(rng(), static_cast<uint16_t>(rng()))));
    for (uint32_t i : v) t.erase(i);
  }
  EXPECT_EQ(in(t, keep), k);
  EXPECT_EQ(t.record(k).cport, port(7777));
}

TEST(ConnTable, ExpiredMeansAtOrPastTheDueTickAcrossWrapAround) {
  ConnV4 c{};
  uint32_t now = 0xffffff00u;
  c.expires = now + 300;  // wraps past zero
  EXPECT_LT(c.expires, now);
  EXPECT_FALSE(ConnTable::is_expired(c, now));
  EXPECT_FALSE(ConnTable::is_expired(c, now + 299));
  EXPECT_TRUE(ConnTable::is_expired(c, now + 300));
  EXPECT_TRUE(ConnTable::is_expired(c, now + 301));
  // The longest timeout (31 days of persistence) still orders correctly.
  c.expires = now + 31u * 86400u * kTicksPerSec;
  EXPECT_FALSE(ConnTable::is_expired(c, now + 31u * 86400u * kTicksPerSec - 1));
  EXPECT_TRUE(ConnTable::is_expired(c, now + 31u * 86400u * kTicksPerSec));
}

TEST(ConnTable, ExpireStepVisitsNoMoreThanItsBudgetAndReapsOnlyDueRecords) {
  ConnTable t(opts(10000));
  std::mt19937 rng(4);
  uint32_t now = 0xfffff000u;  // the sweep runs across the tick counter's wrap
  std::set<uint32_t> due, later;
  for (int i = 0; i < 8000; ++i) {
    ConnV4 c = conn(rng(), static_cast<uint16_t>(rng()));
    bool d = i % 3 != 0;
    c.expires = now + (d ? 1 + rng() % 5000 : 10000 + rng() % 1000);
    uint32_t idx = t.insert(c);
    if (idx == ConnTable::kNone) continue;  // duplicate random key, or full: irrelevant here
    (d ? due : later).insert(idx);
  }
  now += 6000;
  const uint32_t budget = 97;
  uint32_t calls_total = 0, steps = 0;
  std::set<uint32_t> reaped;
  for (uint32_t slots = 0; slots < t.slot_count(); slots += budget) {
    uint32_t calls = t.expire_step(now, budget, [&](uint32_t idx) {
      EXPECT_TRUE(t.is_expired(idx, now));
      reaped.insert(idx);
      t.erase(idx);
    });
    EXPECT_LE(calls, budget);
    calls_total += calls;
    ++steps;
  }
  EXPECT_EQ(reaped, due);
  EXPECT_EQ(calls_total, due.size());
  EXPECT_EQ(t.size(), later.size());
  // A second round finds nothing more.
  EXPECT_EQ(t.expire_step(now, t.slot_count(), [&](uint32_t) { ADD_FAILURE(); }), 0u);
}

TEST(ConnTable, AMassExpiryIsSpreadOverManyBoundedSteps) {
  ConnTable t(opts(50000));
  std::mt19937 rng(5);
  for (int i = 0; i < 50000; ++i) {
    ConnV4 c = conn(rng(), static_cast<uint16_t>(rng()));
    c.expires = 100;  // all due at once
    t.insert(c);
  }
  uint32_t n0 = t.size();
  uint32_t max_calls = 0, steps = 0;
  while (t.size() && steps < 100000) {
    uint32_t c = t.expire_step(200, 64, [&](uint32_t idx) { t.erase(idx); });
    max_calls = std::max(max_calls, c);
    ++steps;
  }
  EXPECT_EQ(t.size(), 0u);
  EXPECT_LE(max_calls, 64u);
  EXPECT_GE(steps, n0 / 64);
}

TEST(ConnTable, ARearmedRecordStaysAndComesBackWhenDueAgain) {
  ConnTable t(opts(100));
  ConnV4 c = conn(ip(1, 2, 3, 4), 1);
  c.expires = 10;
  uint32_t idx = t.insert(c);
  int calls = 0;
  auto rearm = [&](uint32_t i) {
    ++calls;
    t.record(i).expires = 20 + kExpireLaterSecs * kTicksPerSec;  // "expire later"
  };
  t.expire_step(20, t.slot_count(), rearm);
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(t.is_live(idx));
  t.expire_step(21, t.slot_count(), rearm);
  EXPECT_EQ(calls, 1);
  t.expire_step(20 + kExpireLaterSecs * kTicksPerSec, t.slot_count(), rearm);
  EXPECT_EQ(calls, 2);
}

TEST(ConnTable, TheClockHandResumesWhereItStoppedAndNeverLapsInOneCall) {
  ConnTable t(opts(30));  // 3 buckets, 42 slots
  std::vector<ConnV4> b0 = keys_homed_at(t, 0, 3, 9), b2 = keys_homed_at(t, 2, 3, 10);
  for (auto* v : {&b0, &b2})
    for (ConnV4& c : *v) {
      c.expires = 5;
      t.insert(c);
    }
  std::vector<uint32_t> seen;
  auto note = [&](uint32_t idx) { seen.push_back(idx / ConnTable::kSlotsPerBucket); };
  EXPECT_EQ(t.expire_step(10, 14, note), 3u);  // bucket 0 only
  EXPECT_EQ(seen, std::vector<uint32_t>({0, 0, 0}));
  seen.clear();
  EXPECT_EQ(t.expire_step(10, 14, note), 0u);  // bucket 1: empty
  EXPECT_EQ(t.expire_step(10, 20, note), 6u);  // bucket 2, then wraps to slots 0..5 of bucket 0
  EXPECT_EQ(seen, std::vector<uint32_t>({2, 2, 2, 0, 0, 0}));
  // Records left due (fn neither erases nor re-arms) are seen once per call, however large
  // the budget.
  seen.clear();
  EXPECT_EQ(t.expire_step(10, 1000, note), 6u);
}

TEST(ConnTable, ForEachMayEraseAsItGoes) {
  ConnTable t(opts(1000));
  std::mt19937 rng(6);
  for (int i = 0; i < 900; ++i) t.insert(conn(rng(), static_cast<uint16_t>(rng())));
  uint32_t n = t.size(), seen = 0;
  t.for_each([&](uint32_t idx) {
    ++seen;
    t.erase(idx);
  });
  EXPECT_EQ(seen, n);
  EXPECT_EQ(t.size(), 0u);
  for (uint32_t b = 0; b < t.bucket_count(); ++b) EXPECT_EQ(t.overflow_count(b), 0);
}

TEST(ConnTable, ScanPagesThroughEveryRecordOnceWithinItsBounds) {
  ConnTable t(opts(1000));
  std::mt19937 rng(7);
  std::set<uint32_t> all;
  for (int i = 0; i < 700; ++i) {
    uint32_t idx = t.insert(conn(rng(), static_cast<uint16_t>(rng())));
    if (idx != ConnTable::kNone) all.insert(idx);
  }
  std::set<uint32_t> seen;
  size_t cursor = 0;
  int pages = 0;
  do {
    size_t got = 0;
    cursor = t.scan(cursor, 7, [&](uint32_t idx) {
      EXPECT_TRUE(seen.insert(idx).second);
      ++got;
    });
    EXPECT_LE(got, 7u);
    ++pages;
  } while (cursor != 0);
  EXPECT_EQ(seen, all);
  EXPECT_GE(pages, 100);

  // A slot budget bounds the work even where the table is empty.
  ConnTable empty(opts(1000));
  size_t c = empty.scan(0, 10, [&](uint32_t) { ADD_FAILURE(); }, 50);
  EXPECT_EQ(c, 50u);
}

TEST(ConnTable, SeedsDecideWhereKeysLive) {
  ConnTable a(opts(100000, 1)), b(opts(100000, 2)), a2(opts(100000, 1));
  int same = 0;
  for (uint32_t i = 0; i < 1000; ++i) {
    uint64_t h1 = a.hash(kProtoTcp, ip(10, 0, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)), port(80));
    uint64_t h2 = b.hash(kProtoTcp, ip(10, 0, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)), port(80));
    EXPECT_EQ(h1, a2.hash(kProtoTcp, ip(10, 0, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)), port(80)));
    same += a.home_bucket(h1) == b.home_bucket(h2);
  }
  EXPECT_LT(same, 10);
}

// Average buckets probed by a successful lookup at full load: the hash must spread both random
// and regularly patterned clients (one /16, sequential ports) evenly.
double mean_probe(const ConnTable& t, const std::vector<ConnV4>& keys, const std::vector<uint32_t>& idx) {
  double sum = 0;
  for (size_t i = 0; i < keys.size(); ++i) {
    uint32_t home = t.home_bucket(t.hash_of(keys[i]));
    uint32_t at = idx[i] / ConnTable::kSlotsPerBucket;
    sum += 1 + (at + t.bucket_count() - home) % t.bucket_count();
  }
  return sum / static_cast<double>(keys.size());
}

TEST(ConnTable, FullLoadProbesStayShortForRandomAndPatternedClients) {
  for (int patterned = 0; patterned < 2; ++patterned) {
    ConnTable t(opts(120000, 99));
    std::mt19937 rng(8);
    std::vector<ConnV4> keys;
    std::vector<uint32_t> idx;
    for (uint32_t i = 0; t.size() < t.capacity(); ++i) {
      ConnV4 c = patterned ? conn(ip(172, 16, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)),
                                  static_cast<uint16_t>(32768 + i / 65536))
                           : conn(rng(), static_cast<uint16_t>(rng()));
      if (in(t, c) != ConnTable::kNone) continue;
      keys.push_back(c);
      idx.push_back(t.insert(c));
    }
    double m = mean_probe(t, keys, idx);
    EXPECT_LT(m, 1.4) << (patterned ? "patterned" : "random");
  }
}

TEST(ConnTable, AMillionConnectionsFitIn64BytesEach) {
  ConnTable t(opts(1u << 20));
  EXPECT_GE(t.slot_count(), t.capacity());
  EXPECT_LE(static_cast<double>(t.memory_bytes()) / t.capacity(), 64.0);
}

struct CountingAlloc {
  int allocs = 0, frees = 0;
  size_t bytes = 0;
};

TEST(ConnTable, AllMemoryComesFromTheCallersAllocatorOnce) {
  CountingAlloc ca;
  TableAllocator a;
  a.ctx = &ca;
  a.alloc = [](size_t bytes, size_t align, void* ctx) -> void* {
    auto* c = static_cast<CountingAlloc*>(ctx);
    ++c->allocs;
    c->bytes += bytes;
    void* p = std::aligned_alloc(align, (bytes + align - 1) / align * align);
    std::memset(p, 0xa5, bytes);  // garbage, like unzeroed hugepage memory
    return p;
  };
  a.free = [](void* p, size_t, void* ctx) {
    ++static_cast<CountingAlloc*>(ctx)->frees;
    std::free(p);
  };
  {
    ConnTable::Options o = opts(5000);
    o.alloc = a;
    ConnTable t(o);
    EXPECT_EQ(ca.allocs, 2);
    EXPECT_EQ(ca.bytes, t.memory_bytes());
    EXPECT_EQ(t.size(), 0u);
    ConnV4 c = conn(ip(1, 2, 3, 4), 5);
    EXPECT_EQ(in(t, c), ConnTable::kNone);
    for (int i = 0; i < 4000; ++i) t.insert(conn(ip(1, 2, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)), 5));
    EXPECT_EQ(t.size(), 4000u);
    EXPECT_EQ(ca.allocs, 2);
  }
  EXPECT_EQ(ca.frees, 2);
}

}  // namespace
}  // namespace fulcrum
