// The demo module (fulcrum_demo.node) from JavaScript: the packet core's demo really balances (wrr 3/2/1 over
// 600 connections is exact, as the kernel's wrr is deterministic), and bad options are
// refused with exceptions naming the problem.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { demoAddon, nativeAddon } from '../../src/native';

test('wrr 3/2/1 sends 300/200/100 of 600 new connections and every reply comes back from the VIP', () => {
  const r = demoAddon().coreDemo({ connections: 600, weights: [3, 2, 1] });
  assert.deepEqual(r.answeredBy, { '192.168.10.11': 300, '192.168.10.12': 200, '192.168.10.13': 100 });
  assert.deepEqual(r.drops, {});
  assert.equal(r.service.stats.conns, 600);
  // Four client packets (SYN, ACK, request, FIN) and two server packets per connection.
  assert.equal(r.service.stats.inpkts, 2400);
  assert.equal(r.service.stats.outpkts, 1200);
  const byAddr = Object.fromEntries(r.dests.map((d) => [d.address, d]));
  assert.equal(byAddr['192.168.10.11'].stats.conns, 300);
  assert.equal(byAddr['192.168.10.13'].weight, 1);
  // Every connection was closed by both sides: none is active, all wait in TIME_WAIT/CLOSE.
  for (const d of r.dests) assert.equal(d.activeConns, 0);
  assert.equal(r.dests.reduce((n, d) => n + d.inactConns, 0), 600);
});

test('a quiesced server (weight 0) gets no new connections', () => {
  const r = demoAddon().coreDemo({ connections: 90, weights: [1, 0, 2] });
  assert.equal(r.answeredBy['192.168.10.12'] ?? 0, 0);
  assert.equal((r.answeredBy['192.168.10.11'] ?? 0) + (r.answeredBy['192.168.10.13'] ?? 0), 90);
});

test('bad options are refused with a clear exception', () => {
  const addon = demoAddon();
  assert.throws(() => addon.coreDemo({ connections: 0, weights: [1] }), /connections must be a number in 1\.\.1000000/);
  assert.throws(() => addon.coreDemo({ connections: 10, weights: [-1] }), /weights must be integers >= 0/);
  assert.throws(() => addon.coreDemo(undefined as never), /expected an options object/);
});

test('the director\'s addon carries no demo', () => {
  assert.equal((nativeAddon() as unknown as Record<string, unknown>).coreDemo, undefined);
});
