// Writes the fuzzer's seed inputs (see fuzz_packet.cc for the input format): well-formed
// frames that reach each path of the packet entry point, so mutation starts from deep inside.
// Usage: make_seeds DIR
#include <cstdio>
#include <string>
#include <vector>

#include "pktgen.h"
#include "sync_wire.h"

using namespace fulcrum;
using namespace fulcrum::test;

namespace {

void add(Bytes& in, const Bytes& frame, uint8_t flags = 1) {
  in.push_back(flags);
  in.push_back(static_cast<uint8_t>(frame.size() >> 8));
  in.push_back(static_cast<uint8_t>(frame.size()));
  in.insert(in.end(), frame.begin(), frame.end());
}

void write(const std::string& dir, const std::string& name, const Bytes& in) {
  FILE* f = std::fopen((dir + "/" + name).c_str(), "wb");
  if (!f) return;
  std::fwrite(in.data(), 1, in.size(), f);
  std::fclose(f);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  std::string dir = argv[1];
  const char* client = "172.16.0.5";
  {
    Bytes in;  // a NAT/FullNAT/DR/TUN connection's life: SYN, SYN-ACK back, ACK, data, FIN
    add(in, Pkt().ipv4(client, "10.0.0.1").tcp(40000, 80, kTcpSyn).frame());
    add(in, Pkt().ipv4("192.168.0.1", client).tcp(8080, 40000, kTcpSyn | kTcpAck).frame());
    add(in, Pkt().ipv4(client, "10.0.0.1").tcp(40000, 80, kTcpAck).frame());
    add(in, Pkt().ipv4(client, "10.0.0.1").tcp(40000, 80, kTcpAck | kTcpPsh).payload("GET / HTTP/1.0\r\n\r\n").frame());
    add(in, Pkt().ipv4("10.255.0.1", client).tcp(80, 5000, kTcpAck).frame());
    add(in, Pkt().ipv4(client, "10.0.0.1").tcp(40000, 80, kTcpAck | kTcpFin).frame(), 0x0f);
    write(dir, "tcp_flow", in);
  }
  {
    Bytes in;  // a SYN-proxied connection (10.0.0.4:80): SYN, the cookie returned (flag bit 4; MSS
               // index 3 in bits 5-6), data before the server answers (kept), the server's SYN-ACK,
               // data both ways with a SACK block, the server's reset
    add(in, Pkt().ipv4(client, "10.0.0.4").tcp(40100, 80, kTcpSyn).seq(999).tcp_options({2, 4, 5, 180}).frame());
    add(in, Pkt().ipv4(client, "10.0.0.4").tcp(40100, 80, kTcpAck).seq(1000).frame(), 0x71);
    add(in, Pkt().ipv4(client, "10.0.0.4").tcp(40100, 80, kTcpAck | kTcpPsh).seq(1000).payload("GET /").frame(), 0x71);
    add(in, Pkt().ipv4("192.168.0.10", client).tcp(8080, 40100, kTcpSyn | kTcpAck).seq(5000).ack(1000).frame());
    add(in, Pkt().ipv4("192.168.0.10", client).tcp(8080, 40100, kTcpAck | kTcpPsh).seq(5001).ack(1005).payload("200").frame());
    add(in, Pkt().ipv4(client, "10.0.0.4").tcp(40100, 80, kTcpAck).seq(1005).tcp_options({1, 1, 5, 10, 0, 0, 0, 9, 0, 0, 0, 19}).frame(), 0x71);
    add(in, Pkt().ipv4("192.168.0.10", client).tcp(8080, 40100, kTcpRst).seq(5004).frame());
    write(dir, "tcp_synproxy", in);
  }
  {
    Bytes in;  // IPv6: a connection per method to 2001:db8::1:80 (rr over NAT, FullNAT, DR, TUN,
               // NAT64, TUN to an IPv4 server), replies, an ICMPv6 error each way, echo, UDP,
               // persistence, NAT64's reply
    const char* c6 = "2001:db8:1::5";
    for (int i = 0; i < 6; ++i) add(in, Pkt().ipv6(c6, "2001:db8::1").tcp(43000 + i, 80, kTcpSyn).payload_size(40 * i).frame());
    add(in, Pkt().ipv6("2001:db8:2::1", c6).tcp(8080, 43000, kTcpSyn | kTcpAck).frame());
    add(in, Pkt().ipv6("2001:db8:2::2", "2001:db8:ff::1").tcp(80, 5000, kTcpSyn | kTcpAck).frame());
    add(in, Pkt().ipv4("192.168.0.14", "10.255.0.1").tcp(8080, 5000, kTcpSyn | kTcpAck).frame());
    add(in, Pkt().ipv6(c6, "2001:db8::1").tcp(43001, 80, kTcpAck).payload("x").frame());
    add(in, Pkt().ipv6("2001:db8:2::1", c6).icmp_error(1, 4, Pkt().ipv6(c6, "2001:db8:2::1").tcp(43000, 8080, kTcpSyn).ip()).frame());
    add(in, Pkt().ipv6(c6, "2001:db8::1").icmp_error(2, 0, Pkt().ipv6("2001:db8::1", c6).tcp(80, 43000, kTcpAck).ip(), 1280).frame());
    add(in, Pkt().ipv6(c6, "2001:db8::1").icmp_echo(1, 2).payload("ping").frame());
    add(in, Pkt().ipv6(c6, "2001:db8::1").udp(5353, 53).payload("q").frame());
    add(in, Pkt().ipv6(c6, "2001:db8::2").ipv6_ext(0, Bytes(6, 0)).tcp(43010, 8443, kTcpSyn).frame(), 0x0f);
    write(dir, "ipv6", in);
  }
  {
    Bytes in;  // a SYN-proxied IPv6 connection (2001:db8::3:80, rr over an IPv6 NAT server and an
               // IPv4 one through NAT64), as tcp_synproxy's; then errors about the NAT64 one each way
    const char* c6 = "2001:db8:1::7";
    for (uint16_t p : {43100, 43101}) {
      add(in, Pkt().ipv6(c6, "2001:db8::3").tcp(p, 80, kTcpSyn).seq(999).tcp_options({2, 4, 5, 160}).frame());
      add(in, Pkt().ipv6(c6, "2001:db8::3").tcp(p, 80, kTcpAck).seq(1000).frame(), 0x50);
      add(in, Pkt().ipv6(c6, "2001:db8::3").tcp(p, 80, kTcpAck | kTcpPsh).seq(1000).payload("GET /").frame(), 0x50);
    }
    add(in, Pkt().ipv6("2001:db8:2::9", c6).tcp(8080, 43100, kTcpSyn | kTcpAck).seq(5000).ack(1000).frame());
    add(in, Pkt().ipv4("192.168.0.20", "10.255.0.1").tcp(8080, 5000, kTcpSyn | kTcpAck).seq(5000).ack(1000).frame());
    add(in, Pkt().ipv4("192.168.0.20", "10.255.0.1").tcp(8080, 5000, kTcpAck).seq(5001).ack(1005).payload("200").frame());
    add(in, Pkt().ipv4("192.168.0.20", "10.255.0.1")
                .icmp_error(3, 4, Pkt().ipv4("10.255.0.1", "192.168.0.20").tcp(5000, 8080, kTcpAck).payload_size(600).ip(), 576)
                .frame(), 0x01);
    add(in, Pkt().ipv6(c6, "2001:db8::3")
                .icmp_error(2, 0, Pkt().ipv6("2001:db8::3", c6).tcp(80, 43101, kTcpAck).payload_size(1300).ip(), 1280).frame());
    add(in, Pkt().ipv4("192.168.0.20", "10.255.0.1").tcp(8080, 5000, kTcpRst).seq(5004).frame());
    write(dir, "tcp_synproxy6", in);
  }
  {
    Bytes in;
    for (int i = 0; i < 4; ++i) add(in, Pkt().ipv4(client, "10.0.0.1").tcp(41000 + i, 80, kTcpSyn).df().payload_size(500).frame());
    write(dir, "tcp_four_methods", in);
  }
  {
    Bytes in;  // a whole wrr cycle over 10.0.0.1:80, TUN to its IPv6 server too, some too big for it
    for (int i = 0; i < 7; ++i) add(in, Pkt().ipv4(client, "10.0.0.1").tcp(41100 + i, 80, kTcpSyn).df(i & 1).payload_size(530 + i).frame());
    write(dir, "tcp_wrr_cycle", in);
  }
  {
    Bytes in;
    add(in, Pkt().ipv4(client, "10.0.0.1").udp(5353, 53).payload("query").frame());
    add(in, Pkt().ipv4("192.168.0.5", client).udp(53, 5353).payload("answer").frame());
    add(in, Pkt().vlan(7).ipv4(client, "10.0.0.1").udp(5354, 53).udp_zero_csum().frame());
    write(dir, "udp", in);
  }
  {
    Bytes in;
    add(in, Pkt().ipv4(client, "10.0.0.2").tcp(42000, 1234, kTcpSyn).frame());
    add(in, Pkt().ipv4("172.16.0.9", "10.0.0.2").tcp(42001, 4321, kTcpSyn).frame(), 0x0f);
    add(in, Pkt().ipv4(client, "10.9.3.4").tcp(42002, 22, kTcpSyn).frame());
    add(in, Pkt().ipv4(client, "10.0.0.3").tcp(42003, 443, kTcpSyn).frame());
    write(dir, "persist_fwmark_nodest", in);
  }
  {
    Bytes in;
    add(in, Pkt().ipv4(client, "10.0.0.1").icmp_echo(1, 1).payload("ping").frame());
    Bytes sent = Pkt().ipv4(client, "192.168.0.1").tcp(40000, 8080, kTcpSyn).ip();
    add(in, Pkt().ipv4(client, "10.0.0.1").tcp(40000, 80, kTcpSyn).frame());
    add(in, Pkt().ipv4("192.168.0.1", client).icmp_error(3, 3, sent).frame());
    Bytes reply = Pkt().ipv4("10.0.0.1", client).tcp(80, 40000, kTcpSyn | kTcpAck).ip();
    add(in, Pkt().ipv4("172.16.0.1", "10.0.0.1").icmp_error(11, 0, reply).frame());
    add(in, Pkt().ipv4(client, "10.0.0.1").ip_options({1, 1, 1, 0}).tcp(40001, 80, kTcpSyn).frame());
    add(in, Pkt().ipv4(client, "10.0.0.1").mf().tcp(40002, 80, kTcpSyn).frame());
    add(in, Pkt().ipv6("2001:db8::1", "2001:db8::2").tcp(1, 2, kTcpSyn).frame());
    add(in, Pkt().ethertype(0x0806).payload_size(28).frame());
    write(dir, "icmp_and_odd", in);
  }
  // fuzz_sync_backup's seeds (a second directory): version 1 messages naming its services.
  if (argc >= 3) {
    std::string sdir = argv[2];
    auto conn = [](uint8_t proto, const char* c, uint16_t cport, const char* v, uint16_t vport, const char* d,
                   uint16_t dport, uint16_t state, uint32_t flags) {
      sync::SyncConn x;
      x.protocol = proto;
      x.caddr = IpAddr::from_v4(ip4(c));
      x.vaddr = IpAddr::from_v4(ip4(v));
      x.daddr = IpAddr::from_v4(ip4(d));
      x.cport = port(cport);
      x.vport = port(vport);
      x.dport = port(dport);
      x.state = state;
      x.flags = flags;
      x.timeout_s = 900;
      return x;
    };
    uint8_t buf[1472];
    sync::MessageWriter w(buf, sizeof buf, 1);
    w.add(conn(kProtoTcp, client, 40000, "10.0.0.1", 80, "192.168.0.1", 80, 1, 0));
    w.add(conn(kProtoTcp, client, 40000, "10.0.0.1", 80, "192.168.0.1", 80, 7, sync::kFlagInactive));
    w.add(conn(kProtoTcp, client, 40001, "10.0.0.1", 80, "192.168.0.2", 80, 1, sync::kFwdDroute | sync::kFlagNoOutput));
    sync::SyncConn f = conn(kProtoTcp, client, 40002, "10.0.0.1", 80, "192.168.0.3", 80, 1, 0);
    f.has_fullnat = true;
    f.laddr = IpAddr::from_v4(ip4("10.0.0.9"));
    f.lport = port(1030);
    w.add(f);
    w.add(conn(kProtoUdp, client, 5353, "10.0.0.1", 53, "192.168.0.1", 53, 0, 0));
    w.add(conn(kProtoTcp, client, 0, "10.0.0.2", 0, "192.168.0.1", 0, 0, sync::kFlagTemplate));
    w.add(conn(kProtoTcp, client, 40003, "10.0.0.2", 443, "192.168.0.1", 443, 1, 0));
    FILE* out = std::fopen((sdir + "/sync_v1").c_str(), "wb");
    if (out) {
      std::fwrite(w.data(), 1, w.size(), out);
      std::fclose(out);
    }
    // IPv6 records: NAT, DR, FullNAT with an IPv6 local address, NAT64 (its mandatory
    // parameter), a /64 template and its connection.
    auto v6 = [](sync::SyncConn x, const char* c, const char* v, const char* d) {
      auto a = [](const char* t) {
        const Ip6 b = ip6(t);
        return IpAddr::from_v6(b.data());
      };
      x.caddr = a(c);
      x.vaddr = a(v);
      x.daddr = d[0] == '1' ? IpAddr::from_v4(ip4(d)) : a(d);
      return x;
    };
    const sync::SyncConn t = conn(kProtoTcp, client, 40000, "10.0.0.1", 80, "192.168.0.1", 80, 1, 0);
    w.reset();
    w.add(v6(t, "2001:db8:5::1", "2001:db8::1", "2001:db8::a"));
    sync::SyncConn dr = v6(t, "2001:db8:5::1", "2001:db8::1", "2001:db8::b");
    dr.cport = port(40001);
    dr.flags = sync::kFwdDroute | sync::kFlagNoOutput;
    w.add(dr);
    sync::SyncConn f6 = v6(t, "2001:db8:5::1", "2001:db8::1", "2001:db8::c");
    f6.cport = port(40002);
    f6.has_fullnat = true;
    f6.laddr = v6(t, "2001:db8::9", "2001:db8::9", "2001:db8::9").caddr;
    f6.lport = port(1031);
    w.add(f6);
    sync::SyncConn n64 = v6(t, "2001:db8:5::1", "2001:db8::1", "192.168.0.4");
    n64.cport = port(40003);
    n64.has_fullnat = true;
    n64.laddr = IpAddr::from_v4(ip4("10.0.0.9"));
    n64.lport = port(1032);
    w.add(n64);
    sync::SyncConn tp = v6(t, "2001:db8:5::", "2001:db8::2", "2001:db8::a");
    tp.cport = 0;
    tp.vport = 0;
    tp.dport = 0;
    tp.state = 0;
    tp.flags = sync::kFwdDroute | sync::kFlagTemplate;
    w.add(tp);
    sync::SyncConn under = v6(t, "2001:db8:5::1", "2001:db8::2", "2001:db8::a");
    under.cport = port(40004);
    under.vport = port(443);
    under.dport = port(443);
    under.flags = sync::kFwdDroute;
    w.add(under);
    out = std::fopen((sdir + "/sync_v1_ipv6").c_str(), "wb");
    if (out) {
      std::fwrite(w.data(), 1, w.size(), out);
      std::fclose(out);
    }
  }
  return 0;
}
