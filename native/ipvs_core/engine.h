// The packet entry point: one Worker per lcore owns a connection table, a FullNAT port share,
// per-service scheduler state, its share of real-server load and counters (the director-wide
// load all workers share is in shared_load.h), and turns each frame into a
// verdict (transmit towards an address, hand to the kernel, or drop with a reason).
// The flow is one way: parse -> lookup/schedule -> state -> rewrite -> verdict.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "conn_table.h"
#include "conn_table6.h"
#include "fnat_pool.h"
#include "half_open.h"
#include "packet.h"
#include "restart_file.h"
#include "sched/sched.h"
#include "shared_load.h"
#include "snapshot.h"
#include "stats.h"
#include "sync_policy.h"
#include "sync_record.h"
#include "sync_side.h"
#include "synproxy.h"
#include "tcp_state.h"

namespace fulcrum {

// Persistent clients a director's shared index holds (shared_affinity.h): a quarter of its
// connection slots, at least 4096.
inline uint32_t affinity_slots(uint32_t conn_capacity, uint32_t workers) {
  const uint64_t n = uint64_t{conn_capacity} * workers / 4;
  return n < 4096 ? 4096 : n > (1u << 30) ? (1u << 30) : static_cast<uint32_t>(n);
}

// Half-open (SYN_RECV) entries a worker keeps by default: a quarter of its table. More are
// not kept: the oldest is evicted for each new one, so a SYN flood churns through this share
// while established connections keep the rest (and take the share too when they need it).
inline uint32_t default_half_open_budget(uint32_t conn_capacity) {
  return conn_capacity / 4 ? conn_capacity / 4 : 1;
}

// What a scheduler reads of an IPv4 packet.
inline SchedPacket sched_packet_v4(const Parsed& p) {
  SchedPacket sp;
  sp.saddr = IpAddr::from_v4(p.saddr);
  sp.daddr = IpAddr::from_v4(p.daddr);
  sp.sport = ntoh16(p.sport);
  sp.dport = ntoh16(p.dport);
  return sp;
}

struct WorkerOptions {
  uint32_t conn_capacity = 1 << 20;  // live connections + templates this worker may hold
  // IPv6 connections + templates this worker may hold (a table of its own, 64 B records);
  // 0: a quarter of conn_capacity, at least 1024.
  uint32_t conn6_capacity = 0;
  uint32_t half_open_budget = 0;     // SYN_RECV entries kept at most; 0: default_half_open_budget
  WorkerLimits limits;
  // This worker's share of FullNAT local addresses and ports (see FnatPool).
  std::vector<be32> local_addrs;
  // FullNAT local addresses of IPv6 connections to IPv6 real servers; the same port share.
  // (NAT64, IPv6 clients to IPv4 servers, takes local_addrs.)
  std::vector<IpAddr> local_addrs6;
  uint16_t port_lo = 1024;
  uint16_t port_hi = 65535;
  uint16_t port_mask = 0;
  uint16_t port_value = 0;
  uint64_t seed = 0x5eed;  // hash and scheduler randomness; vary per worker
  // SYN cookies' key: the same for every worker of a director (a client's ACK may reach another
  // worker than its SYN did); 0: derived from seed.
  uint64_t synproxy_secret = 0;
  uint16_t worker_id = 0;
  // The director-wide load every worker of a director shares (sized by `limits` and made for
  // every worker_id, outliving the workers); null: this worker is the director's only one and
  // keeps its own.
  SharedLoad* shared = nullptr;
};

enum class Action : uint8_t {
  Drop,      // reason says why
  Transmit,  // send the (rewritten) frame towards route_dst; the dataplane sets the MACs
  Kernel,    // not for the balancer: the exception path (TAP) takes it
  // Send the (rewritten) IPv6 frame towards Worker::route6_dst(i), i = the packet's position in
  // the last process_burst call (valid until the next call); the next hop is the dataplane's
  // business. IPv4 frames (NAT64's output towards IPv4 servers too) keep Transmit.
  Transmit6,
  // A tunnel of the other family than its service (engine_tun_mixed.cc) whose outer source is
  // left 0: the egress port's address of the outer family goes there, as the kernel's route
  // source would (the dataplane writes it once its route names the port, and for IPv4 the
  // header checksum with it). TransmitSrc: an IPv4 frame towards route_dst. Transmit6Src: an
  // IPv6 frame towards its own (outer) destination address, its source written only when it
  // is :: (a configured tunnelSource6 is already there).
  TransmitSrc,
  Transmit6Src,
};

struct Verdict {
  Action action = Action::Drop;
  DropReason reason = DropReason::None;
  // A frame the core held (a proxied connection's first data, waiting for the server) is due
  // after this one: the caller takes it (Worker::take_held) and hands it to process() anew.
  uint16_t release = 0;
  be32 route_dst = 0;  // the IPv4 address to route to (next hop is the dataplane's business)

