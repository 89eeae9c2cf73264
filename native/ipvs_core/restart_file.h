// The connections file a graceful stop leaves in the state directory and the next start reads:
// every worker's connections and persistence templates as sync records (sync_record.h, the
// form a backup installs through Worker::sync_install; IPv6 and NAT64 ones as SyncRecord6,
// after the IPv4 ones, through sync_install6) plus the time each had left. The
// header names the format and the record layout, so a file that is not ours, is cut short or
// was written by a build with another layout is refused with a reason, never half-read.
// Written whole to a temporary file, fsynced and renamed over the old one (then the directory
// fsynced), so a reader sees the old file or the new one, never a mix.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sync_record.h"

namespace fulcrum::restart {

// One entry: the record as sync sends it (timeout_s unused), the ticks it had left at the save,
// and for a SYN-proxied connection its side entry (synproxy.h), which the record cannot carry.
struct SavedConn {
  sync::SyncRecord rec;
  uint32_t left_ticks;
  uint32_t proxied = 0;  // 1: the three words below hold the connection's SynProxyTable entry
  uint32_t proxy_cookie = 0, proxy_delta = 0, proxy_bits = 0;
  uint32_t reserved = 0;
};
static_assert(sizeof(SavedConn) == 64, "the file's entry size");

// An IPv6 (or NAT64) entry. IPv6 connections are never SYN-proxied (the proxy covers IPv4
// services only), so there is no side entry to carry.
struct SavedConn6 {
  sync::SyncRecord6 rec;
  uint32_t left_ticks;
  uint32_t proxied = 0;  // 1: the three words below hold the connection's IPv6 SynProxyTable entry
  uint32_t proxy_cookie = 0, proxy_delta = 0, proxy_bits = 0;
  uint32_t reserved = 0;
};
static_assert(sizeof(SavedConn6) == 112, "the file's IPv6 entry size");

// What a restore made of one entry.
enum class Restored : uint8_t { Restored, Expired, NoService, NoDest, FnatMoved, TableFull, BadRecord };

struct SaveCounts {
  uint64_t saved = 0;
  uint64_t synproxy = 0;  // of them SYN-proxied (their seq shift saved beside the record)
  uint64_t v6 = 0;        // of them IPv6 (and NAT64) connections and templates
  uint64_t skipped_mixed = 0;  // not saved: to a tunnel server of the other family (a record has one)
};

struct RestoreCounts {
  uint64_t restored = 0;
  uint64_t expired = 0;     // its time ran out while the director was down
  uint64_t no_service = 0;  // its virtual service is gone from the config
  uint64_t no_dest = 0;     // its real server is gone (or unavailable)
  uint64_t fnat_moved = 0;  // FullNAT: its local port is not the owning worker's (another worker count)
  uint64_t table_full = 0;
  uint64_t bad_record = 0;
  void add(Restored r) {
    switch (r) {
      case Restored::Restored: ++restored; break;
      case Restored::Expired: ++expired; break;
      case Restored::NoService: ++no_service; break;
      case Restored::NoDest: ++no_dest; break;
      case Restored::FnatMoved: ++fnat_moved; break;
      case Restored::TableFull: ++table_full; break;
      case Restored::BadRecord: ++bad_record; break;
    }
  }
  uint64_t skipped() const { return expired + no_service + no_dest + fnat_moved + table_full + bad_record; }
};

struct Dump {
  uint64_t saved_unix_ms = 0;  // wall clock at the save: the time down is measured from it
  uint32_t nworkers = 0;       // the saving director's (informational: entries are re-routed)
  std::vector<SavedConn> conns;
  std::vector<SavedConn6> conns6;
};

// Writes `d` to `path` atomically; "" when done, else why not (the old file, if any, stays).
std::string write_dump(const std::string& path, const Dump& d);

enum class ReadResult : uint8_t { Ok, Missing, Refused };
// Reads a whole file; Refused (with `why`) for anything not exactly a dump of this layout.
// A file of the previous format (version 1: IPv4 entries alone, the same entry layout) is
// read as it is, with no IPv6 entries: a restart across the upgrade keeps its connections.
ReadResult read_dump(const std::string& path, Dump& d, std::string& why);

}  // namespace fulcrum::restart
