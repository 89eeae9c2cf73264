#!/usr/bin/env python3
# Sends ICMP "fragmentation needed" errors to the director from the client namespace, each
# quoting a reply the director sent (VIP:vport -> client:cport), from N different outer sources
# so they spread over the director's receive queues. For the two-worker integration test.
# Usage: send_icmp_errors.py IFACE DIRECTOR_MAC VIP VPORT CLIENT CPORT N
import socket, struct, sys

iface, mac, vip, vport, client, cport, n = sys.argv[1], bytes.fromhex(sys.argv[2].replace(':', '')), sys.argv[3], int(sys.argv[4]), sys.argv[5], int(sys.argv[6]), int(sys.argv[7])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))

def csum(b):
    if len(b) % 2: b += b'\0'
    t = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while t >> 16: t = (t & 0xffff) + (t >> 16)
    return (~t) & 0xffff

def ipv4(src, dst, proto, payload):
    h = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(payload), 7, 0x4000, 64, proto, 0, socket.inet_aton(src), socket.inet_aton(dst))
    return h[:10] + struct.pack('!H', csum(h)) + h[12:] + payload

quoted = ipv4(vip, client, 6, struct.pack('!HHI', vport, cport, 12345))[:28]
# the quoted header says its packet was longer than what is quoted, as routers send it
quoted = quoted[:2] + struct.pack('!H', 1400) + quoted[4:10] + b'\0\0' + quoted[12:]
quoted = quoted[:10] + struct.pack('!H', csum(quoted[:20])) + quoted[12:]
icmp = struct.pack('!BBHHH', 3, 4, 0, 0, 1200) + quoted
icmp = icmp[:2] + struct.pack('!H', csum(icmp)) + icmp[4:]
for i in range(n):
    src = '198.18.0.%d' % (3 + i)
    s.send(mac + bytes.fromhex('020000000002') + b'\x08\x00' + ipv4(src, vip, 1, icmp))
