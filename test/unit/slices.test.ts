// Large work in slices: how a job yields, and how jobs that yielded share the event loop.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { breathe, SLICE_MS } from '../../src/control/slices';

test('a job yields only once its slice has run', async () => {
  const fresh = { start: performance.now() };
  let other = false;
  setImmediate(() => { other = true; });
  await breathe(fresh);
  assert.equal(other, false, 'a slice that has not run SLICE_MS goes on without a turn');
  const spent = { start: performance.now() - SLICE_MS - 1 };
  await breathe(spent);
  assert.equal(other, true, 'a spent slice lets the event loop run first');
  assert.ok(performance.now() - spent.start < SLICE_MS, 'and starts a new slice');
});

test('jobs that yielded resume one a turn of the event loop, in the order they yielded', async () => {
  // A turn counter: one step per check phase, as the jobs' resumptions are.
  let turn = 0;
  let counting = true;
  const tick = () => { turn++; if (counting) setImmediate(tick); };
  setImmediate(tick);
  const resumed: Array<[string, number]> = [];
  const job = async (name: string) => {
    for (let i = 0; i < 3; i++) {
      await breathe({ start: -Infinity });  // every slice spent
      resumed.push([name, turn]);
    }
  };
  await Promise.all([job('a'), job('b'), job('c')]);
  counting = false;
  assert.deepEqual(resumed.map(([n]) => n), ['a', 'b', 'c', 'a', 'b', 'c', 'a', 'b', 'c']);
  for (let i = 1; i < resumed.length; i++) assert.ok(resumed[i][1] > resumed[i - 1][1], `resumption ${i} had a turn of its own`);
});