  Verdict() = default;
  Verdict(Action a, DropReason r, be32 dst, uint16_t rel = 0) : action(a), reason(r), release(rel), route_dst(dst) {}
};
// Eight bytes, no holes: a verdict travels in one register. (With holes GCC built returned
// verdicts on the stack and read them back wider than written: two store-forwarding stalls a
// packet, measured.)
static_assert(sizeof(Verdict) == 8);

// One connection as listings show it (ipvsadm -Lnc).
struct ConnInfo {
  uint8_t proto;
  bool is_template;
  uint8_t state;
  FwdMethod fwd;
  uint8_t family;  // 4 or 6: of the client side (a NAT64 connection is 6 with an IPv4 real server)
  // The addresses of either family (IPv4 ones IPv4-mapped, IpAddr::from_v4).
  IpAddr caddr_ip, vaddr_ip, daddr_ip, laddr_ip;
  // The same for IPv4 connections (0 in IPv6 ones; a NAT64 one has its IPv4 daddr/laddr here).
  be32 caddr, vaddr, daddr, laddr;
  be16 cport, vport, dport, lport;
  uint32_t expires_in_ticks;
  DestId dest;
  bool synced;  // installed from a sync master (a backup's entry)
};

// What happened to sync work in one worker (plain counters, this worker's alone).
struct SyncCounters {
  uint64_t queued = 0;        // master: records handed out
  uint64_t dropped = 0;       // master: records lost, the out buffer was full
  uint64_t installed = 0;     // backup: new entries
  uint64_t updated = 0;       // backup: existing entries refreshed
  uint64_t replaced = 0;      // backup: an entry for another real server expired for the new one
  uint64_t stale = 0;         // backup: an inactive record for an entry already replaced
  uint64_t no_service = 0;    // backup: skipped, no such service here
  uint64_t no_dest = 0;       // backup: skipped, no such real server in the service
  uint64_t table_full = 0;    // backup: skipped, no room
  uint64_t fnat_refused = 0;  // backup: skipped, the FullNAT local address/port is not this worker's or taken
  uint64_t bad_record = 0;    // backup: skipped, a protocol or state the core does not keep
};

enum class SyncInstall : uint8_t { Installed, Updated, Replaced, Stale, NoService, NoDest, TableFull, FnatRefused, BadRecord };

class Worker {
 public:
  explicit Worker(const WorkerOptions& opts);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Publishes a new configuration to this worker; called between bursts. The snapshot must
  // outlive its use (the dataplane frees old ones after an RCU grace period). When it follows
  // the one this worker took last (same lineage, seq + 1), only its changed services are re-synced;
  // otherwise (first one, or snapshots skipped) every service is.
  void set_snapshot(const Snapshot* snap);
  const Snapshot* snapshot() const { return snap_; }

  // Processes n frames; out[i] is the verdict for pkts[i]. Frames may grow (TUN, TOA) or be
  // turned into ICMP replies in place: pkts[i].data/len are updated.
  void process_burst(PacketBuf* pkts, uint32_t n, Verdict* out, uint32_t now);
  Verdict process(PacketBuf& pkt, uint32_t now) {
    Verdict v;
    process_burst(&pkt, 1, &v, now);
    return v;
  }

