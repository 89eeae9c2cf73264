// ipvsadm's listing formats, checked against output captured from the real ipvsadm 1.31
// (reference §1.7).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  compareDests, compareServices, formatList, formatStats, formatTable, glibcSort, glibcSortSliced, largeNum, listingOrder, NO_RATES, NUMERIC, tableParts,
  type IpvsDest, type IpvsService, type ListedService,
} from '../../src/ipvsadm/format';

const counters = (conns: number, inpkts: number, outpkts: number, inbytes: number, outbytes: number) =>
  ({ conns, inpkts, outpkts, inbytes, outbytes });

const example: ListedService[] = [{
  protocol: 'TCP', address: '10.0.0.1', port: 80, scheduler: 'wrr', stats: counters(1523, 45210, 40112, 3921456, 58234112),
  dests: [
    { address: '192.168.1.10', port: 80, forward: 'Masq', weight: 3, activeConns: 57, inactConns: 412, stats: counters(1142, 33907, 30084, 2941092, 43675584) },
    { address: '192.168.1.11', port: 80, forward: 'Masq', weight: 1, activeConns: 19, inactConns: 137, stats: counters(381, 11303, 10028, 980364, 14558528) },
  ],
}];

test('-Ln --stats matches ipvsadm byte for byte', () => {
  assert.equal(formatStats(example), [
    'IP Virtual Server version 1.2.1 (size=4096)',
    'Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes',
    '  -> RemoteAddress:Port',
    'TCP  10.0.0.1:80                      1523    45210    40112  3921456 58234112',
    '  -> 192.168.1.10:80                  1142    33907    30084  2941092 43675584',
    '  -> 192.168.1.11:80                   381    11303    10028   980364 14558528',
    ''].join('\n'));
});

test('-Ln pads every real-server row to 70 columns, trailing spaces included', () => {
  const lines = formatList(example).split('\n');
  assert.equal(lines[3], 'TCP  10.0.0.1:80 wrr');
  assert.equal(lines[4], '  -> 192.168.1.10:80              Masq    3      57         412       ');
  assert.equal(lines[4].length, 70);
});

test('large numbers scale with K only between 10^8 and 10^9, then M, G, T', () => {
  assert.equal(largeNum(99_999_999), ' 99999999');
  assert.equal(largeNum(100_000_000), '  100000K');
  assert.equal(largeNum(999_999_999), '  999999K');
  assert.equal(largeNum(1_000_000_000), '    1000M');
  assert.equal(largeNum(99_999_999_999), '   99999M');
  assert.equal(largeNum(100_000_000_000), '     100G');
  assert.equal(largeNum(123_456_789_012_345n), '     123T');
  assert.equal(largeNum(123_456_789_012, true), ' 123456789012');
  assert.equal(largeNum(5, true), '        5');
});

test('IPv6 in the sort: IPv4 services first, then IPv6 word by word as wrapped differences; a real server compares by the left one\'s family', () => {
  const svc = (address: string, port = 80, fwmark = 0, af?: 4 | 6): IpvsService => ({
    fwmark, af, protocol: 'tcp', address, port, scheduler: 'rr', schedFlags: 0, persistent: false, timeout: 0, netmask: '128',
    onePacket: false, stats: { conns: 0, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0 }, rates: NO_RATES, dests: [],
  });
  const lt = (a: IpvsService, b: IpvsService) => assert.ok(compareServices(a, b) < 0, `${a.address} before ${b.address}`);
  lt(svc('198.18.0.1'), svc('::2'));                                  // AF_INET (2) before AF_INET6 (10)
  lt(svc('2001:db8::8000:0:0:1'), svc('2001:db8::1'));                // word 3: 0x80000000 - 0 wraps negative
  lt(svc('fd00::1'), svc('::2'));                                     // word 1: 0xfd000000 - 0 wraps negative
  lt(svc('2001:db8::1'), svc('2001:db8::1', 8080));
  lt(svc('::2'), svc('::', 0, 2, 6));                                  // every fwmark service after
  lt(svc('0.0.0.0', 0, 3, 4), svc('::', 0, 3, 6));                     // fwmark 3 of IPv4 before fwmark 3 of IPv6
  const dest = (address: string, port = 80) => ({ address, port } as IpvsDest);
  // an IPv4 left side compares its address with the first word of the right one's
  assert.ok(compareDests(dest('198.18.2.10'), dest('fd00::10')) < 0);   // 0xc612020a - 0xfd000000 < 0
  assert.ok(compareDests(dest('fd00::10'), dest('10.0.0.10')) < 0);     // 0xfd000000 - 0x0a00000a wraps negative
  assert.ok(compareDests(dest('2001:db8::10', 80), dest('2001:db8::10', 81)) < 0);
});

test('a large table is sorted in slices with the same comparisons as glibc\'s merge sort, so the same order even for a comparator that is not transitive', async () => {
  // Addresses compared by wrapped 32-bit differences are not transitive once they are far
  // apart: the order then depends on which pairs the sort compares, and in what order.
  const wrapped = (a: number, b: number) => ((a - b) | 0);
  let x = 12345;
  const items = Array.from({ length: 5000 }, () => (x = (x * 1103515245 + 12345) >>> 0));
  const whole = glibcSort(items, wrapped);
  assert.deepEqual(await glibcSortSliced(items, wrapped), whole);
  // Not the order a transitive sort would give: the test would pass for the wrong reason otherwise.
  assert.notDeepEqual(whole, [...items].sort((a, b) => a - b));
  assert.notDeepEqual(whole, [...items].sort(wrapped));
});

test('a listing\'s services come in ipvsadm\'s order from listingOrder, and as they are with --nosort', async () => {
  const svc = (address: string, port = 80): IpvsService => ({
    fwmark: 0, protocol: 'tcp', address, port, scheduler: 'rr', schedFlags: 0, persistent: false, timeout: 0, netmask: '255.255.255.255',
    onePacket: false, stats: { conns: 0, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0 }, rates: NO_RATES, dests: [],
  });
  const ss = Array.from({ length: 3000 }, (_, i) => svc(`198.18.${(i * 7919) % 256}.${(i * 104729) % 256}`, 80 + (i % 3)));
  const sorted = await listingOrder(ss, { ...NUMERIC, nosort: false });
  assert.deepEqual(sorted, [...ss].sort(compareServices));  // these addresses are close: the order is total
  assert.equal(await listingOrder(ss, { ...NUMERIC, nosort: true }), ss);
  assert.equal(formatTable(ss, NUMERIC), [...tableParts(sorted, NUMERIC)].join(''));
});
