// `npm run bench -- core`: the packet core on in-memory bursts, one thread, no NIC.
// Measures, in one run: new TCP connections per second (SYN -> schedule -> insert) up to N
// connections, established NAT forwarding over those N connections, and its baseline: the
// memory-bound loop (bare_nat below) that does only what forwarding cannot avoid over the same
// flows and frames; the same pair again at 10,000 connections; memory per connection is the
// process's resident-set growth while the table fills, not a sizeof. Then two workers sharing
// the director-wide load (shared_load.h), each on its own thread, open N/2 connections each at
// once: their cost per new connection (thread CPU time) against one worker's shows what the
// sharing costs; the SYN proxy's rows (flood SYNs answered, memory per proxied connection) for
// an IPv4 and an IPv6 service. Then the IPv6 figures: the same service on an IPv6 VIP, established NAT at N
// IPv6 connections against IPv4's, new IPv6 connections per second, bytes per IPv6 connection.
// Last, a hash flood against a known and a secret seed.
// Usage: core_bench [--json] [--conns N] [--packets M] [--upper-threshold X] [--ipv6-only]
// (--ipv6-only: only the IPv6 rows, IPv6 against IPv4 forwarding interleaved.)
// (--upper-threshold: every real server gets -x X, so connections are counted in the servers'
// shared lines, the -x path, instead of the workers' shards.)
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "checksum.h"
#include "conn_table.h"
#include "engine.h"
#include "packet.h"
#include "rewrite.h"
#include "sync_record.h"
#include "sync_wire.h"

using namespace fulcrum;

namespace {

constexpr uint32_t kBurst = 32;
constexpr uint32_t kBufSize = 256;  // per frame: 128 headroom + frame + tailroom
constexpr uint32_t kHeadroom = 128;

size_t rss_bytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  unsigned long pages = 0, resident = 0;
  if (std::fscanf(f, "%lu %lu", &pages, &resident) != 2) resident = 0;
  std::fclose(f);
  return resident * 4096UL;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

be32 v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) { return hton32(uint32_t(a) << 24 | b << 16 | c << 8 | d); }

struct Tuple {
  be32 caddr;
  be16 cport;
};

// A 64-byte Ethernet/IPv4/TCP frame to the VIP; the client address and port are patched in.
struct FrameTemplate {
  uint8_t bytes[64] = {};
  uint32_t len = 0;

  FrameTemplate(be32 vip, be16 vport, uint8_t flags) {
    uint8_t* f = bytes;
    const uint8_t mac[12] = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1};
    std::memcpy(f, mac, 12);
    f[12] = 0x08;
    uint8_t* ip = f + 14;
    ip[0] = 0x45;
    store16(ip + 2, hton16(40));
    ip[8] = 64;
    ip[9] = kProtoTcp;
    store32(ip + 16, vip);
    uint8_t* t = ip + 20;
    store16(t + 2, vport);
    t[12] = 5 << 4;
    t[13] = flags;
    store16(t + 14, hton16(65535));
    len = 14 + 40;
  }

  // Writes the frame for one client into dst with a valid IP header checksum; the TCP checksum
  // is updated incrementally downstream, so its absolute value does not matter here.
  void fill(uint8_t* dst, const Tuple& t) const {
    std::memcpy(dst, bytes, 64);
    uint8_t* ip = dst + 14;
    store32(ip + 12, t.caddr);
    store16(ip + 20, t.cport);
    store16(ip + 10, 0);
    store16(ip + 10, inet_csum(ip, 20));
  }
};

std::vector<Tuple> random_tuples(uint32_t n, uint64_t seed) {
  // Distinct clients scattered over 11.0.0.0/8 (multiplying by an odd constant permutes the
  // 24-bit space) with random ports: regular patterns hash unrealistically well.
  std::mt19937_64 rng(seed);
  std::vector<Tuple> v(n);
  for (uint32_t i = 0; i < n; ++i) {
    v[i].caddr = hton32(0x0b000000u | ((i * 0x9E3779B1u) & 0x00ffffffu));
    v[i].cport = hton16(static_cast<uint16_t>(1024 + rng() % 64000));
  }
  return v;
}

// Hash flooding: flows an attacker crafted to share one home bucket, which needs the table's
// seed. A constant seed in the source would give it away; the dataplane draws a secret per
// start. Measured on tables of the same size: ns per insert + lookup of `n` random flows, of
// `n` crafted flows in a table with a secret seed (the attack misses: as random), and of the
// same flows in a table whose seed the attacker knew (what a constant seed would cost).
struct FloodCost {
  double random_ns, crafted_secret_ns, crafted_known_ns;
};

FloodCost hash_flood(uint32_t n) {
  constexpr uint64_t kKnownSeed = 0x5eed;  // what every worker used before seeds were secret
  ConnTable::Options o;
  o.capacity = 1u << 16;
  o.seed = kKnownSeed;
  const ConnTable known(o);
  // Crafting: random tuples kept when they land in bucket 0 of the known-seed table.
  std::mt19937_64 rng(7);
  std::vector<Tuple> crafted;
  while (crafted.size() < n) {
    Tuple t{hton32(0x0b000000u | static_cast<uint32_t>(rng() & 0x00ffffffu)), hton16(static_cast<uint16_t>(1024 + rng() % 64000))};
    if (known.home_bucket(known.hash(kProtoTcp, t.caddr, t.cport)) == 0) crafted.push_back(t);
  }
  std::vector<Tuple> random = random_tuples(n, 11);
  auto cost = [&](ConnTable& t, const std::vector<Tuple>& keys) {
    auto t0 = std::chrono::steady_clock::now();
    uint64_t sink = 0;
    for (const Tuple& k : keys) {
      ConnV4 r{};
      r.proto = kProtoTcp;
      r.caddr = k.caddr;
      r.cport = k.cport;
      r.vaddr = v4(198, 18, 0, 100);
      r.vport = hton16(80);
      uint64_t h = t.hash(kProtoTcp, k.caddr, k.cport);
      if (t.find_in(h, kProtoTcp, k.caddr, k.cport, r.vaddr, r.vport) == ConnTable::kNone) t.insert(h, r);
    }
    for (const Tuple& k : keys)
      sink += t.find_in(t.hash(kProtoTcp, k.caddr, k.cport), kProtoTcp, k.caddr, k.cport, v4(198, 18, 0, 100), hton16(80));
    if (sink == 42) std::fprintf(stderr, " ");  // keep the work observable
    return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() / keys.size();
  };
  // Each on fresh tables, best of three (the first touches of a table's pages are not the
  // hash's cost).
  auto best = [&](uint64_t seed, const std::vector<Tuple>& keys) {
    double b = 1e18;
    for (int i = 0; i < 3; ++i) {
      o.seed = seed;
      ConnTable t(o);
      b = std::min(b, cost(t, keys));
    }
    return b;
  };
  FloodCost c;
  c.random_ns = best(0, random);  // seed 0: a secret, as the dataplane draws
  c.crafted_secret_ns = best(0, crafted);
  c.crafted_known_ns = best(kKnownSeed, crafted);
  return c;
}

