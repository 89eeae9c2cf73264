// The rate estimator gives the numbers the kernel's ip_vs_est.c gives for the same counters,
// fixed-point rounding included. Every expected figure below is worked out from the kernel's
// arithmetic: per 2 s tick, rate = delta << 9 (bytes: << 4), avg += (rate - avg) >> 2 with an
// arithmetic (flooring) shift, shown as (avg + 511) >> 10 (bytes: (avg + 15) >> 5).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RateEstimator, type CounterSample, type Rates } from '../../src/control/rates';

type Delta = Partial<Record<keyof CounterSample, number>>;
const FIELDS = ['conns', 'inpkts', 'outpkts', 'inbytes', 'outbytes'] as const;

/** Samples `key` once as a base, then once per delta (counters accumulating); the rates after each tick. */
function run(est: RateEstimator, key: string, deltas: Delta[], start: Delta = {}): Rates[] {
  const c = { conns: 0, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0, ...start };
  est.sample(key, c);
  return deltas.map((d) => {
    for (const f of FIELDS) c[f] += d[f] ?? 0;
    est.sample(key, c);
    return est.rates(key);
  });
}
const repeat = (d: Delta, n: number): Delta[] => Array.from({ length: n }, () => d);
const cps = (rs: Rates[]) => rs.map((r) => r.cps);

test('the first sample only sets the base', () => {
  const est = new RateEstimator();
  est.sample('svc', { conns: 5000, inpkts: 90000, outpkts: 80000, inbytes: 7e7, outbytes: 9e8 });
  assert.deepEqual(est.rates('svc'), { cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 });
});

test('an unknown key has zero rates', () => {
  assert.deepEqual(new RateEstimator().rates('nothing'), { cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 });
});

test('a constant rate climbs by a quarter of the gap each tick, every field on its own scale', () => {
  // Per 2 s: 200 conns (100/s), 2000 in and 1000 out packets, 2 MB in and 300 kB out.
  // conns: rate = 200 << 9 = 102400; avg 25600 (25), 44800 (43.75 -> 44), 59200 (57.8 -> 58), 70000 (68.4 -> 68).
  // inpkts: avg 448000 is 437.5 exactly, and (448000 + 511) >> 10 = 437: a half rounds down.
  // inbytes: rate = 2e6 << 4 = 32e6; avg 8e6 -> 250000 B/s, 14e6 -> 437500, 18.5e6 -> 578125, 21.875e6 -> 683594.
  const rs = run(new RateEstimator(), 'svc', repeat({ conns: 200, inpkts: 2000, outpkts: 1000, inbytes: 2_000_000, outbytes: 300_000 }, 4));
  assert.deepEqual(rs, [
    { cps: 25, inpps: 250, outpps: 125, inbps: 250000, outbps: 37500 },
    { cps: 44, inpps: 437, outpps: 219, inbps: 437500, outbps: 65625 },
    { cps: 58, inpps: 578, outpps: 289, inbps: 578125, outbps: 86719 },
    { cps: 68, inpps: 684, outpps: 342, inbps: 683594, outbps: 102539 },
  ]);
});

test('a constant 100 conn/s reads 100 from the 19th tick on and stays there', () => {
  // The gap e = 102400 - avg goes e -> ceil(3e/4): 76800, 57600, ... 4, 3, 3, ... The average
  // never reaches 102400 (it sticks 3 below, the floor at work) but reads 100 once e <= 511.
  const rs = cps(run(new RateEstimator(), 'svc', repeat({ conns: 200 }, 40)));
  assert.deepEqual(rs.slice(0, 19), [25, 44, 58, 68, 76, 82, 87, 90, 92, 94, 96, 97, 98, 98, 99, 99, 99, 99, 100]);
  assert.ok(rs.slice(18).every((v) => v === 100), rs.join(' '));
});

