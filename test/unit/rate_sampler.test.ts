// The rate sampler's tick: each running service and real server samples the counters at its
// native id into the estimator named after it, as the running table changes under it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RateEstimator } from '../../src/control/rates';
import { RateSampler } from '../../src/control/rate_sampler';
import type { NativeService } from '../../src/control/native_config';

const running = (id: number, dests: Array<[number, string]>) =>
  ({ id, dests: dests.map(([did, address]) => ({ id: did, address, port: 80 })) }) as unknown as NativeService;

/** A table's counters: 4 services, 8 real servers; `bump` adds 200 connections (100/s over the tick). */
function counters() {
  const sv = new Float64Array(4 * 5);
  const dv = new Float64Array(8 * 8);
  return { sv, dv, bumpService: (id: number) => { sv[id * 5] += 200; }, bumpDest: (id: number) => { dv[id * 8] += 200; } };
}

test('each running service and real server samples the counters at its own native id', async () => {
  const rates = new RateEstimator();
  const sampler = new RateSampler(rates);
  const c = counters();
  const table = new Map([['tcp:198.18.0.1:80', running(2, [[5, '198.19.0.5'], [7, '198.19.0.7']])]]);
  for (let t = 0; t < 3; t++) {
    c.bumpService(2);
    c.bumpDest(5);
    await sampler.sample(table, c.sv, c.dv);
  }
  assert.ok(rates.rates('s tcp:198.18.0.1:80').cps > 0, 'the service, from its counters');
  assert.ok(rates.rates('d tcp:198.18.0.1:80 198.19.0.5:80').cps > 0, 'a busy real server');
  assert.equal(rates.rates('d tcp:198.18.0.1:80 198.19.0.7:80').cps, 0, 'an idle one, sampled at its own id');
  assert.equal(rates.size, 3);
});

for (const order of ['the service that gave it up', 'the service that took it']) {
  test(`a real-server id freed by one service and given to another keeps sampling for the new owner (${order} looked at first)`, async () => {
    const rates = new RateEstimator();
    const sampler = new RateSampler(rates);
    const c = counters();
    const a1 = running(0, [[3, '198.19.0.1'], [1, '198.19.0.2']]);
    const b1 = running(1, [[4, '198.19.0.3']]);
    let table = new Map([['tcp:a', a1], ['tcp:b', b1]]);
    for (let t = 0; t < 2; t++) await sampler.sample(table, c.sv, c.dv);
    // One change: a's server at id 3 goes, b gets a new one, which takes id 3.
    const a2 = running(0, [[1, '198.19.0.2']]);
    const b2 = running(1, [[4, '198.19.0.3'], [3, '198.19.0.9']]);
    table = order.endsWith('up') ? new Map([['tcp:a', a2], ['tcp:b', b2]]) : new Map([['tcp:b', b2], ['tcp:a', a2]]);
    for (let t = 0; t < 3; t++) {
      c.bumpDest(3);
      await sampler.sample(table, c.sv, c.dv);
    }
    assert.ok(rates.rates('d tcp:b 198.19.0.9:80').cps > 0, 'the new server is sampled at id 3');
    assert.equal(rates.rates('d tcp:a 198.19.0.1:80').cps, 0, 'the server that went is forgotten');
    assert.equal(rates.size, 5, 'two services and their three servers, nothing left over');
  });
}

test('a service that stops running stops sampling; its estimators are forgotten two ticks later', async () => {
  const rates = new RateEstimator();
  const sampler = new RateSampler(rates);
  const c = counters();
  const table = new Map([['tcp:a', running(0, [[0, '198.19.0.1']])], ['tcp:b', running(1, [[1, '198.19.0.2']])]]);
  await sampler.sample(table, c.sv, c.dv);
  assert.equal(rates.size, 4);
  table.delete('tcp:b');
  await sampler.sample(table, c.sv, c.dv);
  assert.equal(rates.size, 4, 'one tick unsampled: kept (a change may bring it back)');
  await sampler.sample(table, c.sv, c.dv);
  assert.equal(rates.size, 2, 'two: forgotten');
  // Its ids, given to a new service, sample for that one.
  table.set('tcp:c', running(1, [[1, '198.19.0.7']]));
  for (let t = 0; t < 2; t++) {
    c.bumpDest(1);
    await sampler.sample(table, c.sv, c.dv);
  }
  assert.ok(rates.rates('d tcp:c 198.19.0.7:80').cps > 0);
});

test('a tick that is still running makes the next one a no-op', async () => {
  const rates = new RateEstimator();
  const sampler = new RateSampler(rates);
  const sv = new Float64Array(300 * 5);
  const dv = new Float64Array(8);
  // 300 services, the first taking 2 ms: the tick yields part-way (its slice has run out).
  const slow = new Map<string, NativeService>();
  for (let i = 0; i < 300; i++) slow.set(`tcp:${i}`, running(i, []));
  const table = { *[Symbol.iterator]() {
    const until = performance.now() + 2;
    while (performance.now() < until) { /* a slow slice */ }
    yield* slow;
  } };
  const first = sampler.sample(table, sv, dv);
  await sampler.sample(new Map([['tcp:other', running(0, [])]]), sv, dv);
  await first;
  assert.equal(rates.size, 300, 'the first tick\'s services only: the second did nothing');
});