// Sends one `frame` (a SYN, an ACK) from each of tuples[from, to) through w, a burst at a time.
void send_each(Worker& w, const std::vector<Tuple>& tuples, uint32_t from, uint32_t to, const FrameTemplate& frame,
               uint32_t now) {
  std::vector<uint8_t> bufs(kBurst * kBufSize);
  PacketBuf pb[kBurst];
  Verdict verdicts[kBurst];
  for (uint32_t base = from; base < to; base += kBurst) {
    uint32_t n = std::min(kBurst, to - base);
    for (uint32_t i = 0; i < n; ++i) {
      uint8_t* f = bufs.data() + i * kBufSize + kHeadroom;
      frame.fill(f, tuples[base + i]);
      pb[i] = {f, frame.len, kHeadroom, kBufSize - kHeadroom - frame.len};
    }
    w.process_burst(pb, n, verdicts, now);
  }
}

// The baseline for established forwarding: what a NAT forwarder cannot avoid per packet, and
// nothing else. Per burst, the client address and port are read and hashed and the flow's slot
// prefetched for every frame; then one open-addressing lookup (linear probing, half full) and
// the NAT rewrite of destination address and port with incremental IP and TCP checksum
// updates. No parse checks, no state changes, timers or counters: a bound, not a design. Its
// slots are the size of the core's record (conn.h, 32 bytes): a director that keeps the
// kernel's per-connection state (TCP state, timeout, counts) must touch that much per packet.
class BareNat {
 public:
  // Its memory comes from where the core's table gets its own (transparent huge pages for big
  // arrays): page walks are not what the loop is to measure.
  explicit BareNat(const std::vector<Tuple>& flows, uint32_t n) {
    uint32_t cap = 16;
    while (cap < 2 * n) cap <<= 1;
    mask_ = cap - 1;
    bytes_ = size_t{cap} * sizeof(Slot);
    slots_ = static_cast<Slot*>(alloc_.alloc(bytes_, 64, alloc_.ctx));
    if (!slots_) throw std::bad_alloc();
    std::memset(static_cast<void*>(slots_), 0, bytes_);
    for (uint32_t i = 0; i < n; ++i) {
      uint32_t at = home(flows[i].caddr, flows[i].cport);
      while (slots_[at].caddr) at = (at + 1) & mask_;
      slots_[at] = {flows[i].caddr, flows[i].cport, 0, v4(192, 168, 1, static_cast<uint8_t>(10 + i % 8)), hton16(8080), 0, {}};
    }
  }
  ~BareNat() { alloc_.free(slots_, bytes_, alloc_.ctx); }
  BareNat(const BareNat&) = delete;
  BareNat& operator=(const BareNat&) = delete;

  uint64_t burst(PacketBuf* pb, uint32_t n) {
    uint32_t at[kBurst];
    for (uint32_t i = 0; i < n; ++i) {
      const uint8_t* ip = pb[i].data + 14;
      at[i] = home(load32(ip + 12), load16(ip + 20));
      __builtin_prefetch(&slots_[at[i]]);
    }
    uint64_t sink = 0;
    for (uint32_t i = 0; i < n; ++i) {
      uint8_t* ip = pb[i].data + 14;
      const be32 caddr = load32(ip + 12);
      const be16 cport = load16(ip + 20);
      uint32_t k = at[i];
      while (slots_[k].caddr != caddr || slots_[k].cport != cport) {
        if (!slots_[k].caddr) break;
        k = (k + 1) & mask_;
      }
      const Slot& sl = slots_[k];
      CsumDelta d;
      d.add32(load32(ip + 16), sl.daddr);
      d.apply_at(ip + 10);  // the IP header: the address only
      d.add16(load16(ip + 22), sl.dport);
      d.apply_at(ip + 20 + 16);  // TCP: address (pseudo-header) and port
      store32(ip + 16, sl.daddr);
      store16(ip + 22, sl.dport);
      sink += sl.daddr;
    }
    return sink;
  }

 private:
  struct Slot {
    be32 caddr;
    be16 cport;
    uint16_t pad;
    be32 daddr;
    be16 dport;
    uint16_t pad2;
    uint8_t state[16];  // what a connection keeps beside its key and target
  };
  static_assert(sizeof(Slot) == sizeof(ConnV4));
  uint32_t home(be32 a, be16 p) const {
    return static_cast<uint32_t>(((uint64_t{a} << 16 | p) * 0x9E3779B97F4A7C15ull) >> 32) & mask_;
  }
  TableAllocator alloc_ = default_table_allocator();
  Slot* slots_ = nullptr;
  size_t bytes_ = 0;
  uint32_t mask_ = 0;
};

// Established NAT forwarding through `w` (whose table holds tuples[0, conns) established) and
// the memory-bound baseline over the same flows and the same frames, best of three each,
// interleaved: the machine's other work only ever slows a run down.
// The core's per-packet work in cumulative stages over the same frames, so a regression shows
// as a figure: parse (parse_frame); + lookup (the core's table and its prefetch pipeline, in a
// table of its own holding the same flows); + rewrite (nat_in_v4); the whole core adds the rest
// (connection checks, TCP state, timeouts, counters, verdicts).
enum class Stage { Bare, Parse, Lookup, Rewrite, Core };
constexpr int kStages = 5;

class StageLoops {
 public:
  StageLoops(const std::vector<Tuple>& flows, uint32_t n, be32 vip, be16 vport) {
    ConnTable::Options o;
    o.capacity = n + n / 4;
    table_ = std::make_unique<ConnTable>(o);
    for (uint32_t i = 0; i < n; ++i) {
      ConnV4 r{};
      r.proto = kProtoTcp;
      r.caddr = flows[i].caddr;
      r.cport = flows[i].cport;
      r.vaddr = vip;
      r.vport = vport;
      r.daddr = v4(192, 168, 1, static_cast<uint8_t>(10 + i % 8));
      r.dport = hton16(8080);
      table_->insert(table_->hash(kProtoTcp, r.caddr, r.cport), r);
    }
  }
  uint64_t burst(Stage stage, PacketBuf* pb, uint32_t n) {
    uint64_t sink = 0;
    for (uint32_t i = 0; i < n; ++i) {
      sink += static_cast<uint64_t>(parse_frame(pb[i].data, pb[i].len, p_[i]));
      if (stage != Stage::Parse) {
        h_[i] = table_->hash(p_[i].proto, p_[i].saddr, p_[i].sport);
        table_->prefetch(h_[i]);
      }
    }
    if (stage == Stage::Parse) return sink + p_[0].sport;
    for (uint32_t j = 0; j < n; ++j) hint_[j] = table_->prefetch_match(h_[j]);  // as the engine's pass 2
    for (uint32_t i = 0; i < n; ++i) {
      const Parsed& q = p_[i];
      const uint32_t idx = table_->find_in(h_[i], hint_[i], q.proto, q.saddr, q.sport, q.daddr, q.dport);
      if (idx == ConnTable::kNone) continue;
      const ConnV4& c = table_->record(idx);
      if (stage == Stage::Rewrite) nat_in_v4(pb[i].data, p_[i], c.daddr, c.dport);
      sink += c.daddr;
    }
    return sink;
  }

 private:
  std::unique_ptr<ConnTable> table_;
  Parsed p_[kBurst];
  uint64_t h_[kBurst];
  uint32_t hint_[kBurst];
};