test('half a unit rounds down, anything more rounds up', () => {
  // 4 conns in 2 s: avg = (4 << 9) >> 2 = 512, half of 1024: (512 + 511) >> 10 = 0. 5 conns: 640 -> 1.
  // 4 bytes: avg = (4 << 4) >> 2 = 16, half of 32: (16 + 15) >> 5 = 0. 5 bytes: 20 -> 1.
  assert.deepEqual(run(new RateEstimator(), 'a', [{ conns: 4, inbytes: 4 }])[0], { cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 });
  assert.deepEqual(run(new RateEstimator(), 'b', [{ conns: 5, inbytes: 5 }])[0], { cps: 1, inpps: 0, outpps: 0, inbps: 1, outbps: 0 });
});

test('a step down decays by a quarter each tick, a step up climbs the same way', () => {
  const est = new RateEstimator();
  run(est, 'down', repeat({ conns: 200 }, 40)); // avg 102397
  // 102397 - ceil(102397 / 4) = 76797 -> 75; then 57597 -> 56; 43197 -> 42; ...
  const c = { conns: 8000, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0 };
  const down = repeat({}, 8).map(() => { est.sample('down', c); return est.rates('down').cps; });
  assert.deepEqual(down, [75, 56, 42, 32, 24, 18, 13, 10]);

  const up = new RateEstimator();
  const rs = run(up, 'up', [...repeat({ conns: 200 }, 40), ...repeat({ conns: 600 }, 8)]);
  assert.deepEqual(cps(rs.slice(40)), [150, 187, 216, 237, 253, 264, 273, 280]);
});

test('the shift floors toward minus infinity, so a decaying rate reaches 0', () => {
  // 23 conns per 2 s for three ticks, then none. avg: 2944, 5152, 6808, then avg - ceil(avg/4):
  // 5106, 3829, 2871, 2153, 1614, 1210, 907, 680, 510 (reads 0), 382. Truncating toward zero
  // instead would give 5106, 3830, 2873, 2155, 1617, 1213, 910, 683, 513: 1 at the 12th tick.
  const rs = cps(run(new RateEstimator(), 'svc', [...repeat({ conns: 23 }, 3), ...repeat({}, 10)]));
  assert.deepEqual(rs, [3, 5, 7, 5, 4, 3, 2, 2, 1, 1, 1, 0, 0]);
});

test('reset zeroes the rates, the next sample is the new base, and rates restart from 0', () => {
  const est = new RateEstimator();
  run(est, 'svc', repeat({ conns: 200, inbytes: 2_000_000 }, 40));
  run(est, 'other', repeat({ conns: 200 }, 40));
  assert.equal(est.rates('svc').cps, 100);

  est.reset('svc');
  assert.deepEqual(est.rates('svc'), { cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 });
  assert.equal(est.rates('other').cps, 100, 'reset(key) leaves other keys alone');

  // The counters keep running (8000 conns after 40 ticks, 200 more since): that is only the base...
  est.sample('svc', { conns: 8200, inpkts: 0, outpkts: 0, inbytes: 82_000_000, outbytes: 0 });
  assert.equal(est.rates('svc').cps, 0);
  // ...and the tick after that is the first of a fresh climb: 25, as from a cold start.
  est.sample('svc', { conns: 8400, inpkts: 0, outpkts: 0, inbytes: 84_000_000, outbytes: 0 });
  assert.deepEqual(est.rates('svc'), { cps: 25, inpps: 0, outpps: 0, inbps: 250000, outbps: 0 });

  // A caller that zeroes its counters at reset gets the same: zeroed counters are only the base.
  est.reset('other');
  est.sample('other', { conns: 0, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0 });
  assert.equal(est.rates('other').cps, 0);
  est.sample('other', { conns: 200, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0 });
  assert.equal(est.rates('other').cps, 25);

  est.reset();
  assert.equal(est.rates('svc').cps, 0);
  assert.equal(est.rates('other').cps, 0, 'reset() zeroes every key');
  est.sample('svc', { conns: 8600, inpkts: 0, outpkts: 0, inbytes: 86_000_000, outbytes: 0 });
  assert.equal(est.rates('svc').cps, 0, 'and rebases every key');
});

