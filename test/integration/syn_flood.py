#!/usr/bin/env python3
# A SYN flood for the integration test and the demo of it: spoofed SYNs to VIP:PORT from random
# sources in 198.18.128.0/17, or for an IPv6 VIP in 2001:db8:8000::/33 (test addresses; the
# director routes their replies back into the test's own client namespace, which drops them),
# from one AF_PACKET socket on the client's veth, at RATE SYNs a second (0: as fast as it can;
# on this 2-core machine that starves the real servers and the client of CPU, which tests the
# machine, not the director). Stops after COUNT
# SYNs or SECONDS, whichever comes first, or at SIGTERM, and prints what it sent as JSON:
# {"sent": n, "seconds": s}.
# Usage: syn_flood.py IFACE DIRECTOR_MAC VIP PORT COUNT SECONDS [RATE]
import json, random, signal, socket, struct, sys, time

iface, mac, vip, port, count, seconds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
rate = float(sys.argv[7]) if len(sys.argv) > 7 else 0
dst_mac = bytes.fromhex(mac.replace(':', ''))
v6 = ':' in vip
eth = dst_mac + bytes.fromhex('020000000002') + (b'\x86\xdd' if v6 else b'\x08\x00')
daddr = socket.inet_pton(socket.AF_INET6, vip) if v6 else socket.inet_aton(vip)


def csum(b):
    if len(b) % 2:
        b += b'\0'
    n = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while n >> 16:
        n = (n & 0xffff) + (n >> 16)
    return (~n) & 0xffff


def frame(rng):
    if v6:  # 2001:db8:8000::/33, the rest random
        saddr = bytes.fromhex('20010db8') + struct.pack('!I', 0x80000000 | rng.getrandbits(31)) + rng.getrandbits(64).to_bytes(8, 'big')
    else:
        saddr = struct.pack('!I', (198 << 24) | (18 << 16) | 0x8000 | rng.randrange(1, 0x7fff))
    sport = rng.randrange(1024, 65536)
    # SYN with an MSS option, as a real stack sends it.
    opts = struct.pack('!BBH', 2, 4, 1440 if v6 else 1460)
    tcp = struct.pack('!HHIIBBHHH', sport, port, rng.getrandbits(32), 0, (5 + len(opts) // 4) << 4, 0x02, 64240, 0, 0) + opts
    if v6:
        pseudo = saddr + daddr + struct.pack('!IxxxB', len(tcp), 6)
    else:
        pseudo = saddr + daddr + struct.pack('!BBH', 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack('!H', csum(pseudo + tcp)) + tcp[18:]
    if v6:
        return eth + struct.pack('!IHBB16s16s', 0x60000000, len(tcp), 6, 64, saddr, daddr) + tcp
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(tcp), rng.getrandbits(16), 0x4000, 64, 6, 0, saddr, daddr)
    ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
    return eth + ip + tcp


rng = random.Random(1)
frames = [frame(rng) for _ in range(65536)]  # 16x a 4096-entry table before a tuple repeats
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
stop = False


def on_term(*_):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)
sent = 0
start = time.monotonic()
deadline = start + seconds
while not stop and sent < count:
    for f in frames[sent % len(frames):sent % len(frames) + 1024]:
        try:
            s.send(f)
        except OSError:  # the veth's queue is full: the flood is as fast as it can be
            continue
        sent += 1
    now = time.monotonic()
    if now >= deadline:
        break
    if rate and sent > rate * (now - start):  # ahead of the rate: wait for it
        time.sleep(min(sent / rate - (now - start), deadline - now))
print(json.dumps({'sent': sent, 'seconds': round(time.monotonic() - start, 3)}), flush=True)
