#!/usr/bin/env python3
# Sends malformed frames to the director's port from the client namespace (AF_PACKET on the
# client's veth), for the integration test that checks they are counted and dropped.
# Usage: send_bad_frames.py IFACE DIRECTOR_MAC
import socket, struct, sys

iface, mac = sys.argv[1], bytes.fromhex(sys.argv[2].replace(':', ''))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
src = bytes.fromhex('020000000002')
eth = mac + src + b'\x08\x00'

def csum(b):
    if len(b) % 2: b += b'\0'
    n = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while n >> 16: n = (n & 0xffff) + (n >> 16)
    return (~n) & 0xffff

def ip(proto=6, flags_frag=0x4000, ihl=5, payload=b'', total=None, good_csum=True):
    tot = total if total is not None else 20 + len(payload)
    h = struct.pack('!BBHHHBBH4s4s', 0x40 | ihl, 0, tot, 1, flags_frag, 64, proto, 0,
                    socket.inet_aton('198.18.0.2'), socket.inet_aton('198.18.0.100'))
    c = csum(h) if good_csum else 0x1234
    return h[:10] + struct.pack('!H', c) + h[12:] + payload

frames = [
    eth + b'\x45\x00\x00',                                   # IPv4 header cut short
    eth + ip(ihl=3, payload=b'\0' * 20),                     # IHL below 5
    eth + ip(flags_frag=0x2000, payload=b'\0' * 40),         # first fragment (MF)
    eth + ip(flags_frag=0x0010, payload=b'\0' * 40),         # later fragment
    eth + ip(payload=b'\x30\x39\x00\x50'),                   # TCP header cut short
    eth + ip(payload=b'\0' * 20, good_csum=False),           # bad header checksum
]
for _ in range(3):
    for f in frames:
        s.send(f)