struct Forwarding {
  double core_mpps = 0, bare_mpps = 0;
  double stage_mpps[kStages] = {};
};
Forwarding forwarding(Worker& w, const std::vector<Tuple>& tuples, uint32_t conns, uint64_t packets,
                      const FrameTemplate& ack, uint32_t now, bool core_only = false) {
  // The frames arrive as a NIC would leave them: ready-made in cache. Each burst's frames are
  // stamped from a cached template with the client address, port and IP checksum of a random
  // established connection, read from a precomputed sequential stream (16 bytes a packet), so
  // the table sees every connection while frame preparation stays cheap and equal for both loops.
  struct Stamp {
    be32 caddr;
    be16 cport;
    uint16_t ipcsum;
    uint64_t pad;
  };
  const uint32_t stream_len = 1 << 20;
  std::vector<Stamp> stream(stream_len);
  std::mt19937 rng(7);
  for (uint32_t k = 0; k < stream_len; ++k) {
    uint8_t f[64];
    const Tuple& t = tuples[rng() % conns];
    ack.fill(f, t);
    stream[k] = {t.caddr, t.cport, load16(f + 14 + 10), 0};
  }
  BareNat bare(tuples, conns);
  StageLoops stages(tuples, conns, load32(ack.bytes + 14 + 16), load16(ack.bytes + 14 + 22));
  std::vector<uint8_t> bufs(kBurst * kBufSize);
  PacketBuf pb[kBurst];
  Verdict verdicts[kBurst];
  auto run = [&](Stage stage) {
    uint64_t sink = 0;
    auto t = std::chrono::steady_clock::now();
    for (uint64_t done = 0; done < packets; done += kBurst) {
      const Stamp* st = &stream[done & (stream_len - 1)];
      for (uint32_t i = 0; i < kBurst; ++i) {
        uint8_t* f = bufs.data() + i * kBufSize + kHeadroom;
        std::memcpy(f, ack.bytes, 64);
        store32(f + 14 + 12, st[i].caddr);
        store16(f + 14 + 20, st[i].cport);
        store16(f + 14 + 10, st[i].ipcsum);
        pb[i] = {f, ack.len, kHeadroom, kBufSize - kHeadroom - ack.len};
      }
      if (stage == Stage::Core) {
        w.process_burst(pb, kBurst, verdicts, now);
        sink += verdicts[0].route_dst;
        // What the dataplane does after each burst: a master's records move on (to its ring).
        if (w.sync_pending()) [[unlikely]] {
          sink += w.sync_records()[0].cport;
          w.sync_taken();
        }
      } else if (stage == Stage::Bare) {
        sink += bare.burst(pb, kBurst);
      } else {
        sink += stages.burst(stage, pb, kBurst);
      }
    }
    double secs = seconds_since(t);
    if (sink == 42) std::fprintf(stderr, " ");  // keep the work observable
    return packets / secs / 1e6;
  };
  Forwarding f;
  if (core_only) {
    f.core_mpps = run(Stage::Core);
    return f;
  }
  for (int rep = 0; rep < 3; ++rep)
    for (int k = 0; k < kStages; ++k) f.stage_mpps[k] = std::max(f.stage_mpps[k], run(static_cast<Stage>(k)));
  f.bare_mpps = f.stage_mpps[static_cast<int>(Stage::Bare)];
  f.core_mpps = f.stage_mpps[static_cast<int>(Stage::Core)];
  return f;
}

