// The connections file's bytes: a fixed header, the entries, a checksum over both.
#include "restart_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>

#include "tcp_state.h"

namespace fulcrum::restart {

namespace {

constexpr char kMagic[8] = {'F', 'U', 'L', 'C', 'O', 'N', 'N', 'S'};
// Version 2 added the IPv6 entries (after the IPv4 ones; the header's count6). Version 1 files
// (count6 0, the field was reserved and written 0) are still read.
constexpr uint32_t kVersion = 2;
constexpr uint32_t kVersionIpv4Only = 1;
// What the entries mean besides their size: the record's layout and the state numbering; from
// version 2 the IPv6 entry's size in the top byte.
constexpr uint32_t kLayoutV1 = (uint32_t{sizeof(SavedConn)} << 16) | (uint32_t{sizeof(sync::SyncRecord)} << 8) | kTcpStateCount;
constexpr uint32_t kLayout = (uint32_t{sizeof(SavedConn6)} << 24) | kLayoutV1;
static_assert(sizeof(SavedConn6) < 256 && sizeof(SavedConn) < 256);

struct Header {
  char magic[8];
  uint32_t version;
  uint32_t layout;
  uint64_t saved_unix_ms;
  uint64_t count;
  uint32_t nworkers;
  uint32_t count6;    // IPv6 entries (version 2; version 1: reserved, 0)
  uint64_t checksum;  // of the header (this field 0) and the entries
};
static_assert(sizeof(Header) == 48);

// A 64-bit FNV-1a over 8-byte words: it catches torn and altered files, not adversaries.
uint64_t mix(uint64_t h, const void* p, size_t n) {
  const uint8_t* b = static_cast<const uint8_t*>(p);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, b + i, 8);
    h = (h ^ w) * 0x100000001b3ull;
    h ^= h >> 29;
  }
  for (; i < n; ++i) h = (h ^ b[i]) * 0x100000001b3ull;
  return h;
}

bool write_all(int fd, const void* p, size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n) {
    ssize_t w = ::write(fd, c, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    c += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

std::string dir_of(const std::string& path) {
  size_t s = path.rfind('/');
  return s == std::string::npos ? "." : s == 0 ? "/" : path.substr(0, s);
}

}  // namespace

std::string write_dump(const std::string& path, const Dump& d) {
  Header h{};
  std::memcpy(h.magic, kMagic, 8);
  h.version = kVersion;
  h.layout = kLayout;
  h.saved_unix_ms = d.saved_unix_ms;
  h.count = d.conns.size();
  h.nworkers = d.nworkers;
  if (d.conns6.size() > UINT32_MAX) return "too many IPv6 entries for the format";
  h.count6 = static_cast<uint32_t>(d.conns6.size());
  uint64_t sum = mix(0xcbf29ce484222325ull, &h, sizeof h);
  sum = mix(sum, d.conns.data(), d.conns.size() * sizeof(SavedConn));
  h.checksum = mix(sum, d.conns6.data(), d.conns6.size() * sizeof(SavedConn6));

  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return "cannot create " + tmp + ": " + std::strerror(errno);
  bool ok = write_all(fd, &h, sizeof h) && write_all(fd, d.conns.data(), d.conns.size() * sizeof(SavedConn)) &&
            write_all(fd, d.conns6.data(), d.conns6.size() * sizeof(SavedConn6));
  int err = errno;
  ok = ok && ::fsync(fd) == 0;
  if (ok) err = errno;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    if (ok) err = errno;
    ::unlink(tmp.c_str());
    return "cannot write " + path + ": " + std::strerror(err);
  }
  // The rename itself must survive a power cut.
  int dfd = ::open(dir_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return "";
}

ReadResult read_dump(const std::string& path, Dump& d, std::string& why) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return ReadResult::Missing;
    why = std::string("cannot open it: ") + std::strerror(errno);
    return ReadResult::Refused;
  }
  auto refuse = [&](std::string w) {
    ::close(fd);
    why = std::move(w);
    d.conns.clear();
    d.conns6.clear();
    return ReadResult::Refused;
  };
  auto read_all = [&](void* p, size_t n) {
    char* c = static_cast<char*>(p);
    while (n) {
      ssize_t r = ::read(fd, c, n);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return false;
      c += r;
      n -= static_cast<size_t>(r);
    }
    return true;
  };
  Header h{};
  if (!read_all(&h, sizeof h)) return refuse("shorter than its header");
  if (std::memcmp(h.magic, kMagic, 8) != 0) return refuse("not a Fulcrum connections file");
  if (h.version != kVersion && h.version != kVersionIpv4Only)
    return refuse("format version " + std::to_string(h.version) + ", this build reads " + std::to_string(kVersionIpv4Only) +
                  " and " + std::to_string(kVersion));
  if (h.layout != (h.version == kVersion ? kLayout : kLayoutV1)) return refuse("written by a build with another record layout");
  if (h.version == kVersionIpv4Only && h.count6 != 0) return refuse("a version 1 file with IPv6 entries");
  if (h.count > (uint64_t{1} << 32)) return refuse("an impossible entry count");
  const off_t size = ::lseek(fd, 0, SEEK_END);
  if (size < 0 || static_cast<uint64_t>(size) != sizeof h + h.count * sizeof(SavedConn) + uint64_t{h.count6} * sizeof(SavedConn6))
    return refuse("truncated or padded: " + std::to_string(size) + " bytes for " + std::to_string(h.count) + " + " +
                  std::to_string(h.count6) + " IPv6 entries");
  ::lseek(fd, sizeof h, SEEK_SET);
  try {
    d.conns.resize(h.count);
    d.conns6.resize(h.count6);
  } catch (const std::bad_alloc&) {
    return refuse("too large to read into memory (" + std::to_string(h.count + h.count6) + " entries)");
  }
  if (!read_all(d.conns.data(), h.count * sizeof(SavedConn)) || !read_all(d.conns6.data(), d.conns6.size() * sizeof(SavedConn6)))
    return refuse("cannot read its entries");
  const uint64_t want = h.checksum;
  h.checksum = 0;
  uint64_t sum = mix(0xcbf29ce484222325ull, &h, sizeof h);
  sum = mix(sum, d.conns.data(), d.conns.size() * sizeof(SavedConn));
  if (mix(sum, d.conns6.data(), d.conns6.size() * sizeof(SavedConn6)) != want) return refuse("checksum mismatch (corrupt)");
  ::close(fd);
  d.saved_unix_ms = h.saved_unix_ms;
  d.nworkers = h.nworkers;
  return ReadResult::Ok;
}

}  // namespace fulcrum::restart
