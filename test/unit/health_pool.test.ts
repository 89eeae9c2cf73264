// The check threads: a check runs on a thread with the same result as on the caller's, cancel()
// settles it at once and makes the thread let go of its socket, a thread that dies fails its
// checks with the reason and is replaced for the next ones. (TCP checks never come here: they
// run in the addon, tcp_checker.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Worker } from 'node:worker_threads';
import { CheckPool } from '../../src/control/health/pool';

async function hangingServer(t: { after: (fn: () => Promise<void>) => void }) {
  const state = { open: 0 };
  const srv = net.createServer((s) => {
    state.open++;
    s.resume();
    s.on('close', () => state.open--);
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => srv.close(() => resolve())));
  return { port: (srv.address() as net.AddressInfo).port, state };
}

/** An HTTP server on 127.0.0.1 that answers 200 to everything. */
async function answeringServer(t: { after: (fn: () => Promise<void>) => void }) {
  const srv = http.createServer((_req, res) => res.end('ok'));
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => {
    srv.close(() => resolve());
    srv.closeAllConnections();
  }));
  return (srv.address() as net.AddressInfo).port;
}

async function until(what: string, ok: () => boolean, ms = 3000) {
  const t0 = Date.now();
  while (!ok()) {
    if (Date.now() - t0 > ms) throw new Error(`${what} did not happen within ${ms} ms`);
    await sleep(10);
  }
}

test('checks run on the threads, round robin, with their results', async (t) => {
  const pool = new CheckPool(2);
  t.after(() => pool.close());
  const port = await answeringServer(t);
  const results = await Promise.all([1, 2, 3].map(() => pool.run({ type: 'http', timeout: 1 }, { address: '127.0.0.1', port }).result));
  assert.deepEqual(results.map((r) => r.ok), [true, true, true]);
  const refused = await pool.run({ type: 'http', timeout: 1 }, { address: '127.0.0.1', port: 1 }).result;
  assert.equal(refused.ok, false);
  assert.match(refused.detail, /ECONNREFUSED/);
});

test('cancel() settles at once and the thread closes the connection', async (t) => {
  const pool = new CheckPool(1);
  t.after(() => pool.close());
  const { port, state } = await hangingServer(t);
  const { result, cancel } = pool.run({ type: 'http', timeout: 20 }, { address: '127.0.0.1', port });
  await until('connected', () => state.open === 1);
  cancel();
  assert.deepEqual(await result, { ok: false, detail: 'aborted' });
  await until('closed by the thread', () => state.open === 0, 1000);
});

test('a thread that dies fails its checks with the reason and is replaced', async (t) => {
  const pool = new CheckPool(1);
  t.after(() => pool.close());
  const { port, state } = await hangingServer(t);
  const { result } = pool.run({ type: 'http', timeout: 20 }, { address: '127.0.0.1', port });
  await until('connected', () => state.open === 1);
  const threads = (pool as unknown as { threads: Array<{ worker: Worker } | undefined> }).threads;
  await threads[0]!.worker.terminate();
  const r = await result;
  assert.equal(r.ok, false);
  assert.match(r.detail, /the check thread exited/);
  const again = await pool.run({ type: 'http', timeout: 1 }, { address: '127.0.0.1', port: await answeringServer(t) }).result;
  assert.equal(again.ok, true, again.detail);
});
