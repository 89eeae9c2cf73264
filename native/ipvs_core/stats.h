// Counters a worker keeps for itself: per service, per real server and global, plus drops by
// reason. Plain integers owned by one worker (no atomics); readers sum the workers' copies,
// tolerating a value that is a few packets old.
#pragma once

#include <cstdint>
#include <vector>

#include "drop_reason.h"
#include "types.h"

namespace fulcrum {

// The five counters ipvsadm shows; the same layout for services, real servers and totals.
struct TrafficCounters {
  uint64_t conns = 0;
  uint64_t inpkts = 0;
  uint64_t outpkts = 0;
  uint64_t inbytes = 0;
  uint64_t outbytes = 0;

  TrafficCounters& operator+=(const TrafficCounters& o) {
    conns += o.conns;
    inpkts += o.inpkts;
    outpkts += o.outpkts;
    inbytes += o.inbytes;
    outbytes += o.outbytes;
    return *this;
  }
};

// Events that are not drops but that an operator wants counted.
enum class Event : uint8_t {
  IpOptions,        // IPv4 packets carrying options (forwarded)
  ToaInserted,
  ToaSkipped,       // no room for the TOA option, or it would exceed the MTU
  IcmpRelated,      // ICMP errors matched to a connection and forwarded
  EchoReplied,
  PortUnreachSent,  // no usable real server
  FragNeededSent,   // TUN packet too big with DF
  ToKernel,         // handed to the exception path
  ConnExpired,
  TemplateCreated,
  HalfOpenEvicted,  // a SYN_RECV entry made room for a new one (budget reached or table full)
  SynProxySynAck,   // a SYN answered with a cookie (no entry made)
  SynProxyOpened,   // a valid cookie ACK: scheduled, SYN sent to the real server
  SynProxyJoined,   // the real server answered: handshake completed, seq shift known
  SynProxyHeld,     // client data kept until the server answered (then sent on)
  SloppyTcp,        // a connection started on a segment other than SYN (sloppy_tcp)
  Count
};

inline const char* event_name(Event e) {
  switch (e) {
    case Event::IpOptions: return "ip_options";
    case Event::ToaInserted: return "toa_inserted";
    case Event::ToaSkipped: return "toa_skipped";
    case Event::IcmpRelated: return "icmp_related";
    case Event::EchoReplied: return "echo_replied";
    case Event::PortUnreachSent: return "port_unreach_sent";
    case Event::FragNeededSent: return "frag_needed_sent";
    case Event::ToKernel: return "to_kernel";
    case Event::ConnExpired: return "conn_expired";
    case Event::TemplateCreated: return "template_created";
    case Event::HalfOpenEvicted: return "half_open_evicted";
    case Event::SynProxySynAck: return "synproxy_syn_ack";
    case Event::SynProxyOpened: return "synproxy_opened";
    case Event::SynProxyJoined: return "synproxy_joined";
    case Event::SynProxyHeld: return "synproxy_held";
    case Event::SloppyTcp: return "sloppy_tcp";
    case Event::Count: break;
  }
  return "?";
}

struct WorkerStats {
  TrafficCounters total;
  std::vector<TrafficCounters> svc;   // indexed by SvcId
  std::vector<TrafficCounters> dest;  // indexed by DestId
  uint64_t drops[static_cast<size_t>(DropReason::kCount)] = {};
  uint64_t events[static_cast<size_t>(Event::Count)] = {};

  void drop(DropReason r) { ++drops[static_cast<size_t>(r)]; }
  void event(Event e) { ++events[static_cast<size_t>(e)]; }
};

}  // namespace fulcrum
