// See eal.h. The main lcore (the Node thread) is placed on the CPUs the workers do not use, so
// the event loop never competes with a polling worker for its core; workers are lcores 1..N,
// each pinned to its CPU.
#include "eal.h"

#include <pthread.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <sched.h>

#include <dirent.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>

namespace fulcrum::dp {

namespace {

std::mutex g_mu;
bool g_started = false;
EalInfo g_info;
std::vector<unsigned> g_cpus;

bool hugepages_available() {
  std::ifstream mi("/proc/meminfo");
  std::string key;
  long free_pages = 0;
  while (mi >> key) {
    if (key == "HugePages_Free:") {
      mi >> free_pages;
      break;
    }
  }
  if (free_pages <= 0) return false;
  std::ifstream mounts("/proc/mounts");
  std::string line;
  while (std::getline(mounts, line))
    if (line.find(" hugetlbfs ") != std::string::npos) return true;
  return false;
}

bool has_arg(const std::vector<std::string>& args, std::initializer_list<const char*> names) {
  for (const std::string& a : args)
    for (const char* n : names) {
      std::string s(n);
      if (a == s || a.rfind(s + "=", 0) == 0 || (s.size() == 2 && a.rfind(s, 0) == 0)) return true;
    }
  return false;
}

// The threads the process had before EAL started (V8's platform threads that run the garbage
// collector's parallel and concurrent work, libuv's pool, Node's inspector) keep the CPU set
// they were born with, which includes the workers' cores. A polling worker shares its core
// with none of them: with it they would run at half speed in turns with the worker, and the
// event loop waits for them (parallel scavenges took 20-60 ms instead of a few), while the
// worker loses its core for the scheduler's slice. Threads made later inherit the main
// thread's set; the lcores are left as EAL pinned them.
void keep_threads_off_workers(const std::vector<unsigned>& main_cpus, const std::vector<unsigned>& worker_cpus) {
  cpu_set_t main_set;
  CPU_ZERO(&main_set);
  for (unsigned c : main_cpus) CPU_SET(c, &main_set);
  DIR* d = opendir("/proc/self/task");
  if (!d) return;  // no /proc: nothing to move, and nothing breaks
  while (dirent* e = readdir(d)) {
    char* end = nullptr;
    long tid = std::strtol(e->d_name, &end, 10);
    if (tid <= 0 || *end != '\0') continue;
    cpu_set_t have;
    CPU_ZERO(&have);
    if (sched_getaffinity(static_cast<pid_t>(tid), sizeof(have), &have) != 0) continue;
    // An lcore: pinned to exactly one worker CPU.
    bool lcore = CPU_COUNT(&have) == 1 &&
                 std::any_of(worker_cpus.begin(), worker_cpus.end(), [&](unsigned c) { return CPU_ISSET(c, &have); });
    if (lcore) continue;
    // A thread that ends meanwhile fails with ESRCH: nothing to do for it.
    sched_setaffinity(static_cast<pid_t>(tid), sizeof(main_set), &main_set);
  }
  closedir(d);
}

std::string cpu_list(const std::vector<unsigned>& cpus) {
  std::string s;
  for (unsigned c : cpus) s += (s.empty() ? "" : ",") + std::to_string(c);
  return s;
}

}  // namespace

EalInfo eal_start(const EalRequest& req) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_started) {
    if (req.worker_cpus != g_cpus)
      throw std::runtime_error("EAL is already running in this process with workers on CPUs " + cpu_list(g_cpus) +
                               "; restart the process to use CPUs " + cpu_list(req.worker_cpus));
    return g_info;
  }
  if (req.worker_cpus.empty()) throw std::runtime_error("dataplane.workers: at least one worker CPU is needed");
  for (const std::string& a : req.user_args)
    if (has_arg({a}, {"-l", "-c", "--lcores", "--main-lcore", "--master-lcore"}))
      throw std::runtime_error("dataplane.eal: '" + a + "' is not allowed; Fulcrum lays out lcores from dataplane.workers");

  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) throw std::runtime_error("cannot read this process's CPU set");
  std::vector<unsigned> others;
  for (unsigned c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &allowed) && std::find(req.worker_cpus.begin(), req.worker_cpus.end(), c) == req.worker_cpus.end())
      others.push_back(c);
  for (size_t i = 0; i < req.worker_cpus.size(); ++i) {
    unsigned c = req.worker_cpus[i];
    if (c >= CPU_SETSIZE || !CPU_ISSET(c, &allowed))
      throw std::runtime_error("dataplane.workers[" + std::to_string(i) + "]: CPU " + std::to_string(c) +
                               " is not available to this process");
    if (std::count(req.worker_cpus.begin(), req.worker_cpus.end(), c) > 1)
      throw std::runtime_error("dataplane.workers: CPU " + std::to_string(c) + " is busy with another worker");
  }
  // With every CPU given to workers the Node thread floats over all of them.
  std::vector<unsigned> main_cpus = others;
  if (main_cpus.empty())
    for (unsigned c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &allowed)) main_cpus.push_back(c);

  EalInfo info;
  std::vector<std::string>& args = info.args;
  args.push_back("fulcrum");
  std::ostringstream lc;
  lc << "0@(" << cpu_list(main_cpus) << ")";
  for (size_t i = 0; i < req.worker_cpus.size(); ++i) {
    lc << "," << (i + 1) << "@" << req.worker_cpus[i];
    info.worker_lcores.push_back(static_cast<unsigned>(i + 1));
  }
  args.push_back("--lcores");
  args.push_back(lc.str());
  args.push_back("--main-lcore");
  args.push_back("0");
  if (!has_arg(req.user_args, {"--no-huge", "--in-memory", "--huge-dir", "--legacy-mem"})) {
    info.hugepages = hugepages_available();
    if (info.hugepages) {
      args.push_back("--in-memory");
    } else {
      // --no-huge implies legacy memory, which goes with --no-shconf (not --in-memory).
      args.push_back("--no-huge");
      args.push_back("--no-shconf");
      if (!has_arg(req.user_args, {"-m", "--socket-mem"})) {
        args.push_back("-m");
        args.push_back("512");
      }
    }
  } else {
    info.hugepages = !has_arg(req.user_args, {"--no-huge"});
  }
  if (req.pci.empty()) {
    if (!has_arg(req.user_args, {"--no-pci", "-a", "--allow", "-b", "--block"})) args.push_back("--no-pci");
  } else {
    for (const std::string& p : req.pci) {
      args.push_back("-a");
      args.push_back(p);
    }
  }
  args.insert(args.end(), req.user_args.begin(), req.user_args.end());

  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int rc = rte_eal_init(static_cast<int>(argv.size() - 1), argv.data());
  if (rc < 0) {
    std::string why = rte_strerror(rte_errno);
    std::string all;
    for (const std::string& a : args) all += " " + a;
    throw std::runtime_error("EAL failed to start (" + why + ") with arguments:" + all +
                             " (EAL can be started once per process: restart it to try again)");
  }
  // EAL pinned this thread to the main lcore's CPUs; keep it there (off the workers' cores),
  // and the threads that were here before EAL with it.
  if (!others.empty()) keep_threads_off_workers(main_cpus, req.worker_cpus);
  g_started = true;
  g_cpus = req.worker_cpus;
  g_info = info;
  return info;
}

}  // namespace fulcrum::dp