test('counters below the base start a fresh estimator (the object behind the key was replaced)', () => {
  const est = new RateEstimator();
  run(est, 'rs', repeat({ conns: 200 }, 40), { conns: 1_000_000 });
  assert.equal(est.rates('rs').cps, 100);
  est.sample('rs', { conns: 10, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0 });
  assert.equal(est.rates('rs').cps, 0);
  est.sample('rs', { conns: 210, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0 });
  assert.equal(est.rates('rs').cps, 25);
});

test('forget drops a key: its rates are 0 and its next sample is a base again', () => {
  const est = new RateEstimator();
  run(est, 'rs', repeat({ conns: 200 }, 10));
  est.forget('rs');
  assert.equal(est.rates('rs').cps, 0);
  est.sample('rs', { conns: 1_000_000, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0 });
  assert.equal(est.rates('rs').cps, 0, 'a forgotten key is new: 1,000,000 conns is a base, not a burst');
});

test('64-bit counters keep every unit: BigInt counters near 2^64', () => {
  // inbytes starts 10^12 below 2^64 and grows by 2,000,000,001 per tick (odd, so no double near
  // 2^64, where doubles are 4096 apart, could carry it). rate = 2000000001 << 4 = 32000000016;
  // avg = 8000000004 -> (8000000004 + 15) >> 5 = 250000000; next avg = 8000000004 +
  // (32000000016 - 8000000004) >> 2 = 14000000007 -> 437500000.
  const est = new RateEstimator();
  const base = 2n ** 64n - 10n ** 12n;
  const at = (n: bigint) => ({ conns: 2n ** 63n + n * 3001n, inpkts: 0n, outpkts: 0n, inbytes: base + n * 2_000_000_001n, outbytes: 0n });
  est.sample('total', at(0n));
  est.sample('total', at(1n));
  // conns, from 2^63, grow by 3001 per tick: avg = (3001 << 9) >> 2 = 384128 -> 375, then
  // 384128 + (1536512 - 384128) >> 2 = 672224 -> 656.
  assert.deepEqual(est.rates('total'), { cps: 375, inpps: 0, outpps: 0, inbps: 250000000, outbps: 0 });
  est.sample('total', at(2n));
  assert.deepEqual(est.rates('total'), { cps: 656, inpps: 0, outpps: 0, inbps: 437500000, outbps: 0 });
});

test('64-bit counters keep every unit: numbers above 2^53', () => {
  // 2^60 and 2^60 + 2^33 are exact doubles; delta 2^33 bytes -> rate 2^37, avg 2^35, reads 2^30.
  const est = new RateEstimator();
  est.sample('total', { conns: 0, inpkts: 0, outpkts: 0, inbytes: 2 ** 60, outbytes: 0 });
  est.sample('total', { conns: 0, inpkts: 0, outpkts: 0, inbytes: 2 ** 60 + 2 ** 33, outbytes: 0 });
  assert.equal(est.rates('total').inbps, 2 ** 30);
});

test('a counter that is not a non-negative integer is refused, naming it', () => {
  const est = new RateEstimator();
  assert.throws(() => est.sample('x', { conns: 1.5, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0 }), /conns/);
  assert.throws(() => est.sample('x', { conns: 0, inpkts: 0, outpkts: -1, inbytes: 0, outbytes: 0 }), /outpkts/);
});

