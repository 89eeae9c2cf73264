// notifyService(state): tells the service manager (systemd's Type=notify) how the director is,
// e.g. "READY=1" once it serves, "STOPPING=1", "RELOADING=1". The protocol is one datagram on
// the unix socket named by $NOTIFY_SOCKET ('@' for the abstract namespace); Node cannot send
// unix datagrams, and a `systemd-notify` child may exit before systemd knows whose it was.
#include "service_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

namespace fulcrum::addon {
namespace {

Napi::Value NotifyService(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "notifyService: expected a state string");
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (!path || !*path) return Napi::Boolean::New(env, false);  // not run by a service manager
  std::string state = info[0].As<Napi::String>().Utf8Value();
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  size_t len = std::strlen(path);
  if (len >= sizeof(sa.sun_path) || (path[0] != '/' && path[0] != '@'))
    throw Napi::Error::New(env, std::string("notifyService: NOTIFY_SOCKET is not a socket path: ") + path);
  std::memcpy(sa.sun_path, path, len);
  if (path[0] == '@') sa.sun_path[0] = '\0';
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw Napi::Error::New(env, std::string("notifyService: socket: ") + std::strerror(errno));
  ssize_t n = sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&sa),
                     static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len));
  int err = errno;
  close(fd);
  if (n < 0) throw Napi::Error::New(env, std::string("notifyService: ") + path + ": " + std::strerror(err));
  return Napi::Boolean::New(env, true);
}

}  // namespace

void register_service_notify(Napi::Env env, Napi::Object exports) {
  exports.Set("notifyService", Napi::Function::New(env, NotifyService));
}

}  // namespace fulcrum::addon
