// SyncRecord <-> SyncConn: see sync_record.h.
#include "sync_record.h"

namespace fulcrum::sync {

SyncConn to_wire(const SyncRecord& r) {
  SyncConn c;
  c.protocol = r.protocol;
  c.flags = r.flags;
  c.state = r.state;
  c.cport = r.cport;
  c.vport = r.vport;
  c.dport = r.dport;
  c.fwmark = r.fwmark;
  c.timeout_s = r.timeout_s;
  c.caddr = IpAddr::from_v4(r.caddr);
  c.vaddr = IpAddr::from_v4(r.vaddr);
  c.daddr = IpAddr::from_v4(r.daddr);
  if (r.has_fullnat) {
    c.has_fullnat = true;
    c.laddr = IpAddr::from_v4(r.laddr);
    c.lport = r.lport;
  }
  return c;
}

bool from_wire(const SyncConn& c, SyncRecord& out) {
  if (c.v6() || (c.has_fullnat && !c.laddr.is_v4()) || c.state > 0xff) return false;
  out = SyncRecord{};
  out.caddr = c.caddr.v4();
  out.vaddr = c.vaddr.v4();
  out.daddr = c.daddr.v4();
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
    out.laddr = c.laddr.v4();
    out.lport = c.lport;
  }
  return true;
}

SyncConn to_wire(const SyncRecord6& r) {
  SyncConn c;
  c.protocol = r.protocol;
  c.flags = r.flags;
  c.state = r.state;
  c.cport = r.cport;
  c.vport = r.vport;
  c.dport = r.dport;
  c.fwmark = r.fwmark;
  c.timeout_s = r.timeout_s;
  c.caddr = r.caddr;
  c.vaddr = r.vaddr;
  c.daddr = r.daddr;
  if (r.has_fullnat) {
    c.has_fullnat = true;
    c.laddr = r.laddr;
    c.lport = r.lport;
  }
  return c;
}

bool from_wire(const SyncConn& c, SyncRecord6& out) {
  if (!c.v6() || c.state > 0xff) return false;
  out = SyncRecord6{};
  out.caddr = c.caddr;
  out.vaddr = c.vaddr;
  out.daddr = c.daddr;
  out.cport = c.cport;
  out.vport = c.vport;
  out.dport = c.dport;
  out.fwmark = c.fwmark;
  out.timeout_s = c.timeout_s;
  out.flags = c.flags & ~kFlagSeqMask;  // as from_wire's IPv4 form
  out.protocol = c.protocol;
  out.state = static_cast<uint8_t>(c.state);
  if (c.has_fullnat) {
    out.has_fullnat = 1;
    out.laddr = c.laddr;
    out.lport = c.lport;
  }
  return true;
}

}  // namespace fulcrum::sync