  // Where a Transmit6 verdict of the last process_burst call goes: the IPv6 address to route
  // to for the packet at position i of that call (valid until the next call).
  const IpAddr& route6_dst(uint32_t i) const { return route6_[i]; }
  // A burst reports IPv6 destinations for at most this many positions; IPv6 frames further on
  // in one call are dropped (Ipv6BurstPosition). The dataplane's bursts are far smaller.
  static constexpr uint32_t kRoute6Positions = 1024;

  // Incremental expiry: looks at no more than `budget` table slots.
  void housekeeping(uint32_t now, uint32_t budget);
  // Removes every connection and template (ipvsadm has no such command; the API's flush).
  void flush_all(uint32_t now);
  // Removes the connections of one real server (the API's per-server flush).
  void flush_dest(DestId dest, uint32_t now);

  // Read side (from the worker's own thread, or from a quiesced worker).
  const WorkerStats& stats() const { return stats_; }
  // This worker's share of a real server's connections (what listings sum over the workers);
  // its overload field is not kept.
  const DestLoad& share(DestId d) const { return load_[d]; }
  // The same with the director-wide overload flag (reads the shared line: not for bulk reads).
  DestLoad load(DestId d) const {
    DestLoad l = load_[d];
    l.overload = shared_->dest(d).get().overload;
    return l;
  }
  SharedLoad& shared_load() const { return *shared_; }
  size_t conn_count() const { return table_.size() + table6_.size(); }
  size_t conn_capacity() const { return table_.capacity(); }
  size_t table_memory_bytes() const { return table_.memory_bytes() + half_open_q_.memory_bytes(); }
  // The IPv6 table's share of the above (conn_count counts both tables).
  size_t conn6_count() const { return table6_.size(); }
  size_t conn6_capacity() const { return table6_.capacity(); }
  size_t table6_memory_bytes() const { return table6_.memory_bytes() + half_open6_q_.memory_bytes(); }
  uint32_t half_open6_count() const { return half_open6_; }
  uint32_t half_open6_budget() const { return half_open6_budget_; }
  // Entries in SYN_RECV now, and how many may be.
  uint32_t half_open_count() const { return half_open_; }
  uint32_t half_open_budget() const { return half_open_budget_; }
  // Proxied connections (SYN proxy) now, IPv4 and IPv6.
  uint32_t synproxy_count() const { return synproxy_.size() + synproxy6_.size(); }
  // The frame a Verdict's `release` names, copied into `out` (room for kHeldFrameBytes); its
  // place is free again. False when there is none (already taken, or its connection went).
  static constexpr uint32_t kHeldFrameBytes = 2048;
  bool take_held(uint16_t release, PacketBuf& out);
  // Up to max entries starting at slot cursor; returns the next cursor (0 when done). The IPv4
  // table's slots come first, then the IPv6 table's.
  size_t list_conns(size_t cursor, size_t max, std::vector<ConnInfo>& out, uint32_t now) const;
  // The IPv6 table's part: cursor counts its slots; returns base + the next one (0 when done).
  size_t list_conns6(size_t cursor, size_t max, std::vector<ConnInfo>& out, uint32_t now, size_t base) const;

