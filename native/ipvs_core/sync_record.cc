// SyncRecord / SyncRecord6 <-> SyncConn: see sync_record.h. Both ring forms carry the same
// fields; only how an address is held differs (be32, or IpAddr with IPv4 mapped).
#include "sync_record.h"

namespace fulcrum::sync {

namespace {

IpAddr wire_addr(be32 a) { return IpAddr::from_v4(a); }
const IpAddr& wire_addr(const IpAddr& a) { return a; }
void ring_addr(const IpAddr& a, be32& out) { out = a.v4(); }
void ring_addr(const IpAddr& a, IpAddr& out) { out = a; }

template <class Record>
SyncConn to_wire_of(const Record& r) {
  SyncConn c;
  c.protocol = r.protocol;
  c.flags = r.flags;
  c.state = r.state;
  c.cport = r.cport;
  c.vport = r.vport;
  c.dport = r.dport;
  c.fwmark = r.fwmark;
  c.timeout_s = r.timeout_s;
  c.caddr = wire_addr(r.caddr);
  c.vaddr = wire_addr(r.vaddr);
  c.daddr = wire_addr(r.daddr);
  if (r.has_fullnat) {
    c.has_fullnat = true;
    c.laddr = wire_addr(r.laddr);
    c.lport = r.lport;
  }
  return c;
}

// The caller has checked that the record fits this form.
template <class Record>
void from_wire_into(const SyncConn& c, Record& out) {
  out = Record{};
  ring_addr(c.caddr, out.caddr);
  ring_addr(c.vaddr, out.vaddr);
  ring_addr(c.daddr, out.daddr);
  out.cport = c.cport;
  out.vport = c.vport;
  out.dport = c.dport;
  out.fwmark = c.fwmark;
  out.timeout_s = c.timeout_s;
  // Sequence adjustments (NAT applications such as FTP) have no place in the core: dropped,
  // with the flags that announce them.
  out.flags = c.flags & ~kFlagSeqMask;
  out.protocol = c.protocol;
  out.state = static_cast<uint8_t>(c.state);
  if (c.has_fullnat) {
    out.has_fullnat = 1;
    ring_addr(c.laddr, out.laddr);
    out.lport = c.lport;
  }
}

}  // namespace

SyncConn to_wire(const SyncRecord& r) { return to_wire_of(r); }
SyncConn to_wire(const SyncRecord6& r) { return to_wire_of(r); }

bool from_wire(const SyncConn& c, SyncRecord& out) {
  if (c.v6() || (c.has_fullnat && !c.laddr.is_v4()) || c.state > 0xff) return false;
  from_wire_into(c, out);
  return true;
}

bool from_wire(const SyncConn& c, SyncRecord6& out) {
  if (!c.v6() || c.state > 0xff) return false;
  from_wire_into(c, out);
  return true;
}

}  // namespace fulcrum::sync
