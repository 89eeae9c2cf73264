// Health checks of IPv6 real servers: TCP_CHECK through the addon's prober over IPv6 (on ::1),
// and the egress rule (checks leave only through the director's ports) read from the kernel's
// IPv6 routes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { checkTcp } from '../../src/control/health/tcp_checker';
import { EgressGuard, parseRoutes6 } from '../../src/control/health/egress';

test('a TCP check to a listening IPv6 address is up, to a closed port down with the socket\'s words', async (t) => {
  const srv = net.createServer((s) => s.destroy());
  try {
    await new Promise<void>((resolve, reject) => { srv.once('error', reject); srv.listen({ host: '::1', port: 0 }, resolve); });
  } catch (e) {
    return t.skip(`no IPv6 loopback here: ${(e as Error).message}`);
  }
  const port = (srv.address() as net.AddressInfo).port;
  const up = await checkTcp({ type: 'tcp', timeout: 2 } as never, { address: '::1', port } as never);
  assert.deepEqual(up, { ok: true, detail: `connected to ::1:${port}` });
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  const down = await checkTcp({ type: 'tcp', timeout: 2 } as never, { address: '::1', port } as never);
  assert.equal(down.ok, false);
  assert.match(down.detail, /ECONNREFUSED/);
});

// /proc/net/ipv6_route as the kernel writes it: destination, length, source, length, next hop,
// metric, refcount, use, flags, interface.
const ROUTES6 = [
  '20010db8001900000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001   inside',
  '20010db8010000000000000000000000 30 00000000000000000000000000000000 00 20010db80019000000000000000000fe 00000400 00000001 00000000 00000003   inside',
  '20010db8020000000000000000000000 30 00000000000000000000000000000000 00 00000000000000000000000000000000 00000400 00000001 00000000 00000201       lo',
  '00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000003 00000000 00000003     eth0',
  '00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000004 00000000 80200001       lo',
].join('\n');

test('IPv6 routes are read as the kernel wrote them, longest prefix first, unreachable ones left out', () => {
  const r = parseRoutes6(ROUTES6);
  assert.deepEqual(r.map((x) => [x.iface, x.len]), [['lo', 128], ['inside', 64], ['inside', 48], ['eth0', 0]]);
});

test('an IPv6 real server behind a director port is checked; one behind another interface is not, with why', () => {
  const g = new EgressGuard(new Set(['inside']), () => '', 5000, () => ROUTES6);
  assert.equal(g.refusal('2001:db8:19::11'), undefined);
  assert.equal(g.refusal('2001:db8:100::5'), undefined, 'a static route through the port\'s TAP');
  assert.equal(g.refusal('::1'), undefined, 'loopback stays on the host');
  assert.match(g.refusal('2001:db8:200::5')!, /through eth0/, 'an unreachable route does not count');
  assert.equal(g.refusal('2001:db8:ff::1'), 'not sent: 2001:db8:ff::1 is reached through eth0, not through one of the director\'s ports (inside)');
  assert.match(g.refusal('fe80::1')!, /link-local/);
});
