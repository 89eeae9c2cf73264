// The wire reader the integration tests rely on, checked against frames built by hand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseIpv4, parseIpv6, readPcap, toaOf } from './pcap';

function ipv4(src: number[], dst: number[], proto: number, l4: Buffer): Buffer {
  const h = Buffer.alloc(20);
  h[0] = 0x45;
  h.writeUInt16BE(20 + l4.length, 2);
  h[8] = 64;
  h[9] = proto;
  Buffer.from(src).copy(h, 12);
  Buffer.from(dst).copy(h, 16);
  return Buffer.concat([h, l4]);
}

/** An IPv6 packet; `ext` are (next header, body) extension headers placed before the L4. */
function ipv6(src: string, dst: string, proto: number, l4: Buffer, ext: Array<[number, Buffer]> = []): Buffer {
  const h = Buffer.alloc(40);
  h[0] = 0x60;
  const exts = ext.map(([, body], i) => Buffer.concat([Buffer.from([i + 1 < ext.length ? ext[i + 1][0] : proto, (body.length + 2) / 8 - 1]), body]));
  const payload = Buffer.concat([...exts, l4]);
  h.writeUInt16BE(payload.length, 4);
  h[6] = ext.length ? ext[0][0] : proto;
  h[7] = 64;
  addr6(src).copy(h, 8);
  addr6(dst).copy(h, 24);
  return Buffer.concat([h, payload]);
}

/** 2001:db8::1 style text to 16 bytes (tests only write well-formed addresses). */
function addr6(a: string): Buffer {
  const [head, tail = ''] = a.split('::');
  const words = (s: string) => (s ? s.split(':').map((w) => parseInt(w, 16)) : []);
  const h = words(head), t = words(tail);
  const all = a.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill(0), ...t] : h;
  const b = Buffer.alloc(16);
  all.forEach((w, i) => b.writeUInt16BE(w, i * 2));
  return b;
}

function tcp(sport: number, dport: number, flags: number, options: Buffer): Buffer {
  const t = Buffer.alloc(20 + options.length);
  t.writeUInt16BE(sport, 0);
  t.writeUInt16BE(dport, 2);
  t[12] = ((20 + options.length) / 4) << 4;
  t[13] = flags;
  options.copy(t, 20);
  return t;
}

function pcap(frames: Buffer[]): Buffer {
  const head = Buffer.alloc(24);
  head.writeUInt32LE(0xa1b2c3d4, 0);
  head.writeUInt16LE(2, 4);
  head.writeUInt16LE(4, 6);
  head.writeUInt32LE(65535, 16);
  head.writeUInt32LE(1, 20);
  const recs = frames.map((f) => {
    const r = Buffer.alloc(16);
    r.writeUInt32LE(f.length, 8);
    r.writeUInt32LE(f.length, 12);
    return Buffer.concat([r, f]);
  });
  return Buffer.concat([head, ...recs]);
}

const eth = (payload: Buffer, type = 0x0800) => {
  const h = Buffer.alloc(14);
  h.writeUInt16BE(type, 12);
  return Buffer.concat([h, payload]);
};

test('TOA is found in a TCP segment\'s options: client address and port', () => {
  const toa = Buffer.from([254, 8, 0x9c, 0x40, 172, 16, 5, 20]);
  const opts = Buffer.concat([Buffer.from([1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]), toa]);
  const pkts = readPcap(pcap([eth(ipv4([10, 255, 0, 1], [172, 16, 0, 11], 6, tcp(5000, 8080, 0x10, opts)))]));
  assert.equal(pkts.length, 1);
  assert.equal(pkts[0].src, '10.255.0.1');
  assert.equal(pkts[0].dport, 8080);
  assert.deepEqual(toaOf(pkts[0]), { address: '172.16.5.20', port: 40000 });
  assert.equal(toaOf(parseIpv4(ipv4([1, 1, 1, 1], [2, 2, 2, 2], 6, tcp(1, 2, 0x02, Buffer.alloc(0))))!), undefined);
});

test('IPIP packets expose the inner packet; non-IP frames are skipped', () => {
  const inner = ipv4([172, 16, 5, 20], [10, 0, 0, 100], 6, tcp(40000, 80, 0x02, Buffer.alloc(0)));
  const outer = ipv4([172, 16, 0, 1], [172, 16, 0, 11], 4, inner);
  const pkts = readPcap(pcap([eth(Buffer.alloc(28), 0x0806), eth(outer)]));
  assert.equal(pkts.length, 1);
  assert.equal(pkts[0].proto, 4);
  assert.equal(pkts[0].inner?.src, '172.16.5.20');
  assert.equal(pkts[0].inner?.dst, '10.0.0.100');
  assert.equal(pkts[0].inner?.dport, 80);
  assert.throws(() => readPcap(Buffer.alloc(24)), /not a pcap file/);
});

test('IPv6: addresses in RFC 5952 form, ports past an extension header, TOA\'s IPv6 form', () => {
  const toa = Buffer.concat([Buffer.from([254, 20, 0x9c, 0x40]), addr6('2001:db8:1::2')]);
  // A destination-options header (next header 60) of 8 bytes: PadN filling it.
  const dstopts: [number, Buffer] = [60, Buffer.from([1, 4, 0, 0, 0, 0])];
  const pkts = readPcap(pcap([eth(ipv6('2001:db8:2::200', '2001:db8:2:0:0:0:0:12', 6, tcp(5000, 8080, 0x12, Buffer.concat([toa, Buffer.from([1, 1, 1, 1])])), [dstopts]), 0x86dd)]));
  assert.equal(pkts.length, 1);
  assert.equal(pkts[0].family, 6);
  assert.equal(pkts[0].src, '2001:db8:2::200');
  assert.equal(pkts[0].dst, '2001:db8:2::12');
  assert.equal(pkts[0].proto, 6);
  assert.equal(pkts[0].sport, 5000);
  assert.equal(pkts[0].dport, 8080);
  assert.equal(pkts[0].tcpFlags, 0x12);
  assert.deepEqual(toaOf(pkts[0]), { address: '2001:db8:1::2', port: 40000 });
});

test('IPv6-in-IPv6 packets expose the inner packet', () => {
  const inner = ipv6('2001:db8:1::2', '2001:db8:1::100', 6, tcp(40000, 80, 0x02, Buffer.alloc(0)));
  const p = parseIpv6(ipv6('2001:db8:2::1', '2001:db8:2::11', 41, inner))!;
  assert.equal(p.proto, 41);
  assert.equal(p.dst, '2001:db8:2::11');
  assert.equal(p.inner?.family, 6);
  assert.equal(p.inner?.src, '2001:db8:1::2');
  assert.equal(p.inner?.dst, '2001:db8:1::100');
  assert.equal(p.inner?.dport, 80);
  assert.equal(parseIpv6(Buffer.alloc(39)), undefined);
});