  // ---- connection sync (engine_sync.cc) ----------------------------------------------------
  // Master: `side` (slot_count() entries, zeroed: a SyncSideArray) turns emission on, nullptr
  // off; the previous array is returned for its owner to free. Called between bursts.
  SyncSide* set_sync_master(SyncSide* side);
  bool sync_master() const { return sync_side_ != nullptr; }
  size_t slot_count() const { return table_.slot_count(); }
  // The kernel's sync sysctls (any time, between bursts).
  void set_sync_sysctls(const sync::SyncSysctls& s) {
    sync_sysctls_ = s;
    sync_always_ = s.refresh_period_s != 0;
  }
  // backup_only: while set (a backup daemon runs with the sysctl on), new connections are not
  // balanced; their packets go to the kernel as the host's own traffic.
  void set_backup_only(bool on) { backup_only_ = on; }
  // Records made by the packets processed since the last take (at most kSyncOutMax; more are
  // counted in dropped). The caller moves them on after each burst.
  static constexpr uint32_t kSyncOutMax = 256;
  // Both kinds: IPv4 records (sync_records) and IPv6 ones (sync_records6, engine_sync6.cc).
  uint32_t sync_pending() const { return sync_out_n_ + sync_out6_n_; }
  const sync::SyncRecord* sync_records() const { return sync_out_.get(); }
  uint32_t sync_pending4() const { return sync_out_n_; }
  uint32_t sync_pending6() const { return sync_out6_n_; }
  const sync::SyncRecord6* sync_records6() const { return sync_out6_.get(); }
  void sync_taken() {
    sync_out_n_ = 0;
    sync_out6_n_ = 0;
  }
  // Backup: installs (or updates) what a master sent, as the kernel's ip_vs_proc_conn.
  SyncInstall sync_install(const sync::SyncRecord& r, uint32_t now);
  // The same for IPv6 and NAT64 connections and IPv6 templates (engine_sync6.cc).
  SyncInstall sync_install6(const sync::SyncRecord6& r, uint32_t now);
  const SyncCounters& sync_counters() const { return sync_counters_; }

  // ---- restarts (engine_restart.cc) --------------------------------------------------------
  // Appends every connection and template this worker holds, as sync records with the ticks
  // each has left at `now` (and a SYN-proxied one's seq shift).
  void save_conns(uint32_t now, std::vector<restart::SavedConn>& out, std::vector<restart::SavedConn6>& out6,
                  restart::SaveCounts& n);
  // Installs one saved entry `down_ticks` after it was saved, as sync_install would (the sync
  // counters stay untouched); it then looks made here, not synced.
  restart::Restored restore_conn(const restart::SavedConn& s, uint32_t down_ticks, uint32_t now);
  restart::Restored restore_conn6(const restart::SavedConn6& s, uint32_t down_ticks, uint32_t now);

 private:
  struct Pending;  // per-packet scratch of one burst
  void process_chunk(PacketBuf* pkts, uint32_t n, Verdict* out, uint32_t now, uint32_t base);

