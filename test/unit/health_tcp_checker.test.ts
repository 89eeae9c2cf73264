// TCP_CHECK through the addon's prober: a listening port is up and its connection is reset at
// once, a closed one is down with the very words a Node socket gives, silence is down at the
// timeout, a cancelled check hears 'aborted' and lets go of its socket, thousands run at once
// with one result each, and nothing is left open afterwards. Everything is on 127.0.0.1; the
// silent server is a listener whose accept queue is full, so the kernel drops further SYNs.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CheckResult } from '../../src/control/health/checkers';
import { checkTcp, TcpChecker } from '../../src/control/health/tcp_checker';

const LOCAL = '127.0.0.1';

const openFds = () => fs.readdirSync('/proc/self/fd').length;

/** A TCP server on 127.0.0.1 that keeps what it accepts; closed when the test ends. */
async function server(t: TestContext, onConnection: (s: net.Socket) => void = () => {}, backlog = 511) {
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    onConnection(s);
  });
  await new Promise<void>((resolve) => srv.listen({ host: LOCAL, port: 0, backlog }, resolve));
  const close = () => new Promise<void>((resolve) => {
    srv.close(() => resolve());
    for (const s of sockets) s.destroy();
  });
  t.after(close);
  return { port: (srv.address() as net.AddressInfo).port, close, srv };
}

async function closedPort(t: TestContext): Promise<number> {
  const s = await server(t);
  await s.close();
  return s.port;
}

/** A listener that answers nothing: a process that listens with backlog 0 and never accepts
 * (Node always accepts), and one connection that fills its queue, so further SYNs are dropped. */
async function silentPort(t: TestContext): Promise<number> {
  const py = spawn('python3', ['-c', [
    'import socket, sys, time',
    's = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(0)',
    'print(s.getsockname()[1], flush=True)',
    'time.sleep(60)',
  ].join('\n')], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => void py.kill('SIGKILL'));
  const port = await new Promise<number>((resolve) => py.stdout.once('data', (d: Buffer) => resolve(Number(String(d).trim()))));
  const filler = net.connect({ host: LOCAL, port });
  t.after(() => void filler.destroy());
  await new Promise<void>((resolve) => filler.once('connect', () => resolve()));
  await sleep(20);
  return port;
}

/** Runs one check on `checker`, resolving with its result. */
const once = (checker: TcpChecker, port: number, extra: object = {}): Promise<CheckResult> =>
  new Promise((resolve) => void checker.run({ type: 'tcp', timeout: 2, ...extra }, { address: LOCAL, port }, resolve));

/** A checker whose checks hold the process, as sockets do (a monitor's do not). */
function checkerFor(t: TestContext): TcpChecker {
  const c = new TcpChecker({ holdProcess: true });
  t.after(() => c.close());
  return c;
}

test('a listening port is up, and the check\'s connection is reset at once: no FIN, nothing sent', async (t) => {
  const seen: string[] = [];
  const { port } = await server(t, (s) => {
    s.on('data', () => seen.push('data'));
    s.on('end', () => seen.push('end'));
    s.on('error', (e: NodeJS.ErrnoException) => seen.push(e.code ?? e.message));
  });
  const r = await once(checkerFor(t), port);
  assert.deepEqual(r, { ok: true, detail: `connected to ${LOCAL}:${port}` });
  const t0 = Date.now();
  while (!seen.length && Date.now() - t0 < 2000) await sleep(5);
  assert.deepEqual(seen, ['ECONNRESET']);
});

test('a closed port is down, in the words a Node socket uses', async (t) => {
  const port = await closedPort(t);
  const node = await new Promise<Error>((resolve) => net.connect({ host: LOCAL, port }).on('error', resolve));
  const r = await once(checkerFor(t), port);
  assert.deepEqual(r, { ok: false, detail: `connect to ${LOCAL}:${port}: ${node.message}` });
  assert.match(r.detail, /ECONNREFUSED/);
});

test('silence is down at the timeout, not before', async (t) => {
  const port = await silentPort(t);
  const t0 = performance.now();
  const r = await once(checkerFor(t), port, { timeout: 0.3 });
  const took = performance.now() - t0;
  assert.deepEqual(r, { ok: false, detail: `no connection to ${LOCAL}:${port} within 0.3s` });
  assert.ok(took >= 299 && took < 1000, `${took} ms`);
});

test('the check\'s own address and port win over the real server\'s', async (t) => {
  const { port } = await server(t);
  const r = await new Promise<CheckResult>((resolve) =>
    void checkerFor(t).run({ type: 'tcp', address: LOCAL, port }, { address: '192.0.2.1', port: 9 }, resolve));
  assert.deepEqual(r, { ok: true, detail: `connected to ${LOCAL}:${port}` });
});

