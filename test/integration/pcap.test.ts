// The wire reader the integration tests rely on, checked against frames built by hand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseIpv4, readPcap, toaOf } from './pcap';

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