  // ---- IPv6 (engine_v6.cc, icmp6.cc): out of the IPv4 path's way --------------------------
  // Pass kinds of IPv6 TCP/UDP packets (engine.cc's IPv4 ones are 0..3).
  enum : uint8_t { kIn6 = 4, kOut6 = 5, kFnat6Reply = 6 };
  // FnatPool owners with this bit are NAT64 connections, in table6_ (IPv4 replies find them).
  static constexpr uint32_t kNat64Owner = 0x80000000u;
  void classify6(const uint8_t* f, const Parsed& p, uint8_t& kind, uint64_t& hash);
  // Pass 3: inbound packets (hint: pass 2's prefetched slot, ConnTable6::prefetch_match, or
  // kNone) take in_established6 (engine_v6_path.h), replies process6; both end in
  // process6_found unless the packet is the common one.
  Verdict in_established6(PacketBuf& pkt, Parsed& p, uint64_t hash, uint32_t hint, uint32_t now);
  Verdict process6(PacketBuf& pkt, Parsed& p, uint8_t kind, uint32_t now);
  Verdict process6_found(PacketBuf& pkt, Parsed& p, uint8_t kind, uint32_t idx, uint32_t now);
  Verdict handle_new6(PacketBuf& pkt, Parsed& p, uint32_t now);
  Verdict forward_in6(PacketBuf& pkt, Parsed& p, uint32_t idx, uint32_t now);
  Verdict forward_out6(PacketBuf& pkt, Parsed& p, uint32_t idx, uint32_t now);
  Verdict handle_slow6(PacketBuf& pkt, Parsed& p, uint32_t now);
  Verdict handle_icmp6(PacketBuf& pkt, Parsed& p, uint32_t now);
  Verdict tunnel6(PacketBuf& pkt, Parsed& p, const ConnV6& c, const DestSnap& d);
  // Tunnels to a real server of the other family (engine_tun_mixed.cc): IPv6 in IPv4, IPv4 in IPv6.
  Verdict tunnel_6in4(PacketBuf& pkt, Parsed& p, const DestSnap& d);
  Verdict tunnel_4in6(PacketBuf& pkt, Parsed& p, const DestSnap& d);
  Verdict no_dest6(PacketBuf& pkt, Parsed& p);
  Verdict nat64_in(PacketBuf& pkt, Parsed& p, ConnV6& c, const DestSnap& d);
  Verdict nat64_out(PacketBuf& pkt, Parsed& p, uint32_t idx6, uint32_t now);
  Verdict nat64_icmp(PacketBuf& pkt, Parsed& p, uint32_t idx6, uint32_t now);
  // SYN proxy for IPv6 clients (engine_synproxy6.cc): engine_synproxy.cc's steps, the frames
  // IPv6 (IPv4 towards a NAT64 connection's server).
  bool synproxy_accept6(PacketBuf& pkt, Parsed& p, uint32_t now, Verdict& v);
  Verdict synproxy_open6(PacketBuf& pkt, Parsed& p, uint32_t idx, uint32_t now);
  bool synproxy_in6(PacketBuf& pkt, Parsed& p, ConnV6& c, uint32_t now, Verdict& v);
  Verdict synproxy_syn6(PacketBuf& pkt, Parsed& p, const ConnV6& c, const SynProxyTable::Entry& e);
  bool synproxy_out6(PacketBuf& pkt, Parsed& p, ConnV6& c, uint32_t now, Verdict& v);
  uint32_t find_out6(uint8_t proto, const uint8_t* caddr, be16 cport, const uint8_t* daddr, be16 dport) const;
  int laddr6_index(const uint8_t* a) const;
  DestId schedule_persistent6(const ServiceSnap& svc, const SchedPacket& sp, uint8_t proto, be16 dport, uint32_t now,
                              uint8_t& plen_out);
  void template_child_gone6(const ConnV6& c, uint32_t now);
  bool tie_holds(const ConnV6& tc, uint32_t now, uint32_t& until);
  static uint32_t tie_margin(const ConnV6& tc);
  uint64_t tie_key(const ConnV6& tc) const;
  void set_state(ConnV6& c, uint8_t state, uint32_t now);
  void release6(uint32_t idx, uint32_t now, Event why = Event::ConnExpired);
  bool expire6(uint32_t idx, uint32_t now);
  bool evict_half_open6(uint32_t now, bool one);
  // The verdict that sends the packet at this burst position to `dst` (route6_dst).
  Verdict transmit6(const IpAddr& dst) {
    if (pos_ >= kRoute6Positions) [[unlikely]]
      return drop(DropReason::Ipv6BurstPosition);
    route6_[pos_] = dst;
    return {Action::Transmit6, DropReason::None, 0};
  }
  Verdict transmit6(const uint8_t* dst) { return transmit6(IpAddr::from_v6(dst)); }

  // For restarts: the record sync_emit sends (engine_sync.cc), and a proxied connection's side
  // entry out and back in (engine_synproxy.cc).
  void sync_fill(const ConnV4& c, uint32_t timeout, sync::SyncRecord& r) const;
  void sync_fill6(const ConnV6& c, uint32_t timeout, sync::SyncRecord6& r) const;
  bool synproxy_export(uint32_t idx, restart::SavedConn& s);
  bool synproxy_import(uint32_t idx, const restart::SavedConn& s);
  bool synproxy6_export(uint32_t idx, restart::SavedConn6& s);
  bool synproxy6_import(uint32_t idx, const restart::SavedConn6& s);