test('plain numbers and 64-bit integers give the same rates, step for step', () => {
  const fast = new RateEstimator();
  const big = new RateEstimator();
  let seed = 12345;
  const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n; };
  const c = { conns: 0, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0 };
  for (let step = 0; step < 500; step++) {
    // Bursts and lulls, so averages rise and fall.
    const scale = step % 50 < 25 ? 1000 : 3;
    c.conns += rnd(scale); c.inpkts += rnd(scale * 10); c.outpkts += rnd(scale * 9);
    c.inbytes += rnd(scale * 15000); c.outbytes += rnd(scale * 90000);
    fast.sample('k', c);
    big.sample('k', { conns: BigInt(c.conns), inpkts: BigInt(c.inpkts), outpkts: BigInt(c.outpkts), inbytes: BigInt(c.inbytes), outbytes: BigInt(c.outbytes) });
    assert.deepEqual(fast.rates('k'), big.rates('k'), `step ${step}`);
  }
});

test('a held estimator sampled from a counter array gives what sampling by key gives, resets and replacements included', () => {
  const byKey = new RateEstimator();
  const held = new RateEstimator();
  const h = held.handle('d x');
  assert.deepEqual(held.rates('d x'), byKey.rates('d x'), 'before any sample: zeros');
  let seed = 777;
  const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n; };
  const v = new Float64Array(16);  // the real server's five counters at offset 8, as destCounters holds id 1
  for (let step = 0; step < 400; step++) {
    if (step === 150) v.fill(0, 8, 13);                 // the server was replaced: counters restart
    if (step === 250) { byKey.reset('d x'); held.reset('d x'); }
    if (step === 300) v[11] = 2 ** 52 + 1;              // beyond the fast path: 64-bit arithmetic
    v[8] += rnd(500); v[9] += rnd(5000); v[10] += rnd(4000); v[11] += rnd(900000); v[12] += rnd(9000000);
    byKey.sample('d x', { conns: v[8], inpkts: v[9], outpkts: v[10], inbytes: v[11], outbytes: v[12] });
    held.sampleAt(h, v, 8);
    assert.deepEqual(held.rates('d x'), byKey.rates('d x'), `step ${step}`);
  }
  assert.ok(held.rates('d x').outbps > 0);
});

test('a key no tick reaches is forgotten after two ticks; the others keep their rates, and a reused slot starts clean', () => {
  const est = new RateEstimator();
  const v = new Float64Array(10);
  const a = est.handle('d a');
  let b = est.handle('d b');
  for (let tick = 0; tick < 3; tick++) {
    v[0] += 100; v[5] += 100;
    est.sampleAt(a, v, 0);
    est.sampleAt(b, v, 5);
    assert.equal(est.sweep(), 0, `tick ${tick}: both sampled`);
  }
  const before = est.rates('d a');
  assert.ok(before.cps > 0);
  // 'd b' is gone from the table: one tick without it keeps it, the second forgets it.
  v[0] += 100; est.sampleAt(a, v, 0);
  assert.equal(est.sweep(), 0);
  v[0] += 100; est.sampleAt(a, v, 0);
  assert.equal(est.sweep(), 1);
  assert.equal(est.size, 1);
  assert.deepEqual(est.rates('d b'), { cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 });
  assert.ok(est.rates('d a').cps >= before.cps, 'the kept key is untouched');
  // A new key takes the freed slot and starts from zero, its first sample only the base.
  b = est.handle('d c');
  v[5] = 5000; est.sampleAt(b, v, 5);
  assert.deepEqual(est.rates('d c'), { cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 });
});

test('thousands of keys grow the arrays without changing any key\'s rates', () => {
  const est = new RateEstimator();
  const one = new RateEstimator();
  const v = new Float64Array(5);
  for (let tick = 0; tick < 4; tick++) {
    v[0] += 64; v[1] += 640;
    for (let k = 0; k < 3000; k++) est.sampleAt(est.handle(`d ${k}`), v, 0);
    one.sampleAt(one.handle('d 0'), v, 0);
    est.sweep(); one.sweep();
  }
  assert.deepEqual(est.rates('d 2999'), one.rates('d 0'));
  assert.deepEqual(est.rates('d 0'), one.rates('d 0'));
});
