// new TcpProber(onOutcomes): the health monitor's TCP checks on the prober's own thread
// (native/health/tcp_prober.h). start() takes a batch as one Uint32Array and onOutcomes gets
// what has finished as one Int32Array, so a check costs no JS call of its own either way. The
// prober keeps the event loop alive only after ref() (a monitor alone never does), and close(),
// its collection or the environment's end stops its thread and closes its sockets.
#include "tcp_prober_api.h"

#include <arpa/inet.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "tcp_prober.h"

namespace fulcrum::addon {
namespace {

using health::TcpOutcome;
using health::TcpProbe;
using health::TcpProber;

class TcpProberWrap;

// What a queued call finds: the wrapper while it is open, nullptr after; freed with the
// thread-safe function, which may outlive the wrapper by the calls still queued.
struct Link {
  TcpProberWrap* owner;
};

void on_outcomes(Napi::Env env, Napi::Function callback, Link* link, void*);
using Tsfn = Napi::TypedThreadSafeFunction<Link, void, on_outcomes>;

// Words per probe in start()'s array, and per outcome in onOutcomes' array.
constexpr size_t kProbeWords = 8;
constexpr size_t kOutcomeWords = 2;
constexpr uint32_t kMaxTimeoutMs = 86400u * 1000u;

class TcpProberWrap : public Napi::ObjectWrap<TcpProberWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "TcpProber", {
      InstanceMethod<&TcpProberWrap::Start>("start"),
      InstanceMethod<&TcpProberWrap::Abort>("abort"),
      InstanceMethod<&TcpProberWrap::Close>("close"),
      InstanceMethod<&TcpProberWrap::Ref>("ref"),
      InstanceMethod<&TcpProberWrap::Unref>("unref"),
    });
  }

  explicit TcpProberWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TcpProberWrap>(info), env_(info.Env()) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsFunction())
      throw Napi::TypeError::New(env, "TcpProber: expected a function for the outcomes");
    link_ = new Link{this};
    tsfn_ = Tsfn::New(env, info[0].As<Napi::Function>(), "fulcrum-tcp-prober", 0, 1, link_,
                      [](Napi::Env, void*, Link* link) { delete link; });
    tsfn_.Unref(env);
    try {
      prober_ = std::make_unique<TcpProber>([this] { tsfn_.NonBlockingCall(); });
    } catch (const std::system_error& e) {
      link_->owner = nullptr;
      tsfn_.Release();
      throw Napi::Error::New(env, std::string("TcpProber: cannot start its thread: ") + e.what());
    }
    // After the thread-safe function's own hook: hooks run last-added first, so the thread
    // stops before the function it calls goes.
    napi_add_env_cleanup_hook(env, on_env_cleanup, this);
  }

  ~TcpProberWrap() override { shut(); }

  // The JS thread's side of a notification: every outcome waiting, in one array.
  void deliver(Napi::Env env, Napi::Function callback) {
    prober_->take(taken_);
    if (taken_.empty()) return;
    Napi::Int32Array out = Napi::Int32Array::New(env, taken_.size() * kOutcomeWords);
    int32_t* w = out.Data();
    for (const TcpOutcome& o : taken_) {
      *w++ = int32_t(o.id);
      *w++ = o.status;
    }
    callback.Call({out});
  }

 private:
  // start(probes: Uint32Array): [id, port, timeout ms, family, a0, a1, a2, a3] per probe; family
  // 4: a0 is the IPv4 address as a host-order number, 6: a0..a3 are the IPv6 address's four
  // 32-bit words, each a host-order number (a0 the first four bytes).
  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!prober_) throw Napi::Error::New(env, "TcpProber.start: the prober is closed");
    if (info.Length() < 1 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array)
      throw Napi::TypeError::New(env, "TcpProber.start: expected a Uint32Array of [id, port, timeoutMs, family, a0, a1, a2, a3] per probe");
    Napi::Uint32Array a = info[0].As<Napi::Uint32Array>();
    if (a.ElementLength() % kProbeWords != 0)
      throw Napi::RangeError::New(env, "TcpProber.start: the array's length is not a multiple of 8");
    size_t n = a.ElementLength() / kProbeWords;
    batch_.clear();
    batch_.reserve(n);
    const uint32_t* w = a.Data();
    for (size_t i = 0; i < n; ++i, w += kProbeWords) {
      if (w[1] < 1 || w[1] > 65535)
        throw Napi::RangeError::New(env, "TcpProber.start: probe " + std::to_string(i) + ": port " + std::to_string(w[1]) + " is not in 1..65535");
      if (w[2] < 1 || w[2] > kMaxTimeoutMs)
        throw Napi::RangeError::New(env, "TcpProber.start: probe " + std::to_string(i) + ": timeout " + std::to_string(w[2]) +
                                             " ms is not in 1.." + std::to_string(kMaxTimeoutMs));
      if (w[3] != 4 && w[3] != 6)
        throw Napi::RangeError::New(env, "TcpProber.start: probe " + std::to_string(i) + ": family " + std::to_string(w[3]) + " is not 4 or 6");
      TcpProbe p{w[0], htonl(w[4]), uint16_t(w[1]), w[2]};
      p.family = uint8_t(w[3]);
      if (p.family == 6) {
        for (int k = 0; k < 4; ++k) {
          const uint32_t be = htonl(w[4 + k]);
          std::memcpy(&p.addr6[4 * k], &be, 4);
        }
      }
      batch_.push_back(p);
    }
    prober_->submit(batch_.data(), batch_.size());
    return env.Undefined();
  }

  // abort(ids: Uint32Array): those probes end without an outcome; their sockets close.
  Napi::Value Abort(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array)
      throw Napi::TypeError::New(env, "TcpProber.abort: expected a Uint32Array of ids");
    Napi::Uint32Array a = info[0].As<Napi::Uint32Array>();
    if (prober_) prober_->abort(a.Data(), a.ElementLength());
    return env.Undefined();
  }

  // close(): every probe in flight ends without an outcome; start() throws from now on.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    shut();
    return info.Env().Undefined();
  }

  // ref() / unref(): whether the prober keeps the event loop alive (it does not at first).
  Napi::Value Ref(const Napi::CallbackInfo& info) {
    if (prober_) tsfn_.Ref(info.Env());
    return info.Env().Undefined();
  }
  Napi::Value Unref(const Napi::CallbackInfo& info) {
    if (prober_) tsfn_.Unref(info.Env());
    return info.Env().Undefined();
  }

  static void on_env_cleanup(void* self) {
    auto* w = static_cast<TcpProberWrap*>(self);
    w->hooked_ = false;
    w->shut();
  }

  void shut() {
    if (!prober_) return;
    prober_.reset();  // joins the thread: nothing calls the thread-safe function after this
    link_->owner = nullptr;
    tsfn_.Release();
    if (hooked_) napi_remove_env_cleanup_hook(env_, on_env_cleanup, this);
    hooked_ = false;
  }

  napi_env env_;
  Link* link_ = nullptr;
  Tsfn tsfn_;
  std::unique_ptr<TcpProber> prober_;
  bool hooked_ = true;
  std::vector<TcpProbe> batch_;
  std::vector<TcpOutcome> taken_;
};

void on_outcomes(Napi::Env env, Napi::Function callback, Link* link, void*) {
  // env is null when the function is torn down with calls still queued.
  if (env == nullptr || link == nullptr || link->owner == nullptr) return;
  link->owner->deliver(env, callback);
}

}  // namespace

void register_tcp_prober(Napi::Env env, Napi::Object exports) {
  exports.Set("TcpProber", TcpProberWrap::Define(env));
}

}  // namespace fulcrum::addon