  Verdict handle_slow(PacketBuf& pkt, Parsed& p, uint32_t now);
  Verdict handle_miss(PacketBuf& pkt, Parsed& p, uint8_t kind, uint32_t now);
  Verdict handle_icmp(PacketBuf& pkt, Parsed& p, uint32_t now);
  Verdict handle_new(PacketBuf& pkt, Parsed& p, uint32_t now);
  // SYN proxy (engine_synproxy.cc): a SYN answered with a cookie, or an ACK's cookie checked
  // (false: v says what became of the packet); the proxied connection opened to its server; its
  // packets shifted both ways (false: v says what became of it instead).
  bool synproxy_accept(PacketBuf& pkt, Parsed& p, uint32_t now, Verdict& v);
  Verdict synproxy_open(PacketBuf& pkt, Parsed& p, uint32_t idx, uint32_t now);
  bool synproxy_in(PacketBuf& pkt, Parsed& p, ConnV4& c, uint32_t now, Verdict& v);
  bool synproxy_hold(const PacketBuf& pkt, SynProxyTable::Entry& e);
  Verdict synproxy_syn(PacketBuf& pkt, Parsed& p, const ConnV4& c, const SynProxyTable::Entry& e);
  bool synproxy_out(PacketBuf& pkt, Parsed& p, ConnV4& c, uint32_t now, Verdict& v);
  // Established packets: the common NAT case inline (engine.cc), everything else general.
  Verdict forward_in(PacketBuf& pkt, Parsed& p, uint32_t idx, uint32_t now);
  Verdict forward_out(PacketBuf& pkt, Parsed& p, uint32_t idx, uint32_t now);
  Verdict forward_in_general(PacketBuf& pkt, Parsed& p, uint32_t idx, uint32_t now);
  Verdict forward_out_general(PacketBuf& pkt, Parsed& p, uint32_t idx, uint32_t now);
  Verdict no_dest(PacketBuf& pkt, Parsed& p, be32 vip);
  Verdict tunnel(PacketBuf& pkt, Parsed& p, const ConnV4& c);
  // A connection's incoming packet while a master runs: one compare decides most packets (not
  // the threshold packet, same state as last synced); the rest ask the policy.
  [[gnu::always_inline]] void sync_count(ConnV4& c, uint32_t idx, uint32_t now) {
    if (conn_fwd_method(c) == FwdMethod::FullNat) [[unlikely]] {
      sync_count_side(c, idx, now);
      return;
    }
    const uint16_t left = c.sync.left;
    if ((left < 2) | (c.sync.state != c.state) | sync_always_) [[unlikely]] {
      sync_decide(c, idx, now);
      return;
    }
    c.sync.left = static_cast<uint16_t>(left - 1);
  }
  void sync_count_side(ConnV4& c, uint32_t idx, uint32_t now);
  uint32_t sync_step(uint32_t& left, uint32_t max_left);
  void sync_decide(ConnV4& c, uint32_t idx, uint32_t now);
  void sync_emit(const ConnV4& c, uint32_t timeout);
  void sync_template_of(const ConnV4& c, uint32_t now);
  void sync_reset(uint32_t idx) {
    if (sync_side_) [[unlikely]] {
      sync_side_[idx] = SyncSide{};
      sync_end_[idx] = 0;
    }
  }
  void sync_mark_received(ConnV4& c, uint32_t idx);
  SyncInstall sync_update(uint32_t idx, const sync::SyncRecord& r, uint32_t timeout, uint32_t now);
  SyncInstall sync_install_template(const sync::SyncRecord& r, const ServiceSnap& svc, DestId did, uint32_t timeout, uint32_t now);
  // IPv6 (engine_sync6.cc): the count and state live in the record (conn6.h), so a packet
  // that is not the threshold packet and changed no state costs one compare, as IPv4's.
  [[gnu::always_inline]] void sync_count6(ConnV6& c, uint32_t now) {
    const uint16_t left = c.sync_left;
    if ((left < 2) | (c.sync_state != c.state) | sync_always_) [[unlikely]] {
      sync_decide6(c, now);
      return;
    }
    c.sync_left = static_cast<uint16_t>(left - 1);
  }
  void sync_decide6(ConnV6& c, uint32_t now);
  // An IPv6 persistence template's key (engine_v6.cc): what schedule_persistent6 makes and
  // finds, what a connection's end and a sync master look it up by.
  struct TemplateKey6 {
    uint8_t proto;
    IpAddr net, vaddr;
    be16 vport;
  };
  static TemplateKey6 template_key6(const ServiceSnap& svc, uint8_t proto, const IpAddr& caddr, uint32_t plen,
                                    const IpAddr& vaddr, be16 vport);
  // The template that controls persistent connection c (its slot, or kNone; svc: c's service),
  // for a connection's end and a sync master alike.
  uint32_t controlling_template6(const ConnV6& c, const ServiceSnap*& svc) const;
  void sync_emit6(const ConnV6& c, uint32_t timeout);
  void sync_template_of6(const ConnV6& c, uint32_t now);
  void sync_mark_received6(ConnV6& c);
  SyncInstall sync_count_install(SyncInstall x);  // counts x in sync_counters_, returns it
  SyncInstall sync_install_template6(const sync::SyncRecord6& r, DestId did, uint32_t timeout, uint32_t now);
  Verdict drop(DropReason r) {
    stats_.drop(r);
    return {Action::Drop, r, 0};
  }

