// See config_convert.h. Field names match NativeCoreConfig in src/control/native_config.ts and
// NativeDelta in src/native.ts.
#include "config_convert.h"

#include <arpa/inet.h>

#include <cmath>

#include "snapshot.h"

namespace fulcrum::addon {

namespace {

std::string join(const std::string& at, const char* key) { return at.empty() ? key : at + "." + key; }

struct Reader {
  std::vector<std::string>& problems;

  bool number(const Napi::Object& o, const char* key, const std::string& at, double lo, double hi, double& out) {
    Napi::Value v = o.Get(key);
    if (!v.IsNumber()) {
      problems.push_back(join(at, key) + ": must be a number");
      return false;
    }
    out = v.As<Napi::Number>().DoubleValue();
    if (!(out >= lo && out <= hi) || std::floor(out) != out) {
      problems.push_back(join(at, key) + ": must be an integer in " + std::to_string(static_cast<long long>(lo)) +
                         ".." + std::to_string(static_cast<long long>(hi)));
      return false;
    }
    return true;
  }
  template <class T>
  void integer(const Napi::Object& o, const char* key, const std::string& at, double lo, double hi, T& out) {
    double d;
    if (number(o, key, at, lo, hi, d)) out = static_cast<T>(d);
  }
  bool string(const Napi::Object& o, const char* key, const std::string& at, std::string& out) {
    Napi::Value v = o.Get(key);
    if (!v.IsString()) {
      problems.push_back(join(at, key) + ": must be a string");
      return false;
    }
    out = v.As<Napi::String>().Utf8Value();
    return true;
  }
  void boolean(const Napi::Object& o, const char* key, const std::string& at, bool& out) {
    Napi::Value v = o.Get(key);
    if (!v.IsBoolean()) {
      problems.push_back(join(at, key) + ": must be true or false");
      return;
    }
    out = v.As<Napi::Boolean>().Value();
  }
  void ipv4(const Napi::Object& o, const char* key, const std::string& at, be32& out) {
    std::string s;
    if (!string(o, key, at, s)) return;
    in_addr a{};
    if (inet_pton(AF_INET, s.c_str(), &a) != 1) {
      problems.push_back(join(at, key) + ": '" + s + "' is not an IPv4 address");
      return;
    }
    out = a.s_addr;
  }
  // An address of either family: IPv4 dotted (held as ::ffff:a.b.c.d), or IPv6 text.
  // IPv4-mapped IPv6 text is refused: it would be an IPv4 address under another name.
  void addr(const Napi::Object& o, const char* key, const std::string& at, IpAddr& out) {
    std::string s;
    if (!string(o, key, at, s)) return;
    in_addr a4{};
    if (inet_pton(AF_INET, s.c_str(), &a4) == 1) {
      out = IpAddr::from_v4(a4.s_addr);
      return;
    }
    in6_addr a6{};
    if (inet_pton(AF_INET6, s.c_str(), &a6) != 1) {
      problems.push_back(join(at, key) + ": '" + s + "' is not an IPv4 or IPv6 address");
      return;
    }
    IpAddr v = IpAddr::from_v6(a6.s6_addr);
    if (v.is_v4()) {
      problems.push_back(join(at, key) + ": '" + s + "' is an IPv4-mapped IPv6 address: give the IPv4 address");
      return;
    }
    out = v;
  }
  uint8_t protocol(const Napi::Object& o, const std::string& at) {
    std::string p;
    if (!string(o, "protocol", at, p)) return 0;
    if (p == "tcp") return kProtoTcp;
    if (p == "udp") return kProtoUdp;
    if (p == "sctp") return kProtoSctp;
    if (!p.empty()) problems.push_back(at + ".protocol: must be tcp, udp, sctp or empty");
    return 0;
  }
  Napi::Array array(const Napi::Object& o, const char* key, const std::string& at) {
    Napi::Value v = o.Get(key);
    if (!v.IsArray()) {
      problems.push_back(join(at, key) + ": must be an array");
      return Napi::Array::New(o.Env());
    }
    return v.As<Napi::Array>();
  }
};

bool present(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  return !v.IsUndefined() && !v.IsNull();
}

bool method_from_name(const std::string& m, FwdMethod& out) {
  if (m == "nat") out = FwdMethod::Masq;
  else if (m == "fullnat") out = FwdMethod::FullNat;
  else if (m == "dr") out = FwdMethod::Route;
  else if (m == "tun") out = FwdMethod::Tunnel;
  else return false;
  return true;
}

}  // namespace

namespace {

void convert_services(Reader& rd, const Napi::Array& services, const std::string& name, std::vector<ServiceConfig>& out) {
  std::vector<std::string>& problems = rd.problems;
  for (uint32_t i = 0; i < services.Length(); ++i) {
    std::string at = name + "[" + std::to_string(i) + "]";
    Napi::Value sv = services.Get(i);
    if (!sv.IsObject()) {
      problems.push_back(at + ": must be an object");
      continue;
    }
    Napi::Object so = sv.As<Napi::Object>();
    ServiceConfig s;
    rd.integer(so, "id", at, 0, 65535, s.id);
    s.proto = rd.protocol(so, at);
    rd.addr(so, "address", at, s.vip);
    rd.integer(so, "port", at, 0, 65535, s.port);
    rd.integer(so, "fwmark", at, 0, 4294967295.0, s.fwmark);
    // A fwmark service's address is its family's unspecified one (0.0.0.0 or ::): the family.
    s.fwmark_v6 = s.fwmark != 0 && !s.vip.is_v4();
    std::string sched;
    if (rd.string(so, "scheduler", at, sched) && !sched_from_name(sched, s.sched))
      problems.push_back(at + ".scheduler: unknown scheduler '" + sched + "'");
    rd.integer(so, "flags", at, 0, 0x803f, s.flags);
    rd.integer(so, "persistTimeout", at, 0, 2678400, s.persist_timeout_s);
    rd.ipv4(so, "netmask", at, s.netmask);
    // absent from older callers: /128, the IPv6 default
    if (present(so, "netmask6")) rd.integer(so, "netmask6", at, 1, 128, s.netmask6);
    rd.integer(so, "mhTableSize", at, 0, 131071, s.mh_table_size);
    Napi::Array dests = rd.array(so, "dests", at);
    for (uint32_t j = 0; j < dests.Length(); ++j) {
      std::string dat = at + ".dests[" + std::to_string(j) + "]";
      Napi::Value dv = dests.Get(j);
      if (!dv.IsObject()) {
        problems.push_back(dat + ": must be an object");
        continue;
      }
      Napi::Object d = dv.As<Napi::Object>();
      DestConfig dc;
      rd.integer(d, "id", dat, 0, kMaxDests - 1, dc.id);
      rd.addr(d, "address", dat, dc.addr);
      rd.integer(d, "port", dat, 0, 65535, dc.port);
      std::string m;
      if (rd.string(d, "method", dat, m) && !method_from_name(m, dc.fwd))
        problems.push_back(dat + ".method: must be nat, fullnat, dr or tun");
      rd.integer(d, "weight", dat, 0, 2147483647.0, dc.weight);
      rd.integer(d, "upperThreshold", dat, 0, 2147483647.0, dc.u_threshold);
      rd.integer(d, "lowerThreshold", dat, 0, 2147483647.0, dc.l_threshold);
      s.dests.push_back(dc);
    }
    out.push_back(std::move(s));
  }
}

void convert_rules(Reader& rd, const Napi::Array& rules, std::vector<MatchRule>& out) {
  for (uint32_t i = 0; i < rules.Length(); ++i) {
    std::string at = "rules[" + std::to_string(i) + "]";
    Napi::Value rv = rules.Get(i);
    if (!rv.IsObject()) {
      rd.problems.push_back(at + ": must be an object");
      continue;
    }
    Napi::Object ro = rv.As<Napi::Object>();
    MatchRule r;
    rd.addr(ro, "prefix", at, r.dst_prefix);
    rd.integer(ro, "prefixLength", at, 0, r.dst_prefix.is_v4() ? 32 : 128, r.prefix_len);
    r.proto = rd.protocol(ro, at);
    rd.integer(ro, "portLow", at, 0, 65535, r.port_lo);
    rd.integer(ro, "portHigh", at, 0, 65535, r.port_hi);
    rd.integer(ro, "mark", at, 1, 4294967295.0, r.mark);
    out.push_back(r);
  }
}

void convert_timeouts(Reader& rd, const Napi::Value& tv, TimeoutConfig& out) {
  if (!tv.IsObject()) {
    rd.problems.push_back("timeouts: must be an object");
    return;
  }
  Napi::Object t = tv.As<Napi::Object>();
  rd.integer(t, "tcp", "timeouts", 1, 2147483.0, out.tcp_established);
  rd.integer(t, "tcpfin", "timeouts", 1, 2147483.0, out.tcp_fin_wait);
  rd.integer(t, "udp", "timeouts", 1, 2147483.0, out.udp);
}

}  // namespace

bool convert_core_config(const Napi::Object& obj, CoreConfig& cfg, std::vector<std::string>& problems) {
  size_t before = problems.size();
  Reader rd{problems};
  convert_services(rd, rd.array(obj, "services", ""), "services", cfg.services);
  convert_rules(rd, rd.array(obj, "rules", ""), cfg.rules);
  convert_timeouts(rd, obj.Get("timeouts"), cfg.timeouts);
  rd.ipv4(obj, "tunnelSource", "", cfg.tunnel_source);
  if (present(obj, "tunnelSource6")) rd.addr(obj, "tunnelSource6", "", cfg.tunnel_source6);
  rd.integer(obj, "mtu", "", 576, 9216, cfg.mtu);
  if (present(obj, "sloppyTcp")) rd.boolean(obj, "sloppyTcp", "", cfg.sloppy_tcp);
  return problems.size() == before;
}

bool convert_core_delta(const Napi::Object& obj, CoreDelta& delta, std::vector<std::string>& problems) {
  size_t before = problems.size();
  Reader rd{problems};
  if (present(obj, "upsert")) convert_services(rd, rd.array(obj, "upsert", ""), "upsert", delta.upsert);
  if (present(obj, "remove")) {
    Napi::Array ids = rd.array(obj, "remove", "");
    for (uint32_t i = 0; i < ids.Length(); ++i) {
      Napi::Value v = ids.Get(i);
      double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
      if (!(d >= 0 && d <= 65535) || std::floor(d) != d)
        problems.push_back("remove[" + std::to_string(i) + "]: must be a service id (an integer in 0..65535)");
      else
        delta.remove.push_back(static_cast<SvcId>(d));
    }
  }
  if (present(obj, "rules")) convert_rules(rd, rd.array(obj, "rules", ""), delta.rules.emplace());
  if (present(obj, "timeouts")) convert_timeouts(rd, obj.Get("timeouts"), delta.timeouts.emplace());
  if (present(obj, "tunnelSource")) rd.ipv4(obj, "tunnelSource", "", delta.tunnel_source.emplace());
  if (present(obj, "tunnelSource6")) rd.addr(obj, "tunnelSource6", "", delta.tunnel_source6.emplace());
  if (present(obj, "sloppyTcp")) rd.boolean(obj, "sloppyTcp", "", delta.sloppy_tcp.emplace());
  return problems.size() == before;
}

}  // namespace fulcrum::addon