test('an IPv6 real server is checked over IPv6: up when it listens, down when closed, named in brackets', async (t) => {
  const srv = net.createServer((s) => s.destroy());
  await new Promise<void>((resolve) => srv.listen({ host: '::1', port: 0, ipv6Only: true }, resolve));
  const port = (srv.address() as net.AddressInfo).port;
  const c = checkerFor(t);
  const up = await new Promise<CheckResult>((resolve) => void c.run({ type: 'tcp', timeout: 2 }, { address: '::1', port }, resolve));
  assert.deepEqual(up, { ok: true, detail: `connected to [::1]:${port}` });
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  const down = await new Promise<CheckResult>((resolve) => void c.run({ type: 'tcp', timeout: 2 }, { address: '::1', port }, resolve));
  assert.equal(down.ok, false);
  assert.match(down.detail, new RegExp(`^connect to \\[::1\\]:${port}: connect ECONNREFUSED`));
});

test('what cannot be checked is down with the reason, and nothing is sent; a later cancel changes nothing', async (t) => {
  const c = checkerFor(t);
  const heard: CheckResult[] = [];
  const cancel = c.run({ type: 'tcp' }, { address: LOCAL }, (r) => heard.push(r));
  await sleep(10);
  cancel();
  assert.equal(heard.length, 1);
  const noPort = await new Promise<CheckResult>((resolve) => void c.run({ type: 'tcp' }, { address: LOCAL }, resolve));
  assert.equal(noPort.ok, false);
  assert.match(noPort.detail, /no port to check/);
  const name = await new Promise<CheckResult>((resolve) => void c.run({ type: 'tcp' }, { address: 'localhost', port: 80 }, resolve));
  assert.deepEqual(name, { ok: false, detail: 'connect to localhost:80: \'localhost\' is not an IP address' });
});

test('a cancelled check hears \'aborted\' at once and its socket closes; no result comes later', async (t) => {
  const port = await silentPort(t);
  const c = checkerFor(t);
  const before = openFds();
  const results: CheckResult[] = [];
  const cancel = c.run({ type: 'tcp', timeout: 0.3 }, { address: LOCAL, port }, (r) => results.push(r));
  await sleep(50);  // the prober's thread starts, and the SYN is out
  cancel();
  assert.deepEqual(results, [{ ok: false, detail: 'aborted' }]);
  cancel();
  await sleep(500);
  assert.equal(results.length, 1, 'the timeout that would have come does not');
  // The prober's own thread keeps two descriptors (its epoll set and eventfd); the socket is gone.
  assert.ok(openFds() <= before + 2, `${openFds()} descriptors, ${before} before`);
});

test('thousands at once: each has one result, and nothing stays open', async (t) => {
  await sleep(200);  // what earlier tests closed (a child's pipes) is gone by now
  const before = openFds();
  const live = await server(t, (s) => s.on('error', () => {}), 4096);
  const dead = await closedPort(t);
  const c = new TcpChecker({ holdProcess: true });
  const results = new Map<number, CheckResult[]>();
  const n = 3000;
  await new Promise<void>((resolve) => {
    let left = n;
    for (let i = 0; i < n; i++) {
      c.run({ type: 'tcp', timeout: 5 }, { address: LOCAL, port: i % 3 ? live.port : dead }, (r) => {
        results.set(i, [...(results.get(i) ?? []), r]);
        if (--left === 0) resolve();
      });
    }
  });
  await sleep(100);
  assert.equal(results.size, n);
  for (const [i, rs] of results) {
    assert.equal(rs.length, 1, `check ${i} settled once`);
    assert.equal(rs[0].ok, i % 3 !== 0, `check ${i}: ${rs[0].detail}`);
  }
  c.close();
  await live.close();
  assert.equal(openFds(), before, 'the prober\'s thread and every socket are gone');
});

test('close() aborts every check in flight; the checker runs again afterwards', async (t) => {
  const silent = await silentPort(t);
  const { port } = await server(t, (s) => s.on('error', () => {}));
  const c = checkerFor(t);
  const results: CheckResult[] = [];
  for (let i = 0; i < 5; i++) c.run({ type: 'tcp', timeout: 10 }, { address: LOCAL, port: silent }, (r) => results.push(r));
  await sleep(50);
  c.close();
  assert.deepEqual(results.map((r) => r.detail), Array(5).fill('aborted'));
  assert.equal((await once(c, port)).ok, true);
});

test('checkTcp: one check as a promise, which an AbortSignal settles', async (t) => {
  const { port } = await server(t, (s) => s.on('error', () => {}));
  assert.deepEqual(await checkTcp({ type: 'tcp' }, { address: LOCAL, port }), { ok: true, detail: `connected to ${LOCAL}:${port}` });
  const silent = await silentPort(t);
  const ac = new AbortController();
  const pending = checkTcp({ type: 'tcp', timeout: 10 }, { address: LOCAL, port: silent }, { signal: ac.signal });
  setTimeout(() => ac.abort(), 50);
  assert.deepEqual(await pending, { ok: false, detail: 'aborted' });
  assert.deepEqual(await checkTcp({ type: 'tcp' }, { address: LOCAL, port }, { signal: ac.signal }), { ok: false, detail: 'aborted' });
});