  DestId schedule(const ServiceSnap& svc, const SchedPacket& p, uint32_t now);
  DestId pick(const ServiceSnap& svc, SchedKind kind, const SchedPacket& p, uint32_t now);
  bool shares_cursor(const ServiceSnap& svc) const;
  void sync_sched(const ServiceSnap& svc, SchedState& st, bool fresh);
  void attach_locality(const ServiceSnap& svc, SchedState& st);
  bool bind_to(DestId d, bool hard);
  void unbind_conn(DestId d, bool active, bool limited);
  uint32_t elsewhere(DestId d);
  DestId schedule_persistent(const ServiceSnap& svc, const Parsed& p, uint32_t now, uint8_t& plen_out);
  bool tie_holds(const ConnV4& tc, uint32_t now, uint32_t& until);
  static uint32_t tie_margin(const ConnV4& tc);
  static constexpr uint32_t kTieMarginTicks = secs_to_ticks(kExpireLaterSecs);
  bool dest_usable(const ConnV4& c) const;
  // True when the entry was made for the incarnation of its dest id the snapshot names now.
  template <class C>
  bool conn_current(const C& c) const {
    return conn_dest_tag(c) == static_cast<uint8_t>(snap_->dest(conn_dest(c)).incarnation);
  }
  void take_service(const ServiceSnap& svc);
  void take_dest(const DestSnap& d);
  void set_state(ConnV4& c, uint8_t state, uint32_t now);
  void count_active(ConnV4& c, bool active) { count_active(c.flags, conn_dest(c), active); }
  void count_active(uint8_t& flags, DestId d, bool active);
  void half_open_enter(ConnV4& c, uint32_t now);
  bool evict_half_open(uint32_t now, bool only_for_room);
  bool make_room(uint32_t now);
  void count_conn(DestId d);
  // Inline (below the class): every forwarded packet counts, from engine.cc and engine_v6.cc.
  // A packet of `bytes` for real server d, its service and the totals, one direction's pair.
  template <uint64_t TrafficCounters::*Pkts, uint64_t TrafficCounters::*Bytes>
  void count(DestId d, uint32_t bytes);
  void count_in(DestId d, uint32_t bytes);
  void count_out(DestId d, uint32_t bytes);
  void bind_conn(ConnV4& c, const DestSnap& d);
  // Accounting + FullNAT port, counting `why`; does not erase.
  void release(uint32_t idx, uint32_t now, Event why = Event::ConnExpired);
  bool expire_one(uint32_t idx, uint32_t now);  // false: re-armed (template still in use)
  void template_child_gone(const ConnV4& c, uint32_t now);
  SchedState& sched_state(const ServiceSnap& svc);

