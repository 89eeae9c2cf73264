// What a graceful restart costs at a large table's size: a worker holding N connections (1M by
// default, 8 real servers) collects them (save_conns), writes the connections file (fsync and
// rename included), and a fresh worker reads it and installs every entry (restore_conn). Prints
// milliseconds for the run and per million connections; `--json` adds one line for scripts.
//
// Usage: restart_bench [--json] [--conns N] [--file PATH]
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "engine.h"
#include "restart_file.h"

using namespace fulcrum;

namespace {

double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

be32 v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) { return hton32(uint32_t{a} << 24 | uint32_t{b} << 16 | uint32_t{c} << 8 | d); }

}  // namespace

int main(int argc, char** argv) {
  bool json = false;
  uint32_t n = 1000000;
  std::string file = "/tmp/fulcrum_restart_bench_" + std::to_string(::getpid()) + ".bin";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--json") json = true;
    else if (a == "--conns" && i + 1 < argc) n = static_cast<uint32_t>(std::strtoul(argv[++i], nullptr, 10));
    else if (a == "--file" && i + 1 < argc) file = argv[++i];
    else {
      std::fprintf(stderr, "usage: restart_bench [--json] [--conns N] [--file PATH]\n");
      return 2;
    }
  }
  if (n < 1000 || n > (1u << 24)) {
    std::fprintf(stderr, "restart_bench: --conns must be in 1000..16777216\n");
    return 2;
  }

  CoreConfig cfg;
  ServiceConfig svc;
  svc.id = 0;
  svc.proto = kProtoTcp;
  svc.vip = IpAddr::from_v4(v4(10, 0, 0, 1));
  svc.port = 80;
  svc.sched = SchedKind::Wlc;
  for (DestId d = 0; d < 8; ++d) {
    DestConfig dc;
    dc.id = d;
    dc.addr = IpAddr::from_v4(v4(192, 168, 1, static_cast<uint8_t>(10 + d)));
    dc.port = 8080;
    dc.fwd = FwdMethod::Masq;
    dc.weight = 1;
    svc.dests.push_back(dc);
  }
  cfg.services.push_back(svc);
  WorkerLimits limits{16, 64};
  std::vector<std::string> errors;
  auto snap = build_snapshot(cfg, limits, nullptr, errors);
  if (!snap) {
    std::fprintf(stderr, "restart_bench: config rejected: %s\n", errors.front().c_str());
    return 1;
  }
  WorkerOptions wo;
  wo.conn_capacity = n + n / 8;
  wo.limits = limits;

  // N established connections from distinct clients, spread over the servers.
  std::vector<restart::SavedConn> made(n);
  std::mt19937_64 rng(42);
  for (uint32_t i = 0; i < n; ++i) {
    restart::SavedConn& s = made[i];
    s = restart::SavedConn{};
    s.rec.protocol = kProtoTcp;
    s.rec.caddr = hton32(0xac100000u + i / 50000 * 65536 + (i % 50000) / 250);  // 172.16.x.y
    s.rec.cport = hton16(static_cast<uint16_t>(1024 + i % 250 * 200 + rng() % 200));
    s.rec.vaddr = v4(10, 0, 0, 1);
    s.rec.vport = hton16(80);
    s.rec.daddr = v4(192, 168, 1, static_cast<uint8_t>(10 + i % 8));
    s.rec.dport = hton16(8080);
    s.rec.state = kTcpEstablished;
    s.left_ticks = secs_to_ticks(900);
  }
  Worker a(wo);
  a.set_snapshot(snap.get());
  restart::RestoreCounts filled;
  for (const auto& s : made) filled.add(a.restore_conn(s, 0, 100));
  made.clear();
  made.shrink_to_fit();
  const uint64_t held = a.conn_count();

  // Stop: collect and write.
  auto t0 = std::chrono::steady_clock::now();
  restart::Dump d;
  restart::SaveCounts sc;
  d.conns.reserve(held);
  a.save_conns(200, d.conns, d.conns6, sc);
  const double collect_ms = ms_since(t0);
  t0 = std::chrono::steady_clock::now();
  std::string err = restart::write_dump(file, d);
  const double write_ms = ms_since(t0);
  if (!err.empty()) {
    std::fprintf(stderr, "restart_bench: %s\n", err.c_str());
    return 1;
  }
  d = restart::Dump{};

  // Start: read and install into a fresh worker.
  Worker b(wo);
  b.set_snapshot(snap.get());
  t0 = std::chrono::steady_clock::now();
  restart::Dump back;
  std::string why;
  if (restart::read_dump(file, back, why) != restart::ReadResult::Ok) {
    std::fprintf(stderr, "restart_bench: %s\n", why.c_str());
    return 1;
  }
  const double read_ms = ms_since(t0);
  t0 = std::chrono::steady_clock::now();
  restart::RestoreCounts rc;
  for (const auto& s : back.conns) rc.add(b.restore_conn(s, secs_to_ticks(5), 77777));
  const double install_ms = ms_since(t0);
  const double file_mb = back.conns.size() * sizeof(restart::SavedConn) / 1e6;
  std::remove(file.c_str());

  const double per_m = 1e6 / static_cast<double>(held);
  const double save_ms = collect_ms + write_ms, restore_ms = read_ms + install_ms;
  std::printf("Fulcrum restart benchmark (one worker, %llu established NAT connections, 8 servers)\n",
              static_cast<unsigned long long>(held));
  std::printf("%-44s %12s %14s\n", "measure", "ms", "ms per 1M");
  std::printf("%-44s %12.1f %14.1f\n", "save: collect the table", collect_ms, collect_ms * per_m);
  std::printf("%-44s %12.1f %14.1f\n", "save: write the file (fsync, rename)", write_ms, write_ms * per_m);
  std::printf("%-44s %12.1f %14.1f\n", "save, total", save_ms, save_ms * per_m);
  std::printf("%-44s %12.1f %14.1f\n", "restore: read and check the file", read_ms, read_ms * per_m);
  std::printf("%-44s %12.1f %14.1f\n", "restore: install every entry", install_ms, install_ms * per_m);
  std::printf("%-44s %12.1f %14.1f\n", "restore, total", restore_ms, restore_ms * per_m);
  std::printf("%-44s %12.1f\n", "file size, MB", file_mb);
  std::printf("%-44s %12llu\n", "restored", static_cast<unsigned long long>(rc.restored));
  std::printf("%-44s %12llu\n", "skipped", static_cast<unsigned long long>(rc.skipped()));
  if (json)
    std::printf("{\"conns\":%llu,\"save_ms\":%.1f,\"restore_ms\":%.1f,\"save_ms_per_million\":%.1f,"
                "\"restore_ms_per_million\":%.1f,\"file_mb\":%.1f,\"restored\":%llu,\"skipped\":%llu}\n",
                static_cast<unsigned long long>(held), save_ms, restore_ms, save_ms * per_m, restore_ms * per_m, file_mb,
                static_cast<unsigned long long>(rc.restored), static_cast<unsigned long long>(rc.skipped()));
  return rc.restored == held && held == n ? 0 : 1;
}
