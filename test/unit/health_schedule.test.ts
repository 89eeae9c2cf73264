// The health check scheduler: jobs start in due order and not before they are due, at most
// maxInFlight at once (the rest wait in order), a cancelled job never starts, how late each
// started is recorded, and when the slots cannot keep up every job runs equally late.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { CheckScheduler, type Job } from '../../src/control/health/schedule';

interface TestJob extends Job { name: string }
const job = (name: string): TestJob => ({ name, due: 0, where: -1, index: -1, cancelled: false });

async function until(what: string, ok: () => boolean, ms = 2000) {
  const t0 = Date.now();
  while (!ok()) {
    if (Date.now() - t0 > ms) throw new Error(`${what} did not happen within ${ms} ms`);
    await sleep(5);
  }
}

test('jobs start in due order, none before it is due', async () => {
  const started: Array<{ name: string; late: number }> = [];
  const s = new CheckScheduler<TestJob>((j, done) => {
    started.push({ name: j.name, late: performance.now() - j.due });
    done();
  }, { maxInFlight: 100, startsPerTurn: 100 });
  const t0 = performance.now();
  for (const [name, at] of [['e', 100], ['a', 20], ['c', 60], ['b', 40], ['d', 80]] as const) s.at(job(name), t0 + at);
  await until('all started', () => started.length === 5);
  assert.deepEqual(started.map((x) => x.name), ['a', 'b', 'c', 'd', 'e']);
  // Node's timers fire on whole milliseconds: a job may go up to 1 ms early, never more.
  assert.ok(started.every((x) => x.late >= -1), JSON.stringify(started));
  const st = s.status();
  assert.equal(st.started, 5);
  assert.equal(st.waiting, 0);
  assert.ok(st.lateMs.max >= 0);
});

test('at most maxInFlight run at once; the others wait in order and start as slots free up', async () => {
  const running = new Map<string, () => void>();
  const order: string[] = [];
  const s = new CheckScheduler<TestJob>((j, done) => {
    order.push(j.name);
    running.set(j.name, () => { running.delete(j.name); done(); });
  }, { maxInFlight: 2, startsPerTurn: 100 });
  const now = performance.now();
  ['a', 'b', 'c', 'd', 'e'].forEach((n, i) => s.at(job(n), now + i * 0.01));
  await until('two running', () => running.size === 2);
  await sleep(20);
  assert.deepEqual(order, ['a', 'b']);
  assert.deepEqual({ ...s.status(), lateMs: undefined }, { inFlight: 2, peakInFlight: 2, maxInFlight: 2, queued: 3, waiting: 0, started: 2, lateMs: undefined });
  running.get('a')!();
  await until('c started', () => order.length === 3);
  assert.deepEqual(order, ['a', 'b', 'c']);
  running.get('b')!();
  running.get('c')!();
  await until('the rest started', () => order.length === 5);
  assert.deepEqual(order, ['a', 'b', 'c', 'd', 'e']);
  assert.equal(s.status().peakInFlight, 2);
  running.get('d')!();
  running.get('e')!();
});

test('a cancelled job never starts, whether it was waiting for its time or queued for a slot', async () => {
  const order: string[] = [];
  let release!: () => void;
  const s = new CheckScheduler<TestJob>((j, done) => {
    order.push(j.name);
    if (j.name === 'a') release = done;
    else done();
  }, { maxInFlight: 1, startsPerTurn: 100 });
  const [a, b, c, d] = ['a', 'b', 'c', 'd'].map(job);
  const now = performance.now();
  s.at(a, now);
  s.at(b, now + 1);
  s.at(c, now + 2);
  s.at(d, now + 500);
  await until('a running, b and c queued', () => order.length === 1 && s.status().queued === 2);
  s.cancel(b);
  s.cancel(d);
  assert.equal(s.status().waiting, 0);
  release();
  await sleep(60);
  assert.deepEqual(order, ['a', 'c']);
  s.at(b, performance.now());
  await sleep(20);
  assert.deepEqual(order, ['a', 'c'], 'cancelled for good');
});

test('lateness is recorded: a job held behind a busy slot starts late by about as long', async () => {
  let release!: () => void;
  const s = new CheckScheduler<TestJob>((j, done) => {
    if (j.name === 'slow') release = done;
    else done();
  }, { maxInFlight: 1, startsPerTurn: 100 });
  s.at(job('slow'), performance.now());
  s.at(job('held'), performance.now());
  await sleep(80);
  release();
  await until('held started', () => s.status().started === 2);
  const st = s.status(true);
  assert.ok(st.lateMs.max >= 70, JSON.stringify(st));
  assert.equal(s.status().started, 0, 'reset');
});

test('when the slots cannot keep up, every job runs equally late rather than some never', async () => {
  // 20 jobs every 20 ms want 1,000 starts a second; one slot and 2 ms a job allow 500. Each
  // job is scheduled again as the monitor does: an interval after it was due, or now if later.
  const interval = 20;
  const runs = new Map<string, number>();
  const s: CheckScheduler<TestJob> = new CheckScheduler<TestJob>((j, done) => {
    runs.set(j.name, (runs.get(j.name) ?? 0) + 1);
    setTimeout(() => {
      s.at(j, Math.max(performance.now(), j.due + interval));
      done();
    }, 2);
  }, { maxInFlight: 1, startsPerTurn: 100 });
  const jobs = Array.from({ length: 20 }, (_, i) => job(`j${i}`));
  const t0 = performance.now();
  jobs.forEach((j, i) => s.at(j, t0 + i));
  await sleep(600);
  jobs.forEach((j) => s.cancel(j));
  const counts = jobs.map((j) => runs.get(j.name) ?? 0);
  assert.ok(Math.min(...counts) >= 3, `runs per job: ${counts}`);
  assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, `runs per job: ${counts}`);
  assert.ok(s.status().lateMs.p50 > interval, 'they did run late');
});

test('jobs due beyond the wheel wait in the heap and start in order with the near ones; cancel works in both', async () => {
  // A wheel of 16 ms: everything after that starts from the heap.
  const started: Array<{ name: string; late: number }> = [];
  const s = new CheckScheduler<TestJob>((j, done) => {
    started.push({ name: j.name, late: performance.now() - j.due });
    done();
  }, { maxInFlight: 100, startsPerTurn: 100, wheelSlots: 16 });
  const t0 = performance.now();
  const plan = [['far3', 150], ['near1', 5], ['far1', 40], ['gone-far', 60], ['far2', 90], ['near2', 10], ['gone-near', 12]] as const;
  const jobs = new Map(plan.map(([name]) => [name, job(name)]));
  for (const [name, at] of plan) s.at(jobs.get(name)!, t0 + at);
  assert.equal(s.status().waiting, 7);
  s.cancel(jobs.get('gone-far')!);
  s.cancel(jobs.get('gone-near')!);
  assert.equal(s.status().waiting, 5);
  await until('all started', () => started.length === 5);
  assert.deepEqual(started.map((x) => x.name), ['near1', 'near2', 'far1', 'far2', 'far3']);
  assert.ok(started.every((x) => x.late >= -1 && x.late < 50), JSON.stringify(started));
  await sleep(30);
  assert.equal(s.status().started, 5, 'the cancelled ones never start');
  assert.throws(() => new CheckScheduler<TestJob>(() => {}, { maxInFlight: 1, startsPerTurn: 1, wheelSlots: 100 }), /power of two/);
});