  WorkerOptions opts_;
  const Snapshot* snap_ = nullptr;
  uint64_t seq_ = 0;  // of snap_
  uint64_t lineage_ = 0;
  ConnTable table_;
  ConnTable6 table6_;
  uint32_t half_open_budget_;
  uint32_t half_open_ = 0;  // SYN_RECV entries in table_, each with an entry in half_open_q_
  HalfOpenRing half_open_q_;
  uint32_t half_open6_budget_;
  uint32_t half_open6_ = 0;
  HalfOpenRing half_open6_q_;
  uint64_t synproxy_secret_;
  SynProxyTable synproxy_;
  SynProxyTable synproxy6_;  // by table6_ slot
  // Held frames: a proxied connection's first data segment that came before its server answered
  // (DPVS keeps it too), at most one per connection; kHeldFrames places, reused (free_held_).
  static constexpr uint32_t kHeldFrames = 128;
  std::unique_ptr<uint8_t[]> held_;
  uint32_t held_len_[kHeldFrames] = {};
  uint8_t free_held_[kHeldFrames];
  uint32_t nfree_held_ = 0;
  void drop_held(uint32_t bits);
  FnatPool fnat_;
  // IPv6 local addresses: ports kept by an FnatPool over their indices 1..n (as stand-in keys),
  // the addresses themselves here.
  std::vector<IpAddr> laddrs6_;
  FnatPool fnat6_;
  std::unique_ptr<SharedLoad> own_shared_;
  SharedLoad* shared_;
  std::atomic<uint64_t>* shard_;  // this worker's row of the shards (connections to servers without -x)
  ShardSums sums_;
  std::vector<DestLoad> load_;  // this worker's contribution to the shared counts (overload unused)
  std::vector<std::unique_ptr<SchedState>> sched_;  // by SvcId
  // What this worker last took from the snapshots, by id: the incarnation its per-id state
  // (counters, load, scheduler state) belongs to. Kept here so a new snapshot is never compared
  // with a freed one.
  std::vector<uint32_t> svc_inc_;
  std::vector<uint32_t> dest_inc_;
  WorkerStats stats_;
  std::unique_ptr<Pending[]> pending_;
  std::unique_ptr<IpAddr[]> route6_{new IpAddr[kRoute6Positions]};  // by burst position (route6_dst)
  uint16_t ip_id_ = 0;
  uint32_t pos_ = 0;  // the burst position of the packet a slow path is working on (transmit6)
  SyncSide* sync_side_ = nullptr;  // not owned; set only while a master runs
  uint32_t* sync_end_ = nullptr;   // its second half (sync_side.h)
  sync::SyncSysctls sync_sysctls_;
  bool sync_always_ = false;  // sync_refresh_period on: every packet asks the policy
  bool backup_only_ = false;
  std::unique_ptr<sync::SyncRecord[]> sync_out_{new sync::SyncRecord[kSyncOutMax]};
  uint32_t sync_out_n_ = 0;
  std::unique_ptr<sync::SyncRecord6[]> sync_out6_{new sync::SyncRecord6[kSyncOutMax]};
  uint32_t sync_out6_n_ = 0;
  SyncCounters sync_counters_;
};

// ipvsadm's packet and byte counters (count_conn's comment, engine.cc).
template <uint64_t TrafficCounters::*Pkts, uint64_t TrafficCounters::*Bytes>
[[gnu::always_inline]] inline void Worker::count(DestId d, uint32_t bytes) {
  TrafficCounters& ds = stats_.dest[d];
  TrafficCounters& ss = stats_.svc[snap_->dest(d).svc];
  ++(ds.*Pkts);
  ++(ss.*Pkts);
  ++(stats_.total.*Pkts);
  ds.*Bytes += bytes;
  ss.*Bytes += bytes;
  stats_.total.*Bytes += bytes;
}

[[gnu::always_inline]] inline void Worker::count_in(DestId d, uint32_t bytes) {
  count<&TrafficCounters::inpkts, &TrafficCounters::inbytes>(d, bytes);
}

[[gnu::always_inline]] inline void Worker::count_out(DestId d, uint32_t bytes) {
  count<&TrafficCounters::outpkts, &TrafficCounters::outbytes>(d, bytes);
}

}  // namespace fulcrum
