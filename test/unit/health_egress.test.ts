// Health checks leave only through the director's ports: the kernel's route to each target is
// looked up (main table, longest prefix) and a target reached through any other interface is
// not probed; loopback stays on the host.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EgressGuard, parseRoutes, parseRoutes6 } from '../../src/control/health/egress';

// /proc/net/route as the kernel writes it: addresses and masks as little-endian hex words.
const ROUTES = `Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
inside\t000013C6\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
inside\t000A13C6\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
down0\t000B13C6\t00000000\t0000\t0\t0\t0\t00FFFFFF\t0\t0\t0
`;

test('the route table is read as the kernel wrote it, longest prefix first, down routes left out', () => {
  const r = parseRoutes(ROUTES);
  assert.deepEqual(r.map((x) => [x.iface, x.len]), [['eth0', 24], ['inside', 24], ['inside', 24], ['eth0', 0]]);
  assert.equal(r[1].dest, 0xc6130000, '198.19.0.0');
});

test('a real server behind a director port is checked; one behind another interface is not, with why', () => {
  const g = new EgressGuard(new Set(['inside', 'outside']), () => ROUTES);
  assert.equal(g.refusal('198.19.0.11'), undefined);
  assert.equal(g.refusal('198.19.10.5'), undefined);
  assert.equal(g.refusal('127.0.0.1'), undefined, 'loopback stays on the host');
  assert.equal(g.refusal('192.0.2.7'), 'not sent: 192.0.2.7 is reached through eth0, not through one of the director\'s ports (inside, outside)');
  assert.match(g.refusal('203.0.113.9')!, /through eth0/, 'the default route is not a director port');
  assert.match(g.refusal('198.19.11.1')!, /through eth0/, 'a route that is down does not count');
});

test('a director whose ports have no kernel interface checks nothing off the host, and says how to fix it', () => {
  const g = new EgressGuard(new Set(), () => ROUTES);
  assert.match(g.refusal('198.19.0.11')!, /no port has a kernel interface: set its tap/);
  assert.equal(g.refusal('127.0.0.1'), undefined);
  assert.equal(new EgressGuard(new Set(['inside']), () => ROUTES.split('\n').slice(0, 1).join('\n')).refusal('198.19.0.11'),
    'no route to 198.19.0.11: not sent');
});

test('routes are read again after a while, not for every check', () => {
  let reads = 0;
  let table = ROUTES;
  const g = new EgressGuard(new Set(['inside']), () => { reads++; return table; }, 1000);
  assert.equal(g.refusal('198.19.0.11', 0), undefined);
  table = ROUTES.replace(/inside/g, 'elsewhere');
  assert.equal(g.refusal('198.19.0.11', 500), undefined, 'within the period: the table read before');
  assert.match(g.refusal('198.19.0.11', 1500)!, /through elsewhere/);
  assert.equal(reads, 2);
});

// /proc/net/ipv6_route as the kernel writes it: dest, prefix length (hex), source, its length,
// next hop, metric, refcnt, use, flags, interface. The last line is the kernel's own reject
// route (::/0 via lo, RTF_REJECT); fd00::2 and ::1 are the host's own (RTF_LOCAL).
const ROUTES6 = `20010db8000000020000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001   inside
20010db8000000030000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000000     down0
fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000003 00000000 00000003     eth0
00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo
fd000000000000000000000000000002 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000004 00000000 80200001     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo
`;

test('the IPv6 route table is read as the kernel wrote it: down and reject routes left out, local ones marked', () => {
  const r = parseRoutes6(ROUTES6);
  assert.deepEqual(r.map((x) => [x.iface, x.len, x.local]), [['lo', 128, true], ['eth0', 128, true], ['inside', 64, false], ['eth0', 64, false], ['eth0', 0, false]]);
});

test('an IPv6 real server behind a director port is checked; one behind another interface is not; the host itself is', () => {
  const g = new EgressGuard(new Set(['inside']), () => ROUTES, 5000, () => ROUTES6);
  assert.equal(g.refusal('2001:db8:0:2::11'), undefined);
  assert.equal(g.refusal('::1'), undefined, 'loopback stays on the host');
  assert.equal(g.refusal('fd00::2'), undefined, 'the host\'s own address stays on it');
  assert.equal(g.refusal('fd00::7'), 'not sent: fd00::7 is reached through eth0, not through one of the director\'s ports (inside)');
  assert.match(g.refusal('2001:db8:0:3::1')!, /through eth0/, 'a route that is down does not count: the default route is not a port');
  assert.equal(new EgressGuard(new Set(['inside']), () => ROUTES, 5000, () => ROUTES6.split('\n').slice(-2).join('\n')).refusal('2001:db8:0:2::11'),
    'no route to 2001:db8:0:2::11: not sent', 'the reject route is no route');
  assert.equal(g.refusal('::ffff:198.19.0.11'), undefined, 'IPv4-mapped: IPv4\'s routes decide');
  assert.match(g.refusal('::ffff:192.0.2.7')!, /through eth0/);
});
