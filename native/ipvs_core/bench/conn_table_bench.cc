// Micro-benchmark of the connection table alone: ns per lookup (hit and miss, one by one and
// pipelined across a 32-packet burst), insert+erase, the expiry sweep, and bytes per connection,
// at 1M pseudo-random connections (patterned tuples hash unrealistically well). Figures only.
// Build: g++ -std=c++20 -O2 -msse4.2 -I native/ipvs_core native/ipvs_core/conn_table.cc
//          native/ipvs_core/bench/conn_table_bench.cc -o conn_table_bench
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "conn_table.h"

using namespace fulcrum;

namespace {

constexpr uint32_t kBurst = 32;

struct Key {
  be32 caddr, vaddr;
  be16 cport, vport;
};

double now_ns() {
  return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Lookup + touch the record (what forwarding does: read the dest, re-arm the timer).
template <int Stages>
double run_lookups(ConnTable& t, const std::vector<Key>& keys, uint32_t rounds, uint64_t& sink) {
  uint64_t hashes[kBurst];
  uint32_t idx[kBurst];
  double t0 = now_ns();
  size_t n = keys.size() / kBurst * kBurst;
  for (uint32_t r = 0; r < rounds; ++r) {
    for (size_t base = 0; base < n; base += kBurst) {
      const Key* k = &keys[base];
      if constexpr (Stages == 1) {
        for (uint32_t i = 0; i < kBurst; ++i) {
          uint64_t h = t.hash(kProtoTcp, k[i].caddr, k[i].cport);
          uint32_t x = t.find_in(h, kProtoTcp, k[i].caddr, k[i].cport, k[i].vaddr, k[i].vport);
          if (x != ConnTable::kNone) t.record(x).expires = r;
          sink += x;
        }
        continue;
      }
      for (uint32_t i = 0; i < kBurst; ++i) {
        hashes[i] = t.hash(kProtoTcp, k[i].caddr, k[i].cport);
        t.prefetch(hashes[i]);
      }
      if constexpr (Stages == 2) {
        for (uint32_t i = 0; i < kBurst; ++i) {
          idx[i] = t.find_in(hashes[i], kProtoTcp, k[i].caddr, k[i].cport, k[i].vaddr, k[i].vport);
          if (idx[i] != ConnTable::kNone) t.prefetch_record(idx[i]);
        }
      } else {
        for (uint32_t i = 0; i < kBurst; ++i) t.prefetch_match(hashes[i]);
        for (uint32_t i = 0; i < kBurst; ++i)
          idx[i] = t.find_in(hashes[i], kProtoTcp, k[i].caddr, k[i].cport, k[i].vaddr, k[i].vport);
      }
      for (uint32_t i = 0; i < kBurst; ++i) {
        if (idx[i] != ConnTable::kNone) t.record(idx[i]).expires = r;
        sink += idx[i];
      }
    }
  }
  return (now_ns() - t0) / (static_cast<double>(n) * rounds);
}

void bench(uint32_t conns, uint32_t per_bucket) {
  ConnTable::Options o;
  o.capacity = conns;
  o.seed = 0x1234567;
  o.max_per_bucket = per_bucket;
  ConnTable t(o);
  std::mt19937_64 rng(1);
  std::vector<Key> hit, miss;
  hit.reserve(conns);
  const be32 vips[4] = {0x0a000064, 0x0a000065, 0x0a000066, 0x0a000067};
  while (t.size() < conns) {
    uint64_t x = rng();
    Key k{static_cast<be32>(x), vips[(x >> 48) & 3], static_cast<be16>(x >> 32), hton16(443)};
    uint64_t h = t.hash(kProtoTcp, k.caddr, k.cport);
    if (t.find_in(h, kProtoTcp, k.caddr, k.cport, k.vaddr, k.vport) != ConnTable::kNone) continue;
    ConnV4 c{};
    c.proto = kProtoTcp;
    c.caddr = k.caddr;
    c.cport = k.cport;
    c.vaddr = k.vaddr;
    c.vport = k.vport;
    c.daddr = 0x0101a8c0;
    c.dport = hton16(8443);
    c.expires = 1000;
    if (t.insert(h, c) == ConnTable::kNone) break;
    hit.push_back(k);
  }
  for (size_t i = 0; i < hit.size(); ++i) {  // random access order
    size_t j = i + rng() % (hit.size() - i);
    std::swap(hit[i], hit[j]);
  }
  for (uint32_t i = 0; i < 1u << 20; ++i) {
    uint64_t x = rng();
    miss.push_back(Key{static_cast<be32>(x), vips[0], static_cast<be16>(x >> 32), hton16(443)});
  }

  uint32_t max_ovf = 0, nonzero = 0;
  for (uint32_t b = 0; b < t.bucket_count(); ++b) {
    max_ovf = std::max<uint32_t>(max_ovf, t.overflow_count(b));
    nonzero += t.overflow_count(b) != 0;
  }

  uint64_t sink = 0;
  const uint32_t rounds = 3;
  run_lookups<2>(t, hit, 1, sink);  // warm
  double h1 = run_lookups<1>(t, hit, rounds, sink);
  double h2 = run_lookups<2>(t, hit, rounds, sink);
  double h3 = run_lookups<3>(t, hit, rounds, sink);
  double m1 = run_lookups<1>(t, miss, rounds, sink);
  double m2 = run_lookups<2>(t, miss, rounds, sink);

  // Churn: a connection goes (erase) and a new one comes (insert), at full load, random places.
  std::vector<uint32_t> live;
  live.reserve(1u << 20);
  for (size_t i = 0; i < hit.size() && live.size() < (1u << 20); ++i)
    live.push_back(t.find_in(t.hash(kProtoTcp, hit[i].caddr, hit[i].cport), kProtoTcp, hit[i].caddr, hit[i].cport,
                             hit[i].vaddr, hit[i].vport));
  double t0 = now_ns();
  uint32_t churned = 0;
  for (size_t i = 0; i < live.size() && i < miss.size(); ++i) {
    t.erase(live[i]);
    ConnV4 c{};
    c.proto = kProtoTcp;
    c.caddr = miss[i].caddr;
    c.cport = miss[i].cport;
    c.vaddr = miss[i].vaddr;
    c.vport = miss[i].vport;
    c.expires = 1000;
    churned += t.insert(c) != ConnTable::kNone;
  }
  double churn_ns = (now_ns() - t0) / static_cast<double>(churned);

  // Expiry sweep over a table where nothing is due: the steady cost per slot.
  t0 = now_ns();
  uint32_t calls = 0;
  for (uint32_t s = 0; s < t.slot_count(); s += 256) calls += t.expire_step(500, 256, [&](uint32_t) {});
  double sweep_ns = (now_ns() - t0) / t.slot_count();
  sink += calls;

  std::printf("%u conns, max %u/14 per bucket: %.1f bytes/conn (table %.1f MB, load %.2f), buckets with "
              "overflow %.1f%%, max overflow %u\n",
              t.size(), per_bucket, static_cast<double>(t.memory_bytes()) / t.size(), t.memory_bytes() / 1e6,
              static_cast<double>(t.size()) / t.slot_count(), 100.0 * nonzero / t.bucket_count(), max_ovf);
  std::printf("  hit  ns/lookup: one-by-one %.1f, burst 2-stage %.1f, burst 3-stage %.1f\n", h1, h2, h3);
  std::printf("  miss ns/lookup: one-by-one %.1f, burst 2-stage %.1f\n", m1, m2);
  std::printf("  erase+insert %.1f ns, expiry sweep %.2f ns/slot (%u records due)\n", churn_ns, sweep_ns, calls);
  // Whether the transparent-hugepage hint took (the DPDK layer passes real hugepages instead).
  if (FILE* f = std::fopen("/proc/self/smaps_rollup", "r")) {
    char line[256];
    while (std::fgets(line, sizeof line, f))
      if (std::strncmp(line, "AnonHugePages:", 14) == 0) std::printf("  %s", line);
    std::fclose(f);
  }
  if (sink == 42) std::printf(" ");
}

}  // namespace

int main(int argc, char** argv) {
  uint32_t conns = argc > 1 ? static_cast<uint32_t>(std::atoi(argv[1])) : 1u << 20;
  bench(conns, 12);
  bench(conns, 10);
  return 0;
}