// Connection sync as a master: established forwarding with the side array on against off
// (interleaved, best of five each), and the sync thread's work per record: encoding into
// version 1 messages, and that plus sending each message (a UDP socket to an unread local one).
struct SyncCost {
  double off_mpps = 0, on_mpps = 0, count_only_mpps = 0;
  uint64_t records = 0;
  double encode_ns = 0, records_per_s = 0;
};
SyncCost sync_cost(Worker& w, const std::vector<Tuple>& tuples, uint32_t conns, uint64_t packets, const FrameTemplate& ack,
                   uint32_t now) {
  SyncCost c;
  SyncSideArray side(w.slot_count());
  const uint64_t queued0 = w.sync_counters().queued;
  for (int rep = 0; rep < 5; ++rep) {
    c.off_mpps = std::max(c.off_mpps, forwarding(w, tuples, conns, packets, ack, now, true).core_mpps);
    w.set_sync_master(side.get());
    c.on_mpps = std::max(c.on_mpps, forwarding(w, tuples, conns, packets, ack, now, true).core_mpps);
    w.set_sync_master(nullptr);
  }
  c.records = w.sync_counters().queued - queued0;
  // The bookkeeping alone: sync_period 0 sends a connection at its threshold packet only, so
  // (every connection having passed it above) no packet makes a record.
  sync::SyncSysctls once;
  once.period = 0;
  w.set_sync_sysctls(once);
  w.set_sync_master(side.get());
  for (int rep = 0; rep < 3; ++rep)
    c.count_only_mpps = std::max(c.count_only_mpps, forwarding(w, tuples, conns, packets, ack, now, true).core_mpps);
  w.set_sync_master(nullptr);
  w.set_sync_sysctls(sync::SyncSysctls{});

  // Records as a worker makes them (NAT, established), for the thread's side.
  std::vector<sync::SyncRecord> recs(std::min<uint32_t>(conns, 1u << 16));
  for (size_t i = 0; i < recs.size(); ++i) {
    sync::SyncRecord& r = recs[i];
    r = sync::SyncRecord{};
    r.caddr = tuples[i].caddr;
    r.cport = tuples[i].cport;
    r.vaddr = v4(10, 0, 0, 1);
    r.vport = hton16(80);
    r.daddr = v4(192, 168, 1, 10);
    r.dport = hton16(8080);
    r.protocol = kProtoTcp;
    r.state = kTcpEstablished;
    r.timeout_s = 900;
  }
  uint8_t buf[1472];
  auto encode = [&](uint64_t n, int fd) {
    sync::MessageWriter mw(buf, sizeof buf, 1);
    uint64_t sent = 0;
    auto t0 = std::chrono::steady_clock::now();
    for (uint64_t i = 0; i < n; ++i) {
      const sync::SyncConn sc = sync::to_wire(recs[i % recs.size()]);
      if (!mw.add(sc)) {
        if (fd >= 0) sent += ::send(fd, mw.data(), mw.size(), MSG_DONTWAIT) > 0;
        else sent += mw.data()[2];
        mw.reset();
        mw.add(sc);
      }
    }
    double secs = seconds_since(t0);
    if (sent == 42) std::fprintf(stderr, " ");
    return secs;
  };
  const uint64_t n = 4000000;
  double best = 1e9;
  for (int rep = 0; rep < 3; ++rep) best = std::min(best, encode(n, -1));
  c.encode_ns = best * 1e9 / n;
  int rx = ::socket(AF_INET, SOCK_DGRAM, 0), tx = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = hton32(0x7f000001);
  socklen_t al = sizeof a;
  if (rx >= 0 && tx >= 0 && ::bind(rx, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(rx, reinterpret_cast<sockaddr*>(&a), &al) == 0 &&
      ::connect(tx, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    const uint64_t m = 2000000;
    c.records_per_s = m / encode(m, tx);
  }
  if (rx >= 0) ::close(rx);
  if (tx >= 0) ::close(tx);
  return c;
}

// ns per packet of each stage over the one before (the first over nothing).
void print_stages(const char* at, const Forwarding& f) {
  static const char* names[kStages] = {"memory-bound loop (for reference)", "parse", "+ lookup", "+ NAT rewrite",
                                       "+ checks, state, timers, counters = core"};
  std::printf("per packet at %s, ns (cumulative stages, each over the last):\n", at);
  for (int k = 0; k < kStages; ++k) {
    const double ns = 1e3 / f.stage_mpps[k];
    const double prev = k >= 2 ? 1e3 / f.stage_mpps[k - 1] : 0;
    std::printf("  %-42s %8.1f %+7.1f\n", names[k], ns, ns - prev);
  }
}

// Opens tuples[0, n) as established connections: SYNs a half-open budget at a time (timed, the
// seconds returned), each batch's handshakes completed after it (not timed). Past the budget,
// SYNs alone would evict each other, as a flood's do.
double open_conns(Worker& w, const std::vector<Tuple>& tuples, uint32_t n, const FrameTemplate& syn,
                  const FrameTemplate& ack, uint32_t now) {
  double secs = 0;
  for (uint32_t from = 0; from < n; from += w.half_open_budget()) {
    const uint32_t to = std::min(n, from + w.half_open_budget());
    auto t0 = std::chrono::steady_clock::now();
    send_each(w, tuples, from, to, syn, now);
    secs += seconds_since(t0);
    send_each(w, tuples, from, to, ack, now);
  }
  return secs;
}

// A SYN flood into an empty worker of `capacity` entries (default half-open budget): 4 x capacity
// SYNs from distinct spoofed sources, each past the budget evicting the oldest half-open entry.
// SYNs per second the worker absorbs, and how many failed (none should).
struct SynFlood {
  double per_s;
  uint64_t failed;
};
SynFlood syn_flood(const Snapshot& snap, const WorkerLimits& limits, uint32_t capacity, const FrameTemplate& syn,
                   uint32_t now) {
  WorkerOptions wo;
  wo.conn_capacity = capacity;
  wo.limits = limits;
  wo.conn6_capacity = 1024;  // IPv4 figures: the IPv6 table at its least
  Worker w(wo);
  w.set_snapshot(&snap);
  const std::vector<Tuple> flood = random_tuples(4 * capacity, 99);
  auto t0 = std::chrono::steady_clock::now();
  send_each(w, flood, 0, 4 * capacity, syn, now);
  const double secs = seconds_since(t0);
  uint64_t failed = 0;
  for (unsigned r = 1; r < kDropReasonCount; ++r) failed += w.stats().drops[r];
  return {4.0 * capacity / secs, failed};
}

// The SYN proxy at `n` connections, on a one-server proxied service: the rate at which a worker
// answers a flood's SYNs with cookies (entries made: none), then what a proxied connection costs
// besides its record: n clients return their cookie and the server answers each, and the
// resident memory that grew meanwhile (the delta side table; the records' pages were resident
// from the table's construction) is divided by n.
struct SynProxyCost {
  double syn_per_s = 0;
  size_t entries_after_flood = 0;
  double side_bytes_per_conn = 0;
  uint64_t joined = 0;
};
SynProxyCost synproxy_cost(const WorkerLimits& limits, uint32_t n, uint32_t now) {
  const be32 vip = v4(10, 0, 0, 1), rip = v4(192, 168, 1, 10);
  const be16 vport = hton16(80), rport = hton16(8080);
  CoreConfig cfg;
  ServiceConfig svc;
  svc.proto = kProtoTcp;
  svc.vip = IpAddr::from_v4(vip);
  svc.port = 80;
  svc.sched = SchedKind::Rr;
  svc.flags = kSvcSynProxy;
  svc.id = 0;
  DestConfig d;
  d.id = 0;
  d.addr = IpAddr::from_v4(rip);
  d.port = 8080;
  d.fwd = FwdMethod::Masq;
  svc.dests.push_back(d);
  cfg.services.push_back(svc);
  std::vector<std::string> errors;
  auto snap = build_snapshot(cfg, limits, nullptr, errors);
  SynProxyCost r;
  if (!snap) {
    std::fprintf(stderr, "core_bench: SYN proxy config rejected: %s\n", errors.front().c_str());
    return r;
  }
  WorkerOptions wo;
  wo.conn_capacity = 2 * n;  // the side table takes up to half the table
  wo.limits = limits;
  wo.conn6_capacity = 1024;  // IPv4 figures: the IPv6 table at its least
  wo.synproxy_secret = 42;
  Worker w(wo);
  w.set_snapshot(snap.get());
  const std::vector<Tuple> clients = random_tuples(n, 5);
  FrameTemplate syn(vip, vport, kTcpSyn), ack(vip, vport, kTcpAck);
  auto t0 = std::chrono::steady_clock::now();
  send_each(w, clients, 0, n, syn, now);
  r.syn_per_s = n / seconds_since(t0);
  r.entries_after_flood = w.conn_count();

  constexpr uint32_t kIsn = 1000, kServerIsn = 5000;
  std::vector<uint8_t> bufs(kBurst * kBufSize);
  PacketBuf pb[kBurst];
  Verdict verdicts[kBurst];
  const size_t rss0 = rss_bytes();
  // Burst by burst (clients' ACKs, then the server's answers to them): a proxied connection is
  // half-open until its server answers, so all n ACKs first would pass the half-open budget.
  for (uint32_t base = 0; base < n; base += kBurst)
    for (int phase = 0; phase < 2; ++phase) {
      const uint32_t k = std::min(kBurst, n - base);
      for (uint32_t i = 0; i < k; ++i) {
        const Tuple& t = clients[base + i];
        uint8_t* f = bufs.data() + i * kBufSize + kHeadroom;
        ack.fill(f, t);
        uint8_t* ip = f + 14;
        uint8_t* tcp = ip + 20;
        if (phase == 0) {  // the client returns its cookie
          store32(tcp + 4, hton32(kIsn + 1));
          store32(tcp + 8, hton32(syn_cookie(42, t.caddr, vip, t.cport, vport, kIsn, 0, now) + 1));
        } else {  // the server answers the proxied SYN
          store32(ip + 12, rip);
          store32(ip + 16, t.caddr);
          store16(tcp, rport);
          store16(tcp + 2, t.cport);
          tcp[13] = kTcpSyn | kTcpAck;
          store32(tcp + 4, hton32(kServerIsn));
          store32(tcp + 8, hton32(kIsn + 1));
          store16(ip + 10, 0);
          store16(ip + 10, inet_csum(ip, 20));
        }
        pb[i] = {f, ack.len, kHeadroom, kBufSize - kHeadroom - ack.len};
      }
      w.process_burst(pb, k, verdicts, now);
    }
  r.side_bytes_per_conn = double(rss_bytes() - rss0) / n;
  r.joined = w.stats().events[static_cast<size_t>(Event::SynProxyJoined)];
  return r;
}

// CPU time of the calling thread: what a connection costs its worker, whatever else the
// machine runs meanwhile (a busy 2-vCPU VM time-slices the two threads otherwise).
double thread_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

// New connections per CPU-second per worker when `nworkers` workers open conns/nworkers
// connections each, all at once on their own threads, sharing one SharedLoad, or (`share`
// false, the control) each with its own: what the machine costs two threads either way.
double new_conns_per_worker(const Snapshot& snap, const WorkerLimits& limits, const std::vector<Tuple>& tuples,
                            uint32_t conns, uint32_t nworkers, const FrameTemplate& syn, uint32_t now, bool share) {
  SharedLoad shared(limits.max_dests, limits.max_services, nworkers);
  std::vector<std::unique_ptr<Worker>> workers;
  for (uint32_t i = 0; i < nworkers; ++i) {
    WorkerOptions wo;
    wo.conn_capacity = conns / nworkers;
    wo.conn6_capacity = 1024;  // IPv4 figures: the IPv6 table at its least
    wo.half_open_budget = wo.conn_capacity;  // SYNs alone, none evicted: the insert's cost
    wo.limits = limits;
    wo.shared = share ? &shared : nullptr;
    wo.seed = 0x5eed + i;
    wo.worker_id = static_cast<uint16_t>(i);
    workers.push_back(std::make_unique<Worker>(wo));
    workers.back()->set_snapshot(&snap);
  }
  std::atomic<uint32_t> ready{0};
  std::vector<double> secs(nworkers);
  std::vector<std::thread> threads;
  for (uint32_t i = 0; i < nworkers; ++i)
    threads.emplace_back([&, i] {
      ready.fetch_add(1);
      while (ready.load() < nworkers) {
      }
      const double t0 = thread_cpu_seconds();
      send_each(*workers[i], tuples, i * (conns / nworkers), (i + 1) * (conns / nworkers), syn, now);
      secs[i] = thread_cpu_seconds() - t0;
    });
  double rate = 0;
  for (uint32_t i = 0; i < nworkers; ++i) {
    threads[i].join();
    rate += (conns / nworkers) / secs[i];
  }
  return rate / nworkers;
}

// ---- IPv6 -------------------------------------------------------------------------------------
// The same NAT service on an IPv6 VIP over 8 IPv6 servers, in a worker whose IPv6 table holds N
// connections: new connections per second, established forwarding (best of three), and the
// resident bytes each IPv6 connection costs.
struct Tuple6 {
  IpAddr caddr;
  be16 cport;
};

std::vector<Tuple6> random_tuples6(uint32_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Tuple6> v(n);
  for (uint32_t i = 0; i < n; ++i) {
    const uint8_t pfx[8] = {0x20, 0x01, 0x0d, 0xb8, 0xc0, 0, 0, 0};
    std::memcpy(v[i].caddr.b.data(), pfx, 8);
    const uint64_t iid = (uint64_t{i} + 1) * 0x9E3779B97F4A7C15ull;  // distinct, scattered
    std::memcpy(v[i].caddr.b.data() + 8, &iid, 8);
    v[i].cport = hton16(static_cast<uint16_t>(1024 + rng() % 64000));
  }
  return v;
}

// A 74-byte Ethernet/IPv6/TCP frame to the VIP; client address and port patched in.
struct FrameTemplate6 {
  uint8_t bytes[80] = {};
  uint32_t len = 14 + 40 + 20;
  FrameTemplate6(const IpAddr& vip, be16 vport, uint8_t flags) {
    uint8_t* f = bytes;
    const uint8_t mac[12] = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1};
    std::memcpy(f, mac, 12);
    f[12] = 0x86;
    f[13] = 0xdd;
    uint8_t* ip = f + 14;
    ip[0] = 0x60;
    store16(ip + 4, hton16(20));
    ip[6] = kProtoTcp;
    ip[7] = 64;
    std::memcpy(ip + 24, vip.b.data(), 16);
    uint8_t* t = ip + 40;
    store16(t + 2, vport);
    t[12] = 5 << 4;
    t[13] = flags;
    store16(t + 14, hton16(65535));
  }
  void fill(uint8_t* dst, const Tuple6& t) const {
    std::memcpy(dst, bytes, sizeof bytes);
    std::memcpy(dst + 14 + 8, t.caddr.b.data(), 16);
    store16(dst + 14 + 40, t.cport);
  }
};

void send_each6(Worker& w, const std::vector<Tuple6>& tuples, uint32_t from, uint32_t to, const FrameTemplate6& frame,
                uint32_t now) {
  std::vector<uint8_t> bufs(kBurst * kBufSize);
  PacketBuf pb[kBurst];
  Verdict verdicts[kBurst];
  for (uint32_t base = from; base < to; base += kBurst) {
    uint32_t n = std::min(kBurst, to - base);
    for (uint32_t i = 0; i < n; ++i) {
      uint8_t* f = bufs.data() + i * kBufSize + kHeadroom;
      frame.fill(f, tuples[base + i]);
      pb[i] = {f, frame.len, kHeadroom, kBufSize - kHeadroom - frame.len};
    }
    w.process_burst(pb, n, verdicts, now);
  }
}

// An IPv6 worker with N established IPv6 NAT connections (opening them is timed), whose
// forwarding is then measured as often as asked, so main can interleave it with IPv4's: this
// machine's load varies, and a ratio of figures taken minutes apart says little.
class V6Bench {
 public:
  V6Bench(uint32_t conns, uint32_t now) : conns_(conns), now_(now) {
    IpAddr vip;
    const uint8_t b[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    std::memcpy(vip.b.data(), b, 16);
    CoreConfig cfg;
    ServiceConfig svc;
    svc.proto = kProtoTcp;
    svc.vip = vip;
    svc.port = 80;
    svc.sched = SchedKind::Wlc;
    for (DestId d = 0; d < 8; ++d) {
      DestConfig dc;
      dc.id = d;
      dc.addr = vip;
      dc.addr.b[7] = 2;
      dc.addr.b[15] = static_cast<uint8_t>(10 + d);
      dc.port = 8080;
      dc.fwd = FwdMethod::Masq;
      dc.weight = 1 + d % 3;
      svc.dests.push_back(dc);
    }
    cfg.services.push_back(svc);
    const WorkerLimits limits{16, 64};
    std::vector<std::string> errors;
    snap_ = build_snapshot(cfg, limits, nullptr, errors);
    if (!snap_) {
      std::fprintf(stderr, "core_bench: IPv6 config rejected: %s\n", errors.front().c_str());
      std::exit(1);
    }
    tuples_ = random_tuples6(conns, 43);
    const FrameTemplate6 syn(vip, hton16(80), kTcpSyn);
    ack_ = std::make_unique<FrameTemplate6>(vip, hton16(80), kTcpAck);

    const size_t rss0 = rss_bytes();
    WorkerOptions wo;
    wo.conn_capacity = 1024;  // the IPv4 table, unused here
    wo.conn6_capacity = conns;
    wo.limits = limits;
    w_ = std::make_unique<Worker>(wo);
    w_->set_snapshot(snap_.get());
    const uint32_t step = std::max<uint32_t>(1, static_cast<uint32_t>(w_->conn6_capacity() / 4));  // its half-open budget
    double secs = 0;
    for (uint32_t from = 0; from < conns; from += step) {
      const uint32_t to = std::min(conns, from + step);
      auto t0 = std::chrono::steady_clock::now();
      send_each6(*w_, tuples_, from, to, syn, now);
      secs += seconds_since(t0);
      send_each6(*w_, tuples_, from, to, *ack_, now);
    }
    established_ = w_->conn6_count();
    new_per_s_ = conns / secs;
    bytes_per_conn_ = established_ ? double(rss_bytes() - rss0) / established_ : 0;
  }

  // Established forwarding over random connections, Mpps (frames stamped as forwarding() does).
  double forward(uint64_t packets) {
    struct Stamp {
      IpAddr caddr;
      be16 cport;
    };
    const uint32_t stream_len = 1 << 20;
    std::vector<Stamp> stream(stream_len);
    std::mt19937 rng(7);
    for (uint32_t k = 0; k < stream_len; ++k) {
      const Tuple6& t = tuples_[rng() % conns_];
      stream[k] = {t.caddr, t.cport};
    }
    std::vector<uint8_t> bufs(kBurst * kBufSize);
    PacketBuf pb[kBurst];
    Verdict verdicts[kBurst];
    uint64_t sink = 0;
    auto t = std::chrono::steady_clock::now();
    for (uint64_t done = 0; done < packets; done += kBurst) {
      const Stamp* st = &stream[done & (stream_len - 1)];
      for (uint32_t i = 0; i < kBurst; ++i) {
        uint8_t* f = bufs.data() + i * kBufSize + kHeadroom;
        std::memcpy(f, ack_->bytes, sizeof ack_->bytes);
        std::memcpy(f + 14 + 8, st[i].caddr.b.data(), 16);
        store16(f + 14 + 40, st[i].cport);
        pb[i] = {f, ack_->len, kHeadroom, kBufSize - kHeadroom - ack_->len};
      }
      w_->process_burst(pb, kBurst, verdicts, now_);
      sink += static_cast<uint8_t>(verdicts[0].action) + w_->route6_dst(0).b[15];
      if (w_->sync_pending()) [[unlikely]] {  // as the dataplane drains a master's records
        sink += w_->sync_records6()[0].cport;
        w_->sync_taken();
      }
    }
    const double secs = seconds_since(t);
    if (sink == 42) std::fprintf(stderr, " ");
    return packets / secs / 1e6;
  }

  // A sync master on (its records drained after each burst, as forwarding() does) or off.
  void master(bool on) {
    if (!side_) side_ = std::make_unique<SyncSideArray>(w_->slot_count());
    w_->set_sync_master(on ? side_->get() : nullptr);
  }
  uint64_t sync_queued() const { return w_->sync_counters().queued; }

  size_t established() const { return established_; }
  double new_per_s() const { return new_per_s_; }
  double bytes_per_conn() const { return bytes_per_conn_; }
  uint64_t drops() const {
    uint64_t n = 0;
    for (unsigned r = 1; r < kDropReasonCount; ++r) n += w_->stats().drops[r];
    return n;
  }

 private:
  uint32_t conns_, now_;
  std::unique_ptr<Snapshot> snap_;
  std::vector<Tuple6> tuples_;
  std::unique_ptr<FrameTemplate6> ack_;
  std::unique_ptr<Worker> w_;
  std::unique_ptr<SyncSideArray> side_;
  size_t established_ = 0;
  double new_per_s_ = 0, bytes_per_conn_ = 0;
};

// synproxy_cost's figures for an IPv6 service (the same one-server proxied NAT service on an
// IPv6 VIP, n clients from 2001:db8::/32): cookies over 128-bit addresses, the IPv6 side table.
SynProxyCost synproxy_cost6(const WorkerLimits& limits, uint32_t n, uint32_t now) {
  IpAddr vip, rip;
  const uint8_t b[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  std::memcpy(vip.b.data(), b, 16);
  rip = vip;
  rip.b[7] = 2;
  rip.b[15] = 10;
  const be16 vport = hton16(80), rport = hton16(8080);
  CoreConfig cfg;
  ServiceConfig svc;
  svc.proto = kProtoTcp;
  svc.vip = vip;
  svc.port = 80;
  svc.sched = SchedKind::Rr;
  svc.flags = kSvcSynProxy;
  svc.id = 0;
  DestConfig d;
  d.id = 0;
  d.addr = rip;
  d.port = 8080;
  d.fwd = FwdMethod::Masq;
  svc.dests.push_back(d);
  cfg.services.push_back(svc);
  std::vector<std::string> errors;
  auto snap = build_snapshot(cfg, limits, nullptr, errors);
  SynProxyCost r;
  if (!snap) {
    std::fprintf(stderr, "core_bench: IPv6 SYN proxy config rejected: %s\n", errors.front().c_str());
    return r;
  }
  WorkerOptions wo;
  wo.conn_capacity = 1024;  // the IPv4 table, unused here
  wo.conn6_capacity = 2 * n;  // the side table takes up to half the table
  wo.limits = limits;
  wo.synproxy_secret = 42;
  Worker w(wo);
  w.set_snapshot(snap.get());
  const std::vector<Tuple6> clients = random_tuples6(n, 5);
  const FrameTemplate6 syn(vip, vport, kTcpSyn), ack(vip, vport, kTcpAck);
  auto t0 = std::chrono::steady_clock::now();
  send_each6(w, clients, 0, n, syn, now);
  r.syn_per_s = n / seconds_since(t0);
  r.entries_after_flood = w.conn_count();

  constexpr uint32_t kIsn = 1000, kServerIsn = 5000;
  std::vector<uint8_t> bufs(kBurst * kBufSize);
  PacketBuf pb[kBurst];
  Verdict verdicts[kBurst];
  const size_t rss0 = rss_bytes();
  for (uint32_t base = 0; base < n; base += kBurst)
    for (int phase = 0; phase < 2; ++phase) {
      const uint32_t k = std::min(kBurst, n - base);
      for (uint32_t i = 0; i < k; ++i) {
        const Tuple6& t = clients[base + i];
        uint8_t* f = bufs.data() + i * kBufSize + kHeadroom;
        ack.fill(f, t);
        uint8_t* ip = f + 14;
        uint8_t* tcp = ip + 40;
        if (phase == 0) {  // the client returns its cookie
          store32(tcp + 4, hton32(kIsn + 1));
          store32(tcp + 8, hton32(syn_cookie6(42, t.caddr.b.data(), vip.b.data(), t.cport, vport, kIsn, 0, now) + 1));
        } else {  // the server answers the proxied SYN
          std::memcpy(ip + 8, rip.b.data(), 16);
          std::memcpy(ip + 24, t.caddr.b.data(), 16);
          store16(tcp, rport);
          store16(tcp + 2, t.cport);
          tcp[13] = kTcpSyn | kTcpAck;
          store32(tcp + 4, hton32(kServerIsn));
          store32(tcp + 8, hton32(kIsn + 1));
        }
        pb[i] = {f, ack.len, kHeadroom, kBufSize - kHeadroom - ack.len};
      }
      w.process_burst(pb, k, verdicts, now);
    }
  r.side_bytes_per_conn = double(rss_bytes() - rss0) / n;
  r.joined = w.stats().events[static_cast<size_t>(Event::SynProxyJoined)];
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  bool json = false;
  uint32_t conns = 1000000;
  uint64_t packets = 20000000;
  uint32_t upper = 0;
  bool v6_only = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--json") json = true;
    else if (a == "--ipv6-only") v6_only = true;
    else if (a == "--conns" && i + 1 < argc) conns = static_cast<uint32_t>(std::strtoul(argv[++i], nullptr, 10));
    else if (a == "--packets" && i + 1 < argc) packets = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--upper-threshold" && i + 1 < argc) upper = static_cast<uint32_t>(std::strtoul(argv[++i], nullptr, 10));
    else {
      std::fprintf(stderr, "usage: core_bench [--json] [--conns N] [--packets M] [--upper-threshold X] [--ipv6-only]\n");
      return 2;
    }
  }
  if (conns < 1000 || conns > (1u << 24) || packets < 1000) {
    std::fprintf(stderr, "core_bench: --conns must be in 1000..16777216 and --packets at least 1000\n");
    return 2;
  }

  const be32 vip = v4(10, 0, 0, 1);
  const be16 vport = hton16(80);
  CoreConfig cfg;
  ServiceConfig svc;
  svc.id = 0;
  svc.proto = kProtoTcp;
  svc.vip = IpAddr::from_v4(vip);
  svc.port = 80;
  svc.sched = SchedKind::Wlc;
  for (DestId d = 0; d < 8; ++d) {
    DestConfig dc;
    dc.id = d;
    dc.addr = IpAddr::from_v4(v4(192, 168, 1, static_cast<uint8_t>(10 + d)));
    dc.port = 8080;
    dc.fwd = FwdMethod::Masq;
    dc.weight = 1 + d % 3;
    dc.u_threshold = upper;
    svc.dests.push_back(dc);
  }
  cfg.services.push_back(svc);
  WorkerLimits limits{16, 64};
  std::vector<std::string> errors;
  auto snap = build_snapshot(cfg, limits, nullptr, errors);
  if (!snap) {
    std::fprintf(stderr, "core_bench: config rejected: %s\n", errors.front().c_str());
    return 1;
  }

  std::vector<Tuple> tuples = random_tuples(conns, 42);
  FrameTemplate syn(vip, vport, kTcpSyn), ack(vip, vport, kTcpAck);
  const uint32_t now = 100;

  // --- memory and new connections --------------------------------------------------------------
  size_t rss0 = rss_bytes();
  WorkerOptions wo;
  wo.conn_capacity = conns;
  wo.conn6_capacity = 1024;  // the IPv6 table is measured on its own (V6Bench)
  wo.limits = limits;
  Worker worker(wo);
  worker.set_snapshot(snap.get());

  const double t_new = open_conns(worker, tuples, conns, syn, ack, now);
  size_t rss1 = rss_bytes();
  size_t established = worker.conn_count();
  if (v6_only) {  // IPv6 against IPv4 alone, interleaved (profiling the IPv6 path)
    V6Bench six(conns, now);
    double v4_mpps = 0, v6_mpps = 0;
    for (int rep = 0; rep < 5; ++rep) {
      v4_mpps = std::max(v4_mpps, forwarding(worker, tuples, conns, packets, ack, now, true).core_mpps);
      v6_mpps = std::max(v6_mpps, six.forward(packets));
    }
    std::printf("%zu connections: established NAT IPv4 %.2f Mpps, IPv6 %.2f Mpps (%.1f%%); IPv6 new %.2f M/s, "
                "%.1f resident bytes each, %llu drops\n",
                six.established(), v4_mpps, v6_mpps, 100 * v6_mpps / v4_mpps, six.new_per_s() / 1e6,
                six.bytes_per_conn(), static_cast<unsigned long long>(six.drops()));
    return six.drops() ? 1 : 0;
  }

  // --- established forwarding against the memory-bound loop, at N and at 10,000 ---------------
  const Forwarding big = forwarding(worker, tuples, conns, packets, ack, now);
  constexpr uint32_t kSmall = 10000;
  WorkerOptions small_wo = wo;
  small_wo.conn_capacity = kSmall;
  Worker small(small_wo);
  small.set_snapshot(snap.get());
  open_conns(small, tuples, kSmall, syn, ack, now);
  const Forwarding little = forwarding(small, tuples, kSmall, packets, ack, now);
  const double established_mpps = big.core_mpps, baseline_mpps = big.bare_mpps;
  const SyncCost sync_big = sync_cost(worker, tuples, conns, packets, ack, now);
  const SyncCost sync_little = sync_cost(small, tuples, kSmall, packets, ack, now);

  const WorkerStats& st = worker.stats();
  uint64_t drops = 0;
  for (unsigned r = 1; r < kDropReasonCount; ++r) drops += st.drops[r] + small.stats().drops[r];
  double new_per_s = conns / t_new;
  const uint32_t flood_n = 4096;
  FloodCost flood = hash_flood(flood_n);
  const SynFlood synflood = syn_flood(*snap, limits, conns, syn, now);
  const SynProxyCost proxy = synproxy_cost(limits, conns, now);
  const SynProxyCost proxy6 = synproxy_cost6(limits, conns, now);
  double bytes_per_conn = established ? double(rss1 - rss0) / established : 0;
  // IPv6 against IPv4, interleaved (best of five each) so both see the same machine.
  V6Bench six(conns, now);
  double v4_mpps = 0, v6_mpps = 0;
  for (int rep = 0; rep < 5; ++rep) {
    v4_mpps = std::max(v4_mpps, forwarding(worker, tuples, conns, packets, ack, now, true).core_mpps);
    v6_mpps = std::max(v6_mpps, six.forward(packets));
  }
  // IPv6 connections under a sync master: on against off, interleaved.
  double v6_sync_off = 0, v6_sync_on = 0;
  for (int rep = 0; rep < 3; ++rep) {
    v6_sync_off = std::max(v6_sync_off, six.forward(packets));
    six.master(true);
    v6_sync_on = std::max(v6_sync_on, six.forward(packets));
    six.master(false);
  }
  const uint64_t v6_records = six.sync_queued();
  drops += six.drops();

  std::printf("Fulcrum packet core benchmark (one thread, in-memory bursts of %u, NAT, wlc over 8 servers)\n", kBurst);
  std::printf("%-44s %14s\n", "measure", "value");
  std::printf("%-44s %14zu\n", "connections in the table", established);
  std::printf("%-44s %14.2f\n", "new connections (SYN->schedule->insert), M/s", new_per_s / 1e6);
  std::printf("%-44s %14.2f\n", "established NAT forwarding, Mpps", established_mpps);
  std::printf("%-44s %14.2f\n", "memory-bound loop (lookup + rewrite), Mpps", baseline_mpps);
  std::printf("%-44s %13.1f%%\n", "forwarding / memory-bound loop", 100 * established_mpps / baseline_mpps);
  std::printf("%-44s %14.2f\n", "at 10,000 connections: forwarding, Mpps", little.core_mpps);
  std::printf("%-44s %14.2f\n", "at 10,000 connections: memory-bound, Mpps", little.bare_mpps);
  std::printf("%-44s %13.1f%%\n", "at 10,000 connections: forwarding / loop", 100 * little.core_mpps / little.bare_mpps);
  print_stages("N connections", big);
  print_stages("10,000 connections", little);
  std::printf("connection sync, master on (side array %zu B/slot, %zu read per packet) vs off, established forwarding:\n",
              2 * sizeof(uint32_t), sizeof(SyncSide));
  std::printf("%-44s %7.2f %6.2f\n", "  N connections: off, on, Mpps", sync_big.off_mpps, sync_big.on_mpps);
  std::printf("%-44s %13.1f%%\n", "  N connections: on / off", 100 * sync_big.on_mpps / sync_big.off_mpps);
  std::printf("%-44s %7.2f %6.2f\n", "  10,000 connections: off, on, Mpps", sync_little.off_mpps, sync_little.on_mpps);
  std::printf("%-44s %13.1f%%\n", "  10,000 connections: on / off", 100 * sync_little.on_mpps / sync_little.off_mpps);
  std::printf("%-44s %7.2f %6.2f\n", "  bookkeeping only (no records), N / 10k, Mpps", sync_big.count_only_mpps,
              sync_little.count_only_mpps);
  std::printf("%-44s %14llu\n", "  records the packets made (N)", static_cast<unsigned long long>(sync_big.records));
  std::printf("%-44s %14.1f\n", "  sync thread: encode, ns per connection", sync_big.encode_ns);
  std::printf("%-44s %14.2f\n", "  sync thread: encode + send, M records/s", sync_big.records_per_s / 1e6);
  std::printf("%-44s %14.1f\n", "resident bytes per connection (measured)", bytes_per_conn);
  std::printf("IPv6 (the same NAT service on an IPv6 VIP, IPv6 clients and servers, %zu connections):\n", six.established());
  std::printf("%-44s %14.2f\n", "  new connections, M/s", six.new_per_s() / 1e6);
  std::printf("%-44s %7.2f %6.2f\n", "  established NAT, IPv4 and IPv6 interleaved, Mpps", v4_mpps, v6_mpps);
  std::printf("%-44s %13.1f%%\n", "  IPv6 / IPv4 established forwarding", 100 * v6_mpps / v4_mpps);
  std::printf("%-44s %14.1f\n", "  resident bytes per IPv6 connection", six.bytes_per_conn());
  std::printf("%-44s %7.2f %6.2f\n", "  sync master off, on (IPv6 records), Mpps", v6_sync_off, v6_sync_on);
  std::printf("%-44s %13.1f%%\n", "  IPv6 sync on / off", 100 * v6_sync_on / v6_sync_off);
  std::printf("%-44s %14llu\n", "  IPv6 records the packets made", static_cast<unsigned long long>(v6_records));
  std::printf("%-44s %14zu\n", "table memory reserved, bytes per slot", worker.table_memory_bytes() / worker.conn_capacity());
  std::printf("%-44s %14llu\n", "drops", static_cast<unsigned long long>(drops));
  std::printf("%-44s %14.2f\n", "SYN flood absorbed (4x table, evicting), M/s", synflood.per_s / 1e6);
  std::printf("%-44s %14llu\n", "  flood SYNs that failed", static_cast<unsigned long long>(synflood.failed));
  std::printf("%-44s %14.2f\n", "SYN proxy: flood SYNs answered, M/s", proxy.syn_per_s / 1e6);
  std::printf("%-44s %14zu\n", "  table entries the flood made", proxy.entries_after_flood);
  std::printf("%-44s %14.1f\n", "  resident bytes per proxied conn (+record)", proxy.side_bytes_per_conn);
  std::printf("%-44s %14llu\n", "  proxied connections joined to the server", static_cast<unsigned long long>(proxy.joined));
  std::printf("%-44s %14.2f\n", "SYN proxy IPv6: flood SYNs answered, M/s", proxy6.syn_per_s / 1e6);
  std::printf("%-44s %14zu\n", "  table entries the flood made", proxy6.entries_after_flood);
  std::printf("%-44s %14.1f\n", "  resident bytes per proxied conn (+record)", proxy6.side_bytes_per_conn);
  std::printf("%-44s %14llu\n", "  proxied connections joined to the server", static_cast<unsigned long long>(proxy6.joined));
  // Sharing: the same N new connections, once by one worker and once by two at the same time
  // (N/2 each), with the director-wide load between them.
  // Best of three runs each, interleaved: the machine's other work only ever slows a run down.
  double one_worker = 0, two_workers = 0, two_apart = 0;
  for (int rep = 0; rep < 3; ++rep) {
    one_worker = std::max(one_worker, new_conns_per_worker(*snap, limits, tuples, conns, 1, syn, now, true));
    two_apart = std::max(two_apart, new_conns_per_worker(*snap, limits, tuples, conns, 2, syn, now, false));
    two_workers = std::max(two_workers, new_conns_per_worker(*snap, limits, tuples, conns, 2, syn, now, true));
  }
  std::printf("%-44s %14.2f\n", "new connections per worker, 1 worker, M/s", one_worker / 1e6);
  std::printf("%-44s %14.2f\n", "new connections per worker, 2 workers, M/s", two_workers / 1e6);
  std::printf("%-44s %14.2f\n", "  the same, load not shared (control), M/s", two_apart / 1e6);
  std::printf("%-44s %13.1f%%\n", "cost per new connection, 2 workers / 1", 100 * one_worker / two_workers);
  // Two threads on a busy machine cost what they cost with or without sharing; this is sharing's.
  std::printf("%-44s %13.1f%%\n", "  of which sharing (2 shared / 2 not shared)", 100 * two_apart / two_workers);
  std::printf("hash flood, %u flows crafted into one bucket of a 65,536-entry table (ns per insert + lookup):\n", flood_n);
  std::printf("%-44s %14.1f\n", "  random flows, secret seed", flood.random_ns);
  std::printf("%-44s %14.1f\n", "  crafted flows, secret seed (as deployed)", flood.crafted_secret_ns);
  std::printf("%-44s %14.1f\n", "  crafted flows, seed known to the attacker", flood.crafted_known_ns);
  std::printf("%-44s %14.2f\n", "  crafted / random, secret seed", flood.crafted_secret_ns / flood.random_ns);
  if (json)
    std::printf(
        "{\"established_mpps\":%.3f,\"baseline_mpps\":%.3f,\"ratio\":%.4f,"
        "\"established_mpps_10k\":%.3f,\"baseline_mpps_10k\":%.3f,\"ratio_10k\":%.4f,\"new_conns_per_s\":%.0f,"
        "\"bytes_per_conn\":%.1f,\"conns\":%zu,\"packets\":%llu,\"drops\":%llu,"
        "\"new_conns_per_worker_1\":%.0f,\"new_conns_per_worker_2\":%.0f,\"new_conns_per_worker_2_unshared\":%.0f,"
        "\"flood_random_ns\":%.1f,\"flood_crafted_secret_ns\":%.1f,\"flood_crafted_known_ns\":%.1f,"
        "\"syn_flood_per_s\":%.0f,\"syn_flood_failed\":%llu,\"synproxy_syn_per_s\":%.0f,"
        "\"synproxy_side_bytes_per_conn\":%.1f,\"sync_off_mpps\":%.3f,\"sync_on_mpps\":%.3f,\"sync_ratio\":%.4f,"
        "\"sync_off_mpps_10k\":%.3f,\"sync_on_mpps_10k\":%.3f,\"sync_ratio_10k\":%.4f,\"sync_encode_ns\":%.1f,"
        "\"sync_records_per_s\":%.0f,\"v4_interleaved_mpps\":%.3f,\"v6_established_mpps\":%.3f,\"v6_ratio\":%.4f,\"v6_new_conns_per_s\":%.0f,"
        "\"v6_bytes_per_conn\":%.1f,\"synproxy6_syn_per_s\":%.0f,\"synproxy6_side_bytes_per_conn\":%.1f,"
        "\"v6_sync_off_mpps\":%.3f,\"v6_sync_on_mpps\":%.3f}\n",
        established_mpps, baseline_mpps, established_mpps / baseline_mpps, little.core_mpps, little.bare_mpps,
        little.core_mpps / little.bare_mpps, new_per_s, bytes_per_conn, established,
        static_cast<unsigned long long>(packets), static_cast<unsigned long long>(drops), one_worker, two_workers,
        two_apart, flood.random_ns, flood.crafted_secret_ns, flood.crafted_known_ns, synflood.per_s,
        static_cast<unsigned long long>(synflood.failed), proxy.syn_per_s, proxy.side_bytes_per_conn, sync_big.off_mpps,
        sync_big.on_mpps, sync_big.on_mpps / sync_big.off_mpps, sync_little.off_mpps, sync_little.on_mpps,
        sync_little.on_mpps / sync_little.off_mpps, sync_big.encode_ns, sync_big.records_per_s, v4_mpps,
        v6_mpps, v6_mpps / v4_mpps, six.new_per_s(), six.bytes_per_conn(), proxy6.syn_per_s, proxy6.side_bytes_per_conn,
        v6_sync_off, v6_sync_on);
  return drops || synflood.failed ? 1 : 0;
}
